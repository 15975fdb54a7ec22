r"""Layer-wise mixed bit widths: rank layers by importance, keep the important ones at more bits, and reach
fractional average bit widths.

Paper: *Layer-Wise Quantization: A Pragmatic and Effective Method for Quantizing LLMs Beyond Integer
Bit-Levels* — Razvan-Gabriel Dumitru, Vikas Yadav, Rishabh Maheshwary, Paul-Ioan Clotan, Sathwik Tejaswi
Madhusudhan, Mihai Surdeanu, 2024.
arXiv: 2406.17415
Official code: released by the authors (not read here).

The idea
--------
Quantize different layers at different bit widths: rank the layers by an importance score, put the least
important ones at the low bit width (e.g. 2) and keep the rest at the high one (e.g. 4); moving layers one at
a time gives any fractional average in between.  Two scores:

* **LIM** (layer input modification): a layer that changes its input a lot matters, so with $x_\ell$ the input
  and $y_\ell$ the output of residual layer ℓ on calibration data,
  $$\mathrm{LIM}_\ell = -\,\overline{\cos(x_\ell, y_\ell)}\qquad(\text{higher} = \text{more important});$$
* **ZD** (z-score distribution): the fraction of a layer's weights whose z-score exceeds 1,
  $$\mathrm{ZD}_\ell = \frac{1}{|W_\ell|}\big|\{w\in W_\ell: (w-\mu_\ell)/\sigma_\ell > 1\}\big| .$$

The paper's finding: following the LIM/ZD order, performance stays close to the original until 25–50 % of the
layers are at the lower bit width, but only until 5–10 % with an arbitrary order.

What is simplified / reconstructed
----------------------------------
LLaMA/Mistral with GPTQ/Quanto become a residual MLP on the 8×8 digits (embedding, 8 pre-norm residual blocks
h ← h + W₂ relu(W₁ LN(h)), head) with per-channel round-to-nearest inside each block (embedding and head stay
at the high width).  The equations were not read in the paper's text: LIM as the negative mean cosine
similarity of a layer's input and output (as the abstract describes), ZD as the share of weights with
z-score > 1, ranked with *more* such weights = more important (the reading of the abstract's summaries; the
abstract's "smaller is better" is ambiguous, so the demo also reports the reversed ZD order) — both marked
reconstructed.

Verified: reconstructed — LIM and ZD from the abstract's descriptions; hand cases for both scores and for the
average-bit bookkeeping.

Notebook: notebooks/quantization/layerwise-mixed-bits.ipynb
"""

from __future__ import annotations

import sys

import numpy as np

from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module
from .quantizers import as_float_array, fake_quant, quant_params

CATALOG_ENTRY = {
    "slug": "layerwise-mixed-bits",
    "title": "Layer-Wise Quantization: A Pragmatic and Effective Method for Quantizing LLMs Beyond Integer Bit-Levels",
    "authors": "Razvan-Gabriel Dumitru, Vikas Yadav, Rishabh Maheshwary, Paul-Ioan Clotan, Sathwik Tejaswi Madhusudhan, Mihai Surdeanu",
    "year": 2024,
    "arxiv": "2406.17415",
    "family": "quantization",
    "notebook": "notebooks/quantization/layerwise-mixed-bits.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "LIM (negative mean cosine similarity between a layer's input and output) and ZD (share of "
        "weights with "
        "z-score > 1, more = more important) reconstructed from the abstract and summaries; the paper's "
        "equations "
        "and code were not read. Hand cases for both scores and the average-bit bookkeeping."
    ),
    "summary": (
        "Quantize the least important layers (ranked by how much a layer modifies its input, or by its "
        "share of "
        "large weights) at a lower bit width and the rest at a higher one, reaching fractional average "
        "bit widths "
        "with less accuracy loss than an arbitrary choice of layers."
    ),
    "equations": [
        "LIM_ℓ = −mean_t cos(x_ℓ,t, y_ℓ,t)",
        "ZD_ℓ = |{w ∈ W_ℓ : (w − μ_ℓ)/σ_ℓ > 1}| / |W_ℓ|",
        "avg bits = Σ_ℓ n_ℓ b_ℓ / Σ_ℓ n_ℓ,  b_ℓ = b_low for the k least important layers, b_high otherwise",
    ],
}


# --- the quantizer every layer gets, at its own bit width -------------------------------------------------
def rtn_quantize_weight(
    w,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "channel",
    group_size: int | None = None,
    clip_ratio=1.0,
) -> np.ndarray:
    """Round-to-nearest weight quantization with min–max parameters (per output channel by default)."""
    arr = as_float_array(w, "rtn_quantize_weight", "w")
    qp = quant_params(
        arr,
        bits,
        symmetric=symmetric,
        granularity=granularity,
        axis=0,
        group_size=group_size,
        clip_ratio=clip_ratio,
    )
    return fake_quant(arr, qp)


# --- the scores, smallest first -----------------------------------------------------------------------------
def lim_score(x_in, x_out) -> float:
    """−mean cosine similarity between rows of a layer's input and output (N, d)."""
    a, b = np.asarray(x_in, np.float64), np.asarray(x_out, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"lim_score: input and output must have the same shape, got {a.shape} and {b.shape}")
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-300)
    return float(-cos.mean())


def zd_score(weights) -> float:
    """Share of the weights (all matrices of the layer together) with z-score > 1."""
    w = np.concatenate([np.asarray(x, np.float64).ravel() for x in weights])
    z = (w - w.mean()) / max(w.std(), 1e-300)
    return float(np.mean(z > 1))


def allocation(importance, k_low: int, b_low: int = 2, b_high: int = 4) -> np.ndarray:
    """Bits per layer: the k_low least important layers (lowest score, ties by index) get b_low."""
    order = np.argsort(np.asarray(importance, np.float64), kind="stable")
    bits = np.full(len(order), b_high)
    bits[order[:k_low]] = b_low
    return bits


def average_bits(bits, sizes) -> float:
    bits, sizes = np.asarray(bits, np.float64), np.asarray(sizes, np.float64)
    return float((bits * sizes).sum() / sizes.sum())


# --- a residual MLP with identifiable layers ----------------------------------------------------------------
class ResidualMLP(Module):
    """x → embed → L × [h ← h + W₂ relu(W₁ LN(h))] → LN → head."""

    def __init__(self, d: int = 32, n_layers: int = 8, seed: int = 0):
        super().__init__()
        from ...nn import LayerNorm, Linear, ModuleList

        rng = np.random.default_rng(seed)
        self.embed = Linear(64, d, rng=rng)
        self.norms = ModuleList(LayerNorm(d) for _ in range(n_layers))
        self.fc1 = ModuleList(Linear(d, 2 * d, rng=rng) for _ in range(n_layers))
        self.fc2 = ModuleList(Linear(2 * d, d, rng=rng) for _ in range(n_layers))
        self.ln_f = LayerNorm(d)
        self.head = Linear(d, 10, rng=rng)
        self.n_layers = n_layers
        self.record = None

    def forward(self, x):
        h = self.embed(x if isinstance(x, Tensor) else Tensor(x))
        for i in range(self.n_layers):
            out = h + self.fc2[i](self.fc1[i](self.norms[i](h)).relu())
            if self.record is not None:
                self.record.append((h.data.copy(), out.data.copy()))
            h = out
        return self.head(self.ln_f(h))


_CACHE: dict = {}


def trained_model(seed: int = 0, epochs: int = 15, n_layers: int = 8):
    from ...data import batches, load_digits
    from ...optim import Adam

    split = load_digits(seed=seed)
    model = ResidualMLP(n_layers=n_layers, seed=seed)
    key = (seed, epochs, n_layers)
    if key not in _CACHE:
        opt = Adam(model.parameters(), lr=2e-3)
        for ep in range(epochs):
            for xb, yb in batches(split.x_train, split.y_train, batch_size=64, seed=seed, epoch=ep):
                opt.zero_grad()
                F.cross_entropy(model(Tensor(xb)), yb).backward()
                opt.step()
        _CACHE[key] = model.state_dict()
    model.load_state_dict(_CACHE[key])
    model.eval()
    return model, split


def _quantized_accuracy(model, bits, x, y):
    saved = []
    for i, b in enumerate(bits):
        for lin in (model.fc1[i], model.fc2[i]):
            saved.append((lin, lin.weight.data))
            lin.weight.data = rtn_quantize_weight(lin.weight.data, int(b)).astype(lin.weight.data.dtype)
    try:
        with no_grad():
            return float(np.mean(np.argmax(model(Tensor(x)).data, 1) == y))
    finally:
        for lin, w in saved:
            lin.weight.data = w


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Accuracy vs average weight bits (2/4-bit mix) for layer orders by LIM, ZD, reverse LIM and random."""
    model, split = trained_model(seed, epochs=10 if quick else 25)
    xc = split.x_train[:256]
    model.record = []
    with no_grad():
        model(Tensor(xc))
    rec, model.record = model.record, None
    L = model.n_layers
    lim = np.array([lim_score(a, b) for a, b in rec])
    zd = np.array([zd_score([model.fc1[i].weight.data, model.fc2[i].weight.data]) for i in range(L)])
    sizes = [model.fc1[i].weight.data.size + model.fc2[i].weight.data.size for i in range(L)]
    rng = np.random.default_rng(seed)
    n_random = 3 if quick else 10
    randoms = [rng.permutation(L).astype(np.float64) for _ in range(n_random)]
    xt, yt = split.x_test, split.y_test
    metrics = {"acc_fp": float(np.mean(np.argmax(model(Tensor(xt)).data, 1) == yt))}
    curves = {"LIM": [], "ZD": [], "ZD-reversed": [], "reverse LIM": [], "random (mean)": []}
    avg = []
    rows = []
    for k in range(L + 1):
        avg.append(average_bits(allocation(lim, k), sizes))
        accs = {
            "LIM": _quantized_accuracy(model, allocation(lim, k), xt, yt),
            "ZD": _quantized_accuracy(model, allocation(zd, k), xt, yt),
            "ZD-reversed": _quantized_accuracy(model, allocation(-zd, k), xt, yt),
            "reverse LIM": _quantized_accuracy(model, allocation(-lim, k), xt, yt),
            "random (mean)": float(
                np.mean([_quantized_accuracy(model, allocation(r, k), xt, yt) for r in randoms])
            ),
        }
        for name, a in accs.items():
            curves[name].append(a)
        rows.append(
            {
                "layers_at_2bit": k,
                "avg_bits": avg[-1],
                **{f"acc_{n.split()[0].lower().replace('-', '_')}": a for n, a in accs.items()},
            }
        )
        if progress:
            print(
                f"{k} layers at 2 bit (avg {avg[-1]:.2f} bits): "
                + ", ".join(f"{n} {a:.4f}" for n, a in accs.items()),
                file=sys.stderr,
            )
    for name, c in curves.items():
        key = name.split()[0].lower().replace("-", "_")
        metrics[f"mean_acc_{key}"] = float(np.mean(c[1:-1]))  # the mixed (fractional) points
    metrics["acc_uniform_4bit"], metrics["acc_uniform_2bit"] = curves["LIM"][0], curves["LIM"][-1]
    holds = metrics["mean_acc_lim"] > metrics["mean_acc_random"] > metrics["mean_acc_reverse"]
    statement = (
        "Moving layers to 2 bits in LIM order (least input-modifying first) keeps more accuracy at the "
        "fractional average bit widths between 4 and 2 than a random order, which beats the reverse order"
    )
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {"statement": statement, "holds": bool(holds)},
        "curves": {k: np.array(v) for k, v in curves.items()},
        "avg_bits": np.array(avg),
        "lim": lim,
        "zd": zd,
    }


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, c in result["curves"].items():
        ax.plot(result["avg_bits"], c, marker="o", label=name)
    ax.axhline(result["metrics"]["acc_fp"], color="k", ls="--", lw=1, label="full precision")
    ax.invert_xaxis()
    ax.set(
        xlabel="average weight bits (residual layers)", ylabel="test accuracy", title="2/4-bit layer mixes"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"layerwise_mixed_bits": fig}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="lim_hand",
            inputs={"x_in": [[1.0, 0.0], [0.0, 2.0]], "x_out": [[1.0, 1.0], [0.0, -3.0]]},
            expected={"lim": -(np.sqrt(0.5) - 1.0) / 2},
            compute=lambda x_in, x_out: {"lim": lim_score(x_in, x_out)},
            note="By hand: cos([1,0],[1,1]) = 1/√2, cos([0,2],[0,−3]) = −1; mean (0.7071 − 1)/2 = "
            "−0.1464; LIM = 0.1464.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="zd_and_allocation",
            inputs={
                "w": [0.0, 0.0, 0.0, 0.0, 10.0],
                "importance": [0.3, 0.1, 0.2, 0.9],
                "sizes": [1, 1, 2, 4],
            },
            expected={"zd": 0.2, "bits": [4, 2, 2, 4], "avg": (4 + 2 + 4 + 16) / 8},
            compute=lambda w, importance, sizes: {
                "zd": zd_score([w]),
                "bits": allocation(importance, 2),
                "avg": average_bits(allocation(importance, 2), sizes),
            },
            note="By hand: mean 2, std 4 → z = [−0.5 ×4, 2] → 1 of 5 above 1; the two least important "
            "layers (0.1, 0.2) "
            "get 2 bits; average = (4·1 + 2·1 + 2·2 + 4·4)/8 = 3.25.",
            atol=1e-12,
        ),
    ]
