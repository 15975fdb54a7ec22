r"""SignRound: learn each weight's rounding offset (and the clipping range) by signed gradient descent on a
block-output reconstruction loss.

Paper: *Optimize Weight Rounding via Signed Gradient Descent for the Quantization of LLMs* — Wenhua Cheng,
Weiwei Zhang, Haihao Shen, Yiyang Cai, Xin He, Kaokao Lv, Yi Liu (Intel), 2023.
arXiv: 2309.05516
Official code: intel/neural-compressor (`examples/.../quantization/autoround/signround.py`), later
intel/auto-round.

The idea
--------
Round-to-nearest (RTN) rounds every weight independently; which way to round matters for the layer's
*output*, not for the weight.  SignRound adds a learnable offset V ∈ [−0.5, 0.5] to every scaled weight
before rounding, and two learnable clipping factors α, β ∈ [0, 1] per output channel (per group) that
shrink the min–max range, and tunes them to reproduce the full-precision output of each block on a few
hundred calibration samples.  The optimizer is *signed* gradient descent — each step moves every
parameter by exactly ±lr — with a linearly decaying lr, so the total travel of V is bounded by the
sum of step sizes (lr = 1/T moves V by at most 1/2 over T steps: one rounding decision).

$$\widetilde W = s\cdot\Big(\operatorname{clip}\big(\big\lfloor \tfrac{W}{s} + V\big\rceil + zp,\; 0,\; 2^{b}-1\big) - zp\Big),
\qquad s = \frac{\alpha\,\max(W, 0) - \beta\,\min(W, 0)}{2^{b}-1},\quad zp = \Big\lfloor -\frac{\beta\min(W,0)}{s}\Big\rceil
\tag{1–2}$$

$$\min_{V,\alpha,\beta}\; \big\lVert f(X; W) - f(X; \widetilde W)\big\rVert_F^2 \tag{3}$$

$$V \leftarrow \operatorname{clip}\big(V - \eta_t \operatorname{sign}(\nabla_V \mathcal L), -0.5, 0.5\big),\quad
\eta_t = \eta\,(1 - t/T) \tag{4}$$

Rounding inside the loss is differentiated with the straight-through estimator (Eq. 3 of the paper uses
⌊·⌉ with STE).  The parameters with the lowest loss seen during tuning are kept ("best" as in the code).

What is simplified
------------------
The paper tunes transformer decoder blocks of LLMs (OPT, LLaMA, BLOOM).  Here a "block" is one Linear
layer with the activation that follows it in a 3-layer ReLU MLP trained on the 8×8 digits; blocks are
quantized in order, each fed the outputs of the already quantized blocks (the code's `use_quant_input`)
and matched to the full-precision block output on the same calibration samples.  128 calibration
samples, minibatch 32 per step, T = 200 steps (60 in quick mode), η = 1/T for V and for α, β.
Quantization is asymmetric per output channel (`group_size=-1` in the code).

Deviations
----------
- V is clipped to [−0.5, 0.5] after every step (the paper's constraint; the code bounds V implicitly
  through lr = 1/T with linear decay — the same box is then never left).
- α, β are parameterised directly (the code learns min_scale, max_scale ∈ [−1, 0] with α = 1 + max_scale,
  β = 1 + min_scale — the same thing).

Verified: official-code — Eq. 1–4 and the tuning loop (signed SGD, LinearLR to 0, best-loss bookkeeping,
per-channel asymmetric `quant_weight_asym` with the min/max scale factors clamped to [−1, 0], rounding of
the zero point with the STE) read in signround.py of intel/neural-compressor; the catalogue's hand
example and the asymmetric grid checked by hand (reference cases).

Notebook: notebooks/quantization/signround.ipynb
"""

from __future__ import annotations

import sys

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from . import ptq as P
from .quantizers import gptq, hessian, round_ste

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
        "Quantizer (asymmetric per channel, rounding offset V added before rounding, min/max scale factors "
        "clamped to [−1, 0] i.e. α, β ∈ [0, 1], zero point rounded with the STE), signed SGD with LinearLR "
        "to zero, lr = 1/iters budget and best-loss bookkeeping read in signround.py of "
        "intel/neural-compressor "
        "(examples/pytorch/nlp/huggingface_models/language-modeling/quantization/autoround); hand cases for "
        "the rounding offset and the clipped grid."
    ),
    "summary": (
        "Weight-only post-training quantization that learns, per weight, whether to round up or down (an "
        "offset V ∈ [−0.5, 0.5] added before rounding) and per channel how much to clip, by signed gradient "
        "descent on the block-output reconstruction error with a few hundred calibration samples."
    ),
    "equations": [
        "W̃ = s·(clip(⌊W/s + V⌉ + zp, 0, 2^b − 1) − zp)                         (Eq. 1)",
        "s = (α·max(W,0) − β·min(W,0)) / (2^b − 1),  zp = ⌊−β·min(W,0)/s⌉         (Eq. 2)",
        "min_{V,α,β} ‖f(X; W) − f(X; W̃)‖²                                      (Eq. 3)",
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


# --- the toy experiment -----------------------------------------------------------------------------------
def sequential_quantize(model, run, method, names=None) -> dict:
    """Quantize the weight sites one after another, each seeing the inputs produced by the model whose
    earlier sites are already quantized (GPTQ's and SignRound's sequential protocol).

    `run()` is the calibration forward pass; `method(name, W, X_q, X_fp)` returns Ŵ, where X_q is the
    site's input in the partially quantized model and X_fp its input in the full-precision model.
    Returns {name: Ŵ} (apply with `ptq.substituted`)."""
    names = P.weight_sites(model) if names is None else list(names)
    x_fp = P.capture_inputs(model, run, names)
    done: dict = {}
    for name in names:
        with P.substituted(model, done):
            x_q = P.capture_inputs(model, run, [name])[name]
        done[name] = np.asarray(method(name, P.get_weight(model, name), x_q, x_fp[name]))
    return done


def _relu(t):
    return t.relu()


def quantize_mlp(model, X_calib, bits: int, method: str, *, iters: int = 200, seed: int = 0) -> dict:
    """{site: Ŵ} for the MLP with method ∈ {"rtn", "gptq", "signround"} (sequential, quantized inputs)."""
    names = P.weight_sites(model)
    if method == "rtn":
        return {n: rtn_asym(P.get_weight(model, n), bits) for n in names}

    def run():
        return model(Tensor(X_calib))

    x_fp = P.capture_inputs(model, run, names)

    def method_fn(name, W, X_q, X_fp):
        if method == "gptq":
            return gptq_asym(W, X_q, bits)
        layer = model.get_submodule(name)
        last = name == names[-1]
        Y = X_fp @ np.asarray(W, np.float64).T + layer.bias.data
        Y = Y if last else np.maximum(Y, 0.0)
        return signround(
            W, layer.bias.data, X_q, Y, bits, iters=iters, act=None if last else _relu, seed=seed
        )["W_hat"]

    if method not in ("gptq", "signround"):
        raise ValueError(f"quantize_mlp: `method` must be 'rtn', 'gptq' or 'signround', got {method!r}")
    del x_fp
    return sequential_quantize(model, run, method_fn, names)


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """W4/W3/W2 weight-only PTQ of a digits MLP: RTN vs GPTQ vs SignRound (accuracy, layer error)."""
    model, split = P.trained_digits_mlp(seed)
    X_calib = P.calibration_split(split, 128, seed)
    names = P.weight_sites(model)
    x_test = P.capture_inputs(model, lambda: model(Tensor(split.x_test)), names)  # held-out layer inputs
    acc_fp = P.accuracy(model, split.x_test, split.y_test)
    bit_list = (4, 3, 2)
    iters = 60 if quick else 200
    rows, metrics = [], {"acc_fp": acc_fp}
    for bits in bit_list:
        for method in ("rtn", "gptq", "signround"):
            Wq = quantize_mlp(model, X_calib, bits, method, iters=iters, seed=seed)
            with P.substituted(model, Wq):
                acc = P.accuracy(model, split.x_test, split.y_test)
            err = float(
                np.mean([P.reconstruction_error(P.get_weight(model, n), Wq[n], x_test[n]) for n in names])
            )
            rows.append({"bits": bits, "method": method, "test_acc": acc, "layer_rel_err": err})
            metrics[f"acc_w{bits}_{method}"] = acc
            metrics[f"err_w{bits}_{method}"] = err
            if progress:
                print(f"W{bits} {method:9s} acc {acc:.4f}  layer error {err:.4f}", file=sys.stderr)
    holds = (
        all(metrics[f"err_w{b}_signround"] < metrics[f"err_w{b}_rtn"] for b in bit_list)
        and metrics["acc_w2_signround"] > metrics["acc_w2_rtn"]
    )
    statement = (
        "SignRound's tuned rounding lowers the held-out layer-output error below round-to-nearest at W4, "
        "W3 and W2, and at W2 (where RTN loses accuracy) recovers test accuracy above RTN's"
    )
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {"statement": statement, "holds": bool(holds)},
        "bits": list(bit_list),
    }


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    bits = result["bits"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for method, marker in (("rtn", "o"), ("gptq", "s"), ("signround", "^")):
        m = result["metrics"]
        axes[0].plot(bits, [m[f"acc_w{b}_{method}"] for b in bits], marker=marker, label=method)
        axes[1].plot(bits, [m[f"err_w{b}_{method}"] for b in bits], marker=marker, label=method)
    axes[0].axhline(result["metrics"]["acc_fp"], color="k", ls="--", lw=1, label="full precision")
    axes[0].set(xlabel="weight bits", ylabel="test accuracy", title="accuracy")
    axes[1].set(
        xlabel="weight bits",
        ylabel="relative layer-output error",
        title="layer error (held-out)",
        yscale="log",
    )
    for ax in axes:
        ax.invert_xaxis()
        ax.legend(fontsize=8)
    fig.tight_layout()
    return {"signround": fig}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="rounding_offset_flips_rounding",
            inputs={"W": [[0.26, -0.74]], "V": [[-0.1, -0.1]], "s": 0.5, "zp": 0.0, "qmin": -2, "qmax": 1},
            expected={"rtn": [[0.5, -0.5]], "with_v": [[0.0, -1.0]]},
            compute=lambda W, V, s, zp, qmin, qmax: {
                "rtn": round_with_offset(W, np.zeros_like(np.asarray(W)), s, zp, qmin, qmax),
                "with_v": round_with_offset(W, V, s, zp, qmin, qmax),
            },
            note="By hand: W/s = [0.52, −1.48] rounds to [1, −1] → [0.5, −0.5]; with V = −0.1: [0.42, "
            "−1.58] → "
            "[0, −2] → [0, −1.0] (catalogue example).",
        ),
        ReferenceCase(
            name="asymmetric_grid_with_clipping",
            inputs={"W": [[-0.3, 0.1, 0.9]], "bits": 2},
            expected={"alpha1": [[-0.4, 0.0, 0.8]], "alpha05": [[-0.25, 0.0, 0.5]]},
            compute=lambda W, bits: {
                "alpha1": signround_qdq(W, np.zeros((1, 3)), [1.0], [1.0], bits),
                "alpha05": signround_qdq(W, np.zeros((1, 3)), [0.5], [1.0], bits),
            },
            note="By hand: α=β=1: s = 1.2/3 = 0.4, zp = round(0.75) = 1, W/s = [−0.75, 0.25, 2.25] → "
            "[−1, 0, 2] "
            "+ 1 → codes [0, 1, 3] → s(code − 1) = [−0.4, 0, 0.8]; α = 0.5: s = 0.75/3 = 0.25, zp = "
            "round(1.2) = 1, W/s = [−1.2, 0.4, 3.6] → [−1, 0, 4] + 1 → clip → [0, 1, 3] → [−0.25, 0, 0.5].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="signsgd_step_moves_by_lr",
            inputs={"V": [0.0, 0.2, -0.45, 0.3], "g": [3.0, -0.001, 2.0, 0.0], "lr": 0.1},
            expected={"V_new": [-0.1, 0.3, -0.5, 0.3]},
            compute=lambda V, g, lr: {"V_new": signsgd_step(np.asarray(V), np.asarray(g), lr, -0.5, 0.5)},
            note="By hand: each entry moves by exactly −lr·sign(g) (0 where g = 0), then clip to [−0.5, 0.5] "
            "(−0.45 − 0.1 → −0.5).",
            atol=1e-12,
        ),
    ]
