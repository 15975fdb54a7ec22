"""Experts Weights Averaging (Huang et al., 2023; arXiv 2308.06093)."""

import numpy as np
import pytest

import refimpl
from refimpl.autograd.tensor import Tensor
from refimpl.techniques.merging_averaging import experts_weights_averaging as ewa


def test_reference_cases():
    for case in ewa.reference_cases():
        case.check()


@pytest.mark.parametrize("exclude_self", [False, True])
def test_update_matches_loop_and_keeps_the_mean(exclude_self):
    rng = np.random.default_rng(0)
    E = [rng.standard_normal((3, 2)) for _ in range(4)]
    beta = 0.7
    out = ewa.ewa_update(E, beta, exclude_self)
    for i in range(4):
        others = [E[j] for j in range(4) if j != i]
        pool = others if exclude_self else E
        expect = beta * E[i] + (1 - beta) * sum(pool) / len(pool)
        np.testing.assert_allclose(out[i], expect, atol=1e-12)
    np.testing.assert_allclose(ewa.average_experts(out), ewa.average_experts(E), atol=1e-12)
    # deviations shrink by β (all) or (nβ − 1)/(n − 1) (others)
    factor = (4 * beta - 1) / 3 if exclude_self else beta
    np.testing.assert_allclose(
        out[0] - ewa.average_experts(out), factor * (E[0] - ewa.average_experts(E)), atol=1e-12
    )


def test_family_contract_one_and_identical_experts():
    e = np.array([1.0, -2.0])
    np.testing.assert_array_equal(ewa.average_experts([e]), e)
    np.testing.assert_array_equal(ewa.ewa_update([e], 0.3)[0], e)
    out = ewa.ewa_update([e, e, e], 0.3)
    for o in out:
        np.testing.assert_allclose(o, e, atol=1e-15)
    np.testing.assert_allclose(ewa.average_experts([e, e, e]), e, atol=1e-15)
    np.testing.assert_array_equal(ewa.ewa_update([e, 2 * e], 1.0)[1], 2 * e)  # β = 1: plain MoE


def test_partition_is_uniform_and_complete():
    rng = np.random.default_rng(1)
    parts = ewa.random_uniform_partition(10, 3, rng)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    assert sorted(len(p) for p in parts) == [3, 3, 4]
    with pytest.raises(ValueError, match="n_experts"):
        ewa.random_uniform_partition(4, 0, rng)
    with pytest.raises(ValueError, match="beta"):
        ewa.ewa_update([np.zeros(1)], 1.5)


def test_moe_routes_each_token_to_one_expert_and_eval_is_the_averaged_ffn():
    moe = ewa.RUPMoE(4, 6, n_experts=2, rng=np.random.default_rng(0), dtype=np.float64)
    # make the experts differ
    for p in moe.experts[1].parameters():
        p.data += 0.1
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    moe.train()
    state = np.random.default_rng([0, 17])  # the module's own partition generator, replayed
    parts = ewa.random_uniform_partition(6, 2, state)
    y = moe(Tensor(x)).data.reshape(6, 4)
    flat = x.reshape(6, 4)
    for i, idx in enumerate(parts):
        np.testing.assert_allclose(y[idx], moe.experts[i](Tensor(flat[idx])).data, atol=1e-12)
    moe.eval()
    dense = ewa.FFN(4, 6, dtype=np.float64)
    dense.load_state_dict(moe.dense_state())
    np.testing.assert_allclose(moe(Tensor(x)).data, dense(Tensor(x)).data, atol=1e-12)


def test_gradcheck_through_the_moe_layer():
    moe = ewa.RUPMoE(3, 4, n_experts=2, rng=np.random.default_rng(2), dtype=np.float64)
    moe.train()
    x = Tensor(np.random.default_rng(3).standard_normal((4, 3)), requires_grad=True)

    def f(x):
        moe._rng = np.random.default_rng(5)  # the same partition on every call
        return moe(x)

    refimpl.gradcheck(f, x)


def test_demo_reports_honestly(demo_result):
    r = demo_result("experts-weights-averaging", 0)
    m = r["metrics"]
    assert m["final_spread_ewa"] < 0.2 * m["final_spread_no_ewa"]  # EWA keeps the experts together
    assert m["ewa_acc"] > 0.85 and m["dense_acc"] > 0.85
    assert r["claim"]["holds"] == (m["ewa_acc"] >= m["dense_acc"])
