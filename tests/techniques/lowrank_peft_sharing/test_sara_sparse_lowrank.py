"""SaRA — progressive sparse low-rank adaptation (Hu et al., 2024; arXiv 2409.06633): the nuclear norm and
its gradient, the masks, re-selection (it only shrinks the set), the penalty, the quick run and the claims on
the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear, ReLU, Sequential
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import adapters as B
from refimpl.techniques.lowrank_peft_sharing import sara_sparse_lowrank as S
from refimpl.techniques.lowrank_peft_sharing.sara_sparse_lowrank.cases import reference_cases

SLUG = "sara-sparse-lowrank"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_nuclear_norm_matches_numpy_and_gradcheck():
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(S.nuclear_norm(rf.tensor(X)).data, np.linalg.norm(X, "nuc"), atol=1e-12)
    rf.gradcheck(lambda x: S.nuclear_norm(x), X)
    with pytest.raises(ValueError, match="matrix"):
        S.nuclear_norm(rf.tensor(np.ones(3)))


def test_small_mask_modes():
    W = np.array([[0.5, -0.01, 0.3], [2.0, 0.02, -0.004]])
    np.testing.assert_array_equal(S.small_mask(W, threshold=0.05), np.abs(W) < 0.05)
    m = S.small_mask(W, k=2)
    assert m.sum() == 2 and m[0, 1] and m[1, 2]
    with pytest.raises(ValueError, match="exactly one"):
        S.small_mask(W)
    with pytest.raises(ValueError, match="exactly one"):
        S.small_mask(W, k=1, threshold=0.1)


def _model():
    rng = np.random.default_rng(1)
    return Sequential(
        Linear(6, 8, dtype=np.float64, rng=rng), ReLU(), Linear(8, 3, dtype=np.float64, rng=rng)
    )


def test_progressive_reselect_keeps_the_weight_and_uses_the_same_threshold():
    model = _model()
    S.attach_sara(model, fraction=0.2)
    ads = [a for _, _, a in B.adapters_of(model)]
    old_idx = [set(a.idx.tolist()) for a in ads]
    eps = [np.abs(l.weight.data.reshape(-1)[a.idx]).max() for l, a in zip((model[0], model[2]), ads)]
    rng = np.random.default_rng(2)
    for a in ads:
        a.delta_values.data[...] = rng.normal(scale=0.2, size=a.delta_values.shape)
    before = [model[0].weight.data.copy(), model[2].weight.data.copy()]
    S.progressive_reselect(model)
    for l, w, a, e in zip((model[0], model[2]), before, ads, eps):
        np.testing.assert_allclose(l.weight.data, w, atol=1e-12)
        np.testing.assert_array_equal(np.sort(a.idx), np.flatnonzero(np.abs(w) < e * (1 + 1e-6)))
        assert np.all(a.delta_values.data == 0)
    for a, old in zip(ads, old_idx):  # the set can only shrink: no frozen entry joins
        assert set(a.idx.tolist()) <= old


def test_nuclear_penalty_lowers_the_rank_of_the_update():
    model = _model()
    S.attach_sara(model, fraction=0.5)
    ads = [a for _, _, a in B.adapters_of(model)]
    rng = np.random.default_rng(3)
    for a in ads:
        a.delta_values.data[...] = rng.normal(size=a.delta_values.shape)
    start = float(S.rank_penalty(model).data)
    opt = Adam([a.delta_values for a in ads], lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        S.rank_penalty(model).backward()
        opt.step()
    assert float(S.rank_penalty(model).data) < 0.5 * start


def test_quick_run_budget_and_shrinking_set(quick_result):
    r = quick_result(SLUG)
    params = dict(zip(r.notes["arms"], r.arrays["params"]))
    # by hand: round(0.1·128·64) + round(0.1·128·128) = 819 + 1638 = 2457, between LoRA r=5 and r=6
    assert params["SaRA"] == params["random 10 %"] == 2457
    assert params["LoRA r=5"] == 2240 < 2457 < params["LoRA r=6"] == 2688
    for row in r.table:
        if row["method"] == "SaRA":
            assert row["trainable_after_reselection"] <= row["trainable_trunk_parameters"]
    assert r.premises[0]["present"] and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_sara_beats_lora_but_neither_penalty_nor_reselection_is_what_helps():
    """Recorded, 10 seeds: SaRA beats LoRA r=5 and the smallest-magnitude entries beat random ones (both
    intervals above 0), while the nuclear norm and the re-selection make no measurable difference (both
    intervals straddle 0 within half a point)."""
    by = {c["baseline"]: c for c in full().claims}
    assert by["LoRA r=5"]["interval"]["low"] > 0
    assert by["random 10 %"]["interval"]["low"] > 0
    for base in ("SaRA, λ = 0", "SaRA, no re-selection"):
        iv = by[base]["interval"]
        assert iv["low"] < 0 < iv["high"] and iv["high"] - iv["low"] < 0.01, (base, iv)


def test_full_run_reselection_drops_most_entries():
    """The re-selection keeps only the entries that stayed below ε: the set shrinks, never grows."""
    r = full()
    kept = r.values("SaRA", "kept_at_reselection")
    assert max(kept) < 1.0
    assert all(
        a < b
        for a, b in zip(
            r.values("SaRA", "trainable_after_reselection"), r.values("SaRA", "trainable_trunk_parameters")
        )
    )
