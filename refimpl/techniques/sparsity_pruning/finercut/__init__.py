r"""FinerCut: greedy removal of single attention or FFN sublayers, chosen by how little the model's output moves.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: none found (the arXiv page, Papers-with-Code and the code index list no repository), and the
text we could read here was the abstract and front matter of arXiv 2405.18218v2, not the method section —
hence `verified = "reconstructed"`; what is assumed is listed below and in the notebook.

The idea
--------
Block-level layer pruning (ShortGPT, SLEB, Gromov et al.) removes whole transformer blocks.  A pre-norm block
is two residual sublayers,
$X \to Y = X + \mathrm{Attn}(\mathrm{LN}_1 X) \to Z = Y + \mathrm{FFN}(\mathrm{LN}_2 Y)$, and FinerCut treats
each of the $2L$ sublayers as its own pruning candidate: removing one makes its residual branch zero (the
stream passes through unchanged).  Which ones to remove is chosen by the model's *output*, not by a proxy on
hidden states: with the original model $f$, the model with the set $S$ of sublayers removed $f_{-S}$ and
calibration inputs $x \in \mathcal D$, the target is

$$\min_{|S| = n}\ \frac1{|\mathcal D|}\sum_{x\in\mathcal D} d\big(f(x),\, f_{-S}(x)\big)
  \qquad\text{(the pruning objective, Sec. 3)}$$

solved greedily, one sublayer at a time: at step $t$ every remaining candidate $c$ is tried,

$$c_t = \arg\min_{c\,\notin\,S_{t-1}}\ \bar d\big(S_{t-1}\cup\{c\}\big),\qquad S_t = S_{t-1}\cup\{c_t\}
  \qquad\text{(greedy search, Sec. 3 / Algorithm 1)}$$

always against the *original* model's outputs.  The distance $d$ compares the next-token distributions
$p = \mathrm{softmax}(f(x))$ and $q = \mathrm{softmax}(f_{-S}(x))$ at every position,

$$\mathrm{JS}(p\,\|\,q) = \tfrac12\,\mathrm{KL}(p\,\|\,m) + \tfrac12\,\mathrm{KL}(q\,\|\,m),
  \quad m = \tfrac12(p+q)\qquad\text{(the distance, Sec. 3)}$$

with the angular distance $\arccos(\cos(f(x), f_{-S}(x)))/\pi$ of the logits provided as the alternative.
No fine-tuning after removal.

Equation numbers: the method section of the paper could not be read here (see above), so formula lines cite
"Sec. 3" (where the abstract's "prunes layers whose removal causes minimal alteration to the model's
output" is made precise) and "Algorithm 1" for the greedy loop, not equation numbers we could confirm.

What is implemented, and deviations
-----------------------------------
* `js_divergence`, `angular_distance` (the distances per token, float64, natural log), `output_distance`
  (their mean over every token of every calibration sequence), `sublayer_logits` (the logits of a
  `CharTransformerLM` with a set of sublayers removed, without changing the model; sublayer 2ℓ is the
  attention of block ℓ, 2ℓ+1 its FFN), `greedy_prune` (the greedy loop on any distance of a removed set;
  `groups` makes the candidates whole blocks — the block-level ablation — with the same loop and distance),
  `one_shot_prune` (each candidate scored alone on the full model, the k cheapest removed: the non-greedy
  control), `finercut` (score, search and return the removal order) and `PrunedBlock` / `remove_sublayers`
  (install the removal in a model).
* Assumed where the method section could not be read: the distance is the JS divergence of the next-token
  distributions averaged over all positions (the abstract says only "minimal alteration to the model's
  output"; JS of the output distributions and angular distance of the logits are both implemented, JS is
  the default); the reference is always the original model; ties go to the lower
  sublayer index; a removed sublayer takes its LayerNorm with it (it is only used by that branch).
* Toy scale: a 6-block character-level transformer on the bundled text instead of Llama-3 8B/70B;
  calibration windows are taken from the training split (the paper's calibration data could not be
  read); quality is the held-out next-character loss instead of zero-shot benchmark accuracy.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/finercut.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import no_grad
from ....nn.module import Module

CATALOG_ENTRY = {
    "slug": "finercut",
    "title": "FinerCut: Finer-grained Interpretable Layer Pruning for Large Language Models",
    "authors": "Yang Zhang, Yawei Li, Xinpeng Wang, Qianli Shen, Barbara Plank, Bernd Bischl, Mina Rezaei, "
    "Kenji Kawaguchi",
    "year": 2024,
    "arxiv": "2405.18218",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/finercut.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "No official code found; only the abstract and front matter of arXiv 2405.18218v2 could be read. "
        "Reconstructed: every attention and FFN sublayer is a candidate, removed greedily one at a time by "
        "the least change of the output distribution against the original model on calibration data. "
        "Assumed: the change is the mean per-token Jensen-Shannon divergence of next-token distributions "
        "(angular distance of the logits provided as the alternative), ties to the lower index, no "
        "equation numbers (formula lines cite Sec. 3 / Algorithm 1)."
    ),
    "summary": (
        "Treat each self-attention and each FFN sublayer of every transformer block as its own pruning "
        "candidate and remove them greedily, one at a time, choosing each time the sublayer whose removal "
        "changes the model's output distribution least on calibration data (compared with the original "
        "model); no fine-tuning. Finer than block pruning, and the removed set shows which layer types go "
        "first (attention, in the paper)."
    ),
    "equations": [
        "objective: min_{|S|=n} mean_{x∈D} d(f(x), f_{−S}(x)),  f_{−S}: sublayers in S removed (y = x)   (Sec. 3)",
        "greedy: c_t = argmin_{c∉S_{t−1}} d̄(S_{t−1} ∪ {c});  S_t = S_{t−1} ∪ {c_t}             (Algorithm 1)",
        "d = JS(p‖q) = ½KL(p‖m) + ½KL(q‖m),  m = (p+q)/2,  p, q = softmax of the two models' logits  (Sec. 3)",
        "candidates: 2L sublayers (attention ℓ, FFN ℓ); block-level baseline: L blocks, same search  (Sec. 3)",
    ],
}

__all__ = [
    "js_divergence",
    "angular_distance",
    "output_distance",
    "sublayer_logits",
    "greedy_prune",
    "one_shot_prune",
    "finercut",
    "PrunedBlock",
    "remove_sublayers",
    "sublayer_name",
]

METRICS = ("js", "angular")


# --- the distance between two models' outputs ------------------------------------------------------------
def _log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def js_divergence(logits_p, logits_q) -> np.ndarray:
    """Jensen-Shannon divergence (nats) of softmax(logits_p) and softmax(logits_q) along the last axis:
    (..., V) → (...), float64; 0 for equal distributions, at most ln 2."""
    lp, lq = _log_softmax(logits_p), _log_softmax(logits_q)
    if lp.shape != lq.shape:
        raise ValueError(f"js_divergence: logits must have one shape, got {lp.shape} and {lq.shape}")
    p, q = np.exp(lp), np.exp(lq)
    lm = np.log(0.5 * (p + q))  # m = (p + q)/2 (Sec. 3)
    kl_pm = np.sum(p * (lp - lm), axis=-1)
    kl_qm = np.sum(q * (lq - lm), axis=-1)
    return np.maximum(0.5 * kl_pm + 0.5 * kl_qm, 0.0)  # JS = ½KL(p‖m) + ½KL(q‖m) (Sec. 3)


def angular_distance(a, b, eps: float = 1e-12) -> np.ndarray:
    """arccos(cos(a, b))/π along the last axis: (..., d) → (...) in [0, 1], float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"angular_distance: inputs must have one shape, got {a.shape} and {b.shape}")
    cos = np.sum(a * b, axis=-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), eps)
    return np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi  # the alternative distance (Sec. 3)


def output_distance(ref_logits, logits, metric: str = "js") -> float:
    """d̄: the per-token distance between two models' logits, averaged over every token (Sec. 3)."""
    if metric == "js":
        return float(np.mean(js_divergence(ref_logits, logits)))
    if metric == "angular":
        return float(np.mean(angular_distance(ref_logits, logits)))
    raise ValueError(f"output_distance: `metric` must be one of {METRICS}, got {metric!r}")


# --- a model with sublayers removed ------------------------------------------------------------------------
def sublayer_name(j: int) -> str:
    """Sublayer j in forward order: 2ℓ is the attention of block ℓ, 2ℓ+1 its FFN."""
    return f"{'attn' if j % 2 == 0 else 'ffn'}{j // 2}"


def _check_block(block) -> None:
    if not getattr(block, "norm_first", False):
        raise ValueError("finercut: only pre-norm TransformerBlocks (norm_first=True) are supported")


def _attn(block, x, is_causal=True, attn_mask=None, key_padding_mask=None):
    y = block.self_attn(
        block.norm1(x), key_padding_mask=key_padding_mask, attn_mask=attn_mask, is_causal=is_causal
    )
    return block.dropout1(y)


def _ffn(block, x):
    return block.dropout2(block.linear2(block.dropout(block.activation(block.linear1(block.norm2(x))))))


def _block_forward(block, x, drop_attn, drop_ffn, is_causal=True, attn_mask=None, key_padding_mask=None):
    _check_block(block)
    if not drop_attn:
        x = x + _attn(block, x, is_causal, attn_mask, key_padding_mask)  # Y = X + Attn(LN₁X)
    if not drop_ffn:
        x = x + _ffn(block, x)  # Z = Y + FFN(LN₂Y); a removed sublayer passes the stream (Sec. 3)
    return x


def _inner(block):
    return block.block if isinstance(block, PrunedBlock) else block


def _removed_of(model) -> set:
    out = set()
    for i, b in enumerate(model.blocks):
        if isinstance(b, PrunedBlock):
            out |= {2 * i} if b.drop_attn else set()
            out |= {2 * i + 1} if b.drop_ffn else set()
    return out


def sublayer_logits(model, idx, removed=(), batch: int = 256) -> np.ndarray:
    """Logits (N, T, V) of a `CharTransformerLM` on ids (N, T) with the sublayers in `removed` (plus any
    already removed by `remove_sublayers`) skipped; eval mode, no gradient, the model is not changed."""
    idx = np.asarray(getattr(idx, "data", idx))
    n_sub = 2 * len(model.blocks)
    removed = {int(j) for j in removed} | _removed_of(model)
    bad = sorted(j for j in removed if not 0 <= j < n_sub)
    if bad:
        raise ValueError(f"sublayer_logits: sublayer indices must be in 0..{n_sub - 1}, got {bad}")
    was_training = model.training
    model.eval()
    outs = []
    try:
        with no_grad():
            for s in range(0, len(idx), batch):
                ids = idx[s : s + batch]
                h = model.tok_emb(ids) + model.pos_emb(np.arange(ids.shape[1]))
                for i, block in enumerate(model.blocks):
                    h = _block_forward(_inner(block), h, 2 * i in removed, 2 * i + 1 in removed)
                outs.append(model.head(model.ln_f(h)).data)
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)


# --- the search ---------------------------------------------------------------------------------------------
def greedy_prune(distance, n_candidates: int, k: int, groups=None) -> tuple:
    """Greedy removal (Algorithm 1): `distance(frozenset of removed sublayers) → float`.

    Candidates are the sublayers 0..n_candidates−1, or, with `groups` (a list of tuples of sublayers, e.g.
    the two sublayers of each block), the groups.  Each of k steps tries every remaining candidate together
    with those already removed and keeps the one of least distance (ties to the lower candidate index).
    Returns (order: candidate indices in removal order, distances: d̄ after each step)."""
    cands = [(j,) for j in range(n_candidates)] if groups is None else [tuple(g) for g in groups]
    if not 0 <= k <= len(cands):
        raise ValueError(f"greedy_prune: `k` must be in 0..{len(cands)}, got {k}")
    removed, order, dists = set(), [], []
    for _ in range(k):
        best, best_d = None, np.inf
        for c, members in enumerate(cands):
            if c in order:
                continue
            d = float(distance(frozenset(removed | set(members))))  # d̄(S_{t−1} ∪ {c}) (Algorithm 1)
            if d < best_d:  # strict: ties keep the lower index
                best, best_d = c, d
        order.append(best)  # c_t = argmin (Algorithm 1)
        removed |= set(cands[best])  # S_t = S_{t−1} ∪ {c_t}
        dists.append(best_d)
    return order, dists


def one_shot_prune(distance, n_candidates: int, k: int) -> list:
    """The non-greedy control: score every sublayer alone on the full model, remove the k cheapest (ties to
    the lower index); returns them cheapest first."""
    if not 0 <= k <= n_candidates:
        raise ValueError(f"one_shot_prune: `k` must be in 0..{n_candidates}, got {k}")
    scores = np.array([distance(frozenset({j})) for j in range(n_candidates)], dtype=np.float64)
    return [int(j) for j in np.argsort(scores, kind="stable")[:k]]


def finercut(model, calib_idx, k: int, metric: str = "js", level: str = "sublayer") -> tuple:
    """FinerCut on a `CharTransformerLM`: the greedy removal order of k sublayers (level="sublayer") or k
    blocks (level="block", the block-level ablation), scored on calibration ids against the original
    model's outputs.  Returns (order, distances); sublayer indices as in `sublayer_name`, block indices
    for level="block".  The model is not changed (see `remove_sublayers`)."""
    n_blocks = len(model.blocks)
    ref = sublayer_logits(model, calib_idx)  # f(x): the original model's outputs

    def dist(removed):
        return output_distance(ref, sublayer_logits(model, calib_idx, removed), metric)

    if level == "sublayer":
        return greedy_prune(dist, 2 * n_blocks, k)
    if level == "block":
        return greedy_prune(dist, 2 * n_blocks, k, groups=[(2 * i, 2 * i + 1) for i in range(n_blocks)])
    raise ValueError(f"finercut: `level` must be 'sublayer' or 'block', got {level!r}")


# --- installing the removal ---------------------------------------------------------------------------------
class PrunedBlock(Module):
    """A pre-norm block with its attention and/or FFN sublayer removed (with its LayerNorm): the removed
    residual branch is zero, x passes through.  The wrapped block keeps its weights (`block`)."""

    def __init__(self, block, drop_attn: bool = False, drop_ffn: bool = False):
        super().__init__()
        if isinstance(block, PrunedBlock):  # removing more accumulates
            drop_attn, drop_ffn = drop_attn or block.drop_attn, drop_ffn or block.drop_ffn
        inner = _inner(block)
        _check_block(inner)
        self.block, self.drop_attn, self.drop_ffn = inner, bool(drop_attn), bool(drop_ffn)

    def forward(self, x, attn_mask=None, is_causal: bool = False, key_padding_mask=None):
        return _block_forward(
            self.block, x, self.drop_attn, self.drop_ffn, is_causal, attn_mask, key_padding_mask
        )

    def extra_repr(self):
        return f"drop_attn={self.drop_attn}, drop_ffn={self.drop_ffn}"


def remove_sublayers(model, removed):
    """Remove the sublayers `removed` (indices as in `sublayer_name`) from `model` in place; returns it."""
    n_sub = 2 * len(model.blocks)
    removed = {int(j) for j in removed}
    bad = sorted(j for j in removed if not 0 <= j < n_sub)
    if bad:
        raise ValueError(f"remove_sublayers: sublayer indices must be in 0..{n_sub - 1}, got {bad}")
    for i in sorted({j // 2 for j in removed}):
        model.blocks[i] = PrunedBlock(
            model.blocks[i], drop_attn=2 * i in removed, drop_ffn=2 * i + 1 in removed
        )
    return model
