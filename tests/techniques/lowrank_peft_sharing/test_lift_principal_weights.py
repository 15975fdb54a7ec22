"""LIFT — principal weights after rank reduction (Liu et al., 2025; arXiv 2506.00772): rank reduction against
an independent route, masks (largest, the released scripts' smallest, magnitude, random), the sparse update,
mask refresh with Adam moments, the quick run, and the claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear, ReLU, Sequential
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import adapters as B
from refimpl.techniques.lowrank_peft_sharing import lift_principal_weights as L
from refimpl.techniques.lowrank_peft_sharing.lift_principal_weights.cases import reference_cases

SLUG = "lift-principal-weights"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("shape,r", [((6, 4), 2), ((5, 7), 3), ((4, 4), 4)])
def test_rank_reduce_matches_eigen_route(shape, r):
    W = np.random.default_rng(0).normal(size=shape)
    # independent route: top-r eigenvectors of WᵀW give V_r; W' = W V_r V_rᵀ
    vals, vecs = np.linalg.eigh(W.T @ W)
    V = vecs[:, np.argsort(vals)[::-1][:r]]
    np.testing.assert_allclose(L.rank_reduce(W, r), W @ V @ V.T, atol=1e-10)
    assert np.linalg.matrix_rank(L.rank_reduce(W, r)) == min(r, *shape)


def test_masks_have_exactly_k_entries_and_pick_the_right_ones():
    W = np.random.default_rng(1).normal(size=(8, 5))
    for method in L.MASK_METHODS:
        assert L.select_mask(W, 7, method, r=2, rng=0).sum() == 7
    # largest and smallest of |W_r| split the entries between them (no ties in a random matrix)
    total = L.select_mask(W, 20, "lift", r=2) | L.select_mask(W, 20, "lift-smallest", r=2)
    assert total.all()
    flat = np.abs(W).ravel()
    expect = np.zeros(W.size, bool)
    expect[np.argsort(flat)[-7:]] = True
    np.testing.assert_array_equal(L.select_mask(W, 7, "magnitude"), expect.reshape(W.shape))
    np.testing.assert_array_equal(L.select_mask(W, 7, "random", rng=3), L.select_mask(W, 7, "random", rng=3))
    assert L.budget((128, 64), 2) == 384 and L.budget((3, 3), 5) == 9


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="method"):
        L.select_mask(np.eye(2), 1, "grad")
    with pytest.raises(ValueError, match="`k`"):
        L.topk_mask(np.eye(2), 5)
    with pytest.raises(ValueError, match="rank `r`"):
        L.rank_reduce(np.eye(2), 0)
    with pytest.raises(ValueError, match="mask"):
        L.SparseDelta(np.ones(3, bool))


def test_scatter_forward_and_gradcheck():
    idx = np.array([5, 0, 3])
    d = np.array([1.0, 2.0, 3.0])
    expect = np.zeros(6)
    expect[[5, 0, 3]] = d
    np.testing.assert_array_equal(L.scatter(rf.tensor(d), idx, (2, 3)).data, expect.reshape(2, 3))
    rf.gradcheck(lambda x: L.scatter(x, idx, (2, 3)), d)


def test_only_masked_entries_move():
    layer = Linear(5, 4, dtype=np.float64, rng=np.random.default_rng(0))
    w0 = layer.weight.data.copy()
    mask = L.select_mask(w0, 6, "lift", r=2)
    model = Sequential(layer)
    B.attach(model, lambda n, l: L.SparseDelta(mask, dtype=np.float64))
    params = B.freeze_base(model)
    assert B.count_trainable(model) == 6
    opt = Adam(params, lr=0.1)
    x = rf.tensor(np.random.default_rng(1).normal(size=(3, 5)))
    for _ in range(2):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        opt.step()
    moved = layer.weight.data != w0
    assert moved[mask].all() and not moved[~mask].any()
    np.testing.assert_array_equal(layer.parametrizations.weight.original.data, w0)


def test_refresh_keeps_the_weight_and_remaps_adam_moments():
    rng = np.random.default_rng(2)
    model = Sequential(
        Linear(6, 5, dtype=np.float64, rng=rng), ReLU(), Linear(5, 3, dtype=np.float64, rng=rng)
    )
    L.attach_sparse(model, lora_rank=1, method="random", rng=0)
    opt = Adam(B.freeze_base(model), lr=0.05)
    x = rf.tensor(rng.normal(size=(4, 6)))
    for _ in range(3):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        opt.step()
    ad = B.adapters_of(model)[0][2]
    old_idx, old_m = ad.idx.copy(), opt.state[ad.delta_values]["exp_avg"].copy()
    w_before = [model[0].weight.data.copy(), model[2].weight.data.copy()]
    L.refresh_masks(model, opt, method="lift", r=2)
    np.testing.assert_allclose(model[0].weight.data, w_before[0], atol=1e-12)
    np.testing.assert_allclose(model[2].weight.data, w_before[1], atol=1e-12)
    assert ad.idx.size == old_idx.size and np.all(ad.delta_values.data == 0)
    new_m = opt.state[ad.delta_values]["exp_avg"]
    for t, j in enumerate(ad.idx):
        hit = np.flatnonzero(old_idx == j)
        assert new_m[t] == (old_m[hit[0]] if hit.size else 0.0)


def test_quick_run_trains_k_entries_like_lora(quick_result):
    r = quick_result(SLUG)
    params = dict(zip(r.notes["arms"], r.arrays["params"]))
    # by hand: K = (m + n)·2 per hidden matrix, (64 + 128)·2 + (128 + 128)·2 = 896 = LoRA r=2's count
    for arm in ("LIFT", "LIFT as released", "magnitude", "random", "LoRA r=2"):
        assert params[arm] == 896, arm
    assert r.premises[0]["present"] and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_principal_weights_forget_less_than_full_fine_tuning():
    c = {c["statement"]: c for c in full().claims}
    forget = next(v for k, v in c.items() if "forget" in k)
    assert forget["interval"]["low"] > 0, forget["interval"]


def test_full_run_principal_weights_do_not_beat_the_controls_on_this_toy():
    """Honest negative (10 seeds): the largest entries of |W_r| learn the new task worse than a random mask,
    magnitude selection and the released scripts' smallest entries, each interval entirely below zero."""
    for c in full().claims:
        if c["metric"] == "test_accuracy":
            assert c["interval"]["high"] < 0, (c["statement"], c["interval"])
