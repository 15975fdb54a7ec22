r"""PST: Parameter-efficient Sparse Training (Parameter-Efficient Sparsity for LLM fine-tuning).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
No official code was found in the stored index; the method is reconstructed from the paper's text
(arXiv 2205.11005, Table 1 and Sec. 3) — see "What was assumed" below.

The idea
--------
Sparse-aware fine-tuning learns a binary mask M over a pretrained weight W while adapting it to a new
task.  Magnitude pruning (MaP) ranks weights by the data-free score |W|; movement pruning (MvP) learns a
data-driven score matrix S of the weight's full size (one extra trainable number per weight) and keeps
the top-v scores.  PST observes that the learned data-driven score is close to low-rank and structured
(whole rows / columns matter together), so it replaces the full score matrix by a low-rank product A·B
plus a row vector R and a column vector C, adds the data-free |W| term back, and also replaces the
dense weight update by a LoRA-like product U·V.  Only U, V, A, B, R, C are trained:

$$S = \underbrace{|W|}_{\text{data-free}} + \underbrace{A B + R + C}_{\text{data-driven}}
  \qquad\text{(Table 1, Sec. 3.2: the criterion } |W| + AB + R + C)$$

$$M = \mathrm{Top}_v(S),\qquad W' = (W + U V)\odot M \qquad\text{(Sec. 3.1, Sec. 3.3)}$$

with $A\in\mathbb R^{n\times r_s}$, $B\in\mathbb R^{r_s\times m}$, $R\in\mathbb R^{n\times 1}$,
$C\in\mathbb R^{1\times m}$ broadcast over the $n\times m$ weight, and $v$ the number of weights kept at
the current sparsity, which follows the cubic schedule of gradual pruning (Zhu & Gupta) used by
movement pruning.  Top-v is not differentiable; as in movement pruning the mask passes the gradient
straight through, so $\partial L/\partial S = \partial L/\partial W' \odot (W + UV)$ (Sec. 3.1, the
MvP score gradient −W·G of Table 1, accumulated by the optimizer).

What was assumed (verified = "reconstructed")
---------------------------------------------
We could read the paper's Table 1 (criterion |W| + AB + R + C, trainable fraction 0.01–0.02×) and its
abstract / figure caption (weight update by two small matrices U, V; score by A, B and R, C) but not the
numbered equations of Sec. 3 in full, and no official repository is in the index.  Therefore:

* the data-free term uses the current adapted weight |W + UV| (no gradient through it) with coefficient 1;
  the paper may use the frozen |W| or weighting coefficients;
* A is initialised N(0, 1/r_s)·0.01 and B, R, C at 0 (so the data-driven part starts at 0 and S = |W|,
  i.e. PST starts from magnitude pruning); U ~ N(0, 1/m)·0.01, V = 0 (LoRA-style, W' = W at start);
* Top-v is per layer (local), the mask recomputed at every forward pass;
* the straight-through gradient above is movement pruning's, applied to S = |W+UV| + AB + R + C.

`PSTWeight` is a weight parametrization with switches that also give the compared methods: the full
score matrix with a full weight update (MvP), no data-driven score (gradual MaP, or LoRA + MaP), and
PST without the data-free term (the ablation).  `attach`, `set_sparsity`, `trainable_parameters`,
`count_trainable` and `bake` operate on a whole model.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/pst-param-efficient-sparsity.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.function import straight_through
from ....autograd.tensor import Tensor, no_grad
from ....nn import parametrize
from ....nn.module import Module, Parameter
from ..masks import check_sparsity, n_pruned, prunable_layers

CATALOG_ENTRY = {
    "slug": "pst-param-efficient-sparsity",
    "title": "Parameter-Efficient Sparsity for Large Language Models Fine-Tuning",
    "authors": "Yuchao Li, Fuli Luo, Chuanqi Tan, Mengdi Wang, Songfang Huang, Shen Li, Junjie Bai",
    "year": 2022,
    "arxiv": "2205.11005",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/pst-param-efficient-sparsity.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Criterion |W| + AB + R + C and the U·V weight update read in the paper's Table 1, abstract and "
        "Fig. 1 caption; the numbered equations of Sec. 3 (coefficients, initialisation, which |W|) were not "
        "available and no official code was found, so those details are assumptions stated in the module."
    ),
    "summary": (
        "Sparse fine-tuning where the importance score is the data-free |W| plus a data-driven part "
        "approximated by a low-rank product AB and row/column vectors R, C; the weight update is a LoRA-like "
        "UV; the mask is the top-v of the score on a cubic sparsity schedule. Only the small matrices are "
        "trained (about 1-2 % of movement pruning's trainable parameters)."
    ),
    "equations": [
        "S = |W| + A B + R + C,  A: n×r, B: r×m, R: n×1, C: 1×m           (Table 1, Sec. 3.2)",
        "M = Top_v(S),  W' = (W + U V) ⊙ M                                 (Sec. 3.1, 3.3)",
        "∂L/∂S = ∂L/∂W' ⊙ (W + U V)   (straight-through, as movement pruning) (Sec. 3.1)",
        "s_t = s_f + (s_i − s_f)(1 − (t − t0)/(t1 − t0))³   (cubic schedule, from movement pruning)",
    ],
}

__all__ = [
    "topv_mask",
    "pst_score",
    "PSTWeight",
    "attach",
    "set_sparsity",
    "trainable_parameters",
    "count_trainable",
    "bake",
]


def topv_mask(scores, sparsity: float) -> np.ndarray:
    """M = Top_v(S): 1 for the v = n − round(s·n) largest scores, 0 for the rest (ties: lower index pruned
    first, so the count is exact)."""
    s = np.asarray(scores, dtype=np.float64)
    k = n_pruned(s.size, check_sparsity(sparsity, "topv_mask"))
    flat = s.ravel()
    mask = np.ones(flat.size, dtype=np.float64)
    if k:
        order = np.lexsort((np.arange(flat.size), flat))  # ascending score, then index
        mask[order[:k]] = 0.0
    return mask.reshape(s.shape)


def pst_score(w, a, b, r, c, data_free: bool = True) -> np.ndarray:
    """S = |W| + A B + R + C (Table 1; R is n×1, C is 1×m, broadcast).  Plain arrays, for checks."""
    w = np.asarray(w, dtype=np.float64)
    s = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)
    s = s + np.asarray(r, dtype=np.float64).reshape(-1, 1) + np.asarray(c, dtype=np.float64).reshape(1, -1)
    return (np.abs(w) if data_free else 0.0) + s


class PSTWeight(Module):
    """Weight parametrization W' = W̃ ⊙ Top_v(S) with W̃ = W + UV (or the trainable W itself).

    weight_update: "lora" (W frozen, U: n×r_w, V: r_w×m trained) or "full" (W trained).
    score: "pst" (A B + R + C, rank r_s), "full" (an n×m score matrix — movement pruning) or "none"
        (no data-driven term: magnitude pruning of W̃).
    data_free: add |W̃| (no gradient) to the score.
    The sparsity is set by `set_sparsity`; the mask is recomputed at every forward pass."""

    def __init__(
        self,
        shape,
        weight_update: str = "lora",
        score: str = "pst",
        data_free: bool = True,
        rank_w: int = 4,
        rank_s: int = 4,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        n, m = shape
        if weight_update not in ("lora", "full"):
            raise ValueError(f"PSTWeight: `weight_update` must be 'lora' or 'full', got {weight_update!r}")
        if score not in ("pst", "full", "none"):
            raise ValueError(f"PSTWeight: `score` must be 'pst', 'full' or 'none', got {score!r}")
        if score == "none" and not data_free:
            raise ValueError("PSTWeight: score='none' needs data_free=True (there would be no score)")
        rng = np.random.default_rng(0) if rng is None else rng
        self.weight_update, self.score_kind, self.data_free = weight_update, score, bool(data_free)
        self.sparsity = 0.0
        if weight_update == "lora":
            self.U = Parameter((0.01 * rng.normal(size=(n, rank_w)) / np.sqrt(m)).astype(dtype))
            self.V = Parameter(np.zeros((rank_w, m), dtype=dtype))
        if score == "pst":
            self.A = Parameter((0.01 * rng.normal(size=(n, rank_s)) / np.sqrt(rank_s)).astype(dtype))
            self.B = Parameter(np.zeros((rank_s, m), dtype=dtype))
            self.R = Parameter(np.zeros((n, 1), dtype=dtype))
            self.C = Parameter(np.zeros((1, m), dtype=dtype))
        elif score == "full":
            self.S = Parameter(np.zeros((n, m), dtype=dtype))
        self.register_buffer("mask", np.ones((n, m), dtype=dtype))

    def adapted(self, w):
        """W̃ = W + U V (Sec. 3.3) or W."""
        return w + self.U @ self.V if self.weight_update == "lora" else w

    def data_driven(self):
        """The data-driven score: A B + R + C (Sec. 3.2), S (movement pruning) or None."""
        if self.score_kind == "pst":
            return self.A @ self.B + self.R + self.C
        if self.score_kind == "full":
            return self.S
        return None

    def forward(self, w):
        wt = self.adapted(w)
        dd = self.data_driven()
        score = np.zeros(wt.shape, dtype=np.float64)
        if self.data_free:
            score = score + np.abs(wt.data)  # data-free |W̃|, no gradient
        if dd is not None:
            score = score + dd.data
        m = topv_mask(score, self.sparsity).astype(wt.data.dtype)  # M = Top_v(S)
        self.register_buffer("mask", m)
        if dd is None:
            return wt * Tensor(m)
        # straight-through: forward M, ∂L/∂(data-driven score) = ∂L/∂W' ⊙ W̃  (Sec. 3.1)
        return wt * straight_through(dd, m)

    def extra_repr(self):
        return (
            f"weight_update={self.weight_update}, score={self.score_kind}, data_free={self.data_free}, "
            f"sparsity={self.sparsity:.3f}"
        )


def _pst_modules(model):
    out = {}
    for name, mod in prunable_layers(model).items():
        if parametrize.is_parametrized(mod, "weight"):
            plist = mod.parametrizations.weight
            for i in range(len(plist)):
                if isinstance(plist[i], PSTWeight):
                    out[name] = (mod, plist[i])
    return out


def attach(
    model, weight_update="lora", score="pst", data_free=True, rank_w=4, rank_s=4, rng=None, include=None
):
    """Install a `PSTWeight` on every prunable layer (optionally filtered by `include(name, module)`);
    with weight_update='lora' the pretrained W is frozen.  Returns name → PSTWeight."""
    rng = np.random.default_rng(0) if rng is None else rng
    out = {}
    for name, mod in prunable_layers(model, include).items():
        w = mod._parameters["weight"]
        t = PSTWeight(w.data.shape, weight_update, score, data_free, rank_w, rank_s, rng, w.data.dtype)
        parametrize.register_parametrization(mod, "weight", t)
        if weight_update == "lora":
            mod.parametrizations.weight.original.requires_grad = False
        out[name] = t
    return out


def set_sparsity(model, sparsity: float) -> None:
    """Set the current target sparsity of every PST layer (the cubic schedule's value)."""
    s = check_sparsity(sparsity, "set_sparsity")
    for _, t in _pst_modules(model).values():
        t.sparsity = s


def trainable_parameters(model, biases: bool = True) -> list:
    """The parameters the method trains: every PSTWeight's own parameters, the latent W of
    weight_update='full' layers, and (optionally) the biases of the model."""
    params = []
    for mod, t in _pst_modules(model).values():
        params += [p for p in t.parameters()]
        orig = mod.parametrizations.weight.original
        if orig.requires_grad:
            params.append(orig)
    if biases:
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                params.append(p)
    seen, out = set(), []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def count_trainable(model, biases: bool = True) -> int:
    """Number of trainable scalars of `trainable_parameters`."""
    return int(sum(p.data.size for p in trainable_parameters(model, biases)))


def bake(model) -> dict:
    """Replace every PST parametrization by its final sparse weight (W + UV) ⊙ M; returns name → mask."""
    masks = {}
    with no_grad():
        for name, (mod, t) in _pst_modules(model).items():
            _ = mod.weight  # refresh the mask at the current sparsity
            masks[name] = t.mask.copy()
            parametrize.remove_parametrizations(mod, "weight", bake=True)
            mod._parameters["weight"].requires_grad = True
    return masks
