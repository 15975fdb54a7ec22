"""The family contract for every optimizer of optimizers-training-rules:

* the first step equals a hand computation (each technique's reference cases pin it; here a generic
  check: a zero-momentum first step from an explicit formula written in the test);
* a state_dict round trip resumes training identically (bitwise);
* with zero gradient and no weight decay nothing moves;
* usable from `refimpl.train.fit` (the loss of a tiny problem goes down).
"""

import copy

import numpy as np
import pytest

from refimpl import nn, train
from refimpl.nn import Parameter
from refimpl.nn import functional as F
from refimpl.techniques.optimizers_training_rules import lamb, lion_constrained

FACTORIES = {
    "LAMB": lambda ps, wd=0.0: lamb.LAMB(ps, lr=0.01, weight_decay=wd),
    "LARS": lambda ps, wd=0.0: lamb.LARS(ps, lr=0.01, weight_decay=wd),
    "Lion": lambda ps, wd=0.0: lion_constrained.Lion(ps, lr=0.01, weight_decay=wd),
    "LionK-l2": lambda ps, wd=0.0: lion_constrained.LionK(ps, lr=0.01, weight_decay=wd, K="l2"),
    "LionK-quadratic": lambda ps, wd=0.0: lion_constrained.LionK(ps, lr=0.01, weight_decay=wd, K="quadratic"),
}


def first_step_by_hand(name, x, g, wd):
    """Each rule's first step written out directly (m₀ = v₀ = 0)."""
    if name == "LAMB":  # m̂ = g, v̂ = g² → r = g/(|g| + 1e-6)
        u = g / (np.abs(g) + 1e-6) + wd * x
        return x - 0.01 * np.linalg.norm(x) / np.linalg.norm(u) * u
    if name == "LARS":  # m = 0.1 (g + λx)
        mm = 0.1 * (g + wd * x)
        return x - 0.01 * np.linalg.norm(x) / np.linalg.norm(mm) * mm
    c = 0.1 * g  # Lion-K: c = (1 − β1) g
    gk = {"Lion": np.sign(c), "LionK-l2": c / np.linalg.norm(c), "LionK-quadratic": c}[name]
    return x - 0.01 * (gk + wd * x)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_first_step_equals_hand_computation(name, wd):
    rng = np.random.default_rng(3)
    x0, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    p = Parameter(x0.copy())
    opt = FACTORIES[name]([p], wd)
    p.grad = g.copy()
    opt.step()
    np.testing.assert_allclose(p.data, first_step_by_hand(name, x0, g, wd), rtol=1e-12, atol=1e-14)


def _train(model, opt, x, y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return losses


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_state_dict_round_trip_resumes_identically(name):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)), rng.integers(0, 3, 16)
    a = nn.MLP([5, 6, 3], dtype=np.float64, rng=1)
    opt_a = FACTORIES[name](a.parameters(), 0.1)
    _train(a, opt_a, x, y, 3)
    b = copy.deepcopy(a)
    opt_b = FACTORIES[name](b.parameters(), 0.1)
    opt_b.load_state_dict(opt_a.state_dict())
    la = _train(a, opt_a, x, y, 4)
    lb = _train(b, opt_b, x, y, 4)
    assert la == lb
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_zero_gradient_no_weight_decay_nothing_moves(name):
    rng = np.random.default_rng(1)
    p = Parameter(rng.normal(size=(3, 2)))
    x0 = p.data.copy()
    opt = FACTORIES[name]([p], 0.0)
    for _ in range(3):
        p.grad = np.zeros_like(x0)
        opt.step()
    np.testing.assert_array_equal(p.data, x0)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_usable_from_fit(name):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.MLP([4, 8, 2], rng=0)
    opt = FACTORIES[name](model.parameters(), 0.0)
    hist = train.fit(model, F.cross_entropy, (x, y), opt, epochs=15, batch_size=16, progress=False)
    assert hist["loss"][-1] < hist["loss"][0]
