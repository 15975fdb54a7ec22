"""The optimizers-training-rules family's contract over the registry (the form:
`tests/techniques/contracts.py`).

An adapter is {"make": (params, weight_decay) → optimizer, "first_step": (x, g, weight_decay) → the
parameters after the first step, written out by hand in this file}.  Every optimizer must

* take a first step equal to the hand computation (m₀ = v₀ = 0), with and without weight decay;
* resume identically (bitwise) from a state_dict round trip;
* move nothing with a zero gradient and no weight decay;
* be usable from `refimpl.train.fit` (the loss of a tiny problem goes down).
"""

import copy

import numpy as np
import pytest
from contracts import params

from refimpl import nn, train
from refimpl.nn import Parameter
from refimpl.nn import functional as F
from refimpl.techniques.optimizers_training_rules import lamb, lion_constrained

FAMILY = "optimizers-training-rules"


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


def _adapter(name, make):
    return {"make": make, "first_step": lambda x, g, wd: first_step_by_hand(name, x, g, wd)}


CONTRACTS = {
    "lamb:LAMB": _adapter("LAMB", lambda ps, wd=0.0: lamb.LAMB(ps, lr=0.01, weight_decay=wd)),
    "lamb:LARS": _adapter("LARS", lambda ps, wd=0.0: lamb.LARS(ps, lr=0.01, weight_decay=wd)),
    "lion-constrained:Lion": _adapter(
        "Lion", lambda ps, wd=0.0: lion_constrained.Lion(ps, lr=0.01, weight_decay=wd)
    ),
    "lion-constrained:LionK-l2": _adapter(
        "LionK-l2", lambda ps, wd=0.0: lion_constrained.LionK(ps, lr=0.01, weight_decay=wd, K="l2")
    ),
    "lion-constrained:LionK-quadratic": _adapter(
        "LionK-quadratic",
        lambda ps, wd=0.0: lion_constrained.LionK(ps, lr=0.01, weight_decay=wd, K="quadratic"),
    ),
}
EXEMPT = {
    "noprop": "a training rule, not an optimizer: each block learns to denoise the label embedding with "
    "its own loss (any optimizer steps it)",
    "saf": "a training loss (the trajectory KL) used with plain SGD, and its SAM baseline needs the loss "
    "closure for a second gradient: neither is an optimizer stepped from .grad alone",
    "tpsgd": "a training rule, not an optimizer: each layer regresses its output onto a fixed random "
    "projection of the label with its own local loss (any optimizer steps it)",
    "optimistic-omd": "an online learner over a constrained decision set (play, then update with a hint, "
    "projected onto a ball or simplex), not a parameter optimizer; its first rounds are reference cases",
    "sinkhorn-newton-sparse": "an entropic optimal-transport solver (Sinkhorn, then sparse Newton steps on "
    "the dual potentials), not a parameter optimizer",
    "ep-jacobian-homeostasis": "a gradient estimator (equilibrium propagation from nudged fixed points) and a "
    "homeostatic penalty on the fixed-point Jacobian, stepped by SGD with momentum; not an optimizer",
    "forward-gnn": "a layer-local training rule for GNNs (each layer fitted by its own single-forward loss "
    "against class virtual nodes, stepped by Adam), not a parameter optimizer",
    "dp-fl-layerwise-clipping": "a DP federated-averaging protocol (client-update clipping, Gaussian noise on "
    "the average, a server step on lists of arrays) with its privacy accountant, not a parameter optimizer",
}

OPTIMIZERS = params(FAMILY, CONTRACTS, EXEMPT)


@pytest.mark.parametrize("key, adapter", OPTIMIZERS)
@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_first_step_equals_hand_computation(key, adapter, wd):
    rng = np.random.default_rng(3)
    x0, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    p = Parameter(x0.copy())
    opt = adapter["make"]([p], wd)
    p.grad = g.copy()
    opt.step()
    np.testing.assert_allclose(p.data, adapter["first_step"](x0, g, wd), rtol=1e-12, atol=1e-14)


def _train(model, opt, x, y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return losses


@pytest.mark.parametrize("key, adapter", OPTIMIZERS)
def test_state_dict_round_trip_resumes_identically(key, adapter):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)), rng.integers(0, 3, 16)
    a = nn.MLP([5, 6, 3], dtype=np.float64, rng=1)
    opt_a = adapter["make"](a.parameters(), 0.1)
    _train(a, opt_a, x, y, 3)
    b = copy.deepcopy(a)
    opt_b = adapter["make"](b.parameters(), 0.1)
    opt_b.load_state_dict(opt_a.state_dict())
    la = _train(a, opt_a, x, y, 4)
    lb = _train(b, opt_b, x, y, 4)
    assert la == lb
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


@pytest.mark.parametrize("key, adapter", OPTIMIZERS)
def test_zero_gradient_no_weight_decay_nothing_moves(key, adapter):
    rng = np.random.default_rng(1)
    p = Parameter(rng.normal(size=(3, 2)))
    x0 = p.data.copy()
    opt = adapter["make"]([p], 0.0)
    for _ in range(3):
        p.grad = np.zeros_like(x0)
        opt.step()
    np.testing.assert_array_equal(p.data, x0)


@pytest.mark.parametrize("key, adapter", OPTIMIZERS)
def test_usable_from_fit(key, adapter):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.MLP([4, 8, 2], rng=0)
    opt = adapter["make"](model.parameters(), 0.0)
    hist = train.fit(model, F.cross_entropy, (x, y), opt, epochs=15, batch_size=16, progress=False)
    assert hist["loss"][-1] < hist["loss"][0]
