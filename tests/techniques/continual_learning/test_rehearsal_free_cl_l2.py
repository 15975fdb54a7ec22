"""Rehearsal-free CL (L2 vs EWC vs PredKD): the reference cases; the penalty's gradient by finite differences
(float64) and EWC with unit importance = L2; the diagonal Fisher against brute force on a three-layer head with
masked classes; the distillation loss's gradient and its minimum at the teacher; the training loss by hand; bad
input; the quick run; the recorded run."""

import numpy as np
import pytest

from refimpl import nn
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.continual_learning import rehearsal_free_cl_l2 as RF
from refimpl.techniques.continual_learning.rehearsal_free_cl_l2.cases import reference_cases

SLUG = "rehearsal-free-cl-l2"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _fd(f, z, h=1e-6):
    num = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        num[idx] = (f(z + e) - f(z - e)) / (2 * h)
    return num


def test_penalty_gradient_and_unit_importance_is_l2():
    rng = np.random.default_rng(0)
    theta, anchor, omega = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4))
    p = Tensor(theta, requires_grad=True)
    RF.quadratic_penalty([p], [anchor], [omega]).backward()
    num = _fd(lambda t: float(RF.quadratic_penalty([t], [anchor], [omega]).data), theta)
    np.testing.assert_allclose(p.grad, num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(p.grad, 2 * omega * (theta - anchor), rtol=1e-12)
    l2 = float(RF.quadratic_penalty([theta], [anchor]).data)
    ewc1 = float(RF.quadratic_penalty([theta], [anchor], [np.ones_like(theta)]).data)
    assert l2 == pytest.approx(ewc1, rel=1e-12) and l2 == pytest.approx(np.sum((theta - anchor) ** 2))


def test_fisher_matches_brute_force_on_a_deeper_head():
    rng = np.random.default_rng(1)
    net = nn.Sequential(
        nn.Linear(3, 4, rng=[1, 1]),
        nn.ReLU(),
        nn.Linear(4, 4, rng=[1, 2]),
        nn.ReLU(),
        nn.Linear(4, 5, rng=[1, 3]),
    )
    x, classes = rng.standard_normal((5, 3)), [0, 2, 3]
    got = RF.fisher_diagonal(net, x, classes)
    theta = [p.data.astype(np.float64) for p in net.parameters()]

    def logp_all(th, xn):
        h = xn
        for k in range(0, len(th), 2):
            h = th[k] @ h + th[k + 1]
            if k < len(th) - 2:
                h = np.maximum(h, 0.0)
        z = h[classes]
        return z - z.max() - np.log(np.exp(z - z.max()).sum())

    for k, t in enumerate(theta):
        want = np.zeros_like(t)
        for xn in x:
            p = np.exp(logp_all(theta, xn))
            for yi in range(len(classes)):

                def f(v, k=k, xn=xn, yi=yi):
                    th = list(theta)
                    th[k] = v
                    return logp_all(th, xn)[yi]

                want += p[yi] * _fd(f, t) ** 2 / len(x)
        np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-9, err_msg=f"parameter {k}")
    # masked class 1 and 4: their output rows carry no information
    assert np.all(got[4][[1, 4]] == 0) and np.all(got[5][[1, 4]] == 0)


def test_prediction_distillation_gradient_and_minimum():
    rng = np.random.default_rng(2)
    z, teacher = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x = Tensor(z, requires_grad=True)
    RF.prediction_distillation(x, teacher, 2.0).backward()
    num = _fd(lambda v: float(RF.prediction_distillation(Tensor(v), teacher, 2.0).data), z)
    np.testing.assert_allclose(x.grad, num, rtol=1e-5, atol=1e-8)
    at_teacher = float(RF.prediction_distillation(Tensor(teacher), teacher, 2.0).data)
    assert at_teacher < float(RF.prediction_distillation(Tensor(z), teacher, 2.0).data)


def test_regularized_loss_by_hand():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((4, 10))
    y = np.array([2, 3, 3, 2])
    w, anchor = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    got = float(
        RF.regularized_loss([2, 3], lam=0.5, params=[Tensor(w)], anchors=[anchor])(Tensor(logits), y).data
    )
    cur = logits[:, [2, 3]]
    ce = np.mean(np.log(np.exp(cur).sum(1)) - logits[np.arange(4), y])
    assert got == pytest.approx(ce + 0.5 * np.sum((w - anchor) ** 2), rel=1e-6)
    # distillation branch: target[:, 0] the label, target[:, 1:] the teacher's 10 logits
    teacher = rng.standard_normal((4, 10))
    target = np.concatenate([y[:, None].astype(float), teacher], axis=1)
    got = float(RF.regularized_loss([2, 3], lam=2.0, old_classes=[0, 1])(Tensor(logits), target).data)
    kd = float(RF.prediction_distillation(Tensor(logits[:, :2]), teacher[:, :2], 2.0).data)
    assert got == pytest.approx(ce + 2.0 * kd, rel=1e-6)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="anchors"):
        RF.quadratic_penalty([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(ValueError, match="importance"):
        RF.quadratic_penalty([np.zeros(2)], [np.zeros(2)], [-np.ones(2)])
    with pytest.raises(ValueError, match="net"):
        RF.fisher_diagonal(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="classes"):
        RF.fisher_diagonal(nn.Sequential(nn.Linear(2, 2)), np.zeros((1, 2)), [5])
    with pytest.raises(ValueError, match="T"):
        RF.prediction_distillation(Tensor(np.zeros((1, 2))), np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="lam"):
        RF.regularized_loss([0, 1], lam=-1.0)


def test_quick_run(quick_result):
    r = quick_result(SLUG)
    assert r.quick and set(r.selected) == {"fine-tuning", "L2", "EWC", "PredKD"}


def _paired_interval(a, b):
    d = np.asarray(a) - np.asarray(b)
    half = {3: 4.303, 4: 3.182, 5: 2.776}[len(d)] * d.std(ddof=1) / np.sqrt(len(d))  # t(0.975, n − 1)
    return d.mean() - half, d.mean() + half


def test_recorded_full_run():
    """On this toy the paper's ordering is not reproduced: recomputed from the per-seed numbers, fine-tuning
    forgets (every seed above 0.1), and L2 does not beat EWC or PredKD by as much as 3 points — the upper ends of
    the paired 95 % intervals stay below +0.03 (a change of result that made L2 clearly better fails here)."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert min(r.values("fine-tuning", "forgetting")) > 0.1
    l2 = r.values("L2", "average_accuracy")
    for other in ("EWC", "PredKD"):
        _, high = _paired_interval(l2, r.values(other, "average_accuracy"))
        assert high < 0.03, (other, high)
