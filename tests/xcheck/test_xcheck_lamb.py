"""LAMB and LARS against hand-written float64 PyTorch steps (torch has neither).

The torch side is written from the papers' algorithms (not from our code): LAMB = Algorithm 2 of
You et al. (bias-corrected Adam ratio plus λx, scaled by ‖x‖/‖r + λx‖), LARS = their Algorithm 1.
Five steps with random gradients, 1e-12.  Skipped when torch is absent.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl.nn import Parameter  # noqa: E402
from refimpl.techniques.optimizers_training_rules import lamb  # noqa: E402

SHAPES = [(3, 4), (5,)]
STEPS = 5


def torch_lamb(xs, grads, lr, b1, b2, eps, wd):
    xs = [torch.tensor(x, dtype=torch.float64) for x in xs]
    m = [torch.zeros_like(x) for x in xs]
    v = [torch.zeros_like(x) for x in xs]
    for t, gs in enumerate(grads, start=1):
        for i, g in enumerate(gs):
            g = torch.tensor(g, dtype=torch.float64)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            r = (m[i] / (1 - b1**t)) / (torch.sqrt(v[i] / (1 - b2**t)) + eps) + wd * xs[i]
            wn, rn = torch.linalg.vector_norm(xs[i]), torch.linalg.vector_norm(r)
            ratio = wn / rn if (wn > 0 and rn > 0) else torch.tensor(1.0, dtype=torch.float64)
            xs[i] = xs[i] - lr * ratio * r
    return [x.numpy() for x in xs]


def torch_lars(xs, grads, lr, mu, wd):
    xs = [torch.tensor(x, dtype=torch.float64) for x in xs]
    m = [torch.zeros_like(x) for x in xs]
    for gs in grads:
        for i, g in enumerate(gs):
            g = torch.tensor(g, dtype=torch.float64)
            m[i] = mu * m[i] + (1 - mu) * (g + wd * xs[i])
            wn, mn = torch.linalg.vector_norm(xs[i]), torch.linalg.vector_norm(m[i])
            ratio = wn / mn if (wn > 0 and mn > 0) else torch.tensor(1.0, dtype=torch.float64)
            xs[i] = xs[i] - lr * ratio * m[i]
    return [x.numpy() for x in xs]


def run_ours(opt_factory, xs, grads):
    ps = [Parameter(x.copy()) for x in xs]
    opt = opt_factory(ps)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = g.copy()
        opt.step()
    return [p.data for p in ps]


def problem(seed):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(STEPS)]
    return xs, grads


def assert_close(a, b, what):
    for i, (x, y) in enumerate(zip(a, b)):
        err = np.abs(x - y).max()
        assert np.allclose(x, y, rtol=1e-12, atol=1e-12), f"{what}: param {i} max abs err {err:.3g}"


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_lamb_matches_torch(seed, wd):
    xs, grads = problem(seed)
    ours = run_ours(
        lambda ps: lamb.LAMB(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-6, weight_decay=wd), xs, grads
    )
    theirs = torch_lamb(xs, grads, 0.01, 0.9, 0.99, 1e-6, wd)
    assert_close(ours, theirs, "LAMB")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_lars_matches_torch(seed, wd):
    xs, grads = problem(seed)
    ours = run_ours(lambda ps: lamb.LARS(ps, lr=0.02, momentum=0.8, weight_decay=wd), xs, grads)
    theirs = torch_lars(xs, grads, 0.02, 0.8, wd)
    assert_close(ours, theirs, "LARS")
