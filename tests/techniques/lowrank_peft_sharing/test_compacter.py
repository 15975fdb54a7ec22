"""Compacter (Karimi Mahabadi, Henderson, Ruder, 2021; arXiv 2106.04647)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear, ReLU, Sequential, functional_call
from refimpl.techniques.lowrank_peft_sharing import adapters as B
from refimpl.techniques.lowrank_peft_sharing import compacter as C
from refimpl.techniques.lowrank_peft_sharing.compacter.cases import reference_cases

SLUG = "compacter"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 1)), ((3, 2, 2), (3, 1, 3)), ((1, 1), (2, 2))])
def test_kron_matches_numpy_kron(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    got = C.kron(rf.tensor(a), rf.tensor(b)).data
    if len(sa) == 2:
        np.testing.assert_allclose(got, np.kron(a, b), atol=1e-14)
    else:
        np.testing.assert_allclose(got, np.stack([np.kron(x, y) for x, y in zip(a, b)]), atol=1e-14)


def test_kron_rejects_vectors():
    with pytest.raises(ValueError, match="kron"):
        C.kron(np.ones(3), np.ones((2, 2)))


def test_phm_weight_is_sum_of_numpy_krons_and_gradcheck():
    rng = np.random.default_rng(1)
    A, Bm = rng.normal(size=(3, 3, 3)), rng.normal(size=(3, 2, 4))
    expect = sum(np.kron(A[i], Bm[i]) for i in range(3))
    np.testing.assert_allclose(C.phm_weight(rf.tensor(A), rf.tensor(Bm)).data, expect, atol=1e-12)
    rf.gradcheck(lambda a, b: C.phm_weight(a, b), A, Bm)


def test_lphm_layer_forward_and_gradcheck():
    layer = C.PHMLinear(6, 4, n=2, rank=1, dtype=np.float64, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(5, 6))
    A, s, t, b = (p.data.copy() for p in (layer.rule.A, layer.s, layer.t, layer.bias))
    W = sum(np.kron(A[i], s[i] @ t[i]) for i in range(2))  # B_i = s_i t_iᵀ
    np.testing.assert_allclose(layer(rf.tensor(x)).data, x @ W.T + b, atol=1e-12)
    assert np.linalg.matrix_rank(s[0] @ t[0]) == 1

    def f(a, s_, t_, xx):
        return functional_call(layer, {"rule.A": a, "s": s_, "t": t_}, xx)

    rf.gradcheck(f, A, s, t, x)


@pytest.mark.parametrize("rank", [None, 1, 2])
def test_phm_layer_counts_match_parameters(rank):
    layer = C.PHMLinear(8, 12, n=4, rank=rank, rng=np.random.default_rng(0))
    total = sum(p.data.size for p in layer.parameters())
    assert layer.num_trainable(include_rule=True) == total
    if rank is None:  # the "1/n" of PHM layers: out·in/n + n³ (+ bias)
        assert total == 12 * 8 // 4 + 4**3 + 12
    else:
        assert total == rank * (12 + 8) + 4**3 + 12


def test_rule_is_shared_and_counted_once():
    rule = C.PHMRule(4, rng=np.random.default_rng(0))
    a1 = C.CompacterAdapter(16, 8, rule, rng=np.random.default_rng(1))
    a2 = C.CompacterAdapter(16, 8, rule, rng=np.random.default_rng(2))
    assert a1.down.rule.A is a2.up.rule.A
    assert B.count_trainable(a1, a2) == C.adapter_param_count("compacter", 16, 8, 4, layers=2)
    assert a1.num_trainable() == 2 * (8 + 16) + 8 + 16


def test_compacter_zero_init_is_identity_official_init_is_not():
    h = rf.tensor(np.random.default_rng(0).normal(size=(3, 16)))
    rule = C.PHMRule(4, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(C.CompacterAdapter(16, 8, rule, zero_init=True, rng=0)(h).data, h.data)
    off = C.CompacterAdapter(16, 8, rule, zero_init=False, rng=0)(h).data
    assert 0 < np.abs(off - h.data).max() < 0.5  # small (rule std 0.01) but not zero


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="divisible by n=4"):
        C.PHMLinear(10, 8, n=4)
    with pytest.raises(ValueError, match="rank"):
        C.PHMLinear(8, 8, n=4, rank=0)
    with pytest.raises(ValueError, match="kind"):
        C.adapter_param_count("lora", 8, 2)


def test_bottleneck_adapter_identity_and_count():
    a = C.BottleneckAdapter(6, 2, dtype=np.float64, rng=np.random.default_rng(0))
    h = rf.tensor(np.random.default_rng(1).normal(size=(4, 6)))
    np.testing.assert_array_equal(a(h).data, h.data)
    assert a.num_trainable() == sum(p.data.size for p in a.parameters()) == 2 * 2 * 6 + 2 + 6


def test_insert_after_places_modules_and_shares_the_rest():
    rng = np.random.default_rng(0)
    seq = Sequential(Linear(5, 4, rng=rng), ReLU(), Linear(4, 3, rng=rng))
    extra = ReLU()
    new = C.insert_after(seq, [1], lambda i, m: extra)
    assert len(new) == 4 and new[2] is extra and new[0] is seq[0] and new[3] is seq[2]
    with pytest.raises(ValueError, match="positions"):
        C.insert_after(seq, [5], lambda i, m: extra)


def test_shared_rule_starts_at_the_official_scale():
    """configs/compacter.json: phm_c_init normal with phm_init_range 0.0001."""
    A = C.PHMRule(4, rng=0).A.data
    assert 0.5e-4 < A.std() < 2e-4


def test_quick_run_counts_match_the_closed_forms(quick_result):
    r = quick_result(SLUG)
    params = dict(zip(r.notes["arms"], r.arrays["params"]))
    assert params["adapter k=16"] == C.adapter_param_count("adapter", 128, 16, 4, layers=2) == 8480
    assert params["PHM adapter n=4"] == C.adapter_param_count("phm", 128, 16, 4, layers=2) == 2400
    assert params["Compacter n=4"] == C.adapter_param_count("compacter", 128, 16, 4, layers=2) == 928
    assert r.premises[0]["present"] and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_compacter_adapts_with_a_ninth_of_the_adapter_parameters():
    """Recorded, 10 seeds: Compacter clearly beats the head alone; against plain adapters (9× more
    parameters) the difference is within a few points either way — the interval straddles the one-point
    margin, so the paper's parity claim is neither confirmed nor refuted here."""
    by = {c["baseline"]: c for c in full().claims}
    assert by["head only"]["interval"]["low"] > 0.05
    parity = by["adapter k=16"]["interval"]
    assert parity["low"] > -0.06 and parity["high"] > -0.01
