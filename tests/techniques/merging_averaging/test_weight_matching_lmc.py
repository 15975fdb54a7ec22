"""Weight matching and the LMC analysis (Ito et al., 2024, arXiv 2402.04051; Ainsworth et al., 2023), activation
matching and the straight-through search, the quick run and the claims on the recorded full result."""

from collections import OrderedDict
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.experiments import freshness, recorded
from refimpl.techniques.merging_averaging import state as S
from refimpl.techniques.merging_averaging import weight_matching_lmc as wm
from refimpl.techniques.merging_averaging.weight_matching_lmc.cases import reference_cases

SLUG = "weight-matching-lmc"


def _mlp(sizes, seed):
    rng = np.random.default_rng(seed)
    sd = OrderedDict()
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        sd[f"{2 * i}.weight"] = rng.standard_normal((b, a))
        sd[f"{2 * i}.bias"] = rng.standard_normal(b)
    return sd


def _random_permutations(sd, seed=0):
    """A random permutation for every hidden layer of the MLP `sd`."""
    rng = np.random.default_rng(seed)
    sizes = {}
    for k, axes in wm.mlp_permutation_spec(sd).items():
        for axis, p in enumerate(axes):
            if p is not None:
                sizes[p] = sd[k].shape[axis]
    return {p: rng.permutation(n) for p, n in sorted(sizes.items())}


def test_reference_cases():
    for case in reference_cases():
        case.check()


def test_single_hidden_layer_is_the_brute_force_optimum():
    """One permutation: coordinate descent is exact; compare with enumerating all 5! permutations."""
    a, b = _mlp([3, 5, 2], 0), _mlp([3, 5, 2], 1)
    perms = wm.weight_matching(a, b)
    best = max(permutations(range(5)), key=lambda p: wm.matching_objective(a, b, {"P_0": np.array(p)}))
    assert wm.matching_objective(a, b, perms) == pytest.approx(
        wm.matching_objective(a, b, {"P_0": np.array(best)})
    )


def test_recovers_a_planted_permutation_in_a_deep_mlp():
    a = _mlp([4, 6, 5, 3], 2)
    planted = _random_permutations(a, seed=5)
    b = wm.permute_state(a, planted)  # b is a with shuffled units
    perms = wm.weight_matching(a, b, seed=1)
    back = wm.permute_state(b, perms)
    for k in a:
        np.testing.assert_allclose(back[k], a[k], atol=1e-12)


def test_objective_never_decreases_and_function_is_preserved():
    a, b = _mlp([4, 8, 8, 3], 3), _mlp([4, 8, 8, 3], 4)
    ident = {p: np.arange(n) for p, n in (("P_0", 8), ("P_1", 8))}
    perms = wm.weight_matching(a, b, seed=0)
    assert wm.matching_objective(a, b, perms) >= wm.matching_objective(a, b, ident) - 1e-12
    x = np.random.default_rng(0).standard_normal((6, 4))
    np.testing.assert_allclose(
        S.mlp_forward(wm.permute_state(b, perms), x), S.mlp_forward(b, x), rtol=0, atol=1e-12
    )
    # ‖A − π(B)‖² = ‖A‖² + ‖B‖² − 2⟨A, π(B)⟩, so a larger objective is a smaller distance
    d2 = wm.distance(a, wm.permute_state(b, perms)) ** 2
    na = sum(np.sum(v**2) for v in a.values())
    nb = sum(np.sum(v**2) for v in b.values())
    assert d2 == pytest.approx(na + nb - 2 * wm.matching_objective(a, b, perms))


def test_permutations_keep_singular_values_and_alignment_bounds():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4))
    pw = w[rng.permutation(6)][:, rng.permutation(4)]
    np.testing.assert_allclose(
        np.linalg.svd(w, compute_uv=False), np.linalg.svd(pw, compute_uv=False), atol=1e-12
    )
    assert wm.singular_alignment(w, w, 4) == pytest.approx(1.0)
    assert wm.singular_alignment(w, -w, 2, "bottom") == pytest.approx(1.0)  # joint sign flips do not matter
    assert 0.0 <= wm.singular_alignment(w, pw, 3) <= 1.0
    with pytest.raises(ValueError, match="k"):
        wm.singular_alignment(w, w, 5)
    with pytest.raises(ValueError, match="w_a"):
        wm.singular_alignment(w, w.T, 1)


def test_family_contract_identical_models_need_no_permutation():
    a = _mlp([3, 4, 2], 7)
    perms = wm.weight_matching(a, a)
    for p in perms.values():
        np.testing.assert_array_equal(p, np.arange(len(p)))
    assert wm.distance_ratio(a, _mlp([3, 4, 2], 8), {"P_0": np.arange(4)}) == pytest.approx(1.0)


def test_activation_matching_recovers_a_permuted_copy_of_a_deep_mlp():
    a = _mlp([5, 6, 4, 3], 3)
    perms = _random_permutations(a, seed=4)
    b = wm.permute_state(a, perms)
    x = np.random.default_rng(5).standard_normal((50, 5))
    found = wm.activation_matching(a, b, x)
    np.testing.assert_allclose(wm.permute_state(b, found)["2.weight"], a["2.weight"], atol=1e-12)
    np.testing.assert_allclose(wm.permute_state(b, found)["4.weight"], a["4.weight"], atol=1e-12)


def test_ste_keeps_the_function_of_b_and_finds_the_planted_permutation():
    """The straight-through search returns a valid permutation of B; with B a permuted copy of A the midpoint
    is A itself once the permutation is undone, so the search ends on it."""
    a = _mlp([4, 5, 3], 6)
    b = wm.permute_state(a, _random_permutations(a, seed=7))
    x = np.random.default_rng(8).standard_normal((40, 4))
    y = np.random.default_rng(9).integers(0, 3, 40)
    perms = wm.ste_matching(a, b, x, y, lr=1e-3, steps=3, batch_size=16, seed=0)
    np.testing.assert_allclose(wm.permute_state(b, perms)["0.weight"], a["0.weight"], atol=1e-12)


def test_quick_run_measures_barriers_for_every_search(quick_result):
    r = quick_result(SLUG)
    assert {row["method"] for row in r.table} == {"naive", "weight matching", "activation matching", "STE"}
    assert all(row["test_barrier"] >= 0 for row in r.table) and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_matching_removes_the_barrier_without_closing_the_distance():
    """Recorded, 5 seeds: a clear naive barrier (premise); weight and activation matching lower it (intervals
    below 0) while the distance ratio stays above one half."""
    r = full()
    assert r.premises[0]["present"] and r.premises[0]["interval"]["low"] > 0.1
    by = {(c["method"], c["metric"]): c for c in r.claims}
    assert by[("weight matching", "test_barrier")]["interval"]["high"] < 0
    assert by[("activation matching", "test_barrier")]["interval"]["high"] < 0
    assert by[("weight matching", "distance_ratio")]["interval"]["low"] > 0.5


def test_distance_by_hand():
    a = {"w": np.array([2.0, 1.0]), "b": np.array([1.0])}
    b = {"w": np.array([2.0, 2.0]), "b": np.array([-1.0])}
    assert wm.distance(a, b) == pytest.approx(np.sqrt(0 + 1 + 4))


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(0, 10_000), hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_permutation_leaves_function_unchanged(seed, hidden):
    sizes = [4] + hidden + [3]
    sd = _mlp(sizes, seed)
    perms = _random_permutations(sd, seed=seed + 1)
    x = np.random.default_rng(seed).standard_normal((7, 4))
    np.testing.assert_allclose(
        S.mlp_forward(wm.permute_state(sd, perms), x), S.mlp_forward(sd, x), rtol=0, atol=1e-12
    )


def test_permutation_spec_and_by_hand():
    sd = OrderedDict(
        [
            ("0.weight", np.array([[1.0], [2.0]])),
            ("0.bias", np.array([10.0, 20.0])),
            ("2.weight", np.array([[3.0, 4.0]])),
            ("2.bias", np.array([0.0])),
        ]
    )
    spec = wm.mlp_permutation_spec(sd)
    assert spec == {
        "0.weight": ("P_0", None),
        "0.bias": ("P_0",),
        "2.weight": (None, "P_0"),
        "2.bias": (None,),
    }
    p = wm.permute_state(sd, {"P_0": np.array([1, 0])})
    np.testing.assert_array_equal(p["0.weight"], [[2.0], [1.0]])
    np.testing.assert_array_equal(p["0.bias"], [20.0, 10.0])
    np.testing.assert_array_equal(p["2.weight"], [[4.0, 3.0]])
    with pytest.raises(ValueError, match="perms"):
        wm.permute_state(sd, {"P_0": np.array([0, 0])})
