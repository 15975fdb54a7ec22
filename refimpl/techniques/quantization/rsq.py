r"""RSQ: rotate, scale by token importance, then quantize with GPTQ.

Paper: *RSQ: Learning from Important Tokens Leads to Better Quantized LLMs* — Yi-Lin Sung, Prateek Yadav,
Jialu Li, Jaehong Yoon, Mohit Bansal, 2025.
arXiv: 2503.01820
Official code: github.com/ylsung/rsq (`fake_quant/input_weighting_module.py`, `fake_quant/gptq_utils.py`).

The idea
--------
GPTQ minimises the layer-output error with every calibration token counted equally,
$\lVert (W-\hat W)X\rVert_F^2$, i.e. with the Hessian $H = 2XX^\top$.  RSQ (1) **rotates** each layer's input space
with an orthogonal (randomised Hadamard) matrix R — $Wx = (WR)(R^\top x)$, exact — which spreads outlier channels
over all channels so the rotated weights are easier to quantize; (2) **scales** each token's contribution by
its importance $r_t$, so the objective becomes $\sum_t r_t\lVert (W-\hat W)x_t\rVert^2$ with Hessian

$$H = 2\,X\,\mathrm{diag}(r)\,X^\top ;$$

(3) **quantizes** with GPTQ using that H.  The importance the paper finds best is *attention concentration*
(AttnCon): the total attention a token receives, summed over heads and queries of the layer's attention,
min–max normalised to [r_min, r_max] = [1, 3] (the code's defaults):

$$r_t = \mathrm{norm}_{[1,3]}\Big(\sum_{h}\sum_{q} A^{(h)}_{q,t}\Big).$$

What is simplified
------------------
LLaMA becomes `refimpl.nn.CharTransformerLM` (one pre-norm block, d_model 32) trained briefly on the bundled
text; W3/W4 weight-only, per-output-channel symmetric min–max grids.  The rotation is applied *online* to
each quantized layer's input (Ŵ_eff = Q(WR)·Rᵀ) instead of being fused into the neighbouring layers and
norms (QuaRot/SpinQuant style) — the same quantization problem, without the fusion bookkeeping.  Every
weight site is calibrated on the full-precision model's inputs (not sequentially), and the block's AttnCon
weights all its sites and the head.

Verified: official-code — AttnCon (sum of the attention matrix over heads and over queries, min–max
normalisation to [1, 3]) read in input_weighting_module.py of ylsung/rsq; the weighted Hessian and the
rotation from the paper's description; GPTQ from the family's `quantizers.gptq` (checked against OBQ and
brute force).

Notebook: notebooks/quantization/rsq.ipynb
"""

from __future__ import annotations

import sys

import numpy as np

from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from . import ptq as P
from .quantizers import gptq, hessian

CATALOG_ENTRY = {
    "slug": "rsq",
    "title": "RSQ: Learning from Important Tokens Leads to Better Quantized LLMs",
    "authors": "Yi-Lin Sung, Prateek Yadav, Jialu Li, Jaehong Yoon, Mohit Bansal",
    "year": 2025,
    "arxiv": "2503.01820",
    "family": "quantization",
    "notebook": "notebooks/quantization/rsq.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Attention-concentration token importance (attention summed over heads and queries, min-max "
        "normalised "
        "to [1, 3]) read in fake_quant/input_weighting_module.py of ylsung/rsq; the importance-weighted "
        "Hessian "
        "H = 2X diag(r) Xᵀ and the randomised-Hadamard rotation from the paper's description; GPTQ from the "
        "family base. Rotation applied online per layer instead of fused."
    ),
    "summary": (
        "Rotate each layer's input space with a randomised Hadamard matrix to spread outliers, weight every "
        "calibration token by its importance (the attention it receives) in the layer-wise objective, and "
        "quantize with GPTQ on the resulting weighted Hessian."
    ),
    "equations": [
        "W x = (W R)(Rᵀ x),  R = H_d·diag(±1)/√d  (orthogonal)",
        "min_Ŵ Σ_t r_t ‖(W − Ŵ) x_t‖²  ⇔  H = 2 X diag(r) Xᵀ",
        "r_t = norm_[1,3]( Σ_h Σ_q A^(h)_{q,t} )   (AttnCon)",
        "GPTQ: q_j = quant(w_j);  w_F ← w_F − (w_j − q_j)/[H⁻¹]_jj · [H⁻¹]_{j,F}",
    ],
}


# --- the pieces, smallest first -----------------------------------------------------------------------------
def hadamard(d: int) -> np.ndarray:
    """The Sylvester Hadamard matrix of order d (a power of two), entries ±1."""
    if d < 1 or d & (d - 1):
        raise ValueError(f"hadamard: `d` must be a power of two, got {d}")
    H = np.ones((1, 1))
    while H.shape[0] < d:
        H = np.block([[H, H], [H, -H]])
    return H


def random_hadamard(d: int, seed: int = 0) -> np.ndarray:
    """R = H_d · diag(s) / √d with random signs s: orthogonal (RᵀR = I)."""
    s = np.random.default_rng(seed).choice([-1.0, 1.0], size=d)
    return hadamard(d) * s[None, :] / np.sqrt(d)


def normalize_importance(w, r_min: float = 1.0, r_max: float = 3.0) -> np.ndarray:
    """Min–max normalise to [r_min, r_max] (the code's normalize_weight without quantiles)."""
    w = np.asarray(w, dtype=np.float64)
    span = w.max() - w.min()
    if span <= 0:
        return np.full_like(w, r_min)
    return np.clip((w - w.min()) / span * (r_max - r_min) + r_min, r_min, r_max)


def attention_concentration(attn) -> np.ndarray:
    """AttnCon before normalisation: attention probabilities (N, heads, queries, keys) summed over heads and
    queries, averaged over the batch → (keys,)."""
    attn = np.asarray(attn, dtype=np.float64)
    if attn.ndim != 4:
        raise ValueError(
            f"attention_concentration: `attn` must be (N, heads, queries, keys), got shape {attn.shape}"
        )
    return attn.sum(axis=1).sum(axis=1).mean(axis=0)


def block_attention(block, x) -> np.ndarray:
    """Causal attention probabilities (N, H, T, T) of a pre-norm TransformerBlock on its input x (N, T, d)."""
    mha = block.self_attn
    with no_grad():
        h = block.norm1(x if isinstance(x, Tensor) else Tensor(np.asarray(x))).data.astype(np.float64)
    n, t, e = h.shape
    W = mha.in_proj_weight.data.astype(np.float64)
    b = np.zeros(3 * e) if mha.in_proj_bias is None else mha.in_proj_bias.data.astype(np.float64)
    qkv = h @ W.T + b
    q, k = qkv[..., :e], qkv[..., e : 2 * e]
    hd = mha.head_dim
    q = q.reshape(n, t, mha.num_heads, hd).transpose(0, 2, 1, 3)
    k = k.reshape(n, t, mha.num_heads, hd).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    return p / p.sum(-1, keepdims=True)


def sym_grid_quantizer(W, bits: int):
    """The per-output-channel symmetric min–max grid of W as a column quantizer for GPTQ, and as RTN."""
    W = np.asarray(W, dtype=np.float64)
    qmax = 2 ** (bits - 1) - 1
    s = np.maximum(np.abs(W).max(axis=1), 1e-12) / qmax

    def q(col, j):
        return s * np.clip(np.rint(col / s), -qmax - 1, qmax)

    return q, (s[:, None] * np.clip(np.rint(W / s[:, None]), -qmax - 1, qmax))


def rsq_quantize(
    W, X, bits: int, *, importance=None, rotate: bool = True, seed: int = 0, percdamp: float = 0.01
):
    """Ŵ_eff for one layer: GPTQ of W·R with H = Rᵀ (2 X diag(r) Xᵀ) R, mapped back by Rᵀ (rotate=False: R = I;
    importance=None: r = 1 — plain GPTQ)."""
    W = np.asarray(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(-1, W.shape[1])
    R = random_hadamard(W.shape[1], seed) if rotate else np.eye(W.shape[1])
    Wr = W @ R
    H = hessian(X @ R, importance)  # H = 2 Rᵀ X diag(r) Xᵀ R / Σr
    qfn, _ = sym_grid_quantizer(Wr, bits)
    return gptq(Wr, H, qfn, percdamp=percdamp) @ R.T


def weighted_error(W, W_hat, X, r) -> float:
    """Σ_t r_t ‖(W − Ŵ) x_t‖² / Σ_t r_t ‖W x_t‖²."""
    X = np.asarray(X, np.float64)
    r = np.asarray(r, np.float64)
    E = X @ (np.asarray(W, np.float64) - W_hat).T
    return float((r[:, None] * E**2).sum() / (r[:, None] * (X @ np.asarray(W, np.float64).T) ** 2).sum())


# --- the toy experiment -------------------------------------------------------------------------------------
_LM_CACHE: dict = {}


def trained_char_lm(
    seed: int = 0,
    steps: int = 300,
    block_size: int = 32,
    d_model: int = 32,
    n_layers: int = 2,
    n_heads: int = 2,
    batch_size: int = 32,
    lr: float = 3e-3,
):
    """(model, train_ids, val_ids): a CharTransformerLM trained with Adam on the bundled text (trained once
    per process and cached by its arguments; every call returns a fresh copy)."""
    from ...data import char_dataset, random_windows
    from ...nn import CharTransformerLM
    from ...optim import Adam

    train_ids, val_ids, tok = char_dataset(block_size=block_size)
    key = ("lm", seed, steps, block_size, d_model, n_layers, n_heads, batch_size, lr)

    def make():
        return CharTransformerLM(
            tok.vocab_size,
            block_size,
            d_model=d_model,
            n_layers=n_layers,
            n_heads=n_heads,
            rng=np.random.default_rng(seed),
        )

    if key not in _LM_CACHE:
        model = make()
        opt = Adam(model.parameters(), lr=lr)
        for xb, yb in random_windows(train_ids, block_size, batch_size, rng=seed, num_batches=steps):
            opt.zero_grad()
            model.loss(xb, yb).backward()
            opt.step()
        _LM_CACHE[key] = model.state_dict()
    model = make()  # a fresh copy of the cached trained weights
    model.load_state_dict(_LM_CACHE[key])
    model.eval()
    return model, train_ids, val_ids


def lm_windows(ids, block_size: int, n: int, seed: int = 0):
    """n fixed (x, y) windows of the id stream (evenly spaced starts offset by the seed)."""
    ids = np.asarray(ids)
    span = len(ids) - block_size - 1
    starts = (np.linspace(0, span, n, endpoint=False).astype(np.int64) + seed) % span
    x = np.stack([ids[s : s + block_size] for s in starts])
    y = np.stack([ids[s + 1 : s + block_size + 1] for s in starts])
    return x, y


def lm_perplexity(model, x, y) -> float:
    """exp(mean next-character cross-entropy) of the model on windows (x, y) (eval mode, no graph)."""
    with no_grad():
        return float(np.exp(model.loss(x, y).data))


def _lm(seed, quick):
    return trained_char_lm(
        seed, steps=250 if quick else 600, block_size=32, d_model=32, n_layers=1, n_heads=2, batch_size=16
    )


METHODS = ("rtn", "gptq", "gptq+rot", "rsq")


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """W3/W4 weight-only PTQ of a tiny character LM: RTN vs GPTQ vs GPTQ + rotation vs RSQ (rotation +
    AttnCon-weighted Hessian); validation perplexity and token-weighted layer error."""
    model, train_ids, val_ids = _lm(seed, quick)
    xc, _ = lm_windows(train_ids, 32, 16 if quick else 32, seed)
    xv, yv = lm_windows(val_ids, 32, 64 if quick else 128, seed)
    sites = P.weight_sites(model)
    caps = P.capture_inputs(model, lambda: model(xc), sites)
    # AttnCon of the block from its input (token + position embeddings)
    with no_grad():
        h0 = model.tok_emb(xc) + model.pos_emb(np.arange(xc.shape[1]))
    attn = block_attention(model.blocks[0], h0)  # (N, H, T, T)
    per_seq = attn.sum(axis=1).sum(axis=1)  # (N, T): Σ_h Σ_q
    r = np.concatenate([normalize_importance(w) for w in per_seq])  # normalised per sequence
    metrics = {"ppl_fp": lm_perplexity(model, xv, yv)}
    rows = []
    for bits in (4, 3):
        for method in METHODS:
            Wq = {}
            for n in sites:
                W = P.get_weight(model, n).astype(np.float64)
                if method == "rtn":
                    Wq[n] = sym_grid_quantizer(W, bits)[1]
                else:
                    Wq[n] = rsq_quantize(
                        W,
                        caps[n],
                        bits,
                        importance=r if method == "rsq" else None,
                        rotate=method != "gptq",
                        seed=seed,
                    )
            with P.substituted(model, Wq):
                ppl = lm_perplexity(model, xv, yv)
            werr = float(np.mean([weighted_error(P.get_weight(model, n), Wq[n], caps[n], r) for n in sites]))
            metrics[f"ppl_w{bits}_{method.replace('+', '_')}"] = ppl
            metrics[f"werr_w{bits}_{method.replace('+', '_')}"] = werr
            rows.append({"bits": bits, "method": method, "val_ppl": ppl, "importance_weighted_err": werr})
            if progress:
                print(f"W{bits} {method:9s} ppl {ppl:.3f}  weighted layer error {werr:.4f}", file=sys.stderr)
    holds = (
        all(metrics[f"ppl_w{b}_gptq"] < metrics[f"ppl_w{b}_rtn"] for b in (3, 4))
        and metrics["ppl_w3_rsq"] <= metrics["ppl_w3_gptq"]
    )
    statement = (
        "GPTQ beats round-to-nearest at W3 and W4, and RSQ (rotation + attention-concentration token "
        "weighting) reaches a W3 perplexity at least as low as plain GPTQ. At toy scale the second part is a "
        "coin toss across seeds: the tiny LM has no outlier channels for the rotation to spread, and its "
        "differences between GPTQ variants are within ±0.5 % perplexity"
    )
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {"statement": statement, "holds": bool(holds)},
        "importance": per_seq[0],
    }


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    m = result["metrics"]
    for i, bits in enumerate((4, 3)):
        axes[0].bar(
            np.arange(len(METHODS)) + 0.4 * i,
            [m[f"ppl_w{bits}_{k.replace('+', '_')}"] for k in METHODS],
            width=0.4,
            label=f"W{bits}",
        )
    axes[0].axhline(m["ppl_fp"], color="k", ls="--", lw=1, label="full precision")
    axes[0].set_xticks(np.arange(len(METHODS)) + 0.2, METHODS)
    axes[0].set(ylabel="validation perplexity", title="tiny char LM")
    axes[0].legend(fontsize=8)
    axes[1].bar(range(len(result["importance"])), result["importance"], color="C2")
    axes[1].set(
        xlabel="token position", ylabel="Σ attention received", title="attention concentration (one window)"
    )
    fig.tight_layout()
    return {"rsq": fig}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="gptq_two_columns",
            inputs={"W": [[0.3, 0.2]], "H": [[2.0, 1.0], [1.0, 2.0]], "step": 0.5},
            expected={"Q": [[0.5, 0.0]]},
            compute=lambda W, H, step: {
                "Q": gptq(np.asarray(W), np.asarray(H), lambda c, j: np.rint(c / step) * step, percdamp=0.0)
            },
            note="By hand (catalogue): H⁻¹ = (1/3)[[2, −1], [−1, 2]]; q₁ = 0.5; w₂ ← w₂ − (w₁ − "
            "q₁)·H⁻¹₁₂/H⁻¹₁₁ = "
            "0.2 + 0.5·(0.3 − 0.5) = 0.1 → q₂ = 0.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="hadamard_is_orthogonal_and_preserves_wx",
            inputs={"d": 4, "seed": 0},
            expected={"RtR": np.eye(4), "H4": [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]},
            compute=lambda d, seed: {
                "RtR": random_hadamard(d, seed).T @ random_hadamard(d, seed),
                "H4": hadamard(d),
            },
            note="By hand: Sylvester H₄ = [[H₂, H₂], [H₂, −H₂]]; RᵀR = I for R = H·diag(±1)/2, so "
            "(WR)(Rᵀx) = Wx.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="attncon",
            inputs={"attn": [[[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]]]},
            expected={"raw": [1.7, 0.8, 0.5], "r": [3.0, 1.0 + 2.0 * 0.3 / 1.2, 1.0]},
            compute=lambda attn: {
                "raw": attention_concentration(attn),
                "r": normalize_importance(attention_concentration(attn)),
            },
            note="By hand: column sums of the causal attention matrix = [1 + 0.5 + 0.2, 0.5 + 0.3, "
            "0.5]; min–max to "
            "[1, 3]: (0.8 − 0.5)/1.2·2 + 1 = 1.5.",
            atol=1e-12,
        ),
    ]
