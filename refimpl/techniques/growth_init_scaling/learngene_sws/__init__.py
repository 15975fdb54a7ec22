r"""Learngene via stage-wise weight sharing (SWS): a few shared layers, learned by distillation, expanded to
initialise models of several depths.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: the README of the authors' implementation (DeiT-based, "Running SWS") was read; its source
files were not found in the stored index, so nothing below is checked against their code.

The idea
--------
One often needs models of *several* sizes for different resource budgets.  Training each from scratch is
costly, and a pretrained large model does not fit a small one.  The Learngene framework learns one
compact piece — the *learngene* — from a large trained model and expands it into each model that is
needed ("descendant" models), which are then trained briefly.  SWS makes the learngene a set of $S$
layers, one per *stage*, learned inside an auxiliary model in which stage $s$ holds $n_s$ copies of the
**same** layer:

$$\text{Aux}(x) = h\big(\underbrace{f_{\theta_S}\circ\cdots\circ f_{\theta_S}}_{n_S}\circ\cdots\circ
\underbrace{f_{\theta_1}\circ\cdots\circ f_{\theta_1}}_{n_1}(e(x))\big)
\qquad\text{(Sec. 3, stage-wise weight sharing)}$$

($e$ the input embedding, $h$ the head).  The auxiliary model is trained by distillation from the large
model only (soft distillation, $\alpha = 1$ in the authors' command):

$$\mathcal{L} = T^2\,\mathrm{CE}\big(\mathrm{softmax}(z_t/T),\ \mathrm{softmax}(z_a/T)\big)
\qquad\text{(Sec. 3, distillation)}$$

Because $\theta_s$ was trained to be applied *repeatedly* at its place in the network, it carries both
knowledge and "expansion guidance": a descendant of any depth $L' = \sum_s k_s$ is initialised by giving
each of its $k_s$ stage-$s$ layers a copy of $\theta_s$ (and the embedding and head of the auxiliary
model), then every layer is trained on its own (the copies are untied):

$$\theta'_{l} \leftarrow \theta_{\sigma(l)},\qquad \sigma = (\underbrace{1,\dots,1}_{k_1},\dots,
\underbrace{S,\dots,S}_{k_S})\qquad\text{(Sec. 3, learngene expansion)}$$

The authors' README gives $\sigma$ explicitly: a 16-layer auxiliary model of 5 stages "L16_33433"
($n = (3,3,4,3,3)$) initialises a 12-layer descendant with `--layers-source 0,0,0,1,1,1,2,2,3,3,4,4`
($k = (3,3,2,2,2)$: the extra layers go to the earliest stages).  `stage_plan` splits a depth that way.

A property used in the tests: a descendant with the auxiliary model's own stage counts ($k = n$) computes
exactly the auxiliary model's function — expansion unties the shared weights without changing anything;
a different $k$ changes the function, and brief training adapts it.

What is implemented, and deviations
-----------------------------------
* `stage_plan`, `layers_source` — the split of a depth into stages and the layer → stage map σ.
* `ResBlock` (pre-LayerNorm residual MLP block, $x + W_2\,\mathrm{relu}(W_1\,\mathrm{LN}(x))$, the MLP half
  of a ViT block) and `StagedResMLP` (embedding → blocks → LN → head); `auxiliary_model` builds one with
  a single shared block per stage (the same Module object repeated, so its gradient accumulates over the
  repeats), `descendant_model` one with independent blocks (random init: the ablation).
* `learngene` returns the S stage blocks; `init_from_learngene` expands them into a descendant (Sec. 3).
* `distillation_loss` — the soft distillation loss above (Hinton's form with T², which has DeiT's
  soft-distillation KL gradient; DeiT's default τ = 1 is kept).
* `depth_mapped_init` — the ablation *without stage-wise sharing*: an auxiliary model of the same stage
  layout whose layers are all distinct, distilled the same way, expanded by mapping descendant layer j of
  k_s in stage s to the source's stage-s layer ⌊j·n_s/k_s⌋ (identity when k = n, evenly spaced when
  shallower, each layer repeated when deeper).  This is our construction, not the paper's.
* Toy scale: residual MLPs on the 8×8 digits instead of DeiT on ImageNet-1K; a 64-wide 6-block auxiliary
  model in 3 stages (2, 2, 2) instead of 16 blocks in 5 stages; the paper's Transformer blocks lose their
  attention half (an MLP has no tokens).  The paper's "layers" are whole Transformer blocks; ours are
  whole residual blocks, and the learngene also hands over the embedding, final LN and head (assumed:
  the README's `--load-gene` loads a checkpoint, which we take to hold them).
* Reconstructed: the paper's full text (its equation numbers) could not be read here — only the
  abstract, the introduction's first lines and the official README.  Formula lines therefore cite the
  section ("Sec. 3") and the README, not equation numbers.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/learngene-sws.ipynb
"""

from __future__ import annotations

import numpy as np

from ....nn import LayerNorm, Linear, Module, ModuleList
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "learngene-sws",
    "title": "Exploring Learngene via Stage-wise Weight Sharing for Initializing Variable-sized Models",
    "authors": "Shi-Yu Xia, Wenxuan Zhu, Xu Yang, Xin Geng",
    "year": 2024,
    "arxiv": "2404.16897",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/learngene-sws.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "arXiv id, title and authors confirmed (arXiv abstract page; IJCAI 2024, pp. 5254-5262). The full "
        "text was not available here: the method is reconstructed from the abstract and the official "
        "README (stage layout 'L16_33433', soft distillation with --distillation-alpha 1.0, and the "
        "descendant map --layers-source 0,0,0,1,1,1,2,2,3,3,4,4); the official source files were not "
        "found, so no file:line is checked. Equation numbers unknown: formula lines cite Sec. 3 / README. "
        "Distillation temperature τ = 1 (DeiT's default) and the hand-over of embedding and head are "
        "assumptions. Hand cases checked; the toy experiment is ours."
    ),
    "summary": (
        "Learn a compact 'learngene' — one layer per stage — inside an auxiliary model whose stage s "
        "repeats the same layer n_s times, trained by distillation from a large model. Initialise a "
        "descendant of any depth by copying each stage's learngene layer into all of that stage's layers "
        "(plus embedding and head), untie them, and train briefly."
    ),
    "equations": [
        "aux: h ∘ f_θS^{n_S} ∘ … ∘ f_θ1^{n_1} ∘ e   (one shared layer per stage)        (Sec. 3)",
        "learngene learning: L = T² CE(softmax(z_t/T), softmax(z_aux/T)), α = 1      (Sec. 3, README)",
        "expansion: θ'_l ← θ_σ(l), σ = (1^{k_1}, …, S^{k_S}), Σ k_s = L' (any depth)   (Sec. 3)",
        "stage split (README): 12 layers over 5 stages → k = (3,3,2,2,2); extras to early stages",
        "then fine-tune every (untied) layer of the descendant for a short budget",
    ],
}

__all__ = [
    "stage_plan",
    "layers_source",
    "depth_map",
    "ResBlock",
    "StagedResMLP",
    "auxiliary_model",
    "descendant_model",
    "learngene",
    "init_from_learngene",
    "depth_mapped_init",
    "distillation_loss",
]


def _check_int(v, name: str, what: str, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{what}: `{name}` must be an integer ≥ {low}, got {v!r}")
    return int(v)


def _check_counts(counts, what: str, name: str = "stage_counts") -> tuple:
    try:
        counts = tuple(counts)
    except TypeError:
        raise ValueError(
            f"{what}: `{name}` must be a sequence of positive integers, got {counts!r}"
        ) from None
    if not counts:
        raise ValueError(f"{what}: `{name}` must name at least one stage, got {counts!r}")
    for c in counts:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
            raise ValueError(f"{what}: `{name}` must hold positive integers, got {counts!r}")
    return tuple(int(c) for c in counts)


# --- stages: the split of a depth and the layer → stage map ------------------------------------------------
def stage_plan(depth: int, n_stages: int) -> tuple:
    """Layers per stage for a descendant of `depth` layers over `n_stages` stages: as even as possible,
    the extra layers to the earliest stages (README: 12 over 5 → (3, 3, 2, 2, 2))."""
    depth = _check_int(depth, "depth", "stage_plan")
    n_stages = _check_int(n_stages, "n_stages", "stage_plan")
    if depth < n_stages:
        raise ValueError(f"stage_plan: `depth`={depth} must be ≥ `n_stages`={n_stages} (one layer per stage)")
    q, r = divmod(depth, n_stages)
    return tuple(q + (s < r) for s in range(n_stages))


def layers_source(stage_counts) -> np.ndarray:
    """σ: the stage (0-based) whose learngene layer initialises each layer (README's --layers-source)."""
    counts = _check_counts(stage_counts, "layers_source")
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)  # σ = (0^{k_1}, …, (S−1)^{k_S})


def depth_map(n: int, k: int) -> np.ndarray:
    """The ablation's map from k descendant layers of a stage to the n source layers: ⌊j·n/k⌋."""
    n = _check_int(n, "n", "depth_map")
    k = _check_int(k, "k", "depth_map")
    return (np.arange(k, dtype=np.int64) * n) // k


# --- the network ----------------------------------------------------------------------------------------------
class ResBlock(Module):
    """x + W₂ relu(W₁ LN(x) + b₁) + b₂: a pre-norm residual MLP block (the MLP half of a ViT block)."""

    def __init__(self, width: int, hidden: int, dtype=np.float32, rng=None):
        super().__init__()
        self.ln = LayerNorm(width, dtype=dtype)
        self.fc1 = Linear(width, hidden, dtype=dtype, rng=rng)
        self.fc2 = Linear(hidden, width, dtype=dtype, rng=rng)

    def forward(self, x):
        return x + self.fc2(F.relu(self.fc1(self.ln(x))))


class StagedResMLP(Module):
    """embedding → blocks (stage by stage) → LN → head.  `blocks` may repeat one Module (weight sharing)."""

    def __init__(self, d_in, width, hidden, d_out, stage_counts, blocks, dtype=np.float32, rng=None):
        super().__init__()
        self.stage_counts = _check_counts(stage_counts, "StagedResMLP")
        blocks = list(blocks)
        if len(blocks) != sum(self.stage_counts):
            raise ValueError(
                f"StagedResMLP: `blocks` has {len(blocks)} entries, `stage_counts` {self.stage_counts} "
                f"asks for {sum(self.stage_counts)}"
            )
        self.d_in, self.width, self.hidden, self.d_out = int(d_in), int(width), int(hidden), int(d_out)
        self.embed = Linear(d_in, width, dtype=dtype, rng=rng)
        self.blocks = ModuleList(blocks)
        self.norm = LayerNorm(width, dtype=dtype)
        self.head = Linear(width, d_out, dtype=dtype, rng=rng)

    @property
    def depth(self) -> int:
        return sum(self.stage_counts)

    def forward(self, x):
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def _sizes(d_in, width, hidden, d_out, what):
    return tuple(_check_int(v, n, what) for v, n in zip((d_in, width, hidden, d_out), _SIZE_NAMES))


_SIZE_NAMES = ("d_in", "width", "hidden", "d_out")


def auxiliary_model(d_in, width, hidden, d_out, stage_counts, dtype=np.float32, rng=None) -> StagedResMLP:
    """The auxiliary model: stage s repeats ONE block n_s times (stage-wise weight sharing, Sec. 3)."""
    from ....random import as_generator

    d_in, width, hidden, d_out = _sizes(d_in, width, hidden, d_out, "auxiliary_model")
    counts = _check_counts(stage_counts, "auxiliary_model")
    rng = as_generator(rng)
    shared = [ResBlock(width, hidden, dtype=dtype, rng=rng) for _ in counts]  # θ_1 … θ_S: the learngene
    blocks = [shared[s] for s in layers_source(counts)]
    return StagedResMLP(d_in, width, hidden, d_out, counts, blocks, dtype=dtype, rng=rng)


def descendant_model(d_in, width, hidden, d_out, stage_counts, dtype=np.float32, rng=None) -> StagedResMLP:
    """A network of the same family with independent blocks (PyTorch's default random initialisation)."""
    from ....random import as_generator

    d_in, width, hidden, d_out = _sizes(d_in, width, hidden, d_out, "descendant_model")
    counts = _check_counts(stage_counts, "descendant_model")
    rng = as_generator(rng)
    blocks = [ResBlock(width, hidden, dtype=dtype, rng=rng) for _ in range(sum(counts))]
    return StagedResMLP(d_in, width, hidden, d_out, counts, blocks, dtype=dtype, rng=rng)


def learngene(aux: StagedResMLP) -> list:
    """The learngene layers θ_1 … θ_S: the shared block of every stage of the auxiliary model."""
    if not isinstance(aux, StagedResMLP):
        raise ValueError(f"learngene: `aux` must be a StagedResMLP, got {type(aux).__name__}")
    starts = np.concatenate([[0], np.cumsum(aux.stage_counts)[:-1]])
    genes = [aux.blocks[int(i)] for i in starts]
    for s, (i, n) in enumerate(zip(starts, aux.stage_counts)):
        if any(aux.blocks[int(i) + j] is not genes[s] for j in range(n)):
            raise ValueError(
                f"learngene: stage {s} of `aux` does not share one block (not an auxiliary model)"
            )
    return genes


def _copy_params(dst: Module, src: Module) -> None:
    dst_params, src_params = list(dst.named_parameters()), list(src.named_parameters())
    for (name, p), (src_name, q) in zip(dst_params, src_params, strict=True):
        if name != src_name or p.data.shape != q.data.shape:
            raise ValueError(f"copy: parameter {name!r} {p.data.shape} ≠ source {src_name!r} {q.data.shape}")
        p.data[...] = q.data.astype(p.data.dtype)


def _check_pair(dst, src, what, dst_name, src_name):
    for m, n in ((dst, dst_name), (src, src_name)):
        if not isinstance(m, StagedResMLP):
            raise ValueError(f"{what}: `{n}` must be a StagedResMLP, got {type(m).__name__}")
    if (dst.d_in, dst.width, dst.hidden, dst.d_out) != (src.d_in, src.width, src.hidden, src.d_out):
        raise ValueError(
            f"{what}: `{dst_name}` sizes {(dst.d_in, dst.width, dst.hidden, dst.d_out)} differ from "
            f"`{src_name}` sizes {(src.d_in, src.width, src.hidden, src.d_out)} (d_in, width, hidden, d_out)"
        )
    if len(dst.stage_counts) != len(src.stage_counts):
        raise ValueError(
            f"{what}: `{dst_name}` has {len(dst.stage_counts)} stages, `{src_name}` has "
            f"{len(src.stage_counts)}; the expansion maps stage to stage"
        )


def init_from_learngene(descendant: StagedResMLP, aux: StagedResMLP) -> StagedResMLP:
    """Initialise `descendant` in place from the auxiliary model's learngene (Sec. 3): layer l ← θ_σ(l),
    with the embedding, final LN and head copied; the copies are independent (untied).  Returns it."""
    _check_pair(descendant, aux, "init_from_learngene", "descendant", "aux")
    genes = learngene(aux)
    for block, s in zip(descendant.blocks, layers_source(descendant.stage_counts)):
        _copy_params(block, genes[int(s)])  # θ'_l ← θ_σ(l)
    for name in ("embed", "norm", "head"):
        _copy_params(getattr(descendant, name), getattr(aux, name))
    return descendant


def depth_mapped_init(descendant: StagedResMLP, source: StagedResMLP) -> StagedResMLP:
    """The ablation without stage-wise sharing: descendant layer j of k_s in stage s ← the source's
    stage-s layer ⌊j·n_s/k_s⌋ (embedding, LN and head copied).  `source` may have distinct layers."""
    _check_pair(descendant, source, "depth_mapped_init", "descendant", "source")
    d_start = np.concatenate([[0], np.cumsum(descendant.stage_counts)[:-1]])
    s_start = np.concatenate([[0], np.cumsum(source.stage_counts)[:-1]])
    for s, (k, n) in enumerate(zip(descendant.stage_counts, source.stage_counts)):
        for j, i in enumerate(depth_map(n, k)):
            _copy_params(descendant.blocks[int(d_start[s]) + j], source.blocks[int(s_start[s] + i)])
    for name in ("embed", "norm", "head"):
        _copy_params(getattr(descendant, name), getattr(source, name))
    return descendant


def distillation_loss(z_student, p_teacher, T: float = 1.0):
    """Soft distillation: T²·CE(softmax(z_t/T), softmax(z_s/T)), with `p_teacher` = softmax(z_t/T) given
    as probabilities (Sec. 3; α = 1: no hard-label term, as in the README's command)."""
    if not (isinstance(T, (int, float, np.floating)) and not isinstance(T, bool) and T > 0):
        raise ValueError(f"distillation_loss: `T` must be a positive number, got {T!r}")
    return (T * T) * F.cross_entropy(z_student / T, p_teacher)
