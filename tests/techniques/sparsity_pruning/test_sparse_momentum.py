"""Sparse momentum: redistribution, pruning and growth by hand and by brute force, fixed density,
masked weights stay zero while the dense momentum keeps flowing, and the demo's claim (quick mode)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn import MLP
from refimpl.nn import functional as F
from refimpl.optim import SGD, Adam
from refimpl.techniques.sparsity_pruning import _base as B
from refimpl.techniques.sparsity_pruning import sparse_momentum as sm


@pytest.mark.parametrize("case", sm.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@settings(deadline=None, max_examples=30)
@given(st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5), st.integers(0, 10**6))
def test_redistribution_is_exact_and_respects_the_cap(means, seed):
    rng = np.random.default_rng(seed)
    free = rng.integers(5, 200, size=len(means))
    total = int(rng.integers(0, int(np.floor(0.99 * free).sum()) + 1))  # what fits in whole weights
    p = np.array(means) / np.sum(means)
    out = sm.redistribute(p, total, free)
    assert out.sum() == total
    assert np.all(out >= 0) and np.all(out <= np.floor(0.99 * free))


def test_redistribution_matches_the_proportional_rule_when_no_cap_binds():
    p = np.array([0.5, 0.3, 0.2])
    out = sm.redistribute(p, 100, [1000, 1000, 1000])
    np.testing.assert_array_equal(out, [50, 30, 20])
    with pytest.raises(ValueError, match="free slots"):
        sm.redistribute(p, 100, [10, 10, 10])
    # 54 ≤ 0.99·55, but layer caps are whole weights: ⌊0.99·12⌋ + ⌊0.99·43⌋ = 11 + 42 = 53 < 54
    with pytest.raises(ValueError, match="at most 53 whole weights"):
        sm.redistribute([0.5, 0.5], 54, [12, 43])


def test_prune_and_regrow_against_brute_force():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 7))
    mask = (rng.random((6, 7)) < 0.5).astype(float)
    mom = rng.normal(size=(6, 7))
    n_active = int(mask.sum())
    k = n_active // 3
    pruned = sm.prune_smallest(w, mask, k)
    # brute force: sort the active entries by |w| and remove the first k
    active = [(abs(w.flat[i]), i) for i in range(w.size) if mask.flat[i]]
    gone = {i for _, i in sorted(active)[:k]}
    want = mask.copy().ravel()
    want[list(gone)] = 0
    np.testing.assert_array_equal(pruned.ravel(), want)
    zeros = [(-abs(mom.flat[i]), i) for i in range(w.size) if pruned.flat[i] == 0]
    grown = sm.regrow_by_momentum(pruned, mom, 5)
    want2 = pruned.copy().ravel()
    want2[[i for _, i in sorted(zeros)[:5]]] = 1
    np.testing.assert_array_equal(grown.ravel(), want2)
    with pytest.raises(ValueError, match="n"):
        sm.prune_smallest(w, mask, n_active + 1)


def test_momentum_of_sgd_and_adam():
    from refimpl.nn.module import Parameter

    w = Parameter(np.array([1.0, -1.0]))
    w.grad = np.array([0.5, -2.0])
    sgd = SGD([w], lr=0.1, momentum=0.9)
    sgd.step()
    np.testing.assert_allclose(sm.momentum_of(sgd, w), [0.5, -2.0])  # first buffer = gradient
    w2 = Parameter(np.array([1.0, -1.0]))
    w2.grad = np.array([0.5, -2.0])
    adam = Adam([w2], lr=0.1)
    adam.step()
    # m = 0.1 g, v = 0.001 g² → m/(√v + 1e-8) = 0.1 g /(√0.001 |g| + 1e-8)
    g = np.array([0.5, -2.0])
    np.testing.assert_allclose(
        sm.momentum_of(adam, w2), 0.1 * g / (np.sqrt(0.001) * np.abs(g) + 1e-8), rtol=1e-6
    )
    with pytest.raises(ValueError, match="momentum"):
        sm.momentum_of(SGD([Parameter(np.ones(2))], lr=0.1), w)


def test_cosine_prune_rate():
    assert sm.cosine_prune_rate(0, 100) == pytest.approx(0.5)
    assert sm.cosine_prune_rate(50, 100) == pytest.approx(0.005 + 0.495 * 0.5)
    assert sm.cosine_prune_rate(100, 100) == pytest.approx(0.005)


def test_density_is_constant_and_pruned_weights_stay_zero_with_dense_momentum():
    rng = np.random.default_rng(1)
    model = MLP([8, 32, 4], rng=rng)
    opt = SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    cb = sm.SparseMomentum(model, opt, density=0.2, total_steps=20, seed=0)
    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 4, size=32)
    counts0 = {n: int(m.sum()) for n, m in B.current_masks(model).items()}
    total0 = sum(counts0.values())
    assert total0 == round(0.2 * 256) + round(0.2 * 128)
    for _epoch in range(4):
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(Tensor(x)), y).backward()
            opt.step()
            cb.on_step_end(None)
            masks = B.current_masks(model)
            for name, mod in B.prunable_layers(model).items():
                with no_grad():
                    assert np.all(mod.weight.data[masks[name] == 0] == 0)
                assert np.all(B.latent_weight(mod).data[masks[name] == 0] == 0)
                # the dense gradient reaches pruned entries: their momentum is not all zero
                assert np.any(opt.state[B.latent_weight(mod)]["momentum_buffer"][masks[name] == 0] != 0)
        info = cb.update(0.3)
        assert info["removed"] == info["regrown"]
        assert sum(int(m.sum()) for m in B.current_masks(model).values()) == total0


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim(seed, demo_result):
    r = demo_result("sparse-momentum", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], m
    assert m["sm_minus_static"] > 0.1  # a large, robust margin at 5 % density
    assert m["sm_minus_random_regrowth"] > 0.05
    for row in r["table"]:
        assert row["achieved_density"] == pytest.approx(row["density"], abs=1e-5)
