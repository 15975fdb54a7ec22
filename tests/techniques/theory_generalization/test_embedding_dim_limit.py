"""The dimension limit: the reference cases; the free-embedding loss gradient against finite differences
(float64); free embeddings solve n = d + 1 in every tested d and a solved run passes its own check; d = 1 fails
n = 3 however long it runs; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_generalization import embedding_dim_limit as ED
from refimpl.techniques.theory_generalization.embedding_dim_limit.cases import reference_cases

SLUG = "embedding-dim-limit"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _loss(Q, X, pairs):
    S = Q @ X.T
    S = S - S.max(1, keepdims=True)
    logp = S - np.log(np.exp(S).sum(1, keepdims=True))
    return -np.mean(
        0.5 * (logp[np.arange(len(pairs)), pairs[:, 0]] + logp[np.arange(len(pairs)), pairs[:, 1]])
    )


def test_gradient_against_finite_differences():
    """The update's gradient (P − T)/m, pulled back to Q and X, is the gradient of the mean cross-entropy."""
    rng = np.random.default_rng(0)
    pairs = ED.all_pairs(4)
    Q, X = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    S = Q @ X.T
    P = np.exp(S - S.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    T = np.zeros_like(P)
    T[np.arange(6), pairs[:, 0]] = T[np.arange(6), pairs[:, 1]] = 0.5
    dS = (P - T) / 6
    for A, G in ((Q, dS @ X), (X, dS.T @ Q)):
        fd = np.zeros_like(A)
        for idx in np.ndindex(A.shape):
            A[idx] += 1e-6
            up = _loss(Q, X, pairs)
            A[idx] -= 2e-6
            fd[idx] = (up - _loss(Q, X, pairs)) / 2e-6
            A[idx] += 1e-6
        np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_small_problems_are_solved_and_checked(d):
    out = ED.fit_free_embeddings(d + 1, d, steps=3000, lr=0.1, rng=1)
    assert out["solved"]
    assert ED.top2_correct(out["Q"], out["X"], ED.all_pairs(d + 1)).all()


def test_one_dimension_cannot_serve_three_documents():
    out = ED.fit_free_embeddings(3, 1, steps=5000, lr=0.1, rng=2)
    assert not out["solved"] and out["fraction_correct"] <= 2 / 3


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`n`"):
        ED.all_pairs(1)
    with pytest.raises(ValueError, match="`d`"):
        ED.fit_free_embeddings(3, 0, steps=1, lr=0.1)
    with pytest.raises(ValueError, match="`lr`"):
        ED.fit_free_embeddings(3, 2, steps=1, lr=0.0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: the critical n grows faster than linearly in d on every seed, and the
    larger budget moves it by at least one document on average (the honest negative of the budget claim)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    m = next(iter(r.selected))
    assert min(r.values(m, "loglog_slope")) > 1
    assert np.mean(r.values(m, "mean_budget_shift")) >= 1
