r"""Structured feed-forward layers: low-rank and block-diagonal(+dense) FFN matrices trained from scratch, and
self-guided training that starts from a dense path and hands over to the structured one.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  Official code: github.com/CLAIRE-Labo/StructuredFFN (`src/modules/layer/lowrank.py`, `blockdense.py`,
`basiclinear.py`, `util.py`; `src/configs/method/*.yaml`,
`configs/optimization/training/self_guided_training.yaml`).

The idea
--------
Replace each dense FFN matrix $W\in\mathbb R^{d_{out}\times d_{in}}$ by a structured one with fewer
parameters:

* **LowRank**: $W = U V$, $V\in\mathbb R^{r\times d_{in}}$, $U\in\mathbb R^{d_{out}\times r}$ —
  $r(d_{in}+d_{out})$ parameters;
* **BlockDense**: a block-diagonal map followed by a dense one, $W =
  L\cdot\mathrm{blockdiag}(D_1,\ldots,D_b)$,
  $D_k\in\mathbb R^{\frac rb\times\frac{d_{in}}b}$, $L\in\mathbb R^{d_{out}\times r}$ — $r\,d_{in}/b +
  d_{out}r$ parameters.

Structured layers train worse from scratch (poor early dynamics).  **Self-guided training** adds a dense
guide $W_g$ (initialised to the structured product) and mixes the two paths,

$$y = \alpha_t\,W_g x + (1-\alpha_t)\,W_{\text{struct}}\,x,\qquad
\alpha_t = \tfrac12\big(1+\cos(\pi\,t/T)\big)\ \text{for}\ t\le T,\quad \alpha_t = 0\ \text{after},$$

with $T$ half of the training steps; after $T$ only the structured layer remains (inference cost unchanged).

What is simplified / deviations
-------------------------------
* GPT-2 on RefinedWeb becomes refimpl's tiny `CharTransformerLM` (1 block, d_model = 32, d_ff = 128) on the
  bundled text (`experiment.py`); both FFN matrices of the block become structured; comparison at (about)
  equal FFN parameters with a narrower dense FFN, and at equal training compute with the structured layer
  trained longer without the guide.
* Initialisation as the official code: weights N(0, 1/fan_in) ("xavier" option), then LowRank ← the rank-r SVD
  factors (√S split) of a dense N(0, 1/d_in) matrix and BlockDense ← orthogonalised blocks and L ("ortho").
* The guide is trained with the other parameters (an `nn.Parameter` in the official code); α follows the
  official cosine `CosineTempDecay` with `max_step_ratio` 0.5.  The official `reduce_flop` option is not used.

Verified: official-code — the two parametrisations and their shapes, the SVD / orthogonal post-inits, the
guide's initialisation to the structured product, the mixing α·guide + (1 − α)·structured and the cosine
decay to 0 at half the steps, read in CLAIRE-Labo/StructuredFFN; equation numbers not checked.
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....nn import functional as F
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "structured-ffn",
    "title": (
        "Building on Efficient Foundations: Effectively Training LLMs with Structured Feedforward Layers"
    ),
    "authors": "Xiuying Wei, Skander Moalla, Razvan Pascanu, Caglar Gulcehre",
    "year": 2024,
    "arxiv": "2406.16450",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/structured-ffn.ipynb",
    "verified": "official-code",
    "verification_note": (
        "LowRank W = lr2·lr1 with SVD post-init, BlockDense W = lr·blockdiag(blkdiag) with orthogonal "
        "post-init, "
        "self-guided y = α·guide(x) + (1 − α)·structured(x) with the guide initialised to the structured "
        "product "
        "and α cosine-decayed from 1 to 0 over half the steps — checked in CLAIRE-Labo/StructuredFFN "
        "(modules/layer/*.py, configs). Equation numbers not checked."
    ),
    "summary": (
        "Train transformers whose FFN matrices are low-rank or block-diagonal followed by dense, with fewer "
        "parameters; self-guided training mixes in a dense guide whose weight decays from 1 to 0 over the "
        "first "
        "half of training to fix the structured layers' poor early training dynamics."
    ),
    "equations": [
        "LowRank: W = U V,  V ∈ R^{r×d_in},  U ∈ R^{d_out×r}",
        "BlockDense: W = L · blockdiag(D_1, …, D_b),  D_k ∈ R^{(r/b)×(d_in/b)},  L ∈ R^{d_out×r}",
        "self-guided: y = α_t W_g x + (1 − α_t) W_struct x,  α_t = ½(1 + cos(π t / T)), 0 after T = steps/2",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def guide_ratio(t: int, t_max: int) -> float:
    """α_t: cosine from 1 (t = 0) to 0 (t = t_max), 0 afterwards (official CosineTempDecay, no warm-up)."""
    if t_max < 1:
        raise ValueError(f"guide_ratio: `t_max` must be ≥ 1, got {t_max}")
    if t >= t_max:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * t / t_max))


def block_diag(blocks) -> np.ndarray:
    """Dense block-diagonal matrix of blocks (b, q, p) → (b·q, b·p) (the oracle for BlockDense)."""
    blocks = np.asarray(blocks)
    b, q, p = blocks.shape
    out = np.zeros((b * q, b * p), dtype=blocks.dtype)
    for k in range(b):
        out[k * q : (k + 1) * q, k * p : (k + 1) * p] = blocks[k]
    return out


def blockdiag_apply(x, blocks):
    """x (..., b·p) → (..., b·q): the k-th chunk of x times D_kᵀ, without forming the dense matrix."""
    b, q, p = blocks.shape
    lead = tuple(x.shape[:-1])
    n = int(np.prod(lead)) if lead else 1
    xs = ops.permute(ops.reshape(x, (n, b, p)), (1, 0, 2))  # (b, n, p)
    ys = ops.matmul(xs, ops.permute(blocks, (0, 2, 1)))  # (b, n, q): x_k D_kᵀ
    return ops.reshape(ops.permute(ys, (1, 0, 2)), lead + (b * q,))


class _Guided(Module):
    """Shared by the structured layers: optional dense guide and its mixing ratio α (set by the trainer)."""

    def _init_guide(self, guided: bool):
        self.guided = guided
        self.alpha = 1.0 if guided else 0.0
        if guided:
            self.guide = Parameter(self.dense_weight().copy())  # W_g ← the structured product

    def _mix(self, x, out):
        if self.guided and self.alpha > 0:
            return F.linear(x, self.guide) * self.alpha + out * (1.0 - self.alpha)  # α W_g x + (1 − α) W x
        return out

    def num_structured(self) -> int:
        return int(sum(p.data.size for n, p in self.named_parameters() if n != "guide"))


class LowRankLinear(_Guided):
    """y = U (V x) + b with the official SVD post-init; `guided=True` adds the self-guided dense path."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        bias: bool = True,
        guided: bool = False,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if not 1 <= rank <= min(in_features, out_features):
            raise ValueError(
                f"LowRankLinear: `rank` must be in [1, {min(in_features, out_features)}], got {rank}"
            )
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        dense = rng.normal(0.0, in_features**-0.5, size=(out_features, in_features))
        U, S, Vt = np.linalg.svd(dense, full_matrices=False)
        s = np.sqrt(S[:rank])
        self.V = Parameter((s[:, None] * Vt[:rank]).astype(dtype))  # lr1 = √S_r V_rᵀ
        self.U = Parameter((U[:, :rank] * s).astype(dtype))  # lr2 = U_r √S_r
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self._init_guide(guided)

    def dense_weight(self) -> np.ndarray:
        return self.U.data @ self.V.data

    def forward(self, x):
        out = F.linear(F.linear(x, self.V), self.U)  # W x = U (V x)
        out = self._mix(x, out)
        return out if self.bias is None else out + self.bias


class BlockDenseLinear(_Guided):
    """y = L · blockdiag(D_1..D_b) x + b with the official orthogonal post-init; optional self-guided path."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        nblocks: int,
        bias: bool = True,
        guided: bool = False,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if in_features % nblocks or rank % nblocks:
            raise ValueError(
                f"BlockDenseLinear: in_features={in_features} and rank={rank} must be divisible by "
                f"nblocks={nblocks}"
            )
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        q, p = rank // nblocks, in_features // nblocks
        blocks = rng.normal(0.0, p**-0.5, size=(nblocks, q, p))
        for k in range(nblocks):  # "ortho" post-init: U Vᵀ of each block
            u, _, vt = np.linalg.svd(blocks[k], full_matrices=False)
            blocks[k] = u @ vt
        L = rng.normal(0.0, rank**-0.5, size=(out_features, rank))
        u, _, vt = np.linalg.svd(L, full_matrices=False)
        self.D = Parameter(blocks.astype(dtype))
        self.L = Parameter((u @ vt).astype(dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None
        self.in_features, self.out_features, self.rank, self.nblocks = (
            in_features,
            out_features,
            rank,
            nblocks,
        )
        self._init_guide(guided)

    def dense_weight(self) -> np.ndarray:
        return self.L.data @ block_diag(self.D.data)

    def forward(self, x):
        out = F.linear(blockdiag_apply(x, self.D), self.L)  # W x = L · blockdiag(D) x
        out = self._mix(x, out)
        return out if self.bias is None else out + self.bias


def structured_param_count(kind: str, d_in: int, d_out: int, rank: int, nblocks: int = 1) -> int:
    """Weights only: lowrank r(d_in + d_out); blockdense r·d_in/b + d_out·r; dense d_in·d_out."""
    if kind == "lowrank":
        return rank * (d_in + d_out)
    if kind == "blockdense":
        return rank * d_in // nblocks + d_out * rank
    if kind == "dense":
        return d_in * d_out
    raise ValueError(
        f"structured_param_count: `kind` must be 'lowrank', 'blockdense' or 'dense', got {kind!r}"
    )


# --- the toy experiment ------------------------------------------------------------------------------------
D_MODEL, D_FF = 32, 128


def make_lm(
    kind: str,
    vocab: int,
    block: int,
    seed: int,
    guided: bool = False,
    rank: int = 12,
    nblocks: int = 4,
    rank_bd: int = 20,
    d_ff_narrow: int = 60,
):
    """A 1-block CharTransformerLM whose FFN is dense (d_ff 128 or narrow) or structured (d_ff 128)."""
    from ....nn import CharTransformerLM

    rng = np.random.default_rng(seed)
    d_ff = d_ff_narrow if kind == "dense-narrow" else D_FF
    lm = CharTransformerLM(vocab, block, d_model=D_MODEL, n_layers=1, n_heads=2, d_ff=d_ff, rng=rng)
    blk = lm.blocks[0]
    if kind == "lowrank":
        blk.linear1 = LowRankLinear(D_MODEL, D_FF, rank, guided=guided, rng=rng)
        blk.linear2 = LowRankLinear(D_FF, D_MODEL, rank, guided=guided, rng=rng)
    elif kind == "blockdense":
        blk.linear1 = BlockDenseLinear(D_MODEL, D_FF, rank_bd, nblocks, guided=guided, rng=rng)
        blk.linear2 = BlockDenseLinear(D_FF, D_MODEL, rank_bd, nblocks, guided=guided, rng=rng)
    elif kind not in ("dense", "dense-narrow"):
        raise ValueError(f"make_lm: unknown kind {kind!r}")
    return lm


def ffn_params(lm) -> int:
    blk = lm.blocks[0]
    total = 0
    for m in (blk.linear1, blk.linear2):
        total += m.num_structured() if isinstance(m, _Guided) else sum(p.data.size for p in m.parameters())
    return int(total)
