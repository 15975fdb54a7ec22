"""Loss-based sample reweighting (Sow et al. 2025; arXiv 2502.06733): hand cases, the Tensor path against
the NumPy formulas, properties of the weights (sum 1, δ/τ invariance, the max-weight bound), the gradient
in float64 (weights detached), uniform = plain training, errors, the quick run, and the claims on the
recorded full result."""

import numpy as np
import pytest

from refimpl import nn
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.experiments.stats import mean_interval
from refimpl.nn import functional as F
from refimpl.optim import SGD
from refimpl.techniques.data_weighting_selection import loss_based_reweighting as LBR
from refimpl.techniques.data_weighting_selection.loss_based_reweighting.cases import reference_cases
from refimpl.train import fit

SLUG = "loss-based-reweighting"
STRATS = ["uniform", "linupper", "quadratic", "extremes"]


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("strategy", STRATS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_tensor_path_matches_the_numpy_formulas(strategy, dtype, tol):
    rng = np.random.default_rng(3)
    ell = rng.uniform(0.0, 4.0, size=9).astype(dtype)
    per = Tensor(ell, requires_grad=True)
    w = np.full(9, 1 / 9) if strategy == "uniform" else LBR.loss_weights(ell, strategy, 1.0, 0.7)
    got = LBR.reweighted_loss(per, strategy, 1.0, 0.7)
    np.testing.assert_allclose(got.data, np.sum(w * ell.astype(np.float64)), rtol=tol * 10, atol=tol)
    got.backward()
    np.testing.assert_allclose(per.grad, w, rtol=tol * 10, atol=tol)  # ∂/∂ℓᵢ Σ wⱼℓⱼ = wᵢ: w detached


def test_hand_formulas_of_each_strategy():
    ell = np.array([0.0, 1.0, 3.0, 4.0])  # h = (−1, −0.5, 0.5, 1) with δ = 1
    f = {
        "linupper": np.array([0.0, 0.5, 1.0, 1.0]),
        "quadratic": np.array([0.0, 0.75, 0.75, 0.0]),
        "extremes": np.array([1.0, 0.5, 0.5, 1.0]),
    }
    np.testing.assert_allclose(LBR.normalized_losses(ell), [-1.0, -0.5, 0.5, 1.0])
    for s, fs in f.items():
        e = np.exp(fs / 0.25)
        np.testing.assert_allclose(LBR.loss_weights(ell, s, 1.0, 0.25), e / e.sum(), rtol=1e-12)


def test_only_delta_over_tau_matters():
    ell = np.random.default_rng(0).exponential(size=16)
    for s in ("linupper", "extremes"):
        np.testing.assert_allclose(LBR.loss_weights(ell, s, 2.0, 1.0), LBR.loss_weights(ell, s, 1.0, 0.5))
    np.testing.assert_allclose(
        LBR.loss_weights(ell, "quadratic", 3.0, 0.5), LBR.loss_weights(ell, "quadratic", 1.0, 0.5)
    )


@pytest.mark.parametrize("strategy", STRATS)
def test_weights_are_a_distribution_and_linupper_is_monotone_and_bounded(strategy):
    rng = np.random.default_rng(1)
    for _ in range(20):
        ell = rng.exponential(size=32)
        w = LBR.loss_weights(ell, strategy, 1.0, 0.5)
        assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
        if strategy == "linupper":
            o = np.argsort(ell)
            assert np.all(np.diff(w[o]) >= -1e-15)  # non-decreasing in the loss
            # f ∈ [0, δ] → w_max ≤ e^{δ/τ} / (e^{δ/τ} + B − 1): the bounded largest weight
            assert w.max() <= np.e**2 / (np.e**2 + 31) + 1e-12


def test_gradient_is_the_weighted_sum_of_example_gradients_float64():
    """Central differences of θ ↦ Σ wᵢ ℓᵢ(θ) with the weights frozen at θ₀ equal the autograd gradient
    of `reweighted_loss` (the weights are constants of the step, trainer.py: torch.no_grad)."""
    rng = np.random.default_rng(2)
    x, y, theta0 = rng.normal(size=(12, 5)), rng.normal(size=12), rng.normal(size=5)
    t = Tensor(theta0.copy(), requires_grad=True)
    per = ((t.reshape((1, 5)) * Tensor(x)).sum(axis=1) - Tensor(y)) ** 2
    LBR.reweighted_loss(per, "linupper", 1.0, 0.5).backward()
    w = LBR.loss_weights((x @ theta0 - y) ** 2, "linupper", 1.0, 0.5)
    eps, num = 1e-6, np.zeros(5)
    for k in range(5):
        d = np.zeros(5)
        d[k] = eps
        num[k] = (np.sum(w * (x @ (theta0 + d) - y) ** 2) - np.sum(w * (x @ (theta0 - d) - y) ** 2)) / (
            2 * eps
        )
    np.testing.assert_allclose(t.grad, num, rtol=1e-7, atol=1e-8)
    # and it is not the gradient through the weights: the full derivative differs
    full = np.zeros(5)
    for k in range(5):
        d = np.zeros(5)
        d[k] = eps

        def total(th):
            ell = (x @ th - y) ** 2
            return np.sum(LBR.loss_weights(ell, "linupper", 1.0, 0.5) * ell)

        full[k] = (total(theta0 + d) - total(theta0 - d)) / (2 * eps)
    assert np.abs(full - t.grad).max() > 1e-3


def test_uniform_strategy_trains_exactly_as_the_mean_loss():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 1))

    def model():
        return nn.Linear(4, 1, dtype=np.float64, rng=np.random.default_rng(5))

    a, b = model(), model()
    kw = dict(epochs=3, batch_size=6, progress=False, seed=0)
    fit(a, LBR.make_loss(F.mse_loss, "uniform"), (x, y), SGD(a.parameters(), lr=0.05), **kw)
    fit(b, F.mse_loss, (x, y), SGD(b.parameters(), lr=0.05), **kw)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14)


def test_example_weights_scorer():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 4)), rng.integers(0, 3, size=10)
    m = nn.Linear(4, 3, dtype=np.float64, rng=np.random.default_rng(1))
    w = LBR.example_weights(m, x, y)
    ce = F.cross_entropy(m(Tensor(x)), y, reduction="none").data
    np.testing.assert_allclose(w, LBR.loss_weights(ce, "linupper"), rtol=1e-10)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="strategy"):
        LBR.loss_weights([1.0, 2.0], "upper")
    with pytest.raises(ValueError, match="tau"):
        LBR.loss_weights([1.0, 2.0], "linupper", 1.0, 0.0)
    with pytest.raises(ValueError, match="delta"):
        LBR.make_loss(F.mse_loss, "linupper", -1.0)
    with pytest.raises(ValueError, match="losses"):
        LBR.normalized_losses([])
    with pytest.raises(ValueError, match="per_example"):
        LBR.reweighted_loss(Tensor(np.ones((2, 2))))
    with pytest.raises(TypeError, match="base_loss"):
        LBR.make_loss("mse")


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.seeds) == {0, 1}
    assert np.asarray(r.arrays["curve LinUpper"]).shape == (2, r.notes["epochs"])
    assert r.notes["redundant_examples"] == 1800 and r.notes["train_examples"] == 2000


def test_recorded_claims():
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert len(r.seeds) >= 5

    def diff(a, b):
        return np.asarray(r.values(a, "test_log_mse")) - np.asarray(r.values(b, "test_log_mse"))

    # the premise, from the record: on every seed the informative examples' loss after epoch 1 of the
    # uniform run is over 10× the redundant examples'
    assert np.min(r.values("uniform", "loss_ratio_epoch1")) > 1.0
    # no selected configuration diverged
    assert all(np.max(r.values(m, "diverged")) == 0 for m in r.notes["arms"])
    # the paper's claim: LinUpper reaches a test MSE at least 10 % lower than uniform (interval recomputed)
    assert mean_interval(diff("LinUpper", "uniform")).high < np.log10(0.9)
    # LinUpper is the fastest of the three strategies (paired intervals below 0)
    for b in ("Extremes", "Quadratic"):
        assert mean_interval(diff("LinUpper", b)).high < 0, b
    # Quadratic vs uniform is the grid-sensitive comparison (it failed, held, held and was inconclusive over
    # the four recordings, see the experiment's docstring): whatever its sign, its gain over uniform is
    # smaller than LinUpper's on average, and the recorded verdict matches the recomputed interval
    assert diff("Quadratic", "uniform").mean() > diff("LinUpper", "uniform").mean()
    q = mean_interval(diff("Quadratic", "uniform"))
    verdict = next(c["verdict"] for c in r.claims if c["statement"].startswith("Quadratic"))
    assert verdict == ("holds" if q.high < 0 else "fails" if q.low > 0 else "inconclusive"), (verdict, q)
