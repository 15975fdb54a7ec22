r"""SignRound: learn each weight's rounding offset (and the clipping range) by signed gradient descent on a
block-output reconstruction loss.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/intel/auto-round (`auto_round/data_type/int.py`, `auto_round/wrapper.py`,
`auto_round/algorithms/quantization/sign_round/`); the paper's first version lived in
intel/neural-compressor.

The idea
--------
Round-to-nearest (RTN) rounds every weight independently; which way to round matters for the block's
*output*, not for the weight.  SignRound adds a learnable offset V ∈ [−0.5, 0.5] to every scaled weight
before rounding, and two learnable clipping factors α, β ∈ [0, 1] per output channel that shrink the
min–max range, and tunes them to reproduce the full-precision output of each block:

$$\widetilde W = s\cdot\Big(\operatorname{clip}\big(\big\lfloor \tfrac{W}{s} + V\big\rceil + zp,\; 0,\; 2^{b}-1\big) - zp\Big),
\qquad s = \frac{\alpha\,\max(W, 0) - \beta\,\min(W, 0)}{2^{b}-1},\quad zp = \Big\lfloor -\frac{\beta\min(W,0)}{s}\Big\rceil
\tag{1–2}$$

$$\min_{V,\alpha,\beta}\; \mathcal L = \big\lVert f(X; W) - f(\hat X; \widetilde W)\big\rVert_F^2 \tag{3}$$

($\hat X$: the block's input in the already quantized model, the code's `enable_quanted_input`).
**The gradient.** ⌊·⌉ is differentiated with the straight-through estimator, so inside the code range
$\partial\widetilde W_{ij}/\partial V_{ij} = s_i$ and, for a block $y = \sigma(\hat X\widetilde W^\top + b)$,

$$\frac{\partial\mathcal L}{\partial V_{ij}} = s_i\,\Big[\big(\tfrac{\partial\mathcal L}{\partial y}\odot\sigma'(z)\big)^{\!\top}\hat X\Big]_{ij}
\quad(0 \text{ where the code is clipped}).$$

**The update** is *signed* gradient descent — every parameter moves by exactly ±η_t — with a learning
rate decaying linearly to zero:

$$V \leftarrow \operatorname{clip}\big(V - \eta_t \operatorname{sign}(\nabla_V \mathcal L), -0.5, 0.5\big),\quad
\eta_t = \eta\,(1 - t/T),\quad \eta = 1/T \tag{4}$$

so the total travel of V is at most $\sum_t \eta_t \approx \eta T/2 = 1/2$: one rounding decision, which is why
the sign (not the gradient's magnitude) is all that is needed.  The parameters with the lowest loss seen
during tuning are kept ("best" as in the code).

What is simplified
------------------
The paper tunes transformer decoder blocks of LLMs; here a block is one Linear with the nonlinearity
that follows it (experiment.py).  Quantization is asymmetric per output channel (`group_size=-1`).

Deviations
----------
- V is clipped to [−0.5, 0.5] after every step (the paper's constraint; the code bounds V only through
  lr = 1/T with linear decay, which keeps it in the same box).
- α, β are clipped to [0, 1] after the step (the code clamps min_scale / max_scale to
  `minmax_scale_bound = (0, 1)` before each use, wrapper.py lines 76 and 257–259 — the same box).
- The loss of a step is measured on its own minibatch (the code accumulates over
  `gradient_accumulate_steps`; here one minibatch per step).

Notebook: notebooks/quantization/signround.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor, no_grad
from ....nn import Module, Parameter
from ..quantizers import gptq, hessian, round_ste

CATALOG_ENTRY = {
    "slug": "signround",
    "title": "Optimize Weight Rounding via Signed Gradient Descent for the Quantization of LLMs",
    "authors": "Wenhua Cheng, Weiwei Zhang, Haihao Shen, Yiyang Cai, Xin He, Kaokao Lv, Yi Liu",
    "year": 2023,
    "arxiv": "2309.05516",
    "family": "quantization",
    "notebook": "notebooks/quantization/signround.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in intel/auto-round (commit b9f3d007): quant_tensor_asym (auto_round/data_type/int.py lines "
        "242-298: wmin/wmax clamped around 0, scaled by min_scale/max_scale, s = (wmax − wmin)/maxq, "
        "zp = round_ste(−wmin/s), q = clamp(round_ste(W/s + v) + zp, 0, maxq), s·(q − zp)); min/max scale "
        "initialised to 1 and clamped to minmax_scale_bound (0, 1) (auto_round/wrapper.py lines 76, 189-190, "
        "257-259), V initialised to 0 (lines 184-186); lr = 1/iters (sign_round/config.py line 121), LinearLR from "
        "1 to 0 over iters and best-loss bookkeeping with MSE (sign_round/quantizer.py lines 427-434, 511-515); "
        "the sign step param −= lr·sign(grad) (sign_round/sign_sgd.py, _single_tensor_sgd). Hand cases for "
        "the rounding offset, the clipped grid and the sign step."
    ),
    "summary": (
        "Weight-only post-training quantization that learns, per weight, whether to round up or down (an "
        "offset V ∈ [−0.5, 0.5] added before rounding) and per channel how much to clip, by signed gradient "
        "descent on the block-output reconstruction error with a few hundred calibration samples."
    ),
    "equations": [
        "W̃ = s·(clip(⌊W/s + V⌉ + zp, 0, 2^b − 1) − zp)                         (Eq. 1)",
        "s = (α·max(W,0) − β·min(W,0)) / (2^b − 1),  zp = ⌊−β·min(W,0)/s⌉         (Eq. 2)",
        "min_{V,α,β} ‖f(X; W) − f(X̂; W̃)‖²                                      (Eq. 3)",
        "V ← clip(V − η_t·sign(∇_V L), −0.5, 0.5),  η_t = η(1 − t/T)             (Eq. 4)",
    ],
}


# --- the quantizer, smallest first ----------------------------------------------------------------------
def round_with_offset(W, V, s, zp, qmin: int, qmax: int) -> np.ndarray:
    """s · (clip(round(W/s + V) + zp, q_min, q_max) − zp) (Eq. 1) for given scale and zero point."""
    W, V = np.asarray(W, dtype=np.float64), np.asarray(V, dtype=np.float64)
    s, zp = np.asarray(s, dtype=np.float64), np.asarray(zp, dtype=np.float64)
    if np.any(s <= 0):
        raise ValueError("round_with_offset: the scale `s` must be > 0")
    return s * (np.clip(np.rint(W / s + V) + zp, qmin, qmax) - zp)


def _row_range(W):
    W = np.asarray(W, dtype=np.float64)
    return np.maximum(W.max(axis=1, keepdims=True), 0.0), np.minimum(W.min(axis=1, keepdims=True), 0.0)


def qdq_tensor(W: np.ndarray, V: Tensor, alpha: Tensor, beta: Tensor, bits: int) -> Tensor:
    """Eq. 1–2 as a differentiable function of (V, α, β) (rounding by the STE), W (out, in) fixed;
    α, β have shape (out, 1)."""
    W = np.asarray(W, dtype=V.data.dtype)
    wmax, wmin = _row_range(W)
    wmax, wmin = wmax.astype(W.dtype), wmin.astype(W.dtype)
    qmax = 2**bits - 1
    hi = alpha * wmax
    lo = beta * wmin
    span = hi - lo
    span = ops.maximum(span, np.asarray(1e-12, W.dtype))  # an all-zero row keeps a finite scale
    s = span / float(qmax)  # Eq. 2
    zp = round_ste(-lo / s)  # Eq. 2 (code: round_ste)
    q = ops.clip(round_ste(W / s + V) + zp, 0.0, float(qmax))  # Eq. 1
    return s * (q - zp)


def signround_qdq(W, V, alpha, beta, bits: int) -> np.ndarray:
    """Eq. 1–2 on arrays: the quantized weight for offsets V (out, in) and clip factors α, β (out,) or (out, 1)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"signround_qdq: `W` must be 2-D (out, in), got shape {W.shape}")
    if np.shape(V) != W.shape:
        raise ValueError(f"signround_qdq: `V` must have W's shape {W.shape}, got {np.shape(V)}")
    a = np.asarray(alpha, dtype=np.float64).reshape(-1, 1) * np.ones((W.shape[0], 1))
    b = np.asarray(beta, dtype=np.float64).reshape(-1, 1) * np.ones((W.shape[0], 1))
    with no_grad():
        return qdq_tensor(W, Tensor(np.asarray(V, dtype=np.float64)), Tensor(a), Tensor(b), bits).data


def signsgd_step(param: np.ndarray, grad: np.ndarray, lr: float, lo: float, hi: float) -> np.ndarray:
    """Eq. 4: param − lr·sign(grad), clipped to [lo, hi]."""
    return np.clip(param - lr * np.sign(grad), lo, hi)


def signround(
    W,
    bias,
    X,
    Y,
    bits: int,
    *,
    iters: int = 200,
    lr: float | None = None,
    batch_size: int = 32,
    act=None,
    tune_minmax: bool = True,
    seed: int = 0,
) -> dict:
    """Tune (V, α, β) for one block y = act(X Ŵᵀ + bias) to match the targets Y (Eq. 3) by signed SGD.

    Returns {"W_hat", "V", "alpha", "beta", "best_loss", "losses"} (losses: the loss at every step,
    measured before the step as in the code)."""
    W = np.asarray(W, dtype=np.float64)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if X.shape[1] != W.shape[1] or Y.shape != (X.shape[0], W.shape[0]):
        raise ValueError(
            f"signround: need X (N, {W.shape[1]}) and Y (N, {W.shape[0]}), got X {X.shape}, Y {Y.shape}"
        )
    if iters < 1:
        raise ValueError(f"signround: `iters` must be ≥ 1, got {iters}")
    lr = 1.0 / iters if lr is None else lr
    b = np.zeros(W.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    rng = np.random.default_rng(seed)
    V = np.zeros_like(W)
    alpha = np.ones((W.shape[0], 1))
    beta = np.ones((W.shape[0], 1))
    best = (np.inf, V.copy(), alpha.copy(), beta.copy())
    losses = []
    n = X.shape[0]
    for t in range(iters):
        idx = rng.choice(n, size=min(batch_size, n), replace=False)
        Vt = Tensor(V, requires_grad=True)
        at = Tensor(alpha, requires_grad=tune_minmax)
        bt = Tensor(beta, requires_grad=tune_minmax)
        out = ops.matmul(Tensor(X[idx]), qdq_tensor(W, Vt, at, bt, bits).T) + b
        if act is not None:
            out = act(out)
        loss = ((out - Y[idx]) ** 2).mean()  # Eq. 3 (MSE, as the code)
        lv = float(loss.data)
        losses.append(lv)
        if lv < best[0]:
            best = (lv, V.copy(), alpha.copy(), beta.copy())
        loss.backward()
        eta = lr * (1.0 - t / iters)  # LinearLR(1 → 0)
        V = signsgd_step(V, Vt.grad, eta, -0.5, 0.5)  # Eq. 4
        if tune_minmax:
            alpha = signsgd_step(alpha, at.grad, eta, 0.0, 1.0)
            beta = signsgd_step(beta, bt.grad, eta, 0.0, 1.0)
    _, V, alpha, beta = best
    return {
        "W_hat": signround_qdq(W, V, alpha, beta, bits),
        "V": V,
        "alpha": alpha[:, 0],
        "beta": beta[:, 0],
        "best_loss": best[0],
        "losses": np.array(losses),
    }


# --- baselines on the same grid -------------------------------------------------------------------------
def rtn_asym(W, bits: int) -> np.ndarray:
    """Round to nearest on the same per-channel asymmetric grid (V = 0, α = β = 1)."""
    W = np.asarray(W, dtype=np.float64)
    return signround_qdq(W, np.zeros_like(W), np.ones(W.shape[0]), np.ones(W.shape[0]), bits)


def gptq_asym(W, X, bits: int, percdamp: float = 0.01) -> np.ndarray:
    """GPTQ with the same per-channel asymmetric min–max grid (scale and zero point from the whole row)."""
    W = np.asarray(W, dtype=np.float64)
    wmax, wmin = _row_range(W)
    qmax = 2**bits - 1
    s = np.maximum(wmax - wmin, 1e-12)[:, 0] / qmax
    zp = np.rint(-wmin[:, 0] / s)
    return gptq(
        W, hessian(X), lambda col, j: s * (np.clip(np.rint(col / s) + zp, 0, qmax) - zp), percdamp=percdamp
    )


# --- the parametrization -----------------------------------------------------------------------------------
class SignRoundWeight(Module):
    """A weight parametrization W ↦ W̃(W; V, α, β) (Eq. 1–2) with the rounding offsets V (out, in) and the
    clipping factors α, β (out, 1) as Parameters, initialised to RTN (V = 0, α = β = 1):
    ``register_parametrization(linear, "weight", SignRoundWeight(linear.weight.data.shape, bits))``.
    W itself stays fixed (SignRound tunes only V, α, β); `signsgd_step` is the update of Eq. 4."""

    def __init__(self, shape, bits: int, dtype=np.float64):
        super().__init__()
        out_f, in_f = shape
        self.bits = int(bits)
        self.V = Parameter(np.zeros((out_f, in_f), dtype=dtype))
        self.alpha = Parameter(np.ones((out_f, 1), dtype=dtype))
        self.beta = Parameter(np.ones((out_f, 1), dtype=dtype))

    def forward(self, W):
        return qdq_tensor(W.data if isinstance(W, Tensor) else W, self.V, self.alpha, self.beta, self.bits)
