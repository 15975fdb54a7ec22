r"""The quantization family's shared quantizers: uniform integer grids, the straight-through estimator,
and GPTQ.  (The post-training pipeline — trained toy models, input capture, weight substitution — is
`ptq.py`; the Numba kernels are `_kernels.py`.)

1. **Integer grids** (uniform affine / symmetric; per tensor, per channel, per group)::

       s = (hi − lo) / (2^b − 1),  z = round(−lo / s)           (affine, codes in [0, 2^b − 1])
       s = max|x| / (2^{b−1} − 1),  z = 0                       (symmetric, codes in [−2^{b−1}, 2^{b−1} − 1])
       code = clip(round(x / s) + z, q_min, q_max),   x̂ = s · (code − z)

   `round` is round-half-to-even (`np.rint`), as `torch.round`.  `lo = min(min x, 0)`, `hi = max(max x, 0)`
   so that 0 is always exactly representable; `clip_ratio` shrinks the range (clipping).  `quant_params`
   computes (s, z) from min–max statistics, `fake_quant` is the quantize–dequantize x ↦ x̂.

   **Rounding convention** (`rounding=`, carried by `QParams.rounding`, overridable per `fake_quant` call):

   - ``"divide"`` (the default): code = round(x / s) — the formula as the papers write it, with one
     correctly rounded division.  It is the default because it is the definition every technique here
     derives from, and the results on record were computed with it.
   - ``"torch"``: code = round(x · float32(1 / float32(s))) — PyTorch's fake quantization
     (``torch.fake_quantize_per_tensor_affine`` / ``_per_channel_affine``, ATen's CPU kernels
     ``fake_quantize_tensor_cachemask_kernel`` and ``fake_quant_per_channel_cachemask_cpu``: ``inv_scale =
     1.0f / scale``, ``nearbyint(x * inv_scale) + zero_point``, round half to even), and dequantization
     with the float32 scale, ``(code − z) · float32(s)``.  The product is taken in x's precision (float32
     for float32 inputs).  x · (1/s) differs from x / s by an ulp, so near a tie (x/s ≈ k + ½) the two
     rules can pick codes one step apart; choose "torch" to check a PyTorch implementation bit for bit
     (tests/xcheck/test_xcheck_fake_quant.py).  Only the mapping x → code differs: (s, z) are computed
     the same way (PyTorch's observers have their own formulas, e.g. symmetric s = max|x| / ((q_max −
     q_min)/2); they are not reproduced here).

2. **The straight-through estimator** (STE, Bengio et al. 2013): `round_ste` rounds in the forward pass
   and passes the gradient unchanged.

3. **GPTQ** (Frantar et al. 2023, Alg. 1 — Optimal Brain Quantization with a Cholesky-factored inverse
   Hessian): quantize the columns of W one at a time and spread each column's error over the
   not-yet-quantized columns with the inverse of H = 2 XᵀX / N (the Hessian of ‖WX − ŴX‖²)::

       q_j = quant(w_j),   e = (w_j − q_j) / [H⁻¹_F]_{jj},   w_F ← w_F − e · [H⁻¹_F]_{j,F}

The integer quantize–dequantize per row has a Numba kernel in `_kernels.py` beside the NumPy twin here
(`fake_quant_numpy`); `fake_quant` dispatches to Numba on first use unless `REFIMPL_DISABLE_NUMBA=1` (the
project-wide switch), through `KERNELS` (a `refimpl.kernels.NumbaTwin`, shared with the techniques whose
own kernels live in `_kernels.py`).  The Numba module is imported lazily, so `import refimpl` never imports
numba.

The family contract (tests/techniques/quantization/test_quantization_contract.py): q(q(x)) = q(x) for fixed
quantization parameters; |x − q(x)| ≤ s/2 inside the range; values on the quantizer's own grid; a clipped
STE passes the gradient inside the clipping range only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...autograd.function import straight_through
from ...autograd.tensor import Tensor
from ...kernels import NumbaTwin

__all__ = [
    "as_float_array",
    "ROUNDINGS",
    "QParams",
    "quant_params",
    "fake_quant",
    "fake_quant_numpy",
    "round_ste",
    "hessian",
    "gptq",
    "KERNELS",
    "kernel_backend",
]

KERNELS = NumbaTwin("refimpl.techniques.quantization._kernels")


def kernel_backend(name: str | None = None) -> str:
    """Report ("numba"/"numpy") or force ("numba", "numpy", "auto" = re-resolve) the kernels' backend."""
    return KERNELS.backend(name)


# ------------------------------------------------------------------------------------------------------
# checks
def _check_bits(bits, fn, low=1, high=16):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not low <= bits <= high:
        raise ValueError(f"{fn}: `bits` must be an integer in [{low}, {high}], got {bits!r}")
    return int(bits)


def as_float_array(x, fn: str, name: str = "x") -> np.ndarray:
    """`x` (an array or a Tensor's data) checked to be real and finite, integers cast to float64; errors
    name the function `fn` and the argument `name`."""
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: `{name}` must be a real array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: `{name}` must be finite (found NaN or inf)")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


# ------------------------------------------------------------------------------------------------------
# 1. integer grids
def _int_range(bits: int, signed: bool) -> tuple:
    """(q_min, q_max): [−2^{b−1}, 2^{b−1} − 1] when signed, [0, 2^b − 1] otherwise."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


ROUNDINGS = ("divide", "torch")


def _check_rounding(rounding, fn):
    if rounding not in ROUNDINGS:
        raise ValueError(f"{fn}: `rounding` must be one of {ROUNDINGS}, got {rounding!r}")
    return rounding


@dataclasses.dataclass
class QParams:
    """Scale and zero point broadcastable to the tensor they were computed for, and the code range."""

    scale: np.ndarray
    zero_point: np.ndarray
    qmin: int
    qmax: int
    rounding: str = "divide"  # "divide": round(x/s); "torch": round(x · float32(1/s)) (module docstring)

    def __post_init__(self):
        _check_rounding(self.rounding, "QParams")

    @property
    def bits(self) -> int:
        return int(round(math.log2(self.qmax - self.qmin + 1)))


_GRANULARITIES = ("tensor", "channel", "group")


def _reduce_minmax(x, granularity, axis, group_size, fn):
    """min and max of x over the granularity's blocks, returned broadcastable to x (groups expanded)."""
    if granularity not in _GRANULARITIES:
        raise ValueError(f"{fn}: `granularity` must be one of {_GRANULARITIES}, got {granularity!r}")
    if granularity == "tensor":
        return np.min(x, keepdims=True) if x.size else np.zeros((1,) * x.ndim), (
            np.max(x, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
        )
    if x.ndim < 1:
        raise ValueError(f"{fn}: per-{granularity} quantization needs x.ndim ≥ 1, got a 0-d array")
    if granularity == "channel":
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(
                f"{fn}: `axis` must be in [{-x.ndim}, {x.ndim - 1}] for shape {x.shape}, got {axis}"
            )
        other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        return np.min(x, axis=other, keepdims=True), np.max(x, axis=other, keepdims=True)
    # group: contiguous groups of `group_size` along the last axis
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise ValueError(
            f"{fn}: `group_size` must be a positive integer for per-group quantization, got {group_size!r}"
        )
    n = x.shape[-1]
    if n % group_size:
        raise ValueError(f"{fn}: the last axis ({n}) must be a multiple of `group_size` ({group_size})")
    g = x.reshape(x.shape[:-1] + (n // group_size, group_size))
    lo = np.repeat(np.min(g, axis=-1), group_size, axis=-1)
    hi = np.repeat(np.max(g, axis=-1), group_size, axis=-1)
    return lo, hi


def _qparams_from_range(lo, hi, bits, symmetric, clip_ratio, dtype, rounding="divide"):
    lo = np.minimum(lo, 0.0).astype(np.float64) * clip_ratio
    hi = np.maximum(hi, 0.0).astype(np.float64) * clip_ratio
    if symmetric:
        qmin, qmax = _int_range(bits, signed=True)
        amax = np.maximum(np.abs(lo), np.abs(hi))
        scale = np.where(amax > 0, amax / max(qmax, 1), 1.0)
        zp = np.zeros_like(scale)
    else:
        qmin, qmax = _int_range(bits, signed=False)
        rng = hi - lo
        scale = np.where(rng > 0, rng / qmax, 1.0)
        zp = np.clip(np.rint(-lo / scale), qmin, qmax)
    return QParams(scale.astype(dtype), zp.astype(dtype), qmin, qmax, rounding)


def quant_params(
    x,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "tensor",
    axis: int = 0,
    group_size: int | None = None,
    clip_ratio=1.0,
    rounding: str = "divide",
) -> QParams:
    """Min–max quantization parameters of x (see the module docstring; `clip_ratio` ∈ (0, 1] shrinks the
    range, a scalar or an array broadcastable to the per-block statistics).  `rounding` ("divide", the
    default, or "torch") is stored in the QParams and selects how `fake_quant` maps x to codes."""
    fn = "quant_params"
    _check_rounding(rounding, fn)
    arr = as_float_array(x, fn)
    bits = _check_bits(bits, fn, low=2 if symmetric else 1)
    ratio = np.asarray(clip_ratio, dtype=np.float64)
    if np.any(ratio <= 0) or np.any(ratio > 1):
        raise ValueError(f"{fn}: `clip_ratio` must be in (0, 1], got {clip_ratio!r}")
    lo, hi = _reduce_minmax(arr, granularity, axis, group_size, fn)
    return _qparams_from_range(lo, hi, bits, symmetric, ratio, arr.dtype, rounding)


def _check_qparams(qp, fn):
    if not isinstance(qp, QParams):
        raise TypeError(f"{fn}: `qparams` must be a QParams, got {type(qp).__name__}")
    if np.any(qp.scale <= 0):
        raise ValueError(f"{fn}: every scale must be > 0")


def _scale_and_inverse(s, dtype, rounding):
    """(scale used to dequantize, inverse used to quantize or None) in `dtype` for the rounding rule:
    "divide" → (s, None); "torch" → (float32(s), float32(1) / float32(s)), both exact in float32/64."""
    if rounding == "divide":
        return np.asarray(s, dtype), None
    s32 = np.asarray(s, dtype=np.float32)
    inv32 = np.float32(1.0) / s32  # ATen: float inv_scale = 1.0f / scale
    work = np.result_type(dtype, np.float32)  # x * inv_scale in C++: float32 for float32 x, double for double
    return s32.astype(work), inv32.astype(work)


def fake_quant_numpy(x, qp: QParams, rounding: str | None = None) -> np.ndarray:
    """The NumPy twin of the quantize–dequantize kernel: s · (clip(round(x/s) + z, q_min, q_max) − z), or
    with rounding="torch" float32(s) · (clip(round(x · float32(1/s)) + z, q_min, q_max) − z).  `rounding`
    None uses `qp.rounding`."""
    fn = "fake_quant_numpy"
    arr = as_float_array(x, fn)
    _check_qparams(qp, fn)
    rounding = _check_rounding(qp.rounding if rounding is None else rounding, fn)
    s, inv = _scale_and_inverse(qp.scale, arr.dtype, rounding)
    z = np.asarray(qp.zero_point, s.dtype)
    v = arr / s if inv is None else arr * inv
    return ((np.clip(np.rint(v) + z, qp.qmin, qp.qmax) - z) * s).astype(arr.dtype)


def _row_params(arr, qp):
    """(s_row, z_row) if qp is per-row on a 2-D view of arr (last axis = columns), else None."""
    if arr.ndim != 2:
        return None
    s = np.broadcast_to(qp.scale, arr.shape)
    z = np.broadcast_to(qp.zero_point, arr.shape)
    if np.all(s == s[:, :1]) and np.all(z == z[:, :1]):
        return s[:, 0], z[:, 0]
    return None


def fake_quant(x, qp: QParams, rounding: str | None = None) -> np.ndarray:
    """Quantize–dequantize x (an array) with `qp` and the rounding rule `rounding` (None: `qp.rounding`;
    "divide" or "torch", see the module docstring); Numba kernel for per-row/per-tensor parameters on 2-D
    inputs (unless REFIMPL_DISABLE_NUMBA=1), identical to `fake_quant_numpy`."""
    fn = "fake_quant"
    arr = as_float_array(x, fn)
    _check_qparams(qp, fn)
    rounding = _check_rounding(qp.rounding if rounding is None else rounding, fn)
    k = KERNELS.get()
    rows = _row_params(arr, qp) if k else None
    if rows is None or arr.dtype not in (np.float32, np.float64):
        return fake_quant_numpy(arr, qp, rounding)
    s, inv = _scale_and_inverse(rows[0], arr.dtype, rounding)
    out = np.empty(arr.shape, dtype=arr.dtype)
    k.qdq_rows(
        np.ascontiguousarray(arr),
        np.ascontiguousarray(s, dtype=arr.dtype),
        np.ascontiguousarray(rows[1], dtype=arr.dtype),
        np.ascontiguousarray(s if inv is None else inv, dtype=arr.dtype),
        inv is not None,
        float(qp.qmin),
        float(qp.qmax),
        out,
    )
    return out


# ------------------------------------------------------------------------------------------------------
# 2. the straight-through estimator
def round_ste(x: Tensor) -> Tensor:
    """round(x) forward, identity backward (STE)."""
    return straight_through(x, np.rint(x.data))


# ------------------------------------------------------------------------------------------------------
# 3. GPTQ
def hessian(x, weights=None) -> np.ndarray:
    """H = 2 Xᵀ diag(r) X / Σr for layer inputs X (N, d) (r = 1: H = 2XᵀX/N, GPTQ's convention)."""
    X = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
    if weights is None:
        return 2.0 * X.T @ X / max(X.shape[0], 1)
    r = np.asarray(weights, dtype=np.float64).reshape(-1)
    if r.shape[0] != X.shape[0] or np.any(r < 0):
        raise ValueError(f"hessian: `weights` must be {X.shape[0]} non-negative numbers, got shape {r.shape}")
    return 2.0 * (X * r[:, None]).T @ X / max(r.sum(), 1e-300)


def _check_wh(W, H, fn):
    W = np.array(W, dtype=np.float64)
    H = np.array(H, dtype=np.float64)
    if W.ndim != 2 or H.shape != (W.shape[1], W.shape[1]):
        raise ValueError(f"{fn}: need W (out, in) and H (in, in), got W {W.shape}, H {H.shape}")
    if not np.allclose(H, H.T, atol=1e-8 * max(1.0, np.abs(H).max())):
        raise ValueError(f"{fn}: `H` must be symmetric")
    return W, H


def _damp(H, W, percdamp):
    H = H.copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices_from(H)] += percdamp * np.mean(np.diag(H))
    return H


def gptq(W, H, quantizer, *, percdamp: float = 0.01, order=None) -> np.ndarray:
    """GPTQ (Frantar et al. 2023, Alg. 1, without lazy batching — same arithmetic, column by column).

    quantizer(column (out,), j) → quantized column; H is damped by `percdamp` · mean diag.  `order`: a
    permutation of the columns (e.g. act-order = descending diag H); default natural order.
    Returns Q (out, in) in the original column order."""
    W, H = _check_wh(W, H, "gptq")
    if percdamp < 0:
        raise ValueError(f"gptq: `percdamp` must be ≥ 0, got {percdamp}")
    d = W.shape[1]
    perm = np.arange(d) if order is None else np.asarray(order)
    if sorted(perm.tolist()) != list(range(d)):
        raise ValueError(f"gptq: `order` must be a permutation of range({d})")
    H = _damp(H, W, percdamp)
    W, H = W[:, perm], H[np.ix_(perm, perm)]
    Hinv = np.linalg.cholesky(np.linalg.inv(H)).T  # upper Cholesky factor of H⁻¹ (Alg. 1, line 2)
    Q = np.zeros_like(W)
    for j in range(d):
        w = W[:, j]
        q = np.asarray(quantizer(w.copy(), int(perm[j])), dtype=np.float64)
        Q[:, j] = q
        err = (w - q) / Hinv[j, j]  # Alg. 1, line 7
        W[:, j + 1 :] -= np.outer(err, Hinv[j, j + 1 :])  # Alg. 1, line 8
    out = np.empty_like(Q)
    out[:, perm] = Q
    return out
