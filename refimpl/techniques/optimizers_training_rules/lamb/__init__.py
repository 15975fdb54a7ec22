r"""LAMB (and LARS, its momentum-SGD sibling): layer-wise trust ratios for large-batch training.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Reference implementation: the paper links TF-Addons' ``tensorflow_addons/optimizers/lamb.py``.

The idea
--------
A large batch is meant to be paired with a large learning rate (fewer, bigger steps over the same
epochs).  With one global rate that is either too large for some layers (they diverge) or too small for
others (they crawl), because layers differ in the scale of their weights and of their gradients.  LARS
and LAMB give every layer (every parameter tensor) a step whose *length* is tied to the layer's own
weight norm: the direction of layer i is normalised and rescaled to :math:`\eta\,\phi(\|x^{(i)}\|)`.
LARS does this to heavy-ball momentum, LAMB to Adam's update (with decoupled weight decay inside the
normalised direction).

The update rules (the paper's Algorithms 1 and 2; i indexes layers, t counts steps from 1)
---------------------------------------------------------------------------------------------
LARS (Algorithm 1):

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\,(g_t + \lambda x_t)                               \\
    x_{t+1}^{(i)} &= x_t^{(i)} - \eta_t\, \frac{\phi(\|x_t^{(i)}\|)}{\|m_t^{(i)}\|}\, m_t^{(i)}

LAMB (Algorithm 2):

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
    \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t)                   \\
    r_t &= \hat m_t / (\sqrt{\hat v_t} + \epsilon)                                          \\
    x_{t+1}^{(i)} &= x_t^{(i)} - \eta_t\, \frac{\phi(\|x_t^{(i)}\|)}{\|r_t^{(i)} + \lambda x_t^{(i)}\|}
                     \,\big(r_t^{(i)} + \lambda x_t^{(i)}\big)

with :math:`\phi(z) = \min(\max(z, \gamma_l), \gamma_u)` (identity by default, as in TF-Addons) and
:math:`m_0 = v_0 = 0`.

What follows from the rule (derived, and checked in the tests)
--------------------------------------------------------------
* **The step length is the weight norm.**  Taking norms of the last line,
  :math:`\|x_{t+1}^{(i)} - x_t^{(i)}\| = \eta_t\,\phi(\|x_t^{(i)}\|)`: with φ the identity every layer
  moves by the same *relative* amount η, whatever its gradient.  η is therefore a relative step, not an
  Adam learning rate, and the two are tuned on different grids.
* **Invariance to the gradient's scale.**  Replacing g by c·g (c > 0) scales m, √v and hence leaves r
  unchanged (ε aside); LARS's m scales by c and is normalised away.  A layer whose gradients explode
  and one that has plateaued take steps of the same length.
* **The first LAMB step is a signed step.**  At t = 1, :math:`\hat m_1 = g_1` and :math:`\hat v_1 =
  g_1^2`, so :math:`r_1 = \mathrm{sign}(g_1)` (ε = 0) and, without decay, the layer moves by
  :math:`\eta\|x\|\,\mathrm{sign}(g)/\sqrt{n}` (n entries).
* **Zero weights.**  A tensor initialised at zero (a bias) has ratio 0/‖u‖; the implementations set
  the ratio to 1 then (TF-Addons ``lamb.py``, the ``tf.where`` of ``_resource_apply_dense``), so the
  step is the unnormalised ``lr·u``.

What is implemented, and deviations
-----------------------------------
* `LAMB` and `LARS` are `refimpl.optim.Optimizer` subclasses; "layer" = one parameter tensor.  The
  ratio is 1 when ‖x‖ = 0 or ‖u‖ = 0 (TF-Addons' convention).
* ``adapt=False`` in a parameter group switches the ratio off (TF-Addons'
  ``exclude_from_layer_adaptation``, which defaults to the weight-decay exclusions: BERT excludes biases
  and LayerNorm parameters from both).  `layerwise_groups` builds that split: tensors with two or more
  dimensions get weight decay and the trust ratio, vectors (biases, norm scales) neither.
* ε = 1e-6 and β = (0.9, 0.999), TF-Addons' defaults.  LARS here is the LAMB paper's Algorithm 1 (weight
  decay inside the momentum, no trust coefficient); the original LARS paper (You et al. 2017) has a
  trust coefficient and a slightly different placement of the decay.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/optimizers-training-rules/lamb.ipynb
"""

from __future__ import annotations

import numpy as np

from ....optim.optimizer import Optimizer, _real, check_nonnegative, check_positive, check_unit_interval

CATALOG_ENTRY = {
    "slug": "lamb",
    "title": "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    "authors": "Yang You, Jing Li, Sashank Reddi, Jonathan Hseu, Sanjiv Kumar, Srinadh Bhojanapalli, "
    "Xiaodan Song, James Demmel, Kurt Keutzer, Cho-Jui Hsieh",
    "year": 2019,
    "arxiv": "1904.00962",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/lamb.ipynb",
    "verified": "official-code",
    "verification_note": "Checked line by line against the implementation the paper links "
    "(tensorflow/addons tensorflow_addons/optimizers/lamb.py, _resource_apply_dense L150-181: m, v, "
    "bias-corrected m̂/v̂, r = m̂/(√v̂+ε) with ε = 1e-6 (L46), decoupled λx added to r, ratio ‖x‖/‖r+λx‖ "
    "set to 1 when a norm is 0, exclusion from layer adaptation defaulting to the weight-decay exclusions). "
    "Algorithms 1 (LARS) and 2 (LAMB) of arXiv v5 as quoted by that code and by secondary renderings; "
    "the paper's full text was not reachable in this pass. First steps checked by hand.",
    "summary": "Layer-wise adaptive large-batch optimisers: each parameter tensor's update (momentum for LARS, "
    "the Adam ratio plus decoupled weight decay for LAMB) is rescaled to have norm η·φ(‖x‖), so a large, "
    "batch-scaled learning rate is safe for every layer.",
    "equations": [
        "LARS (Alg. 1): m_t = β1 m_{t−1} + (1−β1)(g_t + λx_t);  x^{(i)} ← x^{(i)} − η φ(‖x^{(i)}‖)/‖m^{(i)}‖ · m^{(i)}",
        "LAMB (Alg. 2): m̂ = m_t/(1−β1^t), v̂ = v_t/(1−β2^t), r_t = m̂/(√v̂ + ε)",
        "LAMB (Alg. 2): x^{(i)} ← x^{(i)} − η φ(‖x^{(i)}‖)/‖r^{(i)} + λx^{(i)}‖ · (r^{(i)} + λx^{(i)})",
    ],
}

__all__ = ["phi", "trust_ratio", "lamb_direction", "layerwise_groups", "LAMB", "LARS"]


# --- pure functions --------------------------------------------------------------------------------
def phi(z: float, bounds=None) -> float:
    """The scaling function φ(z) = min(max(z, γ_l), γ_u) with bounds (γ_l, γ_u); identity when None."""
    if bounds is None:
        return z
    lo, hi = bounds
    return min(max(z, lo), hi)  # φ(z) = min(max(z, γ_l), γ_u)  (Alg. 1-2)


def trust_ratio(x, update, bounds=None) -> float:
    """φ(‖x‖)/‖update‖, or 1 when either norm is 0 (the layer-wise scale of LARS and LAMB)."""
    wn = float(np.linalg.norm(np.asarray(x, dtype=np.float64)))
    un = float(np.linalg.norm(np.asarray(update, dtype=np.float64)))
    if wn == 0.0 or un == 0.0:
        return 1.0
    return phi(wn, bounds) / un  # φ(‖x‖)/‖u‖  (Alg. 1-2)


def lamb_direction(m, v, x, t: int, betas=(0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0):
    """r_t + λx_t for moments m, v after step t (bias-corrected, Algorithm 2), as a new array."""
    beta1, beta2 = betas
    m_hat = m / (1.0 - beta1**t)  # m̂_t = m_t/(1−β1^t)  (Alg. 2)
    v_hat = v / (1.0 - beta2**t)  # v̂_t = v_t/(1−β2^t)  (Alg. 2)
    r = m_hat / (np.sqrt(v_hat) + eps)  # r_t = m̂/(√v̂ + ε)  (Alg. 2)
    return r + weight_decay * x  # r_t + λx_t  (Alg. 2)


def layerwise_groups(model_or_params, weight_decay: float = 0.0, layer_adaptation: bool | None = None):
    """Parameter groups in the BERT / TF-Addons convention: tensors with ≥ 2 dimensions (weight matrices)
    get `weight_decay`; vectors and scalars (biases, norm scales) get none.  With
    ``layer_adaptation=True`` (for `LAMB` and `LARS`) the matrices also get the trust ratio
    (``adapt=True``) and the vectors do not (``adapt=False``), as TF-Addons'
    ``exclude_from_layer_adaptation`` defaults to the weight-decay exclusions.  Works for any
    `refimpl.optim` optimizer (leave `layer_adaptation` None for those without ``adapt``)."""
    params = list(model_or_params.parameters() if hasattr(model_or_params, "parameters") else model_or_params)
    matrices = {"params": [p for p in params if p.data.ndim >= 2], "weight_decay": weight_decay}
    vectors = {"params": [p for p in params if p.data.ndim < 2], "weight_decay": 0.0}
    if layer_adaptation is not None:
        matrices["adapt"], vectors["adapt"] = bool(layer_adaptation), False
    return [g for g in (matrices, vectors) if g["params"]]


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
            m += (1.0 - beta1) * g  # m_t = β1 m + (1−β1) g  (Alg. 2)
            v *= beta2
            v += (1.0 - beta2) * g * g  # v_t = β2 v + (1−β2) g²  (Alg. 2)
            u = lamb_direction(m, v, x, t, (beta1, beta2), eps, wd)  # r_t + λx_t  (Alg. 2)
            ratio = trust_ratio(x, u, bounds) if adapt else 1.0  # φ(‖x‖)/‖r + λx‖  (Alg. 2)
            st["trust_ratio"] = ratio
            x -= (lr * ratio) * u  # x ← x − η·ratio·(r + λx)  (Alg. 2)


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
            m += (1.0 - beta1) * (g + wd * x)  # m_t = β1 m + (1−β1)(g + λx)  (Alg. 1)
            ratio = trust_ratio(x, m, bounds) if adapt else 1.0  # φ(‖x‖)/‖m‖  (Alg. 1)
            st["trust_ratio"] = ratio
            x -= (lr * ratio) * m  # x ← x − η·ratio·m  (Alg. 1)
