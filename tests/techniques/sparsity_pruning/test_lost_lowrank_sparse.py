"""LOST (reconstructed): exact decomposition at init, complementarity, parameter counts, the layer's
forward and gradients, and the demo reporting (quick mode)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn import Linear
from refimpl.techniques.sparsity_pruning import lost_lowrank_sparse as lost


@pytest.mark.parametrize("case", lost.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_all_channels_or_full_rank_reproduce_the_weight_exactly():
    W = np.random.default_rng(0).normal(size=(6, 5))
    for rank, c in ((2, 5), (5, 0), (0, 5)):
        A, B, ch, S = lost.lost_decompose(W, rank, c)
        full = A @ B
        full[:, ch] += S
        np.testing.assert_allclose(full, W, atol=1e-12)


def test_parts_are_complementary_and_low_rank_is_the_best_rank_r():
    W = np.random.default_rng(1).normal(size=(7, 6))
    A, B, ch, S = lost.lost_decompose(W, 3, 2)
    U, s, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(A @ B, (U[:, :3] * s[:3]) @ Vt[:3], atol=1e-12)  # Eckart–Young truncation
    E = W - A @ B
    np.testing.assert_allclose(U[:, :3].T @ E, 0, atol=1e-12)  # residual ⟂ the kept left singular vectors
    norms = np.linalg.norm(E, axis=0)
    assert set(ch) == set(np.argsort(-norms)[:2])
    np.testing.assert_allclose(S, E[:, ch])


def test_layer_forward_equals_dense_weight_and_counts():
    rng = np.random.default_rng(2)
    W0 = rng.normal(size=(5, 4))
    layer = lost.LOSTLinear(4, 5, rank=2, n_channels=4, dtype=np.float64, init_weight=W0, rng=rng)
    ref = Linear(4, 5, dtype=np.float64, rng=rng)
    ref.weight.data[:] = W0
    ref.bias.data[:] = layer.bias.data
    x = Tensor(rng.normal(size=(3, 4)))
    with no_grad():
        np.testing.assert_allclose(layer(x).data, ref(x).data, atol=1e-12)  # all channels kept → exact
    assert lost.lost_params(5, 4, 2, 4) == 2 * 9 + 20
    small = lost.LOSTLinear(4, 5, rank=1, n_channels=2, dtype=np.float64, rng=rng)
    assert sum(p.data.size for p in (small.A, small.B, small.S)) == lost.lost_params(5, 4, 1, 2)
    with pytest.raises(ValueError, match="rank"):
        lost.lost_decompose(W0, 9, 1)
    with pytest.raises(ValueError, match="n_channels"):
        lost.lost_decompose(W0, 1, 9)


def test_gradcheck_layer():
    rng = np.random.default_rng(3)
    layer = lost.LOSTLinear(4, 3, rank=2, n_channels=2, dtype=np.float64, rng=rng)
    ch = layer.channels

    def f(x, A, B, S):
        return ((x @ B.T) @ A.T + x[:, ch] @ S.T).tanh().sum()

    rf.gradcheck(f, rng.normal(size=(5, 4)), layer.A.data, layer.B.data, layer.S.data)


def test_demo_reports_honestly(demo_result):
    r = demo_result("lost-lowrank-sparse", 0)
    m = r["metrics"]
    assert m["params_lowrank"] <= m["params_lost"] < 0.2 * 24576  # the budgets are comparable and small
    assert m["acc_dense"] > max(m["acc_lost"], m["acc_lowrank"]) - 0.02
    assert r["claim"]["holds"] == (
        m["lost_minus_lowrank_acc"] >= 0 and m["params_lowrank"] <= m["params_lost"]
    )
