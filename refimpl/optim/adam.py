r"""Adam (Kingma & Ba, 2015, arXiv: 1412.6980), AMSGrad (Reddi, Kale & Kumar, 2018, arXiv: 1904.09237)
and AdamW (Loshchilov & Hutter, 2019, arXiv: 1711.05101), with PyTorch's update rules step for step.

AMSGrad is torch's variant: the running maximum is taken over the raw second moments and the usual
bias correction is then applied to it (the paper's algorithm has no bias correction).

With learning rate :math:`\gamma`, decay rates :math:`\beta_1, \beta_2`, :math:`\epsilon`, weight
decay :math:`\lambda`, gradient :math:`g_t` and :math:`t` the number of steps this parameter has taken:

.. math::

    \theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda)
        && \text{AdamW only (decoupled decay)}                                       \\
    d_t &= \pm g_t \;\big(+\,\lambda\,\theta_{t-1} \text{ for Adam: L2 added to the gradient}\big)
        && (-g_t \text{ if maximize})                                                \\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, d_t,
    \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t^2                               \\
    \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ if amsgrad, else } v_t                \\
    \theta_t &= \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{\hat v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}

:math:`m_0 = v_0 = \hat v_0 = 0`.  Note :math:`\epsilon` sits *outside* the square root and is added
after the second-moment bias correction (PyTorch's and the paper's Algorithm 1 placement; d2l once
put it elsewhere in one copy and the copies drifted).  On the first step
:math:`m_1/(1-\beta_1) = d_1` and :math:`\sqrt{v_1/(1-\beta_2)} = |d_1|`, so
:math:`\theta_1 = \theta_0 - \gamma\, d_1 / (|d_1| + \epsilon)` — a signed step of size ≈ lr.

The state arrays ``state[p]["exp_avg"]`` (m), ``["exp_avg_sq"]`` (v) and, with amsgrad,
``["max_exp_avg_sq"]`` have p's shape; ``["step"]`` is an int.
"""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, check_nonnegative, check_positive, check_unit_interval

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    maximize=False, decoupled_weight_decay=False).

    ``weight_decay`` is classic L2 (added to the gradient, so it passes through the moments) unless
    ``decoupled_weight_decay=True``, which is AdamW.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

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
        group["amsgrad"] = bool(group["amsgrad"])
        group["maximize"] = bool(group["maximize"])
        group["decoupled_weight_decay"] = bool(group["decoupled_weight_decay"])

    def _update(self, group: dict) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        wd = group["weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        state = self.state
        scratch = self._scratch
        for p, g, x in self._with_grads(group):
            st = state.get(p)
            if st is None:
                st = state[p] = {
                    "step": 0,
                    "exp_avg": np.zeros_like(x),
                    "exp_avg_sq": np.zeros_like(x),
                }
                if amsgrad:
                    st["max_exp_avg_sq"] = np.zeros_like(x)
            st["step"] = t = st["step"] + 1
            m = st["exp_avg"]
            v = st["exp_avg_sq"]
            s0 = scratch(x, 0)
            s1 = scratch(x, 1)

            # d_t (the workspace s1 holds it when it differs from g)
            if wd != 0 and decoupled:
                x *= 1.0 - lr * wd  # θ ← θ(1 − γλ)   (AdamW)
            if wd != 0 and not decoupled:
                np.multiply(x, wd, out=s1)  # d = ±g + λθ   (Adam's L2)
                (np.subtract if maximize else np.add)(s1, g, out=s1)
                d = s1
            elif maximize:
                d = np.negative(g, out=s1)
            else:
                d = g

            # m_t = β1 m + (1−β1) d, written as m + (1−β1)(d − m) (torch's lerp)
            np.subtract(d, m, out=s0)
            s0 *= 1.0 - beta1
            m += s0
            # v_t = β2 v + (1−β2) d²
            v *= beta2
            np.multiply(d, d, out=s0)
            s0 *= 1.0 - beta2
            v += s0

            bias1 = 1.0 - beta1**t
            bias2_sqrt = math.sqrt(1.0 - beta2**t)
            if amsgrad:
                vmax = st.get("max_exp_avg_sq")
                if vmax is None:  # amsgrad switched on after some steps
                    vmax = st["max_exp_avg_sq"] = np.zeros_like(x)
                np.maximum(vmax, v, out=vmax)
                v = vmax
            # θ_t = θ − γ/(1−β1^t) · m / (sqrt(v̂)/sqrt(1−β2^t) + ε)
            denom = np.sqrt(v, out=s0)
            denom /= bias2_sqrt
            denom += eps
            step = np.divide(m, denom, out=s0)
            step *= lr / bias1
            x -= step


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    maximize=False): Adam with decoupled weight decay θ ← θ(1 − lr·wd) before the Adam step."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
