r"""I&S-ViT: the shift-uniform-log2 quantizer (SULQ) for post-softmax activations, and the three-stage
smooth optimisation strategy (SOS) that moves post-LayerNorm activation quantizers from channel-wise to
layer-wise while reconstructing each block.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/zysxmu/IaS-ViT (read at commit 9300cea: `test_quant.py`, `quant/quantizer.py`,
`quant/block_recon.py`, `quant/quant_modules.py`; lines cited below).

The idea
--------
**SULQ.**  Post-softmax attention probabilities lie in [0, 1], mostly tiny with a few large values.  A
log2 quantizer has fine resolution near 0 but cannot reach 1 well with few levels, a uniform one wastes
its levels on the empty top.  SULQ shifts before the logarithm and quantizes the log *uniformly* over its
observed range (quantizer.py, `LogSqrt2Quantizer`, l. 178–250):

$$y = \log_2(x + \eta),\qquad \Delta = \frac{\max y - \min y}{2^b - 1},\qquad
k = \mathrm{clip}\Big(\Big\lfloor \frac{y - \min y}{\Delta}\Big\rceil, 0, 2^b-1\Big),\qquad
\hat x = 2^{\lfloor k\Delta + \min y\rceil} - \eta ,$$

with the shift η chosen from a grid by the quantization MSE.

**Smooth optimisation (SOS), three stages** (test_quant.py l. 105–248).  Post-LayerNorm activations vary
strongly across channels: a channel-wise quantizer (scales s_c, integer zero points z_c) is accurate but
not hardware friendly, a layer-wise one is cheap but makes the reconstruction loss rugged.
  *Stage 1* (l. 105–176): activations quantized — the post-LN inputs of qkv and fc1 channel-wise —
  weights in full precision; each block is reconstructed: its Linear weights and biases are trained with
  Adam and a cosine schedule to match the full-precision block output, the LayerNorm affine and every
  quantizer's parameters frozen (block_recon.py l. 8–66).
  *Stage 2* (l. 179–225): the channel-wise quantizers are folded exactly into layer-wise ones
  (s̃ = mean s_c, z̃ = round(mean z_c), r_c = s_c/s̃):

$$\gamma'_c = \gamma_c/r_c,\quad \beta'_c = \beta_c/r_c + \tilde s(z_c - \tilde z),\qquad
W' = W\,\mathrm{diag}(r),\quad b' = b - W\big(s\odot(z - \tilde z)\big),$$

  so that $W'\,Q_{\tilde s,\tilde z}(\mathrm{LN}'(x)) + b' = W\,Q_{s,z}(\mathrm{LN}(x)) + b$ (same integer codes:
  $u'_c/\tilde s + \tilde z = u_c/s_c + z_c$).
  *Stage 3* (l. 229–248): weight quantizers initialised on the folded weights and switched on, the
  blocks reconstructed again with layer-wise activations.
The ablation without SOS quantizes layer-wise from the start and reconstructs with weights quantized for
the same total number of steps (`layerwise_from_scratch`).

Conventions and deviations
--------------------------
- Reconstruction loss: the mean squared error of the block output (the code's lp_loss sums over tokens
  and averages over the rest, a constant factor).  Adam with the cosine schedule as block_recon.py
  l. 32–33; the step size is validated on the toy (the code's 4e−5 is for ImageNet-scale ViTs).
- Every quantizer passes the gradient straight through (identity), weights included; the code's
  round_ste also passes identity inside the range and min–max initialised grids clip nothing at start.
- Activation quantizers are initialised on full-precision activations of the calibration set, not
  sequentially through already quantized layers; z̃ is rounded so that the folding is exact (the code
  keeps the mean of the zero points, l. 205).
- Post-GELU and proj inputs use a layer-wise uniform quantizer; the patch embedding and the head stay in
  full precision (the code reconstructs them as single layers).
- The official forward pass of SULQ uses Δ = range/2^b with codes clipped to [0, 2^b] (2^b + 1 levels)
  while its calibration uses Δ = range/(2^b − 1) and [0, 2^b − 1]; we use the calibration's 2^b levels
  throughout so b bits mean b bits.

Notebook: notebooks/quantization/is-vit-sulq.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.function import straight_through
from ....autograd.tensor import Tensor, no_grad
from ....nn import functional as F
from ..quantizers import fake_quant_numpy, quant_params

CATALOG_ENTRY = {
    "slug": "is-vit-sulq",
    "title": "I&S-ViT: An Inclusive & Stable Method for Pushing the Limit of Post-Training ViTs Quantization",
    "authors": "Yunshan Zhong, Jiawei Hu, Mingbao Lin, Mengzhao Chen, Rongrong Ji",
    "year": 2023,
    "arxiv": "2311.10126",
    "family": "quantization",
    "notebook": "notebooks/quantization/is-vit-sulq.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in zysxmu/IaS-ViT (commit 9300cea): SULQ = LogSqrt2Quantizer in quant/quantizer.py l. 178-250 "
        "(η grid, log2 of the shifted input, uniform grid over [min, max] of the log, rounded exponent, MSE "
        "selection; the code's forward uses 2^b + 1 levels, we keep the calibration's 2^b); the three SOS "
        "stages in test_quant.py l. 105-248 (stage 1 channel-wise activations with FP weights and block "
        "reconstruction, stage 2 folding of the channel-wise scales into LayerNorm and the next Linear, "
        "stage 3 weight quantization and reconstruction again); block reconstruction in "
        "quant/block_recon.py l. 8-66 (Adam + cosine on the block's weights and biases, LayerNorm and "
        "quantizer parameters frozen, output MSE). Folding checked exactly (z̃ rounded; the code keeps the "
        "mean zero point). The paper's PDF was not re-read."
    ),
    "summary": (
        "Post-training ViT quantization: shift-uniform-log2 quantization of post-softmax activations, and a "
        "three-stage smooth optimisation — block reconstruction with channel-wise post-LayerNorm "
        "quantizers, an exact fold into layer-wise ones, then reconstruction with quantized weights."
    ),
    "equations": [
        "y = log2(x + η),  Δ = (max y − min y)/(2^b − 1),  k = clip(round((y − min y)/Δ), 0, 2^b − 1)",
        "x̂ = 2^round(kΔ + min y) − η;   η* = argmin_η ‖x − x̂‖²",
        "γ'_c = γ_c/r_c,  β'_c = β_c/r_c + s̃(z_c − z̃),  r_c = s_c/s̃",
        "W' = W diag(r),  b' = b − W(s ⊙ (z − z̃))",
        "stage k: min_{W,b} ‖Block_Q(H; W, b) − Block(H)‖²  (1: A channel-wise, W fp; 3: A layer-wise, W q)",
    ],
}

ETA_GRID = (0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2, 0.5, 1.0)


# --- the quantizers -----------------------------------------------------------------------------------------
def sulq(x, bits: int, eta: float, minv=None, maxv=None) -> np.ndarray:
    """Shift-uniform-log2 quantization of x (x + η > 0); [minv, maxv] default to the range of log2(x + η)."""
    x = np.asarray(x, dtype=np.float64)
    if bits < 1:
        raise ValueError(f"sulq: `bits` must be ≥ 1, got {bits}")
    if np.any(x + eta <= 0):
        raise ValueError(f"sulq: need x + η > 0 everywhere (η = {eta}, min x = {x.min()})")
    y = np.log2(x + eta)  # SULQ: shift, then log2 (quantizer.py l. 204–205)
    lo = y.min() if minv is None else minv
    hi = y.max() if maxv is None else maxv
    levels = 2**bits
    delta = (hi - lo) / (levels - 1) if hi > lo else 1.0  # SULQ: uniform grid over [min y, max y]
    k = np.clip(np.rint((y - lo) / delta), 0, levels - 1)  # SULQ: integer code k
    return np.exp2(np.rint(k * delta + lo)) - eta  # SULQ: x̂ = 2^round(kΔ + min y) − η


def sulq_search(x, bits: int, etas=ETA_GRID) -> tuple:
    """η* = argmin over the grid of mean (x − SULQ_η(x))² (η with x + η ≤ 0 somewhere are skipped).
    Returns (η*, x̂, errors per η)."""
    x = np.asarray(x, dtype=np.float64)
    errs = []
    best = (None, None, np.inf)
    for eta in etas:
        if np.any(x + eta <= 0):
            errs.append(np.inf)
            continue
        q = sulq(x, bits, eta)
        e = float(np.mean((x - q) ** 2))
        errs.append(e)
        if e < best[2]:
            best = (eta, q, e)
    if best[0] is None:
        raise ValueError("sulq_search: no η in the grid makes x + η positive")
    return best[0], best[1], np.array(errs)


def log2_quant(x, bits: int) -> np.ndarray:
    """The plain log2 quantizer for x ∈ [0, 1]: 2^{−k}, k ∈ {0, …, 2^b − 2}, and 0 (one code) — rounding in the
    log domain."""
    x = np.asarray(x, dtype=np.float64)
    kmax = 2**bits - 2
    with np.errstate(divide="ignore"):
        k = np.rint(-np.log2(np.maximum(x, 1e-300)))
    return np.where(k > kmax, 0.0, np.exp2(-np.clip(k, 0, kmax)))


def uniform_quant(x, bits: int) -> np.ndarray:
    """Asymmetric min–max uniform quantization (per tensor)."""
    return fake_quant_numpy(
        np.asarray(x, np.float64), quant_params(np.asarray(x, np.float64), bits, symmetric=False)
    )


# --- stage 2: channel-wise → layer-wise reparameterisation --------------------------------------------------
def channel_qparams(x2d, bits: int) -> tuple:
    """Per-channel (last axis) asymmetric min–max (s_c, z_c) with integer z_c."""
    x2d = np.asarray(x2d, dtype=np.float64).reshape(-1, np.shape(x2d)[-1])
    qp = quant_params(x2d, bits, symmetric=False, granularity="channel", axis=-1)
    return qp.scale.reshape(-1), qp.zero_point.reshape(-1)


def reparameterize(gamma, beta, W, b, s, z) -> dict:
    """Fold channel-wise (s, z) into the LayerNorm affine and the next Linear (W: (out, C)); returns
    {"gamma", "beta", "W", "b", "s_layer", "z_layer"} with s̃ = mean s, z̃ = round(mean z)."""
    s, z = np.asarray(s, np.float64), np.asarray(z, np.float64)
    s_t, z_t = float(s.mean()), float(np.rint(z.mean()))
    r = s / s_t
    return {
        "gamma": np.asarray(gamma) / r,  # stage 2: γ′ = γ/r
        "beta": np.asarray(beta) / r + s_t * (z - z_t),  # stage 2: β′ = β/r + s̃(z − z̃)
        "W": np.asarray(W) * r[None, :],  # stage 2: W′ = W diag(r)
        "b": np.asarray(b) - np.asarray(W) @ (s * (z - z_t)),  # stage 2: b′ = b − W(s ⊙ (z − z̃))
        "s_layer": s_t,
        "z_layer": z_t,
    }


def _q(x, s, z, bits):
    return (np.clip(np.rint(x / s) + z, 0, 2**bits - 1) - z) * s


# --- the quantized pre-norm transformer block ---------------------------------------------------------------
LINEARS = ("qkv", "proj", "fc1", "fc2")
POST_LN = {"qkv": "ln1", "fc1": "ln2"}  # the Linears whose inputs are post-LayerNorm activations


def weight_qparams(W, bits: int) -> tuple:
    """Per-output-row asymmetric min–max (s, z) of W (out, in), integer z, shapes (out, 1)."""
    W = np.asarray(W, np.float64)
    lo, hi = np.minimum(W.min(1, keepdims=True), 0.0), np.maximum(W.max(1, keepdims=True), 0.0)
    s = np.maximum(hi - lo, 1e-12) / (2**bits - 1)
    return s, np.rint(-lo / s)


def block_forward(p: dict, h: Tensor, qc: dict | None = None, heads: int = 2, record: dict | None = None):
    """One pre-norm block: h + proj(softmax(QKᵀ/√d_h) V), then + fc2(GELU(fc1(LN2(·)))).

    p holds Tensors "ln1_g", "ln1_b", "ln2_g", "ln2_b" and "<lin>_W", "<lin>_b" for lin in LINEARS.
    qc (None: full precision) may hold "a_bits"; "<lin>_in" = (s, z) of that Linear's input quantizer
    (per tensor or per channel); "softmax" = (η, min y, max y) of SULQ; "w_bits" and "w" = {lin: (s, z)} of
    the weight quantizers.  Every quantizer is fake quantization with a straight-through gradient.
    `record`, if given, collects the inputs of every Linear and the attention probabilities (arrays)."""
    qc = qc or {}
    n, T, d = h.shape

    def lin(name, x):
        if record is not None:
            record[name + "_in"] = x.data.copy()
        if name + "_in" in qc:
            s, z = qc[name + "_in"]
            x = straight_through(x, _q(x.data, s, z, qc["a_bits"]))
        W = p[name + "_W"]
        if "w" in qc:
            s, z = qc["w"][name]
            W = straight_through(W, _q(W.data, s, z, qc["w_bits"]))
        return F.linear(x, W, p[name + "_b"])

    a = F.layer_norm(h, (d,), p["ln1_g"], p["ln1_b"])
    qkv = ops.permute(ops.reshape(lin("qkv", a), (n, T, 3, heads, d // heads)), (2, 0, 3, 1, 4))
    q, k, v = qkv[0], qkv[1], qkv[2]
    P = F.softmax(ops.matmul(q, ops.transpose(k, -1, -2)) * (1.0 / np.sqrt(d // heads)), dim=-1)
    if record is not None:
        record["softmax"] = P.data.copy()
    if "softmax" in qc:
        eta, lo, hi = qc["softmax"]
        P = straight_through(P, sulq(np.clip(P.data, 0.0, 1.0), qc["a_bits"], eta, lo, hi))
    o = ops.reshape(ops.permute(ops.matmul(P, v), (0, 2, 1, 3)), (n, T, d))
    h = h + lin("proj", o)
    m = F.layer_norm(h, (d,), p["ln2_g"], p["ln2_b"])
    return h + lin("fc2", F.gelu(lin("fc1", m)))


def _arrays(p: dict) -> dict:
    return {k: np.asarray(v.data if isinstance(v, Tensor) else v, np.float64).copy() for k, v in p.items()}


def calibrate_activations(p: dict, H, a_bits: int, *, channel_wise_post_ln: bool) -> dict:
    """Initial activation quantizers from the full-precision block on calibration inputs H (n, T, d):
    min–max per tensor (per channel for the post-LN inputs when `channel_wise_post_ln`), SULQ's η by
    the grid search and its log range on the attention probabilities."""
    rec: dict = {}
    with no_grad():
        block_forward(
            {k: Tensor(v) for k, v in _arrays(p).items()}, Tensor(np.asarray(H, np.float64)), None, record=rec
        )
    qc = {"a_bits": a_bits}
    for name in LINEARS:
        x = rec[name + "_in"].reshape(-1, rec[name + "_in"].shape[-1])
        if channel_wise_post_ln and name in POST_LN:
            qc[name + "_in"] = channel_qparams(x, a_bits)  # stage 1: channel-wise
        else:
            qp = quant_params(x, a_bits, symmetric=False)
            qc[name + "_in"] = (float(qp.scale.item()), float(qp.zero_point.item()))
    eta, _, _ = sulq_search(rec["softmax"], a_bits)
    y = np.log2(rec["softmax"] + eta)
    qc["softmax"] = (float(eta), float(y.min()), float(y.max()))
    return qc


def with_weight_quantizers(p: dict, qc: dict, w_bits: int) -> dict:
    """qc plus per-row min–max weight quantizers initialised on the current weights (test_quant.py
    l. 225 and 229–236: re-initialised after the fold)."""
    arr = _arrays(p)
    return {**qc, "w_bits": w_bits, "w": {n: weight_qparams(arr[n + "_W"], w_bits) for n in LINEARS}}


def reconstruct_block(p: dict, H, Y, qc: dict, *, iters: int, lr: float, batch_size: int = 32, seed: int = 0):
    """Block reconstruction (block_recon.py l. 8–66): Adam with a cosine-annealed step on the Linear weights
    and biases only, minimising the MSE between the quantized block's output and the full-precision
    output Y on calibration inputs H.  Returns new parameter arrays."""
    from ....optim import Adam

    arr = _arrays(p)
    t = {k: Tensor(v, requires_grad=k.split("_")[0] in LINEARS) for k, v in arr.items()}
    train = [t[f"{n}_{x}"] for n in LINEARS for x in ("W", "b")]
    opt = Adam(train, lr=lr)
    H, Y = np.asarray(H, np.float64), np.asarray(Y, np.float64)
    rng = np.random.default_rng(seed)
    for it in range(iters):
        opt.param_groups[0]["lr"] = 0.5 * lr * (1 + np.cos(np.pi * it / iters))  # cosine to 0
        idx = rng.choice(len(H), size=min(batch_size, len(H)), replace=False)
        opt.zero_grad()
        ((block_forward(t, Tensor(H[idx]), qc) - Tensor(Y[idx])) ** 2).mean().backward()  # stages 1, 3
        opt.step()
    return {k: v.data.copy() for k, v in t.items()}


def fold_channel_wise(p: dict, qc: dict) -> tuple:
    """Stage 2: fold every post-LN channel-wise input quantizer into its LayerNorm and Linear
    (`reparameterize`); returns (parameters, quantizer config) computing the same function layer-wise."""
    arr, qc = _arrays(p), dict(qc)
    for lin, ln in POST_LN.items():
        s, z = qc[lin + "_in"]
        rp = reparameterize(arr[ln + "_g"], arr[ln + "_b"], arr[lin + "_W"], arr[lin + "_b"], s, z)
        arr[ln + "_g"], arr[ln + "_b"], arr[lin + "_W"], arr[lin + "_b"] = (
            rp["gamma"],
            rp["beta"],
            rp["W"],
            rp["b"],
        )
        qc[lin + "_in"] = (rp["s_layer"], rp["z_layer"])
    return arr, qc


def smooth_optimization(p: dict, H, Y, *, w_bits: int, a_bits: int, iters: tuple, lr: float, seed: int = 0):
    """SOS: stage 1 (channel-wise post-LN activations, FP weights, reconstruct `iters[0]` steps), stage 2
    (exact fold to layer-wise), stage 3 (weights quantized, reconstruct `iters[1]` steps).  Returns
    (parameters, quantizer config, {"stage1": (p, qc), "stage2": (p, qc)})."""
    qc1 = calibrate_activations(p, H, a_bits, channel_wise_post_ln=True)
    p1 = reconstruct_block(p, H, Y, qc1, iters=iters[0], lr=lr, seed=seed)
    p2, qc2 = fold_channel_wise(p1, qc1)
    qc3 = with_weight_quantizers(p2, qc2, w_bits)
    p3 = reconstruct_block(p2, H, Y, qc3, iters=iters[1], lr=lr, seed=seed + 1)
    return p3, qc3, {"stage1": (p1, qc1), "stage2": (p2, qc2)}


def layerwise_from_scratch(p: dict, H, Y, *, w_bits: int, a_bits: int, iters: int, lr: float, seed: int = 0):
    """The ablation without SOS: layer-wise activation and weight quantizers from the start, one
    reconstruction of `iters` steps.  Returns (parameters, quantizer config)."""
    qc = with_weight_quantizers(p, calibrate_activations(p, H, a_bits, channel_wise_post_ln=False), w_bits)
    return reconstruct_block(p, H, Y, qc, iters=iters, lr=lr, seed=seed), qc


def block_output(p: dict, H, qc: dict | None = None) -> np.ndarray:
    with no_grad():
        return block_forward(
            {k: Tensor(v) for k, v in _arrays(p).items()}, Tensor(np.asarray(H, np.float64)), qc
        ).data
