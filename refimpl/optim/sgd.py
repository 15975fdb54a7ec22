r"""Stochastic gradient descent with momentum, dampening, Nesterov and (coupled) weight decay.

The update is PyTorch's ``torch.optim.SGD``, step for step.  With learning rate :math:`\gamma`,
momentum :math:`\mu`, dampening :math:`\tau`, weight decay :math:`\lambda` and gradient :math:`g_t`:

.. math::

    d_t &= \pm g_t + \lambda\,\theta_{t-1}
        \qquad (-g_t \text{ if maximize})                                      \\
    b_t &= \begin{cases} d_t & t = 1 \text{ (first step: no dampening)} \\
                         \mu\, b_{t-1} + (1-\tau)\, d_t & t > 1 \end{cases}    \\
    d_t &\leftarrow \begin{cases} d_t + \mu\, b_t & \text{nesterov} \\
                                  b_t & \text{otherwise} \end{cases}
        \qquad (\text{only if } \mu \ne 0)                                     \\
    \theta_t &= \theta_{t-1} - \gamma\, d_t

Note the two PyTorch conventions that differ from some textbooks: the momentum buffer starts at the
first (decayed) gradient rather than at zero, and the learning rate multiplies the buffer at use time
rather than being folded into it (so changing lr mid-run does not rescale the accumulated momentum).
``t`` counts the steps *this parameter* had a gradient.  The buffer is ``state[p]["momentum_buffer"]``
(same shape as ``p``; see `refimpl.optim.optimizer` on masking it).
"""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _real, check_nonnegative, check_positive, required

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)."""

    def __init__(
        self,
        params,
        lr=required,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        group["lr"] = check_positive("lr", group["lr"])
        group["momentum"] = check_nonnegative("momentum", group["momentum"])
        group["dampening"] = _real("dampening", group["dampening"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        group["nesterov"] = bool(group["nesterov"])
        group["maximize"] = bool(group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, group: dict) -> None:
        lr = group["lr"]
        mu = group["momentum"]
        damp = group["dampening"]
        wd = group["weight_decay"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        state = self.state
        scratch = self._scratch
        if mu == 0 and wd == 0 and not maximize:  # plain SGD, θ ← θ − γ g: the common case, kept lean
            for _, g, x in self._with_grads(group):
                x -= lr * g  # (a reused buffer for lr·g measured no faster, even at 1024×1024)
            return
        for p, g, x in self._with_grads(group):
            s = scratch(x)
            # d_t = ±g + λθ   (written into the workspace; g itself is never modified)
            if wd != 0:
                np.multiply(x, wd, out=s)
                (np.subtract if maximize else np.add)(s, g, out=s)
                d = s
            elif maximize:
                d = np.negative(g, out=s)
            else:
                d = g
            if mu != 0:
                st = state.get(p)
                buf = None if st is None else st.get("momentum_buffer")
                if buf is None:
                    buf = np.array(d, dtype=x.dtype, copy=True)  # b_1 = d_1
                    state[p] = {"momentum_buffer": buf}
                else:
                    buf *= mu  # b_t = μ b_{t-1} + (1-τ) d_t
                    if damp != 0:
                        buf += np.multiply(d, 1.0 - damp, out=scratch(x, 1))
                    else:
                        buf += d
                if nesterov:  # d_t + μ b_t
                    t = np.multiply(buf, mu, out=scratch(x, 1))
                    t += d
                    d = t
                else:
                    d = buf
            # θ_t = θ_{t-1} − γ d_t
            np.subtract(x, np.multiply(d, lr, out=s), out=x)
