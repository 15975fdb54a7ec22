"""Per-example weights in `fit` (refimpl/train.py) and the family's `weighting` module: hand sums, zero
weight = example removed, uniform = ERM, compiled = eager, per-epoch reweighting, minibatch indices."""

import numpy as np
import pytest

from refimpl import Tensor, nn
from refimpl.data import batches
from refimpl.experiments import tasks, train
from refimpl.nn import functional as F
from refimpl.optim import SGD, Adam
from refimpl.techniques.data_weighting_selection.weighting import (
    EpochReweighting,
    batch_weights,
    weighted_loss,
)
from refimpl.train import LambdaCallback, fit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(23, 5))
Y = RNG.integers(0, 3, size=23)


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(5, 7, dtype=np.float64, rng=rng), nn.Tanh(), nn.Linear(7, 3, dtype=np.float64, rng=rng)
    )


def _params(m):
    return np.concatenate([p.data.ravel() for p in m.parameters()])


def test_batch_weights_by_hand():
    np.testing.assert_array_equal(batch_weights([1.0, 3.0], "sum", np.float64), [0.25, 0.75])
    np.testing.assert_array_equal(batch_weights([1.0, 3.0], "count", np.float64), [0.5, 1.5])
    np.testing.assert_array_equal(batch_weights([0.0, 0.0], "sum", np.float64), [0.0, 0.0])
    with pytest.raises(ValueError, match="weight_norm"):
        batch_weights([1.0], "mean")


def test_weighted_loss_equals_a_hand_sum():
    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-3.0, 1.0, 0.0]])
    y = np.array([0, 2, 1])
    w = np.array([0.2, 0.5, 0.3])
    ce = [np.log(np.exp(r).sum()) - r[t] for r, t in zip(z, y)]  # log Σ e^z − z_y, by hand
    got = weighted_loss(F.cross_entropy, Tensor(z), y, w)
    assert float(got.data) == pytest.approx(sum(wi * li for wi, li in zip(w, ce)), rel=1e-14)
    # trailing axes are averaged: 1/B coefficients give back mse's "mean"
    a, b = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    got = weighted_loss(F.mse_loss, Tensor(a), b, np.full(4, 0.25))
    assert float(got.data) == pytest.approx(np.mean((a - b) ** 2), rel=1e-13)


class _Batches:
    """The minibatches `fit` would draw from (X, Y), minus the examples in `drop` (a re-iterable)."""

    def __init__(self, drop, batch_size):
        self.drop, self.bs, self.epoch = set(drop), batch_size, 0

    def __iter__(self):
        for xb, yb, ib in batches(X, Y, np.arange(len(X)), batch_size=self.bs, seed=3, epoch=self.epoch):
            keep = np.array([i not in self.drop for i in ib])
            yield xb[keep], yb[keep]
        self.epoch += 1


@pytest.mark.parametrize("norm", ["sum", "count"])
def test_zero_weight_removes_the_example(norm):
    """Weights 0 on two examples = training on the same minibatches without them (mean loss), to
    float64 rounding; with norm="sum" (weighted mean) the losses and parameters agree to 1e-13."""
    drop = [4, 11]
    w = np.ones(len(X))
    w[drop] = 0.0
    a, b = _model(), _model()
    ha = fit(
        a,
        F.cross_entropy,
        (X, Y),
        SGD(a.parameters(), lr=0.3),
        4,
        batch_size=6,
        seed=3,
        progress=False,
        sample_weight=w,
        weight_norm="sum",
    )
    hb = fit(b, F.cross_entropy, _Batches(drop, 6), SGD(b.parameters(), lr=0.3), 4, progress=False)
    np.testing.assert_allclose(ha["step_loss"], hb["step_loss"], rtol=1e-13)
    np.testing.assert_allclose(_params(a), _params(b), rtol=1e-12, atol=1e-14)
    if norm == "count":  # Σ wℓ / B scales each batch by its share of kept examples: not removal
        c = _model()
        fit(
            c,
            F.cross_entropy,
            (X, Y),
            SGD(c.parameters(), lr=0.3),
            4,
            batch_size=6,
            seed=3,
            progress=False,
            sample_weight=w,
            weight_norm="count",
        )
        assert not np.allclose(_params(c), _params(b), atol=1e-6)


def test_zero_weight_in_a_small_batch_is_bit_identical():
    """Batches below numpy's 8-wide unrolled sum: the zero term changes no rounding, so the run with a
    zero weight equals, bit for bit, the weighted run on the batches without the example."""
    drop = [5]
    w = np.ones(len(X))
    w[drop] = 0.0
    a, b = _model(), _model()
    fit(
        a,
        F.cross_entropy,
        (X, Y),
        SGD(a.parameters(), lr=0.3),
        2,
        batch_size=4,
        seed=3,
        progress=False,
        sample_weight=w,
    )
    opt = SGD(b.parameters(), lr=0.3)  # by hand: the same batches without the example, weights 1
    for epoch in range(2):
        for _, _, ib in batches(X, Y, np.arange(len(X)), batch_size=4, seed=3, epoch=epoch):
            ib = ib[ib != drop[0]]
            opt.zero_grad()
            coef = batch_weights(np.ones(len(ib)), "sum", np.float64)
            weighted_loss(F.cross_entropy, b(Tensor(X[ib])), Y[ib], coef).backward()
            opt.step()
    np.testing.assert_array_equal(_params(a), _params(b))


def test_uniform_weights_are_erm():
    a, b = _model(), _model()
    ha = fit(
        a,
        F.cross_entropy,
        (X, Y),
        Adam(a.parameters(), lr=0.01),
        3,
        batch_size=5,
        progress=False,
        sample_weight=np.full(len(X), 2.5),
    )
    hb = fit(b, F.cross_entropy, (X, Y), Adam(b.parameters(), lr=0.01), 3, batch_size=5, progress=False)
    np.testing.assert_allclose(ha["step_loss"], hb["step_loss"], rtol=1e-13)
    np.testing.assert_allclose(_params(a), _params(b), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("reweigh", [False, True])
def test_compiled_and_eager_weighted_steps_are_bit_identical(reweigh):
    w0 = np.random.default_rng(1).uniform(0, 2, size=len(X))
    cbs = lambda: [EpochReweighting(lambda s: w0 * (1 + s.epoch), keep=True)] if reweigh else []  # noqa: E731
    runs = []
    for compile in (False, True):
        m = _model()
        cb = cbs()
        h = fit(
            m,
            F.cross_entropy,
            (X, Y),
            Adam(m.parameters(), lr=0.01),
            4,
            batch_size=6,
            progress=False,
            compile=compile,
            sample_weight=w0,
            callbacks=cb,
        )
        runs.append((_params(m), h["step_loss"], cb))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    if reweigh:
        assert len(runs[1][2][0].history) == 4
        np.testing.assert_array_equal(runs[1][2][0].history[3], 4 * w0)


def test_reweighting_changes_training_and_weights_are_read_per_epoch():
    seen = []
    cb = LambdaCallback(on_batch_begin=lambda s: seen.append((s.epoch, s.sample_weight[s.indices].copy())))
    w = np.ones(len(X))
    m = _model()
    fit(
        m,
        F.cross_entropy,
        (X, Y),
        SGD(m.parameters(), lr=0.1),
        2,
        batch_size=8,
        progress=False,
        sample_weight=w,
        callbacks=[EpochReweighting(lambda s: np.full(len(X), s.epoch + 1.0)), cb],
    )
    assert all(np.all(v == e + 1.0) for e, v in seen)


def test_minibatch_indices_cover_the_set_and_match_the_batch():
    got = []
    cb = LambdaCallback(on_batch_begin=lambda s: got.append((s.epoch, s.indices, s.x, s.y)))
    m = _model()
    fit(
        m,
        F.cross_entropy,
        (X, Y),
        SGD(m.parameters(), lr=0.1),
        2,
        batch_size=8,
        progress=False,
        callbacks=[cb],
    )
    for epoch in (0, 1):
        idx = np.concatenate([i for e, i, _, _ in got if e == epoch])
        assert sorted(idx.tolist()) == list(range(len(X)))
    for _, i, xb, yb in got:
        np.testing.assert_array_equal(xb, X[i])
        np.testing.assert_array_equal(yb, Y[i])


def test_train_passes_weights_through():
    task = tasks.digits()
    x, y = task.x_train[:64], task.y_train[:64]
    w = np.zeros(64)
    w[:32] = 1.0
    from refimpl.nn import MLP

    a, b = MLP([64, 16, 10], rng=np.random.default_rng(0)), MLP([64, 16, 10], rng=np.random.default_rng(0))
    train(a, task, lr=1e-2, epochs=2, seed=0, x=x, y=y, sample_weight=w, optimizer="sgd")
    train(b, task, lr=1e-2, epochs=2, seed=0, x=x, y=y, optimizer="sgd")
    assert not np.allclose(_params(a), _params(b))


def test_errors_name_the_argument():
    m = _model()
    opt = SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="sample_weight"):
        fit(m, F.cross_entropy, (X, Y), opt, 1, progress=False, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        fit(m, F.cross_entropy, (X, Y), opt, 1, progress=False, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="sample_weight"):
        fit(m, F.cross_entropy, [(X, Y)], opt, 1, progress=False, sample_weight=np.ones(len(X)))
    with pytest.raises(ValueError, match="weight_norm"):
        fit(
            m, F.cross_entropy, (X, Y), opt, 1, progress=False, sample_weight=np.ones(len(X)), weight_norm="x"
        )
    with pytest.raises(TypeError, match="reduction"):
        fit(
            m,
            lambda o, t: F.cross_entropy(o, t),
            (X, Y),
            opt,
            1,
            progress=False,
            sample_weight=np.ones(len(X)),
        )
    with pytest.raises(ValueError, match="state.sample_weight"):
        fit(
            m,
            F.cross_entropy,
            (X, Y),
            opt,
            1,
            progress=False,
            sample_weight=np.ones(len(X)),
            callbacks=[EpochReweighting(lambda s: np.ones(2))],
        )
