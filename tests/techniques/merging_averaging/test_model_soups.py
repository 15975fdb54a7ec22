"""Model soups (Wortsman et al., 2022; arXiv 2203.05482)."""

from itertools import combinations

import numpy as np
import pytest

from refimpl.techniques.merging_averaging import model_soups as ms


def test_reference_cases():
    for case in ms.reference_cases():
        case.check()


def _brute_greedy(vals, acc_of_subset, strict=False):
    """Independent oracle: the recipe written as a plain loop over index sets."""
    order = sorted(range(len(vals)), key=lambda i: (-vals[i], i))
    soup = [order[0]]
    best = vals[order[0]]
    for i in order[1:]:
        a = acc_of_subset(frozenset(soup + [i]))
        if a > best or (not strict and a == best):
            soup.append(i)
            best = a
    return soup


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("strict", [False, True])
def test_greedy_soup_matches_brute_force_loop(seed, strict):
    rng = np.random.default_rng(seed)
    k = 5
    states = [{"w": np.array([float(2**i)])} for i in range(k)]  # the average identifies the subset
    subset_acc = {}
    for r in range(1, k + 1):
        for c in combinations(range(k), r):
            subset_acc[frozenset(c)] = float(rng.integers(0, 4)) / 4  # ties on purpose
    by_mean = {round(np.mean([2.0**i for i in s]), 9): a for s, a in subset_acc.items()}
    oracle = lambda sd: by_mean[round(float(sd["w"][0]), 9)]  # noqa: E731
    got = ms.greedy_soup(states, oracle, strict=strict)
    vals = [subset_acc[frozenset([i])] for i in range(k)]
    assert got["ingredients"] == _brute_greedy(vals, lambda s: subset_acc[s], strict)
    np.testing.assert_allclose(got["state"]["w"], np.mean([2.0**i for i in got["ingredients"]]))


def test_family_contract_one_and_identical_models():
    sd = {"a": np.array([[1.0, -2.0]]), "b": np.array([0.5])}
    for soup in (ms.uniform_soup([sd]), ms.greedy_soup([sd], lambda s: 0.5)["state"]):
        for k in sd:
            np.testing.assert_array_equal(soup[k], sd[k])
    soup = ms.greedy_soup([sd, sd, sd], lambda s: 0.5)["state"]
    for k in sd:
        np.testing.assert_allclose(soup[k], sd[k], rtol=0, atol=1e-15)


def test_bad_inputs():
    with pytest.raises(TypeError, match="val_accuracy"):
        ms.greedy_soup([{"w": np.zeros(1)}], 0.5)
    with pytest.raises(ValueError, match="states"):
        ms.greedy_soup([], lambda s: 0.0)


def test_demo_claim_over_seeds(demo_result):
    """At toy scale: linear connectivity of the best runs, the greedy soup ≥ the average ingredient and ≥
    the pretrained model by far, and not far below the best single run (the paper's claim, loosely)."""
    holds = []
    for seed in (0, 1):
        r = demo_result("model-soups", seed)
        m = r["metrics"]
        assert m["barrier_top2"] < 0.05
        assert m["greedy_soup_test_acc"] >= m["mean_single_test_acc"]
        assert m["greedy_soup_test_acc"] >= m["best_single_test_acc"] - 0.02
        assert r["table"][0]["test_acc"] < m["greedy_soup_test_acc"] - 0.2  # fine-tuning helps a lot
        holds.append(r["claim"]["holds"])
        assert r["claim"]["holds"] == (
            m["greedy_soup_test_acc"] >= m["best_single_test_acc"] - 0.005
            and m["greedy_soup_shift_acc"] >= m["best_single_shift_acc"] - 0.005
        )
