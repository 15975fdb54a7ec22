r"""Head-wise Shareable Attention: let an attention head reuse the weight matrices of the most similar head of an
earlier layer, either directly (DirectShare) or after a post-training that pulls the paired heads' weights
together (PostShare).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  Official code:
github.com/zouyingcao/DirectShare — `find_match.py` (the matching function), `DirectShare/direct_share.py`
(choosing and sharing the heads) and `PostShare/LLaMA-Factory/src/llmtuner/train/pt/workflow.py` (the
post-training loss).  Only the paper's abstract could be read here, so the formula lines below cite those code
files and the paper's section names (Sec. "DirectShare", "PostShare"), not equation numbers.

The idea
--------
Head $h$ of layer $\ell$ has its slices $W_q^{\ell,h}, W_k^{\ell,h}, W_v^{\ell,h}\in\mathbb{R}^{d_h\times d}$
of the query, key and value projections and $W_o^{\ell,h}\in\mathbb{R}^{d\times d_h}$ of the output projection.
Its *matching vector* concatenates the query and key slices (the official default strategy "qk"),

$$s^{\ell,h} = \mathrm{vec}\big[W_q^{\ell,h};\ W_k^{\ell,h}\big],$$

and two heads are compared by cosine similarity, only against heads of *earlier* layers:

$$S_{(\ell,h),(\ell',h')} = \frac{\langle s^{\ell,h}, s^{\ell',h'}\rangle}{\|s^{\ell,h}\|\,\|s^{\ell',h'}\|},
\qquad \ell' < \ell .$$

**DirectShare.** Of the $L\cdot H$ heads, $k = \lfloor \rho L H\rfloor$ (share ratio $\rho$) are chosen, those
with the highest best-match similarity; each then uses its match's four matrices
$(W_q, W_k, W_v, W_o)^{\ell,h} \leftarrow (W_q, W_k, W_v, W_o)^{\ell',h'}$ and its own are freed: $k$ heads'
weights are saved, with no retraining.

**PostShare.** With the same pairs $P$ (chosen on the pretrained model), first post-train with a penalty on
the paired heads' distance,

$$\mathcal{L} = \mathcal{L}_{\text{LM}} + \lambda\,\frac{1}{|P|}\sum_{((\ell,h),(\ell',h'))\in P}\ \sum_{W\in\{W_q,W_k,W_v\}}
\big\|W^{\ell,h} - W^{\ell',h'}\big\|_F ,$$

then share as DirectShare does.  (The official loss is $\tfrac12\mathcal{L}_{\text{LM}} + \tfrac12 R$, i.e.
$\lambda = 1$ up to an overall factor; here $\lambda$ is tuned.)

What is simplified / deviations
-------------------------------
* **Greedy, conflict-free pairing.**  The official code ranks each head by its single best match and takes the
  top $k$; when a chosen head is itself the match of another chosen head, its shared copy is overwritten, so
  fewer than $k$ heads' weights are actually freed.  Here the candidate pairs are visited in descending
  similarity and a pair is accepted only if its target is neither already replaced nor already a source, and
  its source is not replaced (`greedy_pairs`).  Without such conflicts both rules pick the same pairs; with
  them, this one frees exactly $k$ heads and each replaced head uses exactly its partner's weights.
* The toy model has biases: a head's slices of the q/k/v biases are shared with its weights (LLaMA has none);
  the output bias is not per head and stays.  The output slice $W_o$ is shared but, as in the official loss,
  not penalised.
* Sharing is realised by copying the source head's slices into the target's: at inference this is the same
  function as the official shared modules, and the parameter saving is counted by `shared_param_count`.
* A LLaMA-2 7B/13B becomes the tiny pre-norm `CharTransformerLM` on the bundled text (`experiment.py`).

Verified: official-code — the matching vector (strategy "qk"), cosine similarity against earlier layers, the
ranking by best-match similarity with a share ratio, sharing of all four per-head matrices, and the PostShare
penalty (sum of Frobenius norms of the q, k, v differences, averaged over pairs) were read in the authors' code;
the greedy conflict rule is ours (above).
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "headwise-shareable-attention",
    "title": "Head-wise Shareable Attention for Large Language Models",
    "authors": "Zouying Cao, Yifei Yang, Hai Zhao",
    "year": 2024,
    "arxiv": "2402.11819",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/headwise-shareable-attention.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Matching vector vec[W_q; W_k] per head (strategy 'qk'), cosine similarity against heads of earlier "
        "layers, ranking by best-match similarity with a share ratio, sharing of the q/k/v/o slices, and the "
        "PostShare penalty (mean over pairs of the summed Frobenius norms of the q, k, v differences) checked "
        "against zouyingcao/DirectShare (find_match.py, DirectShare/direct_share.py, PostShare/.../pt/"
        "workflow.py); only the paper's abstract was readable, so no equation numbers; the greedy "
        "conflict-free pairing is our rule."
    ),
    "summary": (
        "Share weight matrices across attention heads: each head is matched to the most similar head of an "
        "earlier layer by the cosine similarity of its concatenated query and key weights, and the heads "
        "with the most similar matches reuse their partner's q/k/v/o matrices, directly (DirectShare) or "
        "after a post-training that penalises the distance between the paired heads' weights (PostShare)."
    ),
    "equations": [
        "s^{ℓ,h} = vec[W_q^{ℓ,h}; W_k^{ℓ,h}]   (matching vector, strategy 'qk')",
        "S_{(ℓ,h),(ℓ',h')} = cos(s^{ℓ,h}, s^{ℓ',h'}),  ℓ' < ℓ",
        "k = ⌊ρ L H⌋ heads with the highest best-match S reuse their partner's (W_q, W_k, W_v, W_o)",
        "PostShare: L = L_LM + λ (1/|P|) Σ_{pairs} Σ_{W ∈ {W_q, W_k, W_v}} ‖W^{ℓ,h} − W^{ℓ',h'}‖_F, then share",
    ],
}

PARTS = ("q", "k", "v")


# --- one head's slices of a packed MultiHeadAttention ----------------------------------------------------
def head_rows(attn, part: str, h: int) -> slice:
    """Rows of `in_proj_weight` (3E, E) holding head h's `part` ('q', 'k' or 'v') projection."""
    e, d = attn.embed_dim, attn.head_dim
    start = PARTS.index(part) * e + h * d
    return slice(start, start + d)


def head_cols(attn, h: int) -> slice:
    """Columns of `out_proj.weight` (E, E) that read head h's output."""
    return slice(h * attn.head_dim, (h + 1) * attn.head_dim)


def matching_vector(attn, h: int, strategy: str = "qk") -> np.ndarray:
    """s^{ℓ,h}: the flattened concatenation of head h's weight slices named in `strategy` ('q', 'k', 'v',
    'qk' (the official default) or 'qkv')  (find_match.py)."""
    if strategy not in ("q", "k", "v", "qk", "qkv"):
        raise ValueError(f"matching_vector: `strategy` must be q, k, v, qk or qkv, got {strategy!r}")
    w = attn.in_proj_weight.data
    return np.concatenate([w[head_rows(attn, p, h)].ravel() for p in strategy]).astype(np.float64)


# --- similarity and pairing ------------------------------------------------------------------------------
def cosine_matrix(vectors) -> np.ndarray:
    """S_ij = ⟨s_i, s_j⟩ / (‖s_i‖ ‖s_j‖) for the rows s_i of `vectors` (N, n)."""
    v = np.asarray(vectors, dtype=np.float64)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    return u @ u.T  # cosine similarity (find_match.py, F.cosine_similarity)


def earlier_layer_mask(n_layers: int, n_heads: int) -> np.ndarray:
    """Candidate pairs (target i, source j) over heads numbered i = ℓ·H + h: True where ℓ(j) < ℓ(i) (a head is
    matched only against heads of earlier layers, find_match.py)."""
    layer = np.repeat(np.arange(n_layers), n_heads)
    return layer[None, :] < layer[:, None]


def n_shared(share_ratio: float, n_layers: int, n_heads: int) -> int:
    """k = ⌊ρ L H⌋ heads give up their own weights (direct_share.py, getHeadIndex)."""
    if not 0 <= share_ratio < 1:
        raise ValueError(f"n_shared: `share_ratio` must be in [0, 1), got {share_ratio}")
    return int(share_ratio * n_layers * n_heads)


def greedy_pairs(scores, mask, k: int) -> list:
    """Up to k (target, source) pairs: candidates (mask True) in descending score (ties: lower target, then
    lower source first), each accepted if its target is neither replaced nor a source yet and its source is
    not replaced.  With scores = cosine similarity this is DirectShare's choice of shared heads; any other
    score (random, by position) gives an ablation that differs only in how heads are chosen."""
    scores, mask = np.asarray(scores, dtype=np.float64), np.asarray(mask, dtype=bool)
    if scores.shape != mask.shape or scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(
            f"greedy_pairs: `scores` and `mask` must be the same (N, N), got {scores.shape}, {mask.shape}"
        )
    ii, jj = np.nonzero(mask)
    order = np.lexsort((jj, ii, -scores[ii, jj]))  # descending score, then by index
    replaced, sources, pairs = set(), set(), []
    for t in order:
        if len(pairs) == k:
            break
        i, j = int(ii[t]), int(jj[t])
        if i in replaced or i in sources or j in replaced:
            continue
        pairs.append((i, j))  # head i reuses head j's weights
        replaced.add(i)
        sources.add(j)
    return pairs


def directshare_pairs(attns, share_ratio: float, strategy: str = "qk") -> tuple:
    """DirectShare's choice on a list of per-layer attentions: (pairs, S) with S the cosine similarity of the
    matching vectors and pairs = greedy_pairs(S, earlier-layer mask, ⌊ρLH⌋)."""
    n_heads = attns[0].num_heads
    vectors = [matching_vector(a, h, strategy) for a in attns for h in range(n_heads)]
    S = cosine_matrix(vectors)
    k = n_shared(share_ratio, len(attns), n_heads)
    return greedy_pairs(S, earlier_layer_mask(len(attns), n_heads), k), S


# --- sharing and the PostShare penalty -------------------------------------------------------------------
def share_heads(attns, pairs) -> None:
    """In place: for each (target, source), head target takes source's q/k/v/o slices (and q/k/v bias
    slices): (W_q, W_k, W_v, W_o)^{ℓ,h} ← (W_q, W_k, W_v, W_o)^{ℓ',h'}  (direct_share.py, DirectShare).
    Sources are never targets (greedy_pairs), so the order of the pairs does not matter."""
    n_heads = attns[0].num_heads
    for i, j in pairs:
        (lt, ht), (ls, hs) = divmod(i, n_heads), divmod(j, n_heads)
        at, as_ = attns[lt], attns[ls]
        for p in PARTS:
            at.in_proj_weight.data[head_rows(at, p, ht)] = as_.in_proj_weight.data[head_rows(as_, p, hs)]
            if at.in_proj_bias is not None:
                at.in_proj_bias.data[head_rows(at, p, ht)] = as_.in_proj_bias.data[head_rows(as_, p, hs)]
        at.out_proj.weight.data[:, head_cols(at, ht)] = as_.out_proj.weight.data[:, head_cols(as_, hs)]


def share_penalty(attns, pairs):
    """R = (1/|P|) Σ_pairs Σ_{W∈{W_q,W_k,W_v}} ‖W^{target} − W^{source}‖_F, a Tensor differentiable in the
    attentions' `in_proj_weight` (workflow.py, CustomTrainer.compute_loss, weight_loss='norm')."""
    if not pairs:
        raise ValueError("share_penalty: no pairs")
    n_heads = attns[0].num_heads
    total = 0.0
    for i, j in pairs:
        (lt, ht), (ls, hs) = divmod(i, n_heads), divmod(j, n_heads)
        at, as_ = attns[lt], attns[ls]
        for p in PARTS:
            diff = at.in_proj_weight[head_rows(at, p, ht)] - as_.in_proj_weight[head_rows(as_, p, hs)]
            total = total + (diff * diff).sum() ** 0.5  # ‖ΔW‖_F
    return total / len(pairs)


def head_param_count(attn) -> int:
    """Parameters one head owns: 3 d_h d (q, k, v) + d d_h (o), plus 3 d_h biases if the layer has them."""
    d, e = attn.head_dim, attn.embed_dim
    return 4 * d * e + (3 * d if attn.in_proj_bias is not None else 0)


def shared_param_count(model, attns, pairs) -> int:
    """Unique parameters of `model` once the targets of `pairs` reuse their sources' weights."""
    return int(sum(p.data.size for p in model.parameters())) - len(pairs) * head_param_count(attns[0])
