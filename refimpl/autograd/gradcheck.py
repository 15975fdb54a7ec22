"""Finite-difference gradient checking in float64 (after HIPS/autograd's `check_grads`).

The analytic side is one backward pass with a random upstream gradient v, giving Jᵀv for every input.
The numeric side is a central difference of the scalar ⟨f(x), v⟩:
- mode "full": one difference per input element, compared elementwise with Jᵀv;
- mode "random": for random directions u, (⟨f(x+εu), v⟩ − ⟨f(x−εu), v⟩)/2ε is compared with ⟨u, Jᵀv⟩,
  which costs two evaluations per direction whatever the input size.
"""

from __future__ import annotations

import numpy as np

from .tensor import Tensor, no_grad

__all__ = ["gradcheck", "GradcheckError"]


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
