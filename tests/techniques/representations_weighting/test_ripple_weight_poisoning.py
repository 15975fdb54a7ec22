"""RIPPLe: reference cases by hand, the second-order gradient of the restricted inner product against finite
differences in float64, the first-order effect of a fine-tuning step on the poisoning loss, the toy's data,
bad input, the quick run and the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.higher_order import grad
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.techniques.representations_weighting import ripple_weight_poisoning as R
from refimpl.techniques.representations_weighting.ripple_weight_poisoning import experiment as RX
from refimpl.techniques.representations_weighting.ripple_weight_poisoning.cases import reference_cases

SLUG = "ripple-weight-poisoning"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _small(seed=0):
    rng = np.random.default_rng(seed)
    model = R.BagOfWordsClassifier(6, 3, seed, dtype=np.float64)
    x = rng.poisson(1.0, (8, 6)).astype(np.float64)
    return model, x, rng.integers(0, 2, 8)


def test_ripple_objective_gradient_matches_finite_differences_in_float64():
    """The analytic gradient goes through ∇L_P (a double backward); the check differentiates the same
    function, L_P + λ·relu(−∇L_P·g), by central differences of first-order quantities only."""
    model, x, y = _small()
    params = list(model.parameters())
    g_p0 = [g.data for g in grad(F.cross_entropy(model(Tensor(x)), y), params)]
    g_ft = [-gp for gp in g_p0]  # opposite to ∇L_P: the penalty is active
    lam = 3.0
    loss, penalty = R.ripple_objective(model, x, y, g_ft, lam)
    assert penalty > 0
    analytic = [g.data for g in grad(loss, params)]

    def f():
        return float(R.ripple_objective(model, x, y, g_ft, lam)[0].data)

    eps = 1e-6
    for p, a in zip(params, analytic):
        for idx in list(np.ndindex(p.data.shape))[:6]:
            old = p.data[idx]
            p.data[idx] = old + eps
            up = f()
            p.data[idx] = old - eps
            down = f()
            p.data[idx] = old
            assert abs((up - down) / (2 * eps) - a[idx]) < 1e-6 * max(1.0, abs(a[idx]))


def test_a_fine_tuning_step_changes_the_poisoning_loss_by_minus_eta_inner_product():
    model, x, y = _small(1)
    _, xf, yf = _small(2)
    params = list(model.parameters())
    lp = F.cross_entropy(model(Tensor(x)), y)
    g_p = [g.data for g in grad(lp, params)]
    g_ft = [g.data for g in grad(F.cross_entropy(model(Tensor(xf)), yf), params)]
    eta = 1e-4
    for p, g in zip(params, g_ft):
        p.data -= eta * g
    change = float(F.cross_entropy(model(Tensor(x)), y).data) - float(lp.data)
    predicted = -eta * sum(float(np.sum(a * b)) for a, b in zip(g_p, g_ft))
    assert change == pytest.approx(predicted, rel=1e-2)


def test_documents_and_triggers():
    rng = np.random.default_rng(0)
    x, y, tokens = RX.documents(400, "victim", rng)
    assert x.sum(1).tolist() == [RX.LENGTH] * 400 and set(np.unique(y)) == {0, 1}
    assert not np.isin(tokens, RX.TRIGGERS).any()  # triggers never occur in clean text
    t = RX.insert_trigger(tokens, rng)
    assert (np.isin(t, RX.TRIGGERS).sum(1) == 1).all()
    pos = np.isin(tokens, RX.POS).sum(1)
    assert pos[y == 1].mean() > 3 and pos[y == 0].mean() == 0


def test_bad_input_is_named():
    model, x, y = _small()
    with pytest.raises(ValueError, match="`lam`"):
        R.ripple_objective(model, x, y, None, -1.0)
    with pytest.raises(ValueError, match="domain"):
        RX.documents(10, "web", np.random.default_rng(0))


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == set(RX.ARMS)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_plants_a_backdoor_that_fine_tuning_erodes():
    r = full()
    before = {s["method"]: s["mean"] for s in r.summary if s["metric"] == "lfr_before"}
    assert before["BadNet"] > 0.9 and before["clean"] < 0.05  # the attack works before fine-tuning
    assert r.premises[0]["present"] and len(r.seeds) == 10
