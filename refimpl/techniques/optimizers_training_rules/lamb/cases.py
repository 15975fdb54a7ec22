"""Reference cases of LAMB and LARS: first steps worked by hand, and medium-size random three-step runs
computed by an element-by-element loop."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import LAMB, LARS

_PATH = "refimpl.techniques.optimizers_training_rules.lamb"


def _one_step(opt_cls, x, g, **kw):
    from ....nn import Parameter

    p = Parameter(np.asarray(x, dtype=np.float64))
    opt = opt_cls([p], **kw)
    p.grad = np.asarray(g, dtype=np.float64)
    opt.step()
    return {"x": p.data.copy(), "trust_ratio": np.asarray(opt.state[p]["trust_ratio"])}


def _run(opt_cls, x, grads, **kw):
    """`len(grads)` steps of one optimizer on one parameter tensor; the ratio of every step."""
    from ....nn import Parameter

    p = Parameter(np.asarray(x, dtype=np.float64).copy())
    opt = opt_cls([p], **kw)
    ratios = []
    for g in np.asarray(grads, dtype=np.float64):
        p.grad = g.copy()
        opt.step()
        ratios.append(opt.state[p]["trust_ratio"])
    return {"x": p.data.copy(), "trust_ratios": np.array(ratios)}


def _lamb_by_loops(x, grads, lr, beta1, beta2, eps, weight_decay):
    """LAMB (Algorithm 2, TF-Addons) element by element: m, v with bias correction 1 − β^t, r = m̂/(√v̂ + ε),
    u = r + λx, ratio = ‖x‖/‖u‖ (1 if a norm is 0), x ← x − lr·ratio·u."""
    x = [float(a) for a in np.ravel(x)]
    m, v, ratios = [0.0] * len(x), [0.0] * len(x), []
    for t, g in enumerate(np.asarray(grads), start=1):
        g = [float(a) for a in np.ravel(g)]
        m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
        v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(v, g)]
        u = [
            (mi / (1 - beta1**t)) / (math.sqrt(vi / (1 - beta2**t)) + eps) + weight_decay * xi
            for mi, vi, xi in zip(m, v, x)
        ]
        xn, un = math.sqrt(sum(a * a for a in x)), math.sqrt(sum(a * a for a in u))
        ratio = xn / un if xn > 0 and un > 0 else 1.0
        x = [xi - lr * ratio * ui for xi, ui in zip(x, u)]
        ratios.append(ratio)
    return np.array(x), np.array(ratios)


def _lars_by_loops(x, grads, lr, momentum, weight_decay):
    """LARS (the LAMB paper's Algorithm 1) element by element: m ← βm + (1 − β)(g + λx),
    ratio = ‖x‖/‖m‖ (1 if a norm is 0), x ← x − lr·ratio·m."""
    x = [float(a) for a in np.ravel(x)]
    m, ratios = [0.0] * len(x), []
    for g in np.asarray(grads):
        m = [
            momentum * mi + (1 - momentum) * (float(gi) + weight_decay * xi)
            for mi, gi, xi in zip(m, np.ravel(g), x)
        ]
        xn, mn = math.sqrt(sum(a * a for a in x)), math.sqrt(sum(a * a for a in m))
        ratio = xn / mn if xn > 0 and mn > 0 else 1.0
        x = [xi - lr * ratio * mi for xi, mi in zip(x, m)]
        ratios.append(ratio)
    return np.array(x), np.array(ratios)


# arguments of LAMB/LARS left at their defaults in every case, stated so a checker knows them
_CONVENTIONS = {
    "phi_bounds": "None: the trust ratio ‖x‖/‖u‖ is not clipped (φ = identity)",
    "adapt": "True: one trust ratio per parameter tensor (layer-wise adaptation on)",
    "zero_norm": "a trust ratio whose ‖x‖ or ‖u‖ is 0 is replaced by 1",
}


def reference_cases() -> list:
    def lamb(x, g, lr, beta1, beta2, eps, weight_decay):
        betas = (float(beta1), float(beta2))
        return _one_step(
            LAMB, x, g, lr=float(lr), betas=betas, eps=float(eps), weight_decay=float(weight_decay)
        )

    def lars(x, g, lr, momentum, weight_decay):
        return _one_step(LARS, x, g, lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay))

    def lamb_run(x, grads, lr, beta1, beta2, eps, weight_decay):
        kw = dict(
            lr=float(lr), betas=(float(beta1), float(beta2)), eps=float(eps), weight_decay=float(weight_decay)
        )
        return _run(LAMB, x, grads, **kw)

    def lars_run(x, grads, lr, momentum, weight_decay):
        return _run(LARS, x, grads, lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay))

    rng = np.random.default_rng(2213)
    lamb_in = {
        "x": rng.normal(0.0, 0.5, size=(8, 16)),
        "grads": rng.normal(0.0, 1.0, size=(3, 8, 16)) * np.array([1.0, 0.1, 3.0])[:, None, None],
        "lr": 0.02,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-6,
        "weight_decay": 0.01,
    }
    lars_in = {
        "x": rng.normal(0.0, 1.0, size=32),
        "grads": rng.normal(0.0, 1.0, size=(3, 32)),
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 0.001,
    }
    lx, lr_ = _lamb_by_loops(**lamb_in)
    sx, sr = _lars_by_loops(**lars_in)
    random_cases = [
        ReferenceCase(
            "lamb_three_steps_8x16",
            lamb_in,
            {"x": lx.reshape(8, 16), "trust_ratios": lr_},
            lamb_run,
            function=f"{_PATH}.LAMB",
            conventions=_CONVENTIONS,
            note="element-by-element loop of Algorithm 2 (TF-Addons): m, v, bias correction 1 − β^t, r = m̂/(√v̂ + ε), "
            "u = r + λx, x ← x − lr·‖x‖/‖u‖·u, three steps on one (8, 16) tensor; grads[t] is the gradient of "
            "step t + 1 (scales 1, 0.1, 3: the step length does not follow them); trust_ratios[t] the ratio "
            "used at step t + 1 (x ~ N(0, 0.5²), seed 2213)",
            atol=1e-12,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "lars_three_steps_32",
            lars_in,
            {"x": sx, "trust_ratios": sr},
            lars_run,
            function=f"{_PATH}.LARS",
            conventions=_CONVENTIONS,
            note="element-by-element loop of Algorithm 1: m ← 0.9m + 0.1(g + λx), x ← x − lr·‖x‖/‖m‖·m, three "
            "steps on one 32-vector (m₀ = 0); trust_ratios[t] the ratio used at step t + 1 "
            "(x, grads ~ N(0, 1), seed 2213)",
            atol=1e-12,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
    ]
    return [
        ReferenceCase(
            "lamb_first_step",
            {
                "x": [1.0, 0.0],
                "g": [3.0, 4.0],
                "lr": 0.1,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 0.0,
                "weight_decay": 0.0,
            },
            {"x": [1 - 0.1 / math.sqrt(2), -0.1 / math.sqrt(2)], "trust_ratio": 1 / math.sqrt(2)},
            lamb,
            function=f"{_PATH}.LAMB",
            conventions=_CONVENTIONS,
            note="By hand: step 1 gives m̂ = g, v̂ = g², r = sign(g) = [1, 1]; ‖x‖ = 1, ‖r‖ = √2 → ratio 1/√2, "
            "x' = x − 0.1/√2 · [1, 1] = [0.929289, −0.070711].",
            atol=1e-12,
        ),
        ReferenceCase(
            "lamb_first_step_weight_decay",
            {
                "x": [1.0, 0.0],
                "g": [3.0, 4.0],
                "lr": 0.1,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 0.0,
                "weight_decay": 0.5,
            },
            {
                "x": [1 - 0.1 * 1.5 / math.sqrt(3.25), -0.1 * 1.0 / math.sqrt(3.25)],
                "trust_ratio": 1 / math.sqrt(3.25),
            },
            lamb,
            function=f"{_PATH}.LAMB",
            conventions=_CONVENTIONS,
            note="By hand: u = r + λx = [1, 1] + 0.5·[1, 0] = [1.5, 1], ‖u‖ = √3.25, ratio = 1/√3.25, "
            "x' = x − 0.1·u/√3.25.",
            atol=1e-12,
        ),
        ReferenceCase(
            "lamb_zero_weight_gives_ratio_one",
            {
                "x": [0.0, 0.0],
                "g": [3.0, 4.0],
                "lr": 0.1,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 0.0,
                "weight_decay": 0.0,
            },
            {"x": [-0.1, -0.1], "trust_ratio": 1.0},
            lamb,
            function=f"{_PATH}.LAMB",
            conventions=_CONVENTIONS,
            note="‖x‖ = 0 → ratio 1 (TF-Addons' convention), so the first step is the signed Adam step −lr·sign(g).",
            atol=1e-12,
        ),
        ReferenceCase(
            "lars_first_step",
            {"x": [3.0, 4.0], "g": [1.0, 0.0], "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0},
            {"x": [3.0 - 0.1 * 5.0, 4.0], "trust_ratio": 5.0 / 0.1},
            lars,
            function=f"{_PATH}.LARS",
            conventions=_CONVENTIONS,
            note="By hand: m = 0.1·g = [0.1, 0]; ‖x‖ = 5, ‖m‖ = 0.1 → ratio 50, x' = x − 0.1·50·[0.1, 0] = [2.5, 4].",
            atol=1e-12,
        ),
        ReferenceCase(
            "lars_first_step_weight_decay",
            {"x": [3.0, 4.0], "g": [0.25, -2.0], "lr": 0.1, "momentum": 0.9, "weight_decay": 0.25},
            {
                "x": [3.0 - 0.5 / math.sqrt(2), 4.0 + 0.5 / math.sqrt(2)],
                "trust_ratio": 5.0 / (0.1 * math.sqrt(2)),
            },
            lars,
            function=f"{_PATH}.LARS",
            conventions=_CONVENTIONS,
            note="By hand: g + λx = [0.25, −2] + 0.25·[3, 4] = [1, −1], m = 0.1·[1, −1], ‖m‖ = 0.1√2; ratio "
            "= 5/(0.1√2); the step has length lr·‖x‖ = 0.5 along −[1, −1]/√2.",
            atol=1e-12,
        ),
    ] + random_cases
