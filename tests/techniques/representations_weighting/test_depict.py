"""DEPICT: reference cases by hand, the target's effect on the KL objective and on cluster balance, the
loss against a NumPy computation, bad input, the quick run and the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import depict as D
from refimpl.techniques.representations_weighting.depict.cases import reference_cases

SLUG = "depict"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _imbalanced(seed=0, n=200, k=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) + np.array([2.0, 0.0, 0.0, -1.0])  # cluster 0 dominates
    P = np.exp(logits)
    return P / P.sum(1, keepdims=True)


def test_depict_target_lowers_the_regularised_objective_and_balances_frequencies():
    for seed in range(5):
        P = _imbalanced(seed)
        Q = D.depict_target(P)
        assert D.target_objective(Q, P) < D.target_objective(P, P)
        entropy = lambda f: -np.sum(f * np.log(f))  # noqa: E731
        assert entropy(Q.mean(0)) > entropy(P.mean(0))  # closer to uniform frequencies


def test_depict_target_is_near_the_exact_minimiser():
    """The exact minimiser of KL(Q‖P) + N·KL(f‖u) satisfies q ∝ p/f (iterate to the fixed point); the paper's
    closed form is close to it and much closer than P itself."""
    P = _imbalanced(1)
    Q = P.copy()
    for _ in range(500):
        Q = P / Q.mean(0, keepdims=True)
        Q /= Q.sum(1, keepdims=True)
    exact = D.target_objective(Q, P)
    assert exact <= D.target_objective(D.depict_target(P), P) + 1e-9
    assert D.target_objective(D.depict_target(P), P) - exact < 0.25 * (D.target_objective(P, P) - exact)


def test_clustering_loss_matches_numpy():
    rng = np.random.default_rng(2)
    logits, rec, x = rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    Q = D.depict_target(np.full((5, 3), 1 / 3))
    got = D.clustering_loss(Tensor(logits), Q, Tensor(rec), x, 0.5).data
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expect = -np.mean(np.sum(Q * logp, 1)) + 0.5 * np.mean(np.sum((rec - x) ** 2, 1))
    np.testing.assert_allclose(got, expect, rtol=1e-5)


def test_targets_reject_non_probabilities():
    with pytest.raises(ValueError, match="probability"):
        D.depict_target(np.array([[0.5, 0.6]]))
    with pytest.raises(ValueError, match="shape"):
        D.hard_target(np.ones(3))


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == {
        "k-means",
        "DEPICT",
        "hard self-training",
        "DEC target",
    }


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_judges_on_ten_seeds():
    r = full()
    assert len(r.seeds) == 10 and all(c["interval"]["n"] == 10 for c in r.claims)


def test_full_run_premise_is_measured_on_hard_self_training():
    p = full().premises[0]
    assert p["method"] == "hard self-training" and len(p["values"]) == 10
