r"""The Neural Tangent Kernel: in the NTK parametrization a wide network's tangent kernel is deterministic at
initialization and stays put during training, so gradient descent on the squared loss is kernel regression
with that kernel.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The kernel
----------
For a network :math:`f(x;\theta)` trained by gradient descent on :math:`\tfrac12\sum_i (f(x_i)-y_i)^2`, one
step moves the outputs on any input :math:`x` by :math:`-\eta\,\Theta_\theta(x, X)\,(f(X)-y)` to first order,
with the *neural tangent kernel* :math:`\Theta_\theta(x,x') = \nabla_\theta f(x)^\top\nabla_\theta f(x')`
(the paper's Sec. 3, for gradient flow).  Jacot et al. show (Theorems 1–2) that in the NTK
parametrization — weights :math:`\mathcal N(0,1)`, each layer's pre-activation scaled by
:math:`1/\sqrt{\text{fan-in}}` — :math:`\Theta` converges at initialization to a deterministic limit
:math:`\Theta_\infty` as the widths grow, and stays equal to it during training.

For the one-hidden-layer ReLU network used here, no biases,

.. math::

    f(x) = \frac{1}{\sqrt m}\sum_{j=1}^m a_j\,\mathrm{relu}(w_j^\top x),\qquad a_j \sim \mathcal N(0,1),\;
    w_j \sim \mathcal N(0, I_d),

the kernel is an average over the m hidden units,

.. math::

    \Theta(x,x') = \frac1m\sum_j\Big[\mathrm{relu}(w_j^\top x)\,\mathrm{relu}(w_j^\top x')
        + a_j^2\,\mathbb 1[w_j^\top x>0]\,\mathbb 1[w_j^\top x'>0]\;x^\top x'\Big],

and its limit is the sum of the first two arc-cosine kernels (Cho & Saul 2009): with
:math:`\cos\vartheta = x^\top x'/(\lVert x\rVert\lVert x'\rVert)`,

.. math::

    \Theta_\infty(x,x') = \lVert x\rVert\lVert x'\rVert\,\frac{\sin\vartheta + (\pi-\vartheta)\cos\vartheta}{2\pi}
        + x^\top x'\,\frac{\pi-\vartheta}{2\pi}.

On unit inputs :math:`\Theta_\infty(x,x) = \tfrac12 + \tfrac12 = 1`.

Training is kernel regression
-----------------------------
If :math:`\Theta` stays at :math:`\Theta_\infty`, the outputs move linearly.  With discrete steps of size
:math:`\eta`, on the training inputs :math:`f_t(X) - y = (I-\eta\Theta)^t\,(f_0(X)-y)`, and anywhere else

.. math::

    f_t(x) = f_0(x) + \Theta(x,X)\,\Theta(X,X)^{-1}\big(I-(I-\eta\Theta(X,X))^t\big)\,(y - f_0(X)),

which at :math:`t\to\infty` is kernel ridgeless regression of the residual :math:`y-f_0` (`kernel_prediction`;
the paper's Sec. 5 for gradient flow, :math:`e^{-\eta\Theta t}` in place of :math:`(I-\eta\Theta)^t`).  The
fluctuations of :math:`\Theta` at init and its motion during training both shrink like
:math:`1/\sqrt m`.

What the NTK parametrization is doing
-------------------------------------
The :math:`1/\sqrt m` output scale makes each unit's weights move by :math:`O(1/\sqrt m)` while the function
moves by :math:`O(1)`.  The *mean-field* parametrization, :math:`f=\frac1m\sum_j a_j\,\mathrm{relu}(w_j^\top x)`
with the learning rate multiplied by m (so the function starts to move at the same speed), keeps every
unit's motion :math:`O(1)`: features are learned and the kernel moves however wide the network is.  It is the
ablation in the experiment.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/ntk.ipynb
"""

from __future__ import annotations

import numpy as np

from ..kernels import arc_cosine

CATALOG_ENTRY = {
    "slug": "ntk",
    "title": "Neural Tangent Kernel: Convergence and Generalization in Neural Networks",
    "authors": "Arthur Jacot, Franck Gabriel, Clément Hongler",
    "year": 2018,
    "arxiv": "1806.07572",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/ntk.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 1806.07572, NeurIPS 2018) from its abstract and the "
    "catalogue's summary: NTK parametrization, Θ = JJᵀ deterministic at init (Thm 1) and constant during "
    "training (Thm 2) as widths → ∞, so training on the squared loss is kernel regression (Sec. 5).  The "
    "full text was not read here, so the kernel of the one-hidden-layer, bias-free ReLU net is derived in "
    "the docstring (the arc-cosine kernels of Cho & Saul 2009) and checked by Monte Carlo and by the "
    "library's autograd; discrete GD steps replace the paper's gradient flow.  The mean-field ablation "
    "(1/m output scale, learning rate × m) is our choice of contrast.",
    "summary": "In the NTK parametrization the tangent kernel Θ = ∇f·∇f of a wide network is deterministic "
    "at initialization and stays constant while it trains, so gradient descent on the squared loss equals "
    "kernel regression with Θ; the deviations shrink like 1/√width.",
    "equations": [
        "Θ(x, x') = ∇_θ f(x)ᵀ ∇_θ f(x')   (neural tangent kernel)",
        "f(x) = (1/√m) Σ_j a_j relu(w_jᵀx),  a_j ~ N(0, 1),  w_j ~ N(0, I)   (NTK parametrization, no bias)",
        "Θ(x, x') = (1/m) Σ_j [relu(w_jᵀx) relu(w_jᵀx') + a_j² 1[w_jᵀx > 0] 1[w_jᵀx' > 0] xᵀx']",
        "Θ_∞(x, x') = ‖x‖‖x'‖ (sin ϑ + (π − ϑ) cos ϑ)/(2π) + xᵀx' (π − ϑ)/(2π)   (arc-cosine kernels)",
        "f_t(X) − y = (I − ηΘ)^t (f_0(X) − y)   (GD on ½‖f(X) − y‖² with constant Θ)",
        "f_t(x) = f_0(x) + Θ(x, X) Θ(X, X)⁻¹ (I − (I − ηΘ)^t)(y − f_0(X))   (kernel regression)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "TwoLayerReLU",
    "init_params",
    "forward",
    "empirical_ntk",
    "analytic_ntk",
    "train_gd",
    "kernel_prediction",
    "circle_points",
]

PARAMETRIZATIONS = ("ntk", "mean-field")


def circle_points(angles) -> np.ndarray:
    """Unit inputs (cos φ, sin φ) in the plane: the paper's own picture of a kernel on the circle."""
    a = np.asarray(angles, dtype=np.float64)
    return np.stack([np.cos(a), np.sin(a)], axis=-1)


class TwoLayerReLU:
    """f(x) = s · Σ_j a_j relu(w_jᵀx) with s = 1/√m ("ntk") or 1/m ("mean-field"); weights N(0, 1)."""

    def __init__(self, width: int, in_features: int = 2, *, parametrization: str = "ntk", rng=None):
        if int(width) < 1 or int(in_features) < 1:
            raise ValueError(f"`width` and `in_features` must be ≥ 1, got {width} and {in_features}")
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"`parametrization` must be one of {PARAMETRIZATIONS}, got {parametrization!r}")
        self.width, self.parametrization = int(width), parametrization
        self.scale = 1 / np.sqrt(width) if parametrization == "ntk" else 1 / width
        self.W, self.a = init_params(width, in_features, rng)

    def __call__(self, X) -> np.ndarray:
        return forward(self.W, self.a, X, self.scale)

    def ntk(self, X, Z=None) -> np.ndarray:
        return empirical_ntk(self.W, self.a, X, Z, self.scale)


def init_params(width: int, in_features: int, rng) -> tuple:
    """W (m × d) and a (m,), all entries N(0, 1)."""
    rng = np.random.default_rng(rng)
    return rng.normal(size=(int(width), int(in_features))), rng.normal(size=int(width))


def forward(W, a, X, scale: float) -> np.ndarray:
    """f(X) = scale · relu(X Wᵀ) a, one output per row of X."""
    return scale * (np.maximum(np.asarray(X, dtype=np.float64) @ W.T, 0.0) @ a)


def _jacobian(W, a, X, scale):
    """∂f(x_i)/∂θ per row, θ = (W, a) flattened: [scale · a_j 1[w_jᵀx > 0] x,  scale · relu(w_jᵀx)]."""
    pre = np.asarray(X, dtype=np.float64) @ W.T  # n × m
    dW = scale * ((pre > 0) * a)[:, :, None] * X[:, None, :]  # n × m × d
    da = scale * np.maximum(pre, 0.0)  # n × m
    return np.concatenate([dW.reshape(len(X), -1), da], axis=1)


def empirical_ntk(W, a, X, Z=None, scale: float | None = None) -> np.ndarray:
    """Θ(X, Z) = J(X) J(Z)ᵀ of the network with weights (W, a) (Z = X if omitted); `scale` defaults to the NTK
    parametrization's 1/√m."""
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    scale = 1 / np.sqrt(len(a)) if scale is None else float(scale)
    return _jacobian(W, a, X, scale) @ _jacobian(W, a, Z, scale).T


def analytic_ntk(X, Z=None) -> np.ndarray:
    """Θ_∞(X, Z) of the bias-free one-hidden-layer ReLU net: the first arc-cosine kernel plus xᵀx' times the
    zeroth (`..kernels.arc_cosine`)."""
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    k0, k1 = arc_cosine(X, Z)
    return k1 + (X @ Z.T) * k0


def train_gd(net: TwoLayerReLU, X, y, lr: float, steps: int) -> list:
    """Full-batch gradient descent on ½ Σ_i (f(x_i) − y_i)² (gradients written out; a test checks them
    against the autograd).  The mean-field net steps with lr · m, so its outputs start moving as fast as the
    NTK net's.  Returns the training loss after each step."""
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"`lr` must be > 0, got {lr}")
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"shapes: X (n, d), y (n,); got {X.shape} and {y.shape}")
    step = lr * (net.width if net.parametrization == "mean-field" else 1)
    losses = []
    for _ in range(int(steps)):
        pre = X @ net.W.T
        h = np.maximum(pre, 0.0)
        r = net.scale * (h @ net.a) - y
        grad_a = net.scale * (h.T @ r)
        grad_W = net.scale * (((pre > 0) * r[:, None]) * net.a).T @ X
        net.a -= step * grad_a
        net.W -= step * grad_W
        losses.append(0.5 * float(np.sum((net(X) - y) ** 2)))
    return losses


def kernel_prediction(theta_xx, theta_zx, f0_x, f0_z, y, lr: float, steps: int) -> np.ndarray:
    """Outputs on Z after `steps` GD steps of the linearized model with kernel Θ (constant):
    f_0(Z) + Θ(Z, X) Θ(X, X)⁻¹ (I − (I − ηΘ(X, X))^t)(y − f_0(X))."""
    theta_xx = np.asarray(theta_xx, dtype=np.float64)
    lam, V = np.linalg.eigh(theta_xx)
    if lam.min() <= 0:
        raise ValueError("kernel_prediction: Θ(X, X) must be positive definite")
    decay = 1.0 - (1.0 - lr * lam) ** int(steps)
    coef = V @ ((decay / lam) * (V.T @ (np.asarray(y) - np.asarray(f0_x))))
    return np.asarray(f0_z) + np.asarray(theta_zx) @ coef
