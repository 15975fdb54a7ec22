"""refimpl.optim against torch.optim in float64: same parameters, same gradient sequence, 1e-12.

Skipped when torch is not installed.
"""

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl import optim  # noqa: E402
from refimpl.nn import Parameter  # noqa: E402

SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 5


def assert_close(actual, expected, what, tol=1e-12):
    actual, expected = np.asarray(actual), np.asarray(expected)
    err = np.abs(actual - expected)
    rel = err / np.maximum(np.abs(expected), 1e-300)
    i = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    assert np.allclose(actual, expected, rtol=tol, atol=tol), (
        f"{what}: max abs err {err.max():.3g} (rel {rel.max():.3g}) at {i}: "
        f"got {actual[i]!r}, expected {expected[i]!r}"
    )


def run_both(name, kw, seed, groups=False, none_pattern=False, scheduler=None):
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(STEPS)]
    if none_pattern:  # parameter 1 gets no gradient on steps 0 and 3 (both libraries skip it)
        for t in (0, 3):
            grads[t][1] = None

    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy(), dtype=torch.float64)) for a in init]

    def pack(ps):
        if groups:  # the second group overrides lr (and weight decay where there is one)
            extra = {"lr": kw.get("lr", 1e-3) * 0.3}
            if "weight_decay" in kw:
                extra["weight_decay"] = kw["weight_decay"] * 2
            return [{"params": ps[:1]}, dict(params=ps[1:], **extra)]
        return ps

    opt = getattr(optim, name)(pack(ours), **kw)
    topt = getattr(torch.optim, name)(pack(theirs), **kw)
    sched = tsched = None
    if scheduler is not None:
        sched = scheduler(optim.lr_scheduler, opt)
        tsched = scheduler(torch.optim.lr_scheduler, topt)
    for t in range(STEPS):
        for p, q, g in zip(ours, theirs, grads[t]):
            p.grad = None if g is None else g.copy()
            q.grad = None if g is None else torch.tensor(g.copy(), dtype=torch.float64)
        opt.step()
        topt.step()
        if sched is not None:
            sched.step()
            tsched.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert_close(p.data, q.detach().numpy(), f"{name}{kw} step {t + 1} param {i}")
    return opt, topt, ours, theirs


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True, maximize=True),
    dict(lr=0.05, momentum=0.5, dampening=0.5, weight_decay=0.1, maximize=True),
    dict(lr=0.1, maximize=True),
]
ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.02, amsgrad=True, weight_decay=0.05, maximize=True),
    dict(lr=0.01, betas=(0.3, 0.5), maximize=True),
    dict(lr=0.01, betas=(0.0, 0.0)),
]
CASES = (
    [("SGD", kw) for kw in SGD_CASES]
    + [("Adam", kw) for kw in ADAM_CASES]
    + [("AdamW", kw) for kw in ADAM_CASES]
    + [("AdamW", dict(lr=0.01))]  # AdamW's own default weight decay 1e-2
)


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_optimizer_matches_torch(name, kw):
    run_both(name, kw, seed=0)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
        ("Adam", dict(lr=0.01, weight_decay=0.01, amsgrad=True)),
        ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ],
)
def test_groups_and_missing_grads_match_torch(name, kw):
    opt, topt, ours, theirs = run_both(name, kw, seed=1, groups=True, none_pattern=True)
    # the state agrees too, entry for entry (torch keeps "step" as a tensor)
    for p, q in zip(ours, theirs):
        for key, value in opt.state[p].items():
            assert_close(np.asarray(value, dtype=np.float64), topt.state[q][key].numpy(), f"state {key}")


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizer_under_scheduler_matches_torch(name):
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_both(name, kw, seed=2, scheduler=lambda mod, o: mod.CosineAnnealingLR(o, T_max=3, eta_min=1e-3))


# --- schedulers ------------------------------------------------------------------------------------
def lr_sequences(make, n=20, base=(0.1, 0.03)):
    ours = optim.SGD([{"params": [Parameter(np.zeros(1))], "lr": b} for b in base], lr=1.0)
    theirs = torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], "lr": b} for b in base], lr=1.0
    )
    s, ts = make(optim.lr_scheduler, ours), make(torch.optim.lr_scheduler, theirs)
    a, b = [], []
    for _ in range(n):
        a.append(s.get_last_lr())
        b.append(ts.get_last_lr())
        assert [g["lr"] for g in ours.param_groups] == a[-1]
        ours.step()
        theirs.step()  # no gradients: a no-op that keeps torch's call-order check quiet
        s.step()
        ts.step()
    return np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)


SCHEDULERS = {
    "step": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[4, 9, 15], gamma=0.3),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "linear": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=7),
    "linear_decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=12),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=8, eta_min=0.001),  # runs past T_max
    "cosine_long": lambda m, o: m.CosineAnnealingLR(o, T_max=25),
    "lambda": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.95**e]),
    "warmup_then_cosine": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=15, eta_min=1e-4)],
        [5],
    ),
    "three_phase": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, 0.9), m.StepLR(o, 2, 0.5), m.LinearLR(o, 0.5, 1.0, 4)], [4, 11]
    ),
}


@pytest.mark.parametrize("key", list(SCHEDULERS))
def test_scheduler_matches_torch(key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = lr_sequences(SCHEDULERS[key])
    assert_close(ours, theirs, f"{key} lr sequence")


def test_warmup_cosine_matches_torch_recipe():
    def ours_make(m, o):
        if m is optim.lr_scheduler:
            return m.warmup_cosine(o, warmup=4, total=20, eta_min=1e-3, start_factor=0.25)
        return m.SequentialLR(
            o, [m.LinearLR(o, 0.25, 1.0, 4), m.CosineAnnealingLR(o, T_max=16, eta_min=1e-3)], milestones=[4]
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = lr_sequences(ours_make)
    assert_close(ours, theirs, "warmup_cosine")


# --- clipping -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "norm_type,max_norm", [(2.0, 1.0), (1.0, 2.0), (math.inf, 0.5), (3.0, 1.5), (2.0, 100.0)]
)
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=s) for s in SHAPES]
    ours = [Parameter(np.zeros(s)) for s in SHAPES]
    theirs = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES]
    for p, q, g in zip(ours, theirs, grads):
        p.grad = g.copy()
        q.grad = torch.tensor(g.copy())
    total = optim.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert_close(total, ttotal.item(), "total norm")
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad.numpy(), "clipped grad")


def test_clip_grad_value_matches_torch():
    rng = np.random.default_rng(4)
    g = rng.normal(size=(4, 5))
    p, q = Parameter(np.zeros((4, 5))), torch.nn.Parameter(torch.zeros(4, 5, dtype=torch.float64))
    p.grad, q.grad = g.copy(), torch.tensor(g.copy())
    optim.clip_grad_value_([p], 0.7)
    torch.nn.utils.clip_grad_value_([q], 0.7)
    assert_close(p.grad, q.grad.numpy(), "clip_grad_value_", tol=0)
