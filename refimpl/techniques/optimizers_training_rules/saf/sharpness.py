r"""SAF's flatness / sharpness measures, and the flat-parameter helpers SAM's step shares with them.

The experiment measures how "flat" or "sharp" a minimum is with three numbers, computed on a float64 copy of
the model (the original model and its gradients are left untouched):

* **random sharpness** — the loss increase under random weight perturbations of norm ρ,

  .. math:: S_{rand}(\rho) = \mathbb{E}_{d\sim\mathcal N(0,I)}\big[L(w + \rho\, d/\|d\|) - L(w)\big]

  (the mean and the max over ``n_directions`` seeded directions);
* **adversarial sharpness** — the loss increase at the worst perturbation in the ρ-ball, found by
  projected normalised-gradient ascent that starts from SAM's first-order maximiser
  :math:`\hat\epsilon = \rho\, g/\|g\|` (Foret et al., 2021, Eq. 2):

  .. math:: S_{adv}(\rho) = \max_{\|\epsilon\|_2\le\rho} L(w+\epsilon) - L(w)

  (a lower bound of the true max: we keep the best point seen);
* **top Hessian eigenvalue** — power iteration on exact Hessian–vector products (Pearlmutter's trick:
  reverse over reverse, ``refimpl.grad(..., create_graph=True)``):

  .. math:: H v = \nabla_w \langle \nabla_w L(w), v\rangle,\qquad
            v_{k+1} = \frac{H v_k}{\|H v_k\|},\qquad \lambda_{max} \approx v_k^\top H v_k

  For a ReLU network this is the Hessian of the piecewise-smooth loss with the activation pattern held
  fixed (relu'' = 0, as PyTorch's double backward): no kink is ever crossed, which the finite differences
  of gradients used before had to guard against.  Power iteration finds the eigenvalue of largest
  *modulus*; if that one is negative (away from a minimum), a second power iteration on H − λ₁I finds the
  top eigenvalue λ_max = λ₁ + μ (the shift trick).

All perturbations are global: the parameter list is flattened into one vector w, so ‖·‖ is the norm
over every weight of the model (as in SAM).  Helpers `param_list`, `get_flat`, `set_flat`,
`loss_and_grad` are public because SAM's ascent step (the package's `__init__`) uses them too.
"""

from __future__ import annotations

import copy

import numpy as np

from ....autograd.tensor import Tensor, no_grad

__all__ = [
    "param_list",
    "get_flat",
    "set_flat",
    "loss_and_grad",
    "hessian_vector_product",
    "top_hessian_eigenvalue",
    "random_sharpness",
    "adversarial_sharpness",
    "sharpness",
]


def param_list(model_or_params) -> list:
    """The trainable parameters of a Module (``.parameters()``) or a list of Tensors, as a list."""
    if hasattr(model_or_params, "parameters"):
        params = [p for p in model_or_params.parameters() if p.requires_grad]
    else:
        params = list(model_or_params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{i}] must be a refimpl Tensor/Parameter, got {type(p).__name__}")
    if not params:
        raise ValueError("model_or_params has no trainable parameters")
    return params


def get_flat(params) -> np.ndarray:
    """All parameter values concatenated into one float64 vector (a copy)."""
    return np.concatenate([np.asarray(p.data, dtype=np.float64).ravel() for p in param_list(params)])


def set_flat(params, vec) -> None:
    """Write the flat vector ``vec`` back into the parameters, in place (shapes and dtypes kept)."""
    params = param_list(params)
    vec = np.asarray(vec)
    total = sum(p.data.size for p in params)
    if vec.shape != (total,):
        raise ValueError(f"vec must have shape ({total},) (the number of parameters), got {vec.shape}")
    k = 0
    for p in params:
        n = p.data.size
        p.data[...] = vec[k : k + n].reshape(p.data.shape)
        k += n


def _as_input(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _loss_value(model, loss_fn, x, y) -> float:
    """L(w) on (x, y) without building a graph (the model's train/eval mode is left as it is)."""
    with no_grad():
        return float(loss_fn(model(_as_input(x)), y).data)


def loss_and_grad(model, loss_fn, x, y, params=None):
    """(L(w), [∂L/∂p for p in params]) with one backward pass.

    The parameters' existing ``.grad`` are saved and restored, so this can run inside a training step
    (SAM calls it between ``backward`` and ``optimizer.step``) without disturbing it.
    """
    params = param_list(model if params is None else params)
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        loss = loss_fn(model(_as_input(x)), y)
        loss.backward()
        grads = [np.zeros_like(p.data) if p.grad is None else p.grad.copy() for p in params]
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    return float(loss.data), grads


def _float64_problem(model, x):
    """A float64 copy of the model and float64 inputs (integer inputs, e.g. token ids, pass unchanged)."""
    x = np.asarray(getattr(x, "data", x))
    return _float64_copy(model), (x.astype(np.float64) if x.dtype.kind == "f" else x)


def _float64_copy(model):
    """A deep copy of the model in float64 (sharpness is a small difference of losses: it needs the precision)."""
    m = copy.deepcopy(model)
    m.double()
    return m


def _flat_grad(model, loss_fn, x, y) -> np.ndarray:
    _, grads = loss_and_grad(model, loss_fn, x, y)
    return np.concatenate([g.ravel() for g in grads]).astype(np.float64)


def hessian_vector_product(model, loss_fn, x, y, v) -> np.ndarray:
    """H v, exactly: the gradient of ⟨∇L(w), v⟩ (Pearlmutter, 1994), with ``v`` a flat vector over
    every trainable parameter.  The parameters and their ``.grad`` are left untouched."""
    from ....autograd import grad, ops

    params = param_list(model)
    v = np.asarray(v, dtype=np.float64)
    total = sum(p.data.size for p in params)
    if v.shape != (total,):
        raise ValueError(f"v must be a flat vector of shape ({total},), got {v.shape}")
    loss = loss_fn(model(_as_input(x)), y)
    grads = grad(loss, params, create_graph=True, allow_unused=True)
    dot, k = None, 0
    for p, g in zip(params, grads):
        n = p.data.size
        if g is not None:
            term = ops.sum(ops.mul(g, v[k : k + n].reshape(p.data.shape).astype(p.data.dtype)))
            dot = term if dot is None else ops.add(dot, term)
        k += n
    if dot is None or not dot.requires_grad:  # the loss is linear in the weights
        return np.zeros(total)
    hv = grad(dot, params, allow_unused=True)
    return np.concatenate(
        [np.zeros(p.data.size) if h is None else h.data.ravel() for p, h in zip(params, hv)]
    )


def _power_iteration(matvec, n, iters, tol, seed):
    v = np.random.default_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        hv = matvec(v)
        lam_new = float(v @ hv)  # Rayleigh quotient vᵀHv
        norm = np.linalg.norm(hv)
        if norm == 0:
            return 0.0, v
        v = hv / norm
        converged = abs(lam_new - lam) <= tol * max(1.0, abs(lam_new))
        lam = lam_new
        if converged:
            break
    return lam, v


def top_hessian_eigenvalue(
    model,
    loss_fn,
    x,
    y,
    iters: int = 30,
    seed: int = 0,
    tol: float = 1e-6,
    return_vector: bool = False,
):
    """The largest eigenvalue of the Hessian by power iteration on exact Hessian-vector products
    (float64 copy of the model).  If the dominant eigenvalue λ₁ is negative, a second power
    iteration on H − λ₁I gives λ_max = λ₁ + μ."""
    if iters < 1:
        raise ValueError(f"iters must be ≥ 1, got {iters}")
    m, x = _float64_problem(model, x)
    n = get_flat(m).size

    def hvp(v):
        return hessian_vector_product(m, loss_fn, x, y, v)

    lam, v = _power_iteration(hvp, n, iters, tol, seed)
    if lam < 0:  # the dominant eigenvalue is negative: shift so the top one dominates
        mu, v = _power_iteration(lambda u: hvp(u) - lam * u, n, iters, tol, seed + 1)
        lam = lam + mu
    return (lam, v) if return_vector else lam


def random_sharpness(model, loss_fn, x, y, rho: float, n_directions: int = 10, seed: int = 0) -> dict:
    """{"mean", "max"} of L(w + ρ d/‖d‖) − L(w) over seeded Gaussian directions d (float64 copy)."""
    if not rho >= 0:
        raise ValueError(f"rho must be ≥ 0, got {rho}")
    if n_directions < 1:
        raise ValueError(f"n_directions must be ≥ 1, got {n_directions}")
    m, x = _float64_problem(model, x)
    params = param_list(m)
    w0 = get_flat(params)
    base = _loss_value(m, loss_fn, x, y)
    rng = np.random.default_rng(seed)
    rises = []
    for _ in range(n_directions):
        d = rng.standard_normal(w0.size)
        set_flat(params, w0 + rho * d / np.linalg.norm(d))
        rises.append(_loss_value(m, loss_fn, x, y) - base)
    set_flat(params, w0)
    return {"mean": float(np.mean(rises)), "max": float(np.max(rises))}


def adversarial_sharpness(model, loss_fn, x, y, rho: float, steps: int = 5) -> float:
    r"""max over the points visited of L(w + ε) − L(w), ‖ε‖ ≤ ρ: ε₀ = ρ g/‖g‖ (SAM), then
    ``steps − 1`` projected ascent steps ε ← Π_ρ(ε + (ρ/2) ∇L(w+ε)/‖∇L(w+ε)‖).  float64 copy."""
    if not rho >= 0:
        raise ValueError(f"rho must be ≥ 0, got {rho}")
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    m, x = _float64_problem(model, x)
    params = param_list(m)
    w0 = get_flat(params)
    base = _loss_value(m, loss_fn, x, y)
    g = _flat_grad(m, loss_fn, x, y)
    gn = np.linalg.norm(g)
    if gn == 0 or rho == 0:
        return 0.0
    eps = rho * g / gn  # SAM's first-order maximiser
    best = -np.inf
    try:
        for k in range(steps):
            set_flat(params, w0 + eps)
            best = max(best, _loss_value(m, loss_fn, x, y) - base)
            if k == steps - 1:
                break
            g = _flat_grad(m, loss_fn, x, y)
            gn = np.linalg.norm(g)
            if gn == 0:
                break
            eps = eps + 0.5 * rho * g / gn
            en = np.linalg.norm(eps)
            if en > rho:
                eps *= rho / en
    finally:
        set_flat(params, w0)
    return float(best)


def sharpness(
    model,
    loss_fn,
    x,
    y,
    rho: float = 0.05,
    n_directions: int = 10,
    adv_steps: int = 5,
    hessian_iters: int = 30,
    seed: int = 0,
) -> dict:
    """All three measures at once: {"random_mean", "random_max", "adversarial", "hessian_top"}."""
    r = random_sharpness(model, loss_fn, x, y, rho, n_directions=n_directions, seed=seed)
    return {
        "random_mean": r["mean"],
        "random_max": r["max"],
        "adversarial": adversarial_sharpness(model, loss_fn, x, y, rho, steps=adv_steps),
        "hessian_top": top_hessian_eigenvalue(model, loss_fn, x, y, iters=hessian_iters, seed=seed),
    }
