"""MoRA — self-activated sparse mixture of rank-1 experts (Lu et al., 2025; arXiv 2506.21035),
reconstructed."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear, ReLU, Sequential, functional_call
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import mora_rank1_experts as M
from refimpl.techniques.lowrank_peft_sharing.mora_rank1_experts.cases import reference_cases

SLUG = "mora-rank1-experts"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_gates_are_sparse_normalised_and_follow_the_budget():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(6, 8))
    w = M.self_activated_weights(s, k=3, tau=0.5, delta=-10.0).data
    assert np.all((w > 0).sum(axis=1) == 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    order = np.argsort(-s, axis=1)[:, :3]
    assert all(set(np.flatnonzero(w[i])) == set(order[i]) for i in range(6))
    with pytest.raises(ValueError, match="budget"):
        M.self_activated_weights(s, k=9, tau=0.5)
    with pytest.raises(ValueError, match="tau"):
        M.self_activated_weights(s, k=2, tau=0.0)


def test_new_experts_start_silent_and_old_ones_freeze():
    layer = Linear(5, 4, dtype=np.float64, rng=np.random.default_rng(1))
    pool = M.RankOneExperts(5, 4, k=2, dtype=np.float64)
    pool.add_experts(3, rng=0)
    m = M.MoRALinear(layer, pool)
    x = rf.tensor(np.random.default_rng(2).normal(size=(3, 5)))
    np.testing.assert_array_equal(m(x).data, layer(x).data)  # B = 0
    assert pool.num_trainable() == 3 * (5 + 4)
    pool.B0.data[...] = 1.0
    pool.add_experts(2, rng=1)
    assert not pool.A0.requires_grad and not pool.B0.requires_grad and pool.A1.requires_grad
    assert pool.rank == 5 and pool.num_trainable() == 2 * (5 + 4)


def test_forward_matches_a_loop_over_experts_and_gradcheck():
    rng = np.random.default_rng(3)
    pool = M.RankOneExperts(4, 3, k=2, tau=0.7, delta=0.0, dtype=np.float64)
    pool.add_experts(4, rng=0)
    pool.B0.data[...] = rng.normal(size=pool.B0.shape)
    x = rng.normal(size=(5, 4))
    A, B = pool.A0.data, pool.B0.data
    out = np.zeros((5, 3))
    for n in range(5):  # independent per-sample loop
        a = A @ x[n]
        s = a / np.linalg.norm(a)
        top = np.argsort(-s)[:2]
        e = np.exp(s[top] / 0.7)
        w = np.zeros(4)
        w[top] = e / e.sum()
        w[s < 0] = 0
        out[n] = sum(w[i] * B[:, i] * a[i] for i in range(4))
    np.testing.assert_allclose(pool(rf.tensor(x)).data, out, atol=1e-12)
    rf.gradcheck(lambda a_, b_: functional_call(pool, {"A0": a_, "B0": b_}, rf.tensor(x)), A.copy(), B.copy())


def test_frozen_experts_are_bit_identical_after_training_steps():
    seq = Sequential(Linear(4, 6, dtype=np.float64, rng=np.random.default_rng(4)), ReLU())
    seq.requires_grad_(False)
    (pool,) = M.wrap_linears(seq, k=2)
    pool.add_experts(2, rng=0)
    pool.B0.data[...] = 0.5
    pool.add_experts(2, rng=1)
    frozen = [pool.A0.data.copy(), pool.B0.data.copy(), seq[0].layer.weight.data.copy()]
    opt = Adam([p for p in seq.parameters() if p.requires_grad], lr=0.05)
    x = rf.tensor(np.random.default_rng(5).normal(size=(7, 4)))
    for _ in range(3):
        opt.zero_grad()
        (seq(x) ** 2).sum().backward()
        opt.step()
    for before, after in zip(frozen, [pool.A0.data, pool.B0.data, seq[0].layer.weight.data]):
        np.testing.assert_array_equal(before, after)


def test_group_shares_split_the_gate_weight_by_task_group():
    pool = M.RankOneExperts(3, 2, k=2, tau=1.0, delta=-10.0, dtype=np.float64)
    pool.add_experts(1, rng=0)
    pool.add_experts(1, rng=1)
    pool.A0.data[...] = [[1.0, 0.0, 0.0]]
    pool.A1.data[...] = [[0.0, 1.0, 0.0]]
    # x = e_0: scores s = (1, 0) → softmax weights (e/(e+1), 1/(e+1)) on groups 0 and 1
    shares = pool.group_shares(np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(shares, [np.e / (np.e + 1), 1 / (np.e + 1)], rtol=1e-12)


def test_quick_run_reports_routing_and_forgetting(quick_result):
    r = quick_result(SLUG)
    mora = [row for row in r.table if row["method"] == "MoRA"]
    assert mora and all(0 <= row["routing_own_share"] <= 1 for row in mora)
    assert all("forgetting" in row for row in r.table) and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_mora_forgets_less_and_routes_barely_above_chance():
    """Recorded, 8 seeds: sequential LoRA forgets (premise); MoRA forgets less (interval below 0); its
    experts send each task's inputs to that task's own experts only slightly more than chance (1/3)."""
    r = full()
    assert r.premises[0]["present"]
    by = {c["metric"]: c for c in r.claims}
    assert by["forgetting"]["interval"]["high"] < 0
    routing = by["routing_own_share"]["interval"]
    assert 1 / 3 < routing["low"] and routing["high"] < 0.45
