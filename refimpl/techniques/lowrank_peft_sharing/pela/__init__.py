r"""PELA: replace a pretrained model by its low-rank approximation, recover it in an intermediate pretraining
stage (feature distillation from the original model + a weight-perturbation regulariser), then fine-tune
the small model downstream.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  The full text of the
paper was not available to us; the rules below are read from the authors' code (github.com/guoyang9/PELA,
`DeiT/low_rank.py`, `DeiT/engine.py`, `Swin/main.py`, `ALBEF/Pretrain.py`), so the comments cite code
functions, not equation numbers.

1. Low-rank approximation (`low_rank.py: low_rank_approximate`, `ModuleLowRank._apply`).  Every compressed
   Linear weight $W\in\mathbb R^{d_{out}\times d_{in}}$ is cut to its top $r$ singular triplets and the
   singular values are split evenly between two factors:
   $$W \approx B A,\qquad B = U_r S_r^{1/2}\in\mathbb R^{d_{out}\times r},\quad
     A = S_r^{1/2}V_r^\top\in\mathbb R^{r\times d_{in}},$$
   so the layer becomes Linear($d_{in}\to r$, no bias) then Linear($r\to d_{out}$, the old bias).  The code
   derives $r$ from a compression ratio $c$: $r=\lfloor d_{in}d_{out}/(c(d_{in}+d_{out}))\rfloor$
   (`rank_for_ratio`); the heads are not compressed (`name_omit` holds "head").
2. Intermediate pretraining (`engine.py: train_one_epoch`, `Swin/main.py`): the low-rank student is trained
   on the original pretraining data with the original model as a frozen teacher, minimising
   $$\mathcal L = \mathcal L_{task} + \alpha\,\mathcal L_{fm} + \beta\,\mathcal L_{sr} + \gamma\,\mathcal R,$$
   $$\mathcal L_{fm}=\frac1L\sum_{l=1}^{L}\mathrm{MSE}(h^s_l,h^t_l),\qquad
     \mathcal L_{sr}=\mathrm{MSE}(z^s,z^t),\qquad
     \mathcal R=\frac1{|\mathcal W|}\sum_{W\in\mathcal W}\big(\lVert BA-W\rVert_{\max}-\epsilon\big)^2,$$
   with $h_l$ the output of block $l$ (every block of the ViT/Swin), $z$ the logits, $\lVert\cdot\rVert_{\max}$
   the largest absolute entry (`torch.norm(·, inf)` of a matrix flattens it) and $\epsilon=10^{-3}$
   (`inf_norm_eps`).  The released scripts use $\alpha=1$, $\beta=0$ (`kd_alpha`, `kd_beta`) and, for Swin,
   $\gamma=1$ (`inf_norm_weight`).  Every parameter of the student trains; the teacher is frozen.
3. Downstream: the recovered low-rank model is fine-tuned as an ordinary (smaller) model.

Deviations: our blocks are the ReLU layers of an MLP trunk (not Transformer blocks); the loss weights are
tuned on validation in the experiment rather than fixed.  The experiment (`experiment.py`) is ours.
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import Linear
from ....nn import functional as F
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "pela",
    "title": "PELA: Learning Parameter-Efficient Models with Low-Rank Approximation",
    "authors": "Yangyang Guo, Guangzhi Wang, Mohan Kankanhalli",
    "year": 2023,
    "arxiv": "2310.10700",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/pela.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read against the authors' code, github.com/guoyang9/PELA (CVPR 2024): the SVD split W ≈ (U_r S_r^½)"
        "(S_r^½ V_rᵀ) and the rank from the compression ratio (DeiT/low_rank.py low_rank_approximate, "
        "ModuleLowRank._apply), the intermediate-stage loss task + kd_alpha·L_fm + kd_beta·L_sr with L_fm the "
        "mean over blocks of the feature MSE and L_sr the logit MSE (DeiT/engine.py train_one_epoch), and the "
        "weight-perturbation term mean over layers of (‖BA − W‖_max − eps)² with eps = 1e-3 (engine.py "
        "inf_norm, weighted by inf_norm_weight in Swin/main.py). The paper's own text and equation numbers "
        "were not available to us and are not cited. The toy experiment is ours."
    ),
    "summary": (
        "Compress a pretrained model by truncated SVD of each weight (W ≈ BA, singular values split between "
        "the factors), recover the low-rank model in an intermediate pretraining stage on the original data "
        "with feature distillation from the frozen original and a regulariser keeping BA within ε of W in "
        "max-norm, then fine-tune the small model on downstream tasks."
    ),
    "equations": [
        "W ≈ B A,  B = U_r S_r^{1/2},  A = S_r^{1/2} V_rᵀ   (top-r SVD, singular values split)",
        "r = ⌊d_in d_out / (c (d_in + d_out))⌋   (compression ratio c)",
        "L = L_task + α L_fm + β L_sr + γ R",
        "L_fm = (1/L) Σ_l MSE(h_l^student, h_l^teacher),   L_sr = MSE(z^student, z^teacher)",
        "R = mean over layers of (‖B A − W‖_max − ε)²,  ε = 1e-3",
    ],
}


# --- 1. low-rank approximation ----------------------------------------------------------------------
def rank_for_ratio(d_in: int, d_out: int, ratio: float) -> int:
    """r = ⌊d_in·d_out / (c·(d_in + d_out))⌋: the rank at which the two factors hold 1/c of W's entries
    (`low_rank.py: ModuleLowRank._apply`)."""
    if ratio <= 0:
        raise ValueError(f"rank_for_ratio: the compression ratio must be > 0, got {ratio}")
    return int((d_in * d_out) // (ratio * (d_in + d_out)))


def svd_factors(W, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, A) with B = U_r S_r^½ (d_out, r) and A = S_r^½ V_rᵀ (r, d_in), so B A is the best rank-r
    approximation of W (Eckart–Young) with the singular values split evenly (`low_rank_approximate`)."""
    W = np.asarray(W)
    if not isinstance(r, (int, np.integer)) or not 1 <= r <= min(W.shape):
        raise ValueError(f"svd_factors: rank `r` must be an int in [1, {min(W.shape)}], got {r!r}")
    U, S, Vt = np.linalg.svd(W.astype(np.float64), full_matrices=False)
    half = np.sqrt(S[:r])
    return (U[:, :r] * half).astype(W.dtype), (half[:, None] * Vt[:r]).astype(W.dtype)


class LowRankLinear(Module):
    """y = (x Aᵀ) Bᵀ + b: a Linear(d_in → d_out) replaced by Linear(d_in → r, no bias) ∘ Linear(r → d_out)."""

    def __init__(self, B, A, bias=None):
        super().__init__()
        self.B, self.A = Parameter(np.array(B)), Parameter(np.array(A))
        self.bias = None if bias is None else Parameter(np.array(bias))
        self.out_features, self.rank = self.B.shape
        self.in_features = self.A.shape[1]

    @classmethod
    def from_linear(cls, layer: Linear, r: int) -> LowRankLinear:
        B, A = svd_factors(layer.weight.data, r)
        return cls(B, A, None if layer.bias is None else layer.bias.data)

    def forward(self, x):
        return F.linear(F.linear(x, self.A), self.B, self.bias)

    def weight(self):
        """The rank-r product B A (a Tensor in the graph)."""
        return ops.matmul(self.B, self.A)

    def extra_repr(self):
        return f"in_features={self.in_features}, rank={self.rank}, out_features={self.out_features}"


def low_rank_model(model, r: int | None = None, ratio: float | None = None):
    """Replace every Linear of the Sequential `model` (the trunk; heads are kept outside, as the official
    code omits them) by its rank-r LowRankLinear, in place; r given, or from the compression `ratio`."""
    if (r is None) == (ratio is None):
        raise ValueError("low_rank_model: give exactly one of `r` and `ratio`")
    for i, m in enumerate(list(model)):
        if isinstance(m, Linear):
            rank = r if r is not None else rank_for_ratio(m.in_features, m.out_features, ratio)
            model[i] = LowRankLinear.from_linear(m, rank)
    return model


def n_weights(model) -> int:
    """Entries of the model's Linear / LowRankLinear weights and biases."""
    return int(sum(p.data.size for p in model.parameters()))


# --- 2. the intermediate-stage losses ---------------------------------------------------------------
def block_features(trunk, x) -> list:
    """[h_1, …, h_L]: the output of every block (here each ReLU) of the Sequential trunk, in order."""
    feats, h = [], x
    for m in trunk:
        h = m(h)
        if not isinstance(m, (Linear, LowRankLinear)):
            feats.append(h)
    return feats


def feature_distillation_loss(feats_s, feats_t):
    """L_fm = (1/L) Σ_l MSE(h_l^s, h_l^t)  (`engine.py: train_one_epoch`, kd_alpha term)."""
    if len(feats_s) != len(feats_t) or not feats_s:
        raise ValueError(
            f"feature_distillation_loss: {len(feats_s)} student vs {len(feats_t)} teacher blocks"
        )
    total = F.mse_loss(feats_s[0], feats_t[0])
    for fs, ft in zip(feats_s[1:], feats_t[1:]):
        total = total + F.mse_loss(fs, ft)
    return total / len(feats_s)


def logit_distillation_loss(z_s, z_t):
    """L_sr = MSE(z^s, z^t)  (`engine.py: train_one_epoch`, kd_beta term)."""
    return F.mse_loss(z_s, z_t)


def weight_perturbation_loss(pairs, eps: float = 1e-3):
    """R = (1/|pairs|) Σ (‖B A − W‖_max − ε)² over (LowRankLinear, original W) pairs  (`engine.py: inf_norm`:
    mse_loss(torch.norm(BA − W, inf), eps), the inf-norm of a matrix taken over all its entries)."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("weight_perturbation_loss: no (low-rank layer, weight) pairs")
    total = None
    for layer, W in pairs:
        W = W if isinstance(W, Tensor) else Tensor(np.asarray(W))
        gap = ops.max(ops.abs(layer.weight() - W)) - eps  # ‖B A − W‖_max − ε
        total = gap * gap if total is None else total + gap * gap
    return total / len(pairs)


def pela_loss(
    trunk, head, x, y, teacher_feats, teacher_logits, originals, *, alpha, beta=0.0, gamma, eps=1e-3
):
    """L = CE(head(trunk(x)), y) + α L_fm + β L_sr + γ R for one batch; `teacher_feats`/`teacher_logits` are
    the frozen original model's block outputs and logits on x, `originals` the (LowRankLinear, W) pairs.
    Returns (L, parts) with the parts' float values."""
    feats = block_features(trunk, x)
    logits = head(feats[-1])
    task = F.cross_entropy(logits, y)
    loss, parts = task, {"task": float(task.data)}
    if alpha:
        fm = feature_distillation_loss(feats, teacher_feats)
        loss, parts["fm"] = loss + alpha * fm, float(fm.data)
    if beta:
        sr = logit_distillation_loss(logits, teacher_logits)
        loss, parts["sr"] = loss + beta * sr, float(sr.data)
    if gamma:
        reg = weight_perturbation_loss(originals, eps)
        loss, parts["reg"] = loss + gamma * reg, float(reg.data)
    return loss, parts
