r"""What Matters in Transformers?  Similarity-based Attention Drop, MLP Drop, Block Drop and Joint Layer Drop.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/CASE-Lab-UMD/LLM-Drop (`src/llmtuner/compression/prune/layer_drop.py` —
`get_layer_similarities`, `discrete_layer_dropping`; `block_drop.py` — `get_block_similarities`,
`discrete_block_dropping`; `hparams/pruning_args.py` — the defaults `layer_drop_norm=True`,
`layer_drop_method="discrete"`).

The idea
--------
A module that barely changes its input is redundant.  For a pre-norm block
$X \to X + \mathrm{Attn}(\mathrm{LN}_1(X)) = Y \to Y + \mathrm{MLP}(\mathrm{LN}_2(Y)) = Z$ the paper scores a
module by how much its output, *residual included*, still points where its input pointed: on calibration
tokens $t$ (hidden vectors $x_t$ in, $y_t$ out),

$$S \;=\; 1 - \mathbb E_t\!\left[\frac{x_t\cdot y_t}{\lVert x_t\rVert\,\lVert y_t\rVert}\right]
   \qquad\text{(the importance score, Sec. 2)}$$

computed for a block ($X \to Z$, Block Drop), an attention layer ($X \to Y$, Attention Drop) or an MLP
layer ($Y \to Z$, MLP Drop).  The k modules of the chosen kind with the lowest $S$ (highest similarity)
are removed one-shot, each *together with its LayerNorm* (the residual passes through unchanged):
dropping attention layer ℓ makes block ℓ compute $Y = X$.  Joint Layer Drop ranks the attention and MLP
scores together and removes the k lowest of the 2L.  Every score is measured once on the undropped
model (the official "discrete" mode), no retraining.  The paper's finding is that attention layers —
deeper ones especially — score far lower than MLP layers, so dropping them costs little.

The paper writes the score and the drops in words and small displays (Sec. 2, "Block Drop" / "Layer
Drop", Fig. 2–4) whose equation numbers we could not confirm from the text we read, so the formula lines
cite the section and the official function that computes them.

What is implemented, and deviations
-----------------------------------
* `token_cosine` / `importance` (the score on arrays; cosine per token, mean over every token of every
  calibration sequence, as `F.cosine_similarity(..., dim=-1).mean()` in the official code),
  `sublayer_importances` (attention, MLP and block scores of every block of a `CharTransformerLM`, from one
  forward pass of the undropped model on calibration ids; the input of a layer is the residual stream
  *before* its LayerNorm, the official default `layer_drop_norm=True`), `select_drop` (the k lowest
  scores; ties to the lower index), `joint_select` (Joint Layer Drop), `drop_layers` (replaces blocks by
  `LayerDroppedBlock`, which skips the dropped sublayers and their norms), and `attention_drop`,
  `mlp_drop`, `block_drop`, `joint_layer_drop` (score, select and drop in one call).
* Toy scale: a 6-block character-level transformer on the bundled text instead of Llama/Mistral; the
  calibration set is a slice of the training windows (the paper uses 256 C4 samples).  Only pre-norm
  blocks (the paper's models are pre-norm).  The official code's cosine runs in float32; we compute in
  float64.  The paper's iterative variant and its quantization add-on are not implemented.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/llm-drop-attention.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import no_grad
from ....nn.module import Module

CATALOG_ENTRY = {
    "slug": "llm-drop-attention",
    "title": "What Matters in Transformers? Not All Attention is Needed",
    "authors": "Shwai He, Guoheng Sun, Zheyu Shen, Ang Li",
    "year": 2024,
    "arxiv": "2406.15786",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/llm-drop-attention.ipynb",
    "verified": "official-code",
    "verification_note": (
        "The score 1 − mean token cosine between a module's input (the residual stream before its "
        "LayerNorm, layer_drop_norm=True) and its output with the residual added, all scores taken on the "
        "undropped model, the k highest-similarity modules dropped one-shot ('discrete'), Joint Layer Drop "
        "as one ranking over the concatenated attention and MLP scores, and Block Drop on block input vs "
        "output, read in CASE-Lab-UMD/LLM-Drop layer_drop.py, block_drop.py and pruning_args.py.  The "
        "paper's equation numbers could not be confirmed; formula lines cite Sec. 2 and the official code."
    ),
    "summary": (
        "Score every attention layer, MLP layer or block by 1 − cosine similarity between its input and "
        "its output (residual included) on calibration data and remove the lowest-scoring ones with their "
        "LayerNorms, no retraining; attention layers, deep ones especially, are found far more redundant "
        "than MLP layers or blocks, and a joint ranking of attention and MLP layers drops more."
    ),
    "equations": [
        "S = 1 − E_t[ x_t·y_t / (‖x_t‖ ‖y_t‖) ]   (importance; x = module input, y = its output)     (Sec. 2)",
        "Attention: x = X, y = X + Attn(LN₁(X));  MLP: x = Y, y = Y + MLP(LN₂(Y));  block: X → Z   (Sec. 2)",
        "drop the k modules with the lowest S (one-shot, on the undropped model); dropped ⇒ y = x   (Sec. 2)",
        "Joint Layer Drop: the k lowest of the 2L attention and MLP scores ranked together      (Sec. 2)",
    ],
}

__all__ = [
    "token_cosine",
    "importance",
    "attention_branch",
    "mlp_branch",
    "sublayer_importances",
    "select_drop",
    "joint_select",
    "LayerDroppedBlock",
    "drop_layers",
    "attention_drop",
    "mlp_drop",
    "block_drop",
    "joint_layer_drop",
]


# --- the score -------------------------------------------------------------------------------------------
def token_cosine(x, y, eps: float = 1e-8) -> np.ndarray:
    """Cosine similarity of every token's hidden vector: x, y (..., d) → (...), float64."""
    x = np.asarray(getattr(x, "data", x), dtype=np.float64)
    y = np.asarray(getattr(y, "data", y), dtype=np.float64)
    if x.shape != y.shape or x.ndim < 1:
        raise ValueError(
            f"token_cosine: `x` and `y` must have one shape (..., d), got {x.shape} and {y.shape}"
        )
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    return np.sum(x * y, axis=-1) / np.maximum(nx * ny, eps)  # x·y / (‖x‖‖y‖) per token (Sec. 2)


def importance(x, y) -> float:
    """S = 1 − mean over tokens of cos(x_t, y_t): a module's importance (low S = redundant)."""
    return float(1.0 - np.mean(token_cosine(x, y)))  # S = 1 − E_t[cos] (Sec. 2; get_layer_similarities)


# --- the sublayers of a pre-norm block ----------------------------------------------------------------------
def _check_pre_norm(block) -> None:
    if not getattr(block, "norm_first", False):
        raise ValueError(
            "llm-drop-attention: only pre-norm TransformerBlocks (norm_first=True) are supported"
        )


def attention_branch(block, x, is_causal: bool = True, attn_mask=None, key_padding_mask=None):
    """Attn(LN₁(x)): what the attention sublayer adds to the residual stream."""
    y = block.self_attn(
        block.norm1(x), key_padding_mask=key_padding_mask, attn_mask=attn_mask, is_causal=is_causal
    )
    return block.dropout1(y)


def mlp_branch(block, x):
    """W₂ act(W₁ LN₂(x)): what the MLP sublayer adds to the residual stream."""
    h = block.dropout(block.activation(block.linear1(block.norm2(x))))
    return block.dropout2(block.linear2(h))


def sublayer_importances(model, idx) -> dict:
    """The scores of every block of a `CharTransformerLM` on calibration ids `idx` (N, T).

    One forward pass of the model as it is (nothing dropped), in eval mode and without gradients:
    {"attn": (L,), "mlp": (L,), "block": (L,)} float64 arrays, S = 1 − mean token cosine of
    X → X + Attn(LN₁ X), Y → Y + MLP(LN₂ Y) and X → Z."""
    idx = np.asarray(getattr(idx, "data", idx))
    was_training = model.training
    model.eval()
    out = {"attn": [], "mlp": [], "block": []}
    try:
        with no_grad():
            h = model.tok_emb(idx) + model.pos_emb(np.arange(idx.shape[1]))
            for block in model.blocks:
                inner = block.block if isinstance(block, LayerDroppedBlock) else block
                _check_pre_norm(inner)
                y = h + attention_branch(inner, h)  # Y = X + Attn(LN₁(X)) (Sec. 2, attention layer)
                z = y + mlp_branch(inner, y)  # Z = Y + MLP(LN₂(Y)) (Sec. 2, MLP layer)
                out["attn"].append(importance(h, y))  # layer_drop.py, target_layer="attn"
                out["mlp"].append(importance(y, z))  # layer_drop.py, target_layer="mlp"
                out["block"].append(importance(h, z))  # block_drop.py, get_block_similarities
                h = z
    finally:
        model.train(was_training)
    return {k: np.array(v) for k, v in out.items()}


# --- which modules to drop -----------------------------------------------------------------------------------
def select_drop(scores, k: int) -> list:
    """The indices of the k lowest scores (the k most redundant modules), ties to the lower index, sorted."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"select_drop: `scores` must be 1-D, got shape {scores.shape}")
    if not 0 <= k <= len(scores):
        raise ValueError(f"select_drop: `k` must be in 0..{len(scores)}, got {k}")
    order = np.argsort(scores, kind="stable")  # highest similarity first (discrete_layer_dropping)
    return sorted(int(i) for i in order[:k])


def joint_select(attn_scores, mlp_scores, k: int) -> tuple:
    """Joint Layer Drop: rank the L attention and L MLP scores together and take the k lowest.

    Returns (attention indices, MLP indices); the attention score wins a tie (it comes first in the
    concatenation, as `torch.cat((attn, mlp))` in the official code)."""
    a, m = np.asarray(attn_scores, dtype=np.float64), np.asarray(mlp_scores, dtype=np.float64)
    if a.shape != m.shape or a.ndim != 1:
        raise ValueError(f"joint_select: one 1-D score per block for each kind, got {a.shape} and {m.shape}")
    chosen = select_drop(np.concatenate([a, m]), k)  # one ranking over 2L modules (Sec. 2, Joint Layer Drop)
    n = len(a)
    return [i for i in chosen if i < n], [i - n for i in chosen if i >= n]


# --- dropping ------------------------------------------------------------------------------------------------
class LayerDroppedBlock(Module):
    """A pre-norm block with its attention and/or MLP sublayer removed (with its LayerNorm):
    x ← x [+ Attn(LN₁ x)];  x ← x [+ MLP(LN₂ x)].  Dropping both makes the block the identity (Block Drop).
    The remaining sublayers keep their weights (the wrapped block is kept as `block`)."""

    def __init__(self, block, drop_attn: bool = False, drop_mlp: bool = False):
        super().__init__()
        inner = block.block if isinstance(block, LayerDroppedBlock) else block
        _check_pre_norm(inner)
        if isinstance(block, LayerDroppedBlock):  # dropping twice accumulates
            drop_attn, drop_mlp = drop_attn or block.drop_attn, drop_mlp or block.drop_mlp
        self.block, self.drop_attn, self.drop_mlp = inner, bool(drop_attn), bool(drop_mlp)

    def forward(self, x, attn_mask=None, is_causal: bool = False, key_padding_mask=None):
        if not self.drop_attn:
            x = x + attention_branch(self.block, x, is_causal, attn_mask, key_padding_mask)
        if not self.drop_mlp:  # a dropped sublayer passes the residual through: y = x (Sec. 2)
            x = x + mlp_branch(self.block, x)
        return x

    def extra_repr(self):
        return f"drop_attn={self.drop_attn}, drop_mlp={self.drop_mlp}"


def drop_layers(model, attn=(), mlp=()):
    """Remove the attention sublayers of blocks `attn` and the MLP sublayers of blocks `mlp` (in place;
    a block in both is dropped whole).  Returns the model."""
    n = len(model.blocks)
    attn, mlp = {int(i) for i in attn}, {int(i) for i in mlp}
    bad = sorted(i for i in attn | mlp if not 0 <= i < n)
    if bad:
        raise ValueError(f"drop_layers: block indices must be in 0..{n - 1}, got {bad}")
    for i in sorted(attn | mlp):
        model.blocks[i] = LayerDroppedBlock(model.blocks[i], drop_attn=i in attn, drop_mlp=i in mlp)
    return model


def attention_drop(model, calib_idx, k: int) -> list:
    """Attention Drop: score on `calib_idx`, drop the k most redundant attention layers; their indices."""
    chosen = select_drop(sublayer_importances(model, calib_idx)["attn"], k)
    drop_layers(model, attn=chosen)
    return chosen


def mlp_drop(model, calib_idx, k: int) -> list:
    """MLP Drop: the same with the MLP layers."""
    chosen = select_drop(sublayer_importances(model, calib_idx)["mlp"], k)
    drop_layers(model, mlp=chosen)
    return chosen


def block_drop(model, calib_idx, k: int) -> list:
    """Block Drop (discrete): drop the k blocks whose output is most similar to their input."""
    chosen = select_drop(sublayer_importances(model, calib_idx)["block"], k)
    drop_layers(model, attn=chosen, mlp=chosen)
    return chosen


def joint_layer_drop(model, calib_idx, k: int) -> tuple:
    """Joint Layer Drop: the k most redundant of all attention and MLP layers; (attn ids, MLP ids)."""
    s = sublayer_importances(model, calib_idx)
    attn, mlp = joint_select(s["attn"], s["mlp"], k)
    drop_layers(model, attn=attn, mlp=mlp)
    return attn, mlp
