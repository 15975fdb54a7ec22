"""Finite-difference gradient checking in float64 (after HIPS/autograd's `check_grads`).

The analytic side is one backward pass with a random upstream gradient v, giving Jᵀv for every input.
The numeric side is a central difference of the scalar ⟨f(x), v⟩:
- mode "full": one difference per input element, compared elementwise with Jᵀv;
- mode "random": for random directions u, (⟨f(x+εu), v⟩ − ⟨f(x−εu), v⟩)/2ε is compared with ⟨u, Jᵀv⟩,
  which costs two evaluations per direction whatever the input size.
"""

from __future__ import annotations

import numpy as np

from .tensor import Tensor, enable_grad, no_grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _prepare(inputs):
    tensors = []
    for x in inputs:
        arr = x.data if isinstance(x, Tensor) else np.asarray(x)
        if arr.dtype.kind == "f":
            tensors.append(Tensor(np.array(arr, dtype=np.float64, order="C"), requires_grad=True))
        else:
            tensors.append(x)
    return tensors


def _scalar(fn, tensors, v):
    with no_grad():
        out = fn(*tensors)
    return float(np.sum(out.data * v))


def gradcheck(
    fn,
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    mode: str = "auto",
    n_directions: int = 4,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of `fn(*inputs)` (a Tensor-valued function) against central differences.

    Floating-point inputs are converted to float64 tensors that require a gradient; other inputs are
    passed unchanged.  `mode` is "full", "random" or "auto" (full up to 400 input elements).
    Returns True, or raises `GradcheckError` naming the input, the worst index and both values.
    """
    if mode not in ("auto", "full", "random"):
        raise ValueError(f"gradcheck: `mode` must be 'auto', 'full' or 'random', got {mode!r}")
    rng = np.random.default_rng(seed)
    tensors = _prepare(inputs)
    diff = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no floating-point input to differentiate")
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: `fn` must return a Tensor, got {type(out).__name__}")
    v = rng.standard_normal(out.shape)
    if out.requires_grad:
        out.backward(v)
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad for t in diff]
    if mode == "auto":
        mode = "full" if sum(t.data.size for t in diff) <= 400 else "random"

    if mode == "full":
        for i, (t, a) in enumerate(zip(diff, analytic)):
            numeric = np.zeros(t.shape)
            flat = t.data.reshape(-1)  # a view: writes go to t.data
            for j in range(flat.size):
                old = flat[j]
                flat[j] = old + eps
                fp = _scalar(fn, tensors, v)
                flat[j] = old - eps
                fm = _scalar(fn, tensors, v)
                flat[j] = old
                numeric.reshape(-1)[j] = (fp - fm) / (2 * eps)
            err = np.abs(a - numeric)
            bad = err > atol + rtol * np.abs(numeric)
            if bad.any():
                k = np.unravel_index(np.argmax(err - (atol + rtol * np.abs(numeric))), t.shape)
                rel = err / np.maximum(np.abs(numeric), 1e-300)
                msg = (
                    f"gradcheck failed for input {i} of shape {t.shape}: max abs error {err.max():.3e}, "
                    f"max rel error {rel[bad].max():.3e}, {int(bad.sum())} of {bad.size} elements off; "
                    f"worst at index {tuple(int(q) for q in k)}: analytic {a[k]:.8g}, numeric {numeric[k]:.8g}"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
        return True

    for i, (t, a) in enumerate(zip(diff, analytic)):  # one input at a time, so a failure names it
        saved = t.data
        for d in range(n_directions):
            u = rng.standard_normal(t.shape)
            t.data = saved + eps * u
            fp = _scalar(fn, tensors, v)
            t.data = saved - eps * u
            fm = _scalar(fn, tensors, v)
            t.data = saved
            numeric = (fp - fm) / (2 * eps)
            predicted = float(np.sum(u * a))
            err = abs(predicted - numeric)
            if err > atol + rtol * abs(numeric):
                msg = (
                    f"gradcheck (random direction {d}) failed for input {i} of shape {t.shape}: ⟨u, Jᵀv⟩ = "
                    f"{predicted:.10g} but the central difference gives {numeric:.10g}; max abs error "
                    f"{err:.3e}, max rel error {err / max(abs(numeric), 1e-300):.3e}"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(
    fn,
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "auto",
    n_directions: int = 4,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives of `fn(*inputs)`: `gradcheck` of the first-order map
    (inputs, v) ↦ ∂⟨fn(inputs), v⟩/∂inputs, computed with ``grad(..., create_graph=True)`` (so every op's
    `backward_graph` is exercised) against central differences of that gradient, in float64.

    `v` is a fixed random upstream gradient and is differentiated too (the first-order map is linear
    in it).  Arguments as for `gradcheck`."""
    from .higher_order import grad
    from .ops import concatenate, mul, reshape

    tensors = _prepare(inputs)
    with no_grad():
        out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradgradcheck: `fn` must return a Tensor, got {type(out).__name__}")
    v = np.random.default_rng(seed + 1).standard_normal(out.shape)
    diff = [i for i, t in enumerate(tensors) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradgradcheck: no floating-point input to differentiate")

    def first_order(*args):  # (gradcheck evaluates it under no_grad too: it needs its graph anyway)
        *xs, vt = args
        with enable_grad():
            y = fn(*xs)
            wrt = [xs[i] for i in diff]
            gs = grad(y, wrt, vt, create_graph=True, allow_unused=True)
        parts = [reshape(mul(w, 0.0) if g is None else g, (-1,)) for g, w in zip(gs, wrt)]
        return concatenate(parts) if len(parts) > 1 else parts[0]

    # the differentiable VJP must equal the plain one (else both sides below would be consistently wrong)
    xs = _prepare(inputs)
    with enable_grad():
        graph_vjp = first_order(*xs, Tensor(v)).data
        y = fn(*xs)
        plain = grad(y, [xs[i] for i in diff], v, allow_unused=True)
    plain = np.concatenate(
        [np.zeros(xs[i].data.size) if g is None else g.data.ravel() for i, g in zip(diff, plain)]
    )
    if not np.allclose(graph_vjp, plain, rtol=1e-10, atol=1e-12):
        k = int(np.argmax(np.abs(graph_vjp - plain)))
        msg = (
            f"gradgradcheck: the differentiable VJP (backward_graph) differs from the plain one (backward): "
            f"max abs difference {np.abs(graph_vjp - plain).max():.3e} at flat index {k}: "
            f"{graph_vjp[k]:.10g} vs {plain[k]:.10g}"
        )
        if raise_exception:
            raise GradcheckError(msg)
        return False
    return gradcheck(
        first_order,
        *inputs,
        v,
        eps=eps,
        atol=atol,
        rtol=rtol,
        mode=mode,
        n_directions=n_directions,
        seed=seed,
        raise_exception=raise_exception,
    )
