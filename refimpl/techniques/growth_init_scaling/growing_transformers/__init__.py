r"""Growing Transformers: layer-wise growth and logit-averaging merges on a frozen embedding substrate.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official repository: github.com/AVBochkov/PGT (and its twin AVBochkov/Embeddings), read at commit 6b618a2:
it holds the tokenizer builders, the frozen embedding tables' construction notebooks and the benchmark
scripts, but **no training, growth or merge code**; the model cards on the Hugging Face hub describe the
released grown and merged models.  The paper's body (its sections and any numbered equations) was not
available here: everything below is reconstructed from the abstract, the repository README and the model
cards, and every assumption is listed under "deviations".

The idea
--------
A language model's token embeddings are usually trained with the rest of the network.  Here they are
**frozen** from the start: a fixed, deterministic table $E \in \mathbb{R}^{V\times d}$ (in the paper,
features of rendered Unicode glyphs, L2-normalised; here a fixed random table) that carries no learned
meaning.  Because every model built on the same $E$ reads the same input interface, the table acts as a
"docking port", which the paper uses in two ways:

1. **Layer-wise growth.**  Train a one-block model $f_1 = \mathrm{head}\circ B_1\circ E$.  Freeze $B_1$,
   stack a fresh block $B_2$ and train only it (with the output head); repeat up to depth $L$:

   $$h_0 = E[x] + P,\qquad h_\ell = B_\ell(h_{\ell-1}),\qquad z = W_{\mathrm{head}}\,\mathrm{LN}(h_k),\qquad
   \text{stage } k:\ \min_{\theta_{B_k},\,\theta_{\mathrm{head}}} \mathcal{L}(z)\ \text{with}\
   \theta_{B_1..B_{k-1}},\,E\ \text{fixed}.$$

2. **Merging by logit averaging.**  Models $f^{(1)},\dots,f^{(K)}$ trained separately (on different data)
   but on the same frozen $E$ and vocabulary are combined with no further training:
   $z = \tfrac1K\sum_k z^{(k)}$.

What is implemented, and deviations
-----------------------------------
* `frozen_substrate` builds the fixed table: i.i.d. Gaussian rows rescaled to norm $\sqrt d$ (unit RMS per
  coordinate).  The paper's table comes from glyph images (rasterise → PCA → L2-normalise, per the model
  cards); a bundled 73-character toy has no glyph renderer, and the paper's own ablation (a 16-bit binary
  code per token) shows the substrate need not be visual — what matters for the method is that it is
  fixed and non-semantic.  `binary_substrate` gives that ablation's ±1 code of each token id.
* `sinusoidal_positions`: the paper's models use rotary position embeddings (no parameters); a tiny
  `TransformerBlock` here has no rotary option, so positions are the fixed sinusoids of Vaswani et al.,
  added to the substrate — fixed too, so the input interface stays frozen.
* `TokenSubstrate` looks the table up (frozen, or `trainable=True` for the ablation that lacks the frozen
  substrate); `ProjectionSubstrate` is the same docking port for real-valued inputs (a fixed random
  projection), used by the family's contract tests.
* `GrowingTransformer` stacks pre-norm `TransformerBlock`s on a substrate, with a final LayerNorm and a
  linear head; `add_layer` appends a freshly initialised block and freezes every earlier one (the paper's
  stage); `grow` does the same on a copy.  **Assumption**: the final LayerNorm and the head stay trainable
  at every stage (each stage needs a readout of its new top layer) and are carried over, not re-initialised;
  the new block starts at the default initialisation, so growth does *not* preserve the function.
* `merge_logits` / `MergedModel`: the mean of the members' logits (the abstract's "averaging their output
  logits"); no gating, no weights.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/growing-transformers.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import Embedding, LayerNorm, Linear, Module, ModuleList, Parameter, TransformerBlock
from ....random import as_generator

CATALOG_ENTRY = {
    "slug": "growing-transformers",
    "title": "Growing Transformers: Modular Composition and Layer-wise Expansion on a Frozen Substrate",
    "authors": "A. Bochkov",
    "year": 2025,
    "arxiv": "2507.07129",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/growing-transformers.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "arXiv id, title and author confirmed on the arXiv abstract page (v1, 8 Jul 2025). The paper's body "
        "was not available: the method is reconstructed from the abstract, the official repository "
        "AVBochkov/PGT (commit 6b618a2: README, tokenizer and embedding builders, benchmark scripts — no "
        "training, growth or merge code) and the Hugging Face model cards (frozen L2-normalised glyph "
        "embeddings; layers added one at a time with earlier layers frozen; experts merged by mean logits). "
        "Assumed here: a fixed random (or binary) table instead of glyph features, sinusoidal instead of "
        "rotary positions, final norm and head trainable at every stage, new blocks at default init. "
        "Formula lines cite the abstract, the only text read."
    ),
    "summary": (
        "Freeze the token embeddings from the start as a fixed, non-semantic table (glyph features in the "
        "paper) so that every model reads the same input interface. Grow a deep model one block at a time: "
        "train block 1 with the head, freeze it, stack a fresh block and train only that (and the head), and "
        "so on. Models trained separately on the same frozen table are merged by averaging their logits."
    ),
    "equations": [
        "h₀ = E[x] + P,  E ∈ ℝ^{V×d} fixed (never trained), P fixed positions            (abstract)",
        "h_ℓ = B_ℓ(h_{ℓ−1}),  z = W_head LN(h_k)                                        (abstract)",
        "stage k: train θ_{B_k}, θ_head;  θ_{B_1..B_{k−1}} and E frozen                 (abstract)",
        "merge: z = (1/K) Σ_k z^{(k)}  (models on the same frozen E, no retraining)    (abstract)",
    ],
}

__all__ = [
    "frozen_substrate",
    "binary_substrate",
    "sinusoidal_positions",
    "TokenSubstrate",
    "ProjectionSubstrate",
    "GrowingTransformer",
    "grow",
    "merge_logits",
    "MergedModel",
]


def _positive_int(v, name: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{what}: `{name}` must be an integer ≥ 1, got {v!r}")
    return int(v)


# --- the frozen substrate (pure functions on arrays) -----------------------------------------------------
def frozen_substrate(vocab_size: int, d_model: int, *, rng=None, dtype=np.float32) -> np.ndarray:
    """A fixed, non-semantic token table E (vocab_size, d_model): i.i.d. Gaussian rows rescaled to norm
    √d_model (unit RMS per coordinate), the paper's L2 normalisation up to a constant (abstract)."""
    v = _positive_int(vocab_size, "vocab_size", "frozen_substrate")
    d = _positive_int(d_model, "d_model", "frozen_substrate")
    e = as_generator(rng).standard_normal((v, d))
    return (e / np.linalg.norm(e, axis=1, keepdims=True) * np.sqrt(d)).astype(dtype)


def binary_substrate(vocab_size: int, d_model: int, *, dtype=np.float32) -> np.ndarray:
    """The binary-code substrate: row i holds the ±1 bits of i (least significant bit first), zero-padded
    to d_model columns; needs 2^d_model ≥ vocab_size."""
    v = _positive_int(vocab_size, "vocab_size", "binary_substrate")
    d = _positive_int(d_model, "d_model", "binary_substrate")
    n_bits = max(1, int(np.ceil(np.log2(v))))
    if n_bits > d:
        raise ValueError(f"binary_substrate: `d_model`={d} cannot hold {n_bits} bits of vocab_size={v}")
    bits = (np.arange(v)[:, None] >> np.arange(n_bits)[None, :]) & 1
    out = np.zeros((v, d))
    out[:, :n_bits] = 2.0 * bits - 1.0
    return out.astype(dtype)


def sinusoidal_positions(length: int, d_model: int, *, dtype=np.float32) -> np.ndarray:
    """P (length, d_model): P[t, 2i] = sin(t / 10000^{2i/d}), P[t, 2i+1] = cos(t / 10000^{2i/d})."""
    n = _positive_int(length, "length", "sinusoidal_positions")
    d = _positive_int(d_model, "d_model", "sinusoidal_positions")
    t = np.arange(n)[:, None]
    freq = 10000.0 ** (-(np.arange(d) // 2) * 2 / d)
    angle = t * freq[None, :]
    return np.where(np.arange(d) % 2 == 0, np.sin(angle), np.cos(angle)).astype(dtype)


# --- substrates as modules: integer tokens or real vectors → (N, T, d) ------------------------------------
class TokenSubstrate(Module):
    """h₀ = E[idx] + P[:T] for integer idx (N, T): the fixed table `table` looked up, plus fixed sinusoidal
    positions.  `trainable=True` makes E a learnable parameter starting from the same table (the ablation
    without the frozen substrate); P stays fixed either way."""

    def __init__(self, table, block_size: int, *, trainable: bool = False):
        super().__init__()
        table = np.asarray(table)
        if table.ndim != 2 or table.dtype.kind != "f":
            raise ValueError(f"TokenSubstrate: `table` must be a float (vocab, d) array, got {table.shape}")
        v, d = table.shape
        self.block_size, self.d_model, self.trainable = (
            _positive_int(block_size, "block_size", "TokenSubstrate"),
            d,
            bool(trainable),
        )
        self.emb = Embedding(v, d, dtype=table.dtype)
        self.emb.weight.data[...] = table
        self.emb.weight.requires_grad = self.trainable
        self.register_buffer("pos", sinusoidal_positions(self.block_size, d, dtype=table.dtype))

    def forward(self, idx):
        idx = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        if idx.ndim != 2 or not 1 <= idx.shape[1] <= self.block_size:
            raise ValueError(
                f"TokenSubstrate: expected `idx` (N, T) with 1 ≤ T ≤ block_size = {self.block_size}, "
                f"got shape {idx.shape}"
            )
        return self.emb(idx) + self.pos[: idx.shape[1]]


class ProjectionSubstrate(Module):
    """The same docking port for real inputs x (N, d_in): a fixed random projection x R / √d_in, R ~ N(0, 1)
    (d_in, d_model), seen as a length-1 sequence (N, 1, d_model).  Never trained."""

    def __init__(self, d_in: int, d_model: int, *, dtype=np.float32, rng=None):
        super().__init__()
        self.d_in = _positive_int(d_in, "d_in", "ProjectionSubstrate")
        self.d_model = _positive_int(d_model, "d_model", "ProjectionSubstrate")
        r = as_generator(rng).standard_normal((self.d_in, self.d_model)) / np.sqrt(self.d_in)
        self.register_buffer("R", r.astype(dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.R.dtype))
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(
                f"ProjectionSubstrate: expected `x` (N, {self.d_in}), got shape {tuple(x.shape)}"
            )
        return ops.reshape(ops.matmul(x, Tensor(self.R)), (x.shape[0], 1, self.d_model))


# --- the grown model ------------------------------------------------------------------------------------
class GrowingTransformer(Module):
    """substrate → k pre-norm causal TransformerBlocks → LayerNorm → linear head (see the module docstring).

    forward(x) gives the logits at the last position (N, n_out); `forward_all(x)` those at every position
    (N, T, n_out).  `add_layer(rng)` appends a fresh block and freezes the earlier ones (one growth stage);
    `trainable_parameters()` lists what the current stage trains."""

    def __init__(
        self,
        substrate: Module,
        n_out: int,
        *,
        n_layers: int = 1,
        n_heads: int = 4,
        d_ff: int | None = None,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if not isinstance(substrate, Module) or not hasattr(substrate, "d_model"):
            raise ValueError("GrowingTransformer: `substrate` must be a Module with a `d_model` attribute")
        rng = as_generator(rng)
        self.substrate = substrate
        self.d_model = int(substrate.d_model)
        self.n_heads = _positive_int(n_heads, "n_heads", "GrowingTransformer")
        if self.d_model % self.n_heads:
            raise ValueError(f"GrowingTransformer: `n_heads`={n_heads} must divide d_model={self.d_model}")
        self.d_ff = 4 * self.d_model if d_ff is None else _positive_int(d_ff, "d_ff", "GrowingTransformer")
        self.dtype = dtype
        n_layers = int(n_layers)
        if n_layers < 0:
            raise ValueError(f"GrowingTransformer: `n_layers` must be ≥ 0, got {n_layers}")
        self.blocks = ModuleList(self._block(rng) for _ in range(n_layers))
        self.ln_f = LayerNorm(self.d_model, dtype=dtype)
        self.head = Linear(
            self.d_model, _positive_int(n_out, "n_out", "GrowingTransformer"), dtype=dtype, rng=rng
        )

    def _block(self, rng):
        return TransformerBlock(
            self.d_model,
            self.n_heads,
            self.d_ff,
            norm_first=True,
            activation="gelu",
            dtype=self.dtype,
            rng=rng,
        )

    def forward_all(self, x):
        h = self.substrate(x)  # h₀ = E[x] + P (fixed)
        for block in self.blocks:
            h = block(h, is_causal=True)  # h_ℓ = B_ℓ(h_{ℓ−1})
        return self.head(self.ln_f(h))  # z = W_head LN(h_k)

    def forward(self, x):
        z = self.forward_all(x)
        return ops.getitem(z, (slice(None), -1))

    def add_layer(self, rng=None) -> GrowingTransformer:
        """One growth stage, in place: freeze every existing block, append a freshly initialised one."""
        for block in self.blocks:
            block.requires_grad_(False)  # θ_{B_1..B_{k−1}} frozen
        self.blocks.append(self._block(as_generator(rng)))
        return self

    def trainable_parameters(self) -> list[Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


def grow(model: GrowingTransformer, rng=None) -> GrowingTransformer:
    """A copy of `model` grown by one stage (earlier blocks frozen, a fresh block on top); `model` is kept."""
    if not isinstance(model, GrowingTransformer):
        raise TypeError(f"grow: `model` must be a GrowingTransformer, got {type(model).__name__}")
    return copy.deepcopy(model).add_layer(rng)


# --- merging ----------------------------------------------------------------------------------------------
def merge_logits(logits) -> np.ndarray:
    """z = (1/K) Σ_k z^{(k)} over a sequence of K same-shaped logit arrays (abstract)."""
    arrays = [np.asarray(z.data if isinstance(z, Tensor) else z) for z in logits]
    if not arrays:
        raise ValueError("merge_logits: `logits` must hold at least one array")
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"merge_logits: `logits` must share one shape, got {[a.shape for a in arrays]}")
    return np.mean(arrays, axis=0)


class MergedModel(Module):
    """Models on the same frozen substrate merged by logit averaging: forward(x) = (1/K) Σ_k model_k(x)."""

    def __init__(self, models):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("MergedModel: `models` must hold at least one model")
        self.members = ModuleList(models)

    def forward(self, x):
        z = None
        for m in self.members:
            z = m(x) if z is None else z + m(x)
        return z / len(self.members)
