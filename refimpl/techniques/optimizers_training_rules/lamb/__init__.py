r"""LAMB (and LARS, its momentum-SGD baseline): layer-wise trust ratios for large-batch training.

Paper: *Large Batch Optimization for Deep Learning: Training BERT in 76 minutes* — Yang You, Jing Li,
Sashank Reddi, Jonathan Hseu, Sanjiv Kumar, Srinadh Bhojanapalli, Xiaodan Song, James Demmel, Kurt
Keutzer, Cho-Jui Hsieh, ICLR 2020.
arXiv: 1904.00962

The idea
--------
With a large batch one wants a large learning rate, but a single global rate is either too large for
some layers (divergence) or too small for others.  LARS and LAMB give every layer (every parameter
tensor) its own step size: the update direction of layer i is rescaled so that its norm is
proportional to the norm of the layer's weights, :math:`\|\Delta x^{(i)}\| = \eta\,\phi(\|x^{(i)}\|)`.
LARS does this to heavy-ball momentum, LAMB to Adam's update.  The paper trains BERT with batch 32k
(64k/32k with mixed batch) and scales the learning rate with the square root of the batch.

Update rules (the paper's Algorithm 1 and Algorithm 2; i indexes layers, t steps from 1)
---------------------------------------------------------------------------------------
LARS (Algorithm 1):

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\,(g_t + \lambda x_t)                                \\
    x_{t+1}^{(i)} &= x_t^{(i)} - \eta_t\, \frac{\phi(\|x_t^{(i)}\|)}{\|m_t^{(i)}\|}\, m_t^{(i)}

LAMB (Algorithm 2):

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
    \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t)                    \\
    r_t &= \hat m_t / (\sqrt{\hat v_t} + \epsilon)                                           \\
    x_{t+1}^{(i)} &= x_t^{(i)} - \eta_t\, \frac{\phi(\|x_t^{(i)}\|)}{\|r_t^{(i)} + \lambda x_t^{(i)}\|}
                      \,\big(r_t^{(i)} + \lambda x_t^{(i)}\big)

with :math:`\phi(z) = \min(\max(z, \gamma_l), \gamma_u)` (identity by default, as in the
TensorFlow-Addons implementation) and :math:`m_0 = v_0 = 0`.

What is simplified / deviations
-------------------------------
* When :math:`\|x^{(i)}\| = 0` or the update norm is 0 the trust ratio is 1 (TF-Addons' and the
  common implementations' convention; the paper leaves the 0/0 case open).
* "Layer" = one parameter tensor.  A parameter group can switch the ratio off with
  ``adapt=False`` (typical for biases / norms; then LAMB is AdamW-like with L2 folded into r).
* BERT and a 32k batch become an MLP on the 8×8 digits with batches 32 … 1257 (the whole training
  split) at a fixed number of epochs; learning rates are tuned once at batch 32 and scaled by
  √(B/32) for every optimizer (the paper's square-root rule), with the same linear decay for all and
  no warm-up (the paper uses warm-up plus polynomial decay).  Without any decay LARS/LAMB diverge
  here: the update norm is lr·‖x‖, so aligned steps grow ‖x‖ geometrically.

Verified: paper — Algorithms 1 and 2 read in the paper; the first LAMB step is checked against a hand
computation (catalogue: g = [3,4], x = [1,0] → x' = [0.929289, −0.070711]); both optimizers are
cross-checked step by step against a hand-written float64 PyTorch implementation
(tests/xcheck/test_xcheck_lamb.py).

Notebook: notebooks/optimizers-training-rules/lamb.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ...catalog import ReferenceCase
from ...optim.optimizer import Optimizer, _real, check_nonnegative, check_positive, check_unit_interval
from ._base import one_blas_thread

CATALOG_ENTRY = {
    "slug": "lamb",
    "title": "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    "authors": "Yang You, Jing Li, Sashank Reddi, Jonathan Hseu, Sanjiv Kumar, Srinadh Bhojanapalli, "
    "Xiaodan Song, James Demmel, Kurt Keutzer, Cho-Jui Hsieh",
    "year": 2019,
    "arxiv": "1904.00962",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/lamb.ipynb",
    "verified": "paper",
    "verification_note": "LARS = the paper's Algorithm 1, LAMB = Algorithm 2 (with bias correction, φ identity "
    "or clipped); trust ratio 1 when a norm is 0 (TF-Addons convention). First step checked "
    "by hand; step-by-step cross-check against a hand-written float64 torch version.",
    "summary": "Layer-wise adaptive large-batch optimisers: each parameter tensor's update (momentum for LARS, "
    "the Adam ratio plus decoupled L2 for LAMB) is rescaled to have norm η·φ(‖x‖), so a large, "
    "batch-scaled learning rate is safe for every layer.",
    "equations": [
        "LARS: m_t = β1 m_{t−1} + (1−β1)(g_t + λx_t);  x^{(i)} ← x^{(i)} − η φ(‖x^{(i)}‖)/‖m^{(i)}‖ · m^{(i)}",
        "LAMB: m̂ = m_t/(1−β1^t), v̂ = v_t/(1−β2^t), r_t = m̂/(√v̂ + ε)",
        "LAMB: x^{(i)} ← x^{(i)} − η φ(‖x^{(i)}‖)/‖r^{(i)} + λx^{(i)}‖ · (r^{(i)} + λx^{(i)})",
    ],
}

__all__ = ["trust_ratio", "lamb_direction", "LAMB", "LARS", "demo", "plot", "reference_cases"]


# --- pure functions --------------------------------------------------------------------------------
def _phi(z: float, bounds) -> float:
    if bounds is None:
        return z
    lo, hi = bounds
    return min(max(z, lo), hi)  # φ(z) = min(max(z, γ_l), γ_u)


def trust_ratio(x, update, bounds=None) -> float:
    """φ(‖x‖)/‖update‖, or 1 when either norm is 0 (the layer-wise scale of LARS and LAMB)."""
    wn = float(np.linalg.norm(np.asarray(x, dtype=np.float64)))
    un = float(np.linalg.norm(np.asarray(update, dtype=np.float64)))
    if wn == 0.0 or un == 0.0:
        return 1.0
    return _phi(wn, bounds) / un


def lamb_direction(m, v, x, t: int, betas=(0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0):
    """r_t + λx_t for moments m, v after step t (bias-corrected, Algorithm 2), as a new array."""
    beta1, beta2 = betas
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    r = m_hat / (np.sqrt(v_hat) + eps)  # r_t = m̂/(√v̂ + ε)
    return r + weight_decay * x


# --- optimizers ------------------------------------------------------------------------------------
def _check_bounds(bounds):
    if bounds is None:
        return None
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise TypeError(f"phi_bounds must be None or a pair (gamma_l, gamma_u), got {bounds!r}")
    lo, hi = _real("phi_bounds[0]", bounds[0]), _real("phi_bounds[1]", bounds[1])
    if not 0 <= lo <= hi:
        raise ValueError(f"phi_bounds must satisfy 0 <= gamma_l <= gamma_u, got {bounds!r}")
    return (lo, hi)


class LAMB(Optimizer):
    """LAMB(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0, phi_bounds=None, adapt=True).

    Per parameter tensor: Adam moments with bias correction, direction u = r + λx, step
    x ← x − lr·trust_ratio(x, u)·u.  ``adapt=False`` in a group uses ratio 1 (no layer adaptation).
    State: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``trust_ratio`` (the last ratio, a float).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        phi_bounds=None,
        adapt: bool = True,
    ):
        super().__init__(
            params,
            dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, phi_bounds=phi_bounds, adapt=adapt),
        )

    def _check_group(self, group: dict) -> None:
        group["lr"] = check_positive("lr", group["lr"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (
            check_unit_interval("betas[0]", betas[0]),
            check_unit_interval("betas[1]", betas[1]),
        )
        group["eps"] = check_nonnegative("eps", group["eps"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["phi_bounds"] = _check_bounds(group["phi_bounds"])
        group["adapt"] = bool(group["adapt"])

    def _update(self, group: dict) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, bounds, adapt = group["weight_decay"], group["phi_bounds"], group["adapt"]
        for p, g, x in self._with_grads(group):
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {
                    "step": 0,
                    "exp_avg": np.zeros_like(x),
                    "exp_avg_sq": np.zeros_like(x),
                    "trust_ratio": 1.0,
                }
            st["step"] = t = st["step"] + 1
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m *= beta1
            m += (1.0 - beta1) * g  # m_t = β1 m + (1−β1) g
            v *= beta2
            v += (1.0 - beta2) * g * g  # v_t = β2 v + (1−β2) g²
            u = lamb_direction(m, v, x, t, (beta1, beta2), eps, wd)  # r_t + λx_t
            ratio = trust_ratio(x, u, bounds) if adapt else 1.0  # φ(‖x‖)/‖r + λx‖
            st["trust_ratio"] = ratio
            x -= (lr * ratio) * u  # Algorithm 2, last line


class LARS(Optimizer):
    """LARS(params, lr, momentum=0.9, weight_decay=0, phi_bounds=None, adapt=True) — the LAMB paper's
    Algorithm 1: m ← β1 m + (1−β1)(g + λx); x ← x − lr·φ(‖x‖)/‖m‖·m.
    State: ``momentum_buffer`` (m, starting at 0), ``trust_ratio`` (the last ratio)."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        phi_bounds=None,
        adapt: bool = True,
    ):
        super().__init__(
            params,
            dict(lr=lr, momentum=momentum, weight_decay=weight_decay, phi_bounds=phi_bounds, adapt=adapt),
        )

    def _check_group(self, group: dict) -> None:
        group["lr"] = check_positive("lr", group["lr"])
        group["momentum"] = check_unit_interval("momentum", group["momentum"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["phi_bounds"] = _check_bounds(group["phi_bounds"])
        group["adapt"] = bool(group["adapt"])

    def _update(self, group: dict) -> None:
        lr, beta1, wd = group["lr"], group["momentum"], group["weight_decay"]
        bounds, adapt = group["phi_bounds"], group["adapt"]
        for p, g, x in self._with_grads(group):
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {"momentum_buffer": np.zeros_like(x), "trust_ratio": 1.0}
            m = st["momentum_buffer"]
            m *= beta1
            m += (1.0 - beta1) * (g + wd * x)  # m_t = β1 m + (1−β1)(g + λx)
            ratio = trust_ratio(x, m, bounds) if adapt else 1.0  # φ(‖x‖)/‖m‖
            st["trust_ratio"] = ratio
            x -= (lr * ratio) * m  # Algorithm 1, last line


# --- demo ------------------------------------------------------------------------------------------
_BASE_BATCH = 32
# learning rates at batch 32: the best of a small grid on seed 0, batch 32, 30 epochs, linear decay
# (SGD {0.05, 0.1}, Adam {1e-3, 3e-3, 1e-2}, LARS {0.005, 0.01, 0.02}, LAMB {0.002, 0.005, 0.01, 0.02}:
# test accuracy 0.976 / 0.976 / 0.976 / 0.974); then LR(B) = LR(32)·√(B/32) for every optimizer.
_BASE_LR = {"SGD": 0.1, "Adam": 0.01, "LARS": 0.01, "LAMB": 0.01}


def _make_optimizer(name, params, lr):
    from ... import optim

    if name == "SGD":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "Adam":
        return optim.Adam(params, lr=lr)
    if name == "LARS":
        return LARS(params, lr=lr, momentum=0.9)
    if name == "LAMB":
        return LAMB(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Digits MLP 64→128→128→10, fixed epochs, batch sizes up to the full training split; the four
    optimizers with LR(B) = LR(32)·√(B/32).  Claim: the layer-wise optimisers lose less accuracy than
    their element-wise counterparts when the batch grows (LAMB vs Adam, LARS vs SGD)."""
    from ... import nn, train
    from ...data import load_digits
    from ...nn import functional as F
    from ...optim import LambdaLR

    d = load_digits(seed=seed)
    n_train = len(d.x_train)
    batches = [32, 256, n_train] if quick else [32, 128, 512, n_train]
    epochs = 10 if quick else 30
    names = ["SGD", "Adam", "LARS", "LAMB"]
    acc = {k: [] for k in names}
    rows = []
    for B in batches:
        for name in names:
            model = nn.MLP([64, 128, 128, 10], rng=seed)
            lr = _BASE_LR[name] * math.sqrt(B / _BASE_BATCH)
            opt = _make_optimizer(name, model.parameters(), lr)
            sched = LambdaLR(opt, lambda e: 1.0 - e / epochs)  # linear decay, the same for every optimizer
            train.fit(
                model,
                F.cross_entropy,
                (d.x_train, d.y_train),
                opt,
                epochs=epochs,
                batch_size=B,
                scheduler=sched,
                seed=seed,
                progress=False,
            )
            a = train.evaluate(model, d.x_test, d.y_test)["accuracy"]
            acc[name].append(a)
            rows.append(
                {
                    "batch": B,
                    "optimizer": name,
                    "lr": round(lr, 5),
                    "steps": epochs * math.ceil(n_train / B),
                    "test_acc": round(a, 4),
                }
            )
            if progress:
                print(f"batch {B:5d} {name:5s} lr={lr:.4g} acc={a:.3f}")
    drop = {k: acc[k][0] - acc[k][-1] for k in names}
    holds = bool(drop["LAMB"] < drop["Adam"] and drop["LARS"] < drop["SGD"])
    metrics = {f"acc_{k}_B{batches[-1]}": acc[k][-1] for k in names}
    metrics.update({f"acc_{k}_B{batches[0]}": acc[k][0] for k in names})
    metrics.update({f"drop_{k}": drop[k] for k in names})
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {
            "statement": "From batch 32 to full batch (√-scaled LR, fixed epochs) LAMB loses less test "
            "accuracy than Adam and LARS less than SGD with momentum",
            "holds": holds,
        },
        "batches": batches,
        "accuracy": {k: np.array(v) for k, v in acc.items()},
    }


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, a in result["accuracy"].items():
        ax.plot(result["batches"], a, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (LR ∝ √batch)")
    ax.set_ylabel("test accuracy")
    ax.set_title("digits MLP, fixed epochs")
    ax.legend()
    fig.tight_layout()
    return {"accuracy_vs_batch": fig}


# --- reference cases -------------------------------------------------------------------------------
def _one_step(opt_cls, x, g, **kw):
    from ...nn import Parameter

    p = Parameter(np.asarray(x, dtype=np.float64))
    opt = opt_cls([p], **kw)
    p.grad = np.asarray(g, dtype=np.float64)
    opt.step()
    return {"x": p.data.copy(), "trust_ratio": np.asarray(opt.state[p]["trust_ratio"])}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="lamb_first_step",
            inputs={"x": [1.0, 0.0], "g": [3.0, 4.0]},
            expected={"x": [1 - 0.1 / math.sqrt(2), -0.1 / math.sqrt(2)], "trust_ratio": 1 / math.sqrt(2)},
            compute=lambda x, g: _one_step(LAMB, x, g, lr=0.1, eps=0.0),
            note="By hand: step 1 gives m̂ = g, v̂ = g², r = sign(g) = [1, 1]; ‖x‖ = 1, ‖r‖ = √2 → ratio 1/√2, "
            "x' = x − 0.1/√2 · [1, 1] = [0.929289, −0.070711].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lamb_first_step_weight_decay",
            inputs={"x": [1.0, 0.0], "g": [3.0, 4.0]},
            expected={
                "x": [1 - 0.1 * 1.5 / math.sqrt(3.25), -0.1 * 1.0 / math.sqrt(3.25)],
                "trust_ratio": 1 / math.sqrt(3.25),
            },
            compute=lambda x, g: _one_step(LAMB, x, g, lr=0.1, eps=0.0, weight_decay=0.5),
            note="By hand: u = r + λx = [1, 1] + 0.5·[1, 0] = [1.5, 1], ‖u‖ = √3.25, ratio = 1/√3.25, "
            "x' = x − 0.1·u/√3.25.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lars_first_step",
            inputs={"x": [3.0, 4.0], "g": [1.0, 0.0]},
            expected={"x": [3.0 - 0.1 * 5.0, 4.0], "trust_ratio": 5.0 / 0.1},
            compute=lambda x, g: _one_step(LARS, x, g, lr=0.1, momentum=0.9),
            note="By hand: m = 0.1·g = [0.1, 0]; ‖x‖ = 5, ‖m‖ = 0.1 → ratio 50, x' = x − 0.1·50·[0.1, 0] = [2.5, 4].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="zero_weight_gives_ratio_one",
            inputs={"x": [0.0, 0.0], "g": [3.0, 4.0]},
            expected={"x": [-0.1, -0.1], "trust_ratio": 1.0},
            compute=lambda x, g: _one_step(LAMB, x, g, lr=0.1, eps=0.0),
            note="‖x‖ = 0 → ratio 1 by convention, so the first step is the signed Adam step −lr·sign(g).",
            atol=1e-12,
        ),
    ]
