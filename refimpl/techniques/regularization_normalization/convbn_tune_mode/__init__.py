r"""Train / Eval / Deploy / Tune modes of a Conv-BN block.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/apple/ml-tune-mode-convbn (`tune_mode_convbn.py`:
`efficient_conv_bn_eval_forward`, `efficient_conv_bn_eval_control`), later merged into PyTorch as
`torch/_inductor/fx_passes/efficient_conv_bn_eval.py` and into MMCV/MMEngine.  The paper's body (its
equation numbers and its stability analysis) was not available to us: formula lines cite the official
code, and the step-size derivation below is ours.

The idea
--------
A convolution with weight W and bias b followed by BatchNorm (γ, β, running mean μ, running variance
σ², ε) runs in one of four modes:

* **Train** — BN normalises with the statistics of the current batch (and updates μ, σ²):
  $y = \gamma\,\frac{(W * x + b) - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta$.
* **Eval** — BN uses the frozen running statistics, as two separate operations:
  $z = W * x + b,\quad y = \gamma\,\frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$.
  This is the usual mode for fine-tuning a pretrained detector or classifier (transfer learning).
* **Deploy** — the affine BN is folded into the conv once,
  $W' = s \odot W,\ b' = \beta + s\,(b - \mu),\ s = \gamma/\sqrt{\sigma^2 + \epsilon}$ (per output
  channel), and $y = W' * x + b'$: one op, the cheapest — but if W', b' are then *trained*, training is
  less stable.
* **Tune** (the paper's proposal) — compute W', b' from (W, b, γ, β, μ, σ²) *on the fly* in every
  forward pass and convolve with them.  Convolution is linear in its weight, so
  $\gamma\frac{W*x + b - \mu}{\sqrt{\sigma^2+\epsilon}} + \beta = (sW) * x + \beta + s(b - \mu)$: Tune
  computes exactly the Eval function of the same parameters (W, b, γ, β) — same outputs, same gradients,
  hence the same training trajectory — but the only feature-map-sized tensor kept for backward is the
  conv's input, because the BN affine now acts on the (small) weight instead of on the (large) output.

Why training in Deploy mode differs (our derivation).  Freeze γ and β, as is common when fine-tuning.
In Eval/Tune mode the trained variable is W and the function sees W' = sW, so by the chain rule
$\partial L/\partial W = s\,\partial L/\partial W'$ and one SGD step on W moves W' by

$$ \Delta W'_{\text{Eval}} = s\,\Delta W = -\eta\, s^2\, \frac{\partial L}{\partial W'}, \qquad
   \Delta W'_{\text{Deploy}} = -\eta\, \frac{\partial L}{\partial W'} $$

(per output channel).  At the same learning rate and from the same point, Deploy's step on the folded
weight is $1/s^2$ times Eval's.  A pretrained network whose BN layers have $s = \gamma/\sigma \ll 1$
(large running variances) therefore takes far larger steps in Deploy mode: a learning rate that fine-tunes
well in Eval mode can make Deploy-mode training diverge.  The scale s does not change the function — for
any $k > 0$, $(kW, kb, k\mu, k^2\sigma^2 + (k^2 - 1)\epsilon)$ computes exactly the same block as
$(W, b, \mu, \sigma^2)$ with $s \to s/k$ (`rescale_block`) — so it is a property of how the network is
parameterized, not of what it computes, and only the trained parameterization feels it.

What is implemented, and deviations
-----------------------------------
* The four forward passes as pure functions, a `ConvBN` module with a `mode` switch, and `rescale_block`
  (the function-preserving change of s above, which the experiment uses to put the toy in the regime
  s ≪ 1 whatever s pretraining left; with s > 1 the effect would be reversed).
* The fold follows the official `efficient_conv_bn_eval_forward` (a missing conv bias counts as 0, a
  missing BN affine as γ = 1, β = 0), through the family's shared `fold_bn`.
* Memory is measured as the bytes of the arrays our autograd graph keeps for backward (see
  `experiment.saved_tensor_bytes`), not GPU memory.
* Toy scale: a two-block ConvNet on 8×8 digits instead of detectors and ResNets on ImageNet-scale data;
  see `experiment.py` for the setup.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/convbn-tune-mode.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ....autograd import ops
from ....nn import functional as F
from ....nn.module import Module, Parameter
from ..folding import fold_bn

CATALOG_ENTRY = {
    "slug": "convbn-tune-mode",
    "title": "Efficient ConvBN Blocks for Transfer Learning and Beyond",
    "authors": "Kaichao You, Guo Qin, Anchang Bao, Meng Cao, Ping Huang, Jiulong Shan, Mingsheng Long",
    "year": 2024,
    "arxiv": "2305.11624",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/convbn-tune-mode.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Fold and Tune-mode forward checked against the authors' code, apple/ml-tune-mode-convbn "
        "tune_mode_convbn.py (efficient_conv_bn_eval_forward, lines 14-60: coefficient γ·rsqrt(σ²+ε), "
        "W' = W·coeff, b' = β + coeff·(b − μ), missing bias/affine as 0/1; efficient_conv_bn_eval_control, "
        "used only when BN is in eval mode). The paper's body (equation numbers, stability analysis) was not "
        "available: the Deploy-mode step-size argument (ΔW' = −η s² ∂L/∂W' in Eval/Tune vs −η ∂L/∂W' in "
        "Deploy) is our own derivation, tested numerically."
    ),
    "summary": (
        "A Conv-BN block in Eval mode (frozen statistics) can be computed by folding BN into the conv "
        "weight on the fly (Tune mode): same outputs and gradients as Eval mode, so fine-tuning is "
        "unchanged, but the BN affine acts on the small weight instead of the large feature map, saving "
        "memory. Folding once and training the folded weight (Deploy mode) changes the optimisation: "
        "its steps on the folded weight are 1/s² times Eval's, s = γ/√(σ²+ε)."
    ),
    "equations": [
        "Train:  y = γ (W*x + b − μ_B)/√(σ_B² + ε) + β",
        "Eval:   y = γ (W*x + b − μ)/√(σ² + ε) + β   (running statistics)",
        "s = γ/√(σ² + ε),  W' = s ⊙ W,  b' = β + s (b − μ)   (tune_mode_convbn.py L48-58)",
        "Deploy: y = W'*x + b' with W', b' the trained variables",
        "Tune:   y = (s ⊙ W) * x + (β + s (b − μ)), recomputed from (W, b, γ, β) every step",
        "one SGD step, γ, β frozen:  ΔW'_Eval = −η s² ∂L/∂W',  ΔW'_Deploy = −η ∂L/∂W'   (ours)",
    ],
}

__all__ = [
    "MODES",
    "bn_scale",
    "convbn_train",
    "convbn_eval",
    "convbn_tune",
    "convbn_deploy",
    "rescale_block",
    "ConvBN",
    "SmallConvNet",
    "contract_examples",
]

MODES = ("train", "eval", "deploy", "tune")


# --- the four forward passes -------------------------------------------------------------------------
def bn_scale(gamma, running_var, eps=1e-5):
    """s = γ/√(σ² + ε), the per-channel scale the fold multiplies W by (tune_mode_convbn.py L48-52)."""
    g = np.asarray(getattr(gamma, "data", gamma), dtype=np.float64)
    return g / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)


def _conv(x, w, b, stride, padding):
    return F.conv2d(x, w, b, stride=stride, padding=padding)


def convbn_train(
    x, w, b, gamma, beta, running_mean, running_var, eps=1e-5, momentum=0.1, stride=1, padding=0
):
    """Train mode: batch statistics (the running statistics are updated in place)."""
    z = _conv(x, w, b, stride, padding)  # z = W*x + b
    return F.batch_norm(z, running_mean, running_var, gamma, beta, training=True, momentum=momentum, eps=eps)


def convbn_eval(x, w, b, gamma, beta, running_mean, running_var, eps=1e-5, stride=1, padding=0):
    """Eval mode: z = W*x + b, then y = γ (z − μ)/√(σ² + ε) + β on the feature map."""
    z = _conv(x, w, b, stride, padding)  # z = W*x + b
    return F.batch_norm(z, running_mean, running_var, gamma, beta, training=False, eps=eps)


def convbn_tune(x, w, b, gamma, beta, running_mean, running_var, eps=1e-5, stride=1, padding=0):
    """Tune mode: W' = s ⊙ W, b' = β + s (b − μ) computed differentiably, then one conv."""
    w_t, b_t = fold_bn(w, b, gamma, beta, running_mean, running_var, eps)  # tune_mode_convbn.py L48-58
    return _conv(x, w_t, b_t, stride, padding)  # L60: conv with the on-the-fly weight and bias


def convbn_deploy(x, w_folded, b_folded, stride=1, padding=0):
    """Deploy mode: one conv with the folded (and possibly trained) W', b'."""
    return _conv(x, w_folded, b_folded, stride, padding)  # y = W'*x + b'


def rescale_block(w, b, running_mean, running_var, k, eps=1e-5):
    """The same Eval-mode block with s divided by k (k > 0, per output channel or a scalar).

    Returns (k W, k b, k μ, k² σ² + (k² − 1) ε): then z → k z, z − μ → k (z − μ) and
    √(σ² + ε) → k √(σ² + ε), so y = γ (z − μ)/√(σ² + ε) + β is unchanged, while s = γ/√(σ² + ε) → s/k.
    `b` may be None (no conv bias)."""
    k = np.asarray(k, dtype=np.float64)
    if np.any(k <= 0):
        raise ValueError(f"rescale_block: `k` must be > 0, got {k}")
    w = np.asarray(w)
    kw = k.reshape((-1,) + (1,) * (w.ndim - 1)) if k.ndim else k
    new_var = k**2 * np.asarray(running_var, dtype=np.float64) + (k**2 - 1) * eps  # √(σ²+ε) → k √(σ²+ε)
    return (
        (w * kw).astype(w.dtype),  # W → k W
        None if b is None else (np.asarray(b) * k).astype(np.asarray(b).dtype),  # b → k b
        np.asarray(running_mean) * k,  # μ → k μ
        new_var,
    )


class ConvBN(Module):
    """Conv2d (no bias by default, as in ResNets) + BatchNorm2d with a `mode` switch.

    mode ∈ {"train", "eval", "tune", "deploy"}.  `to_deploy()` folds the current (W, b, γ, β, μ, σ²)
    into new trainable parameters `w_folded`, `b_folded`; after that only "deploy" is available.  The
    mode, not `Module.train()/eval()`, decides which statistics BN uses.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        bias=False,
        eps=1e-5,
        momentum=0.1,
        dtype=np.float64,
        rng=None,
    ):
        super().__init__()
        from ....nn.layers.conv import Conv2d
        from ....nn.layers.norm import BatchNorm2d

        self.conv = Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=bias,
            dtype=dtype,
            rng=rng,
        )
        self.bn = BatchNorm2d(out_channels, eps=eps, momentum=momentum, dtype=dtype)
        self.mode = "train"

    def set_mode(self, mode: str):
        if mode not in MODES:
            raise ValueError(f"ConvBN: `mode` must be one of {MODES}, got {mode!r}")
        if mode != "deploy" and "w_folded" in self._parameters:
            raise ValueError(
                f"ConvBN: a block already folded by to_deploy() can only run in 'deploy', got {mode!r}"
            )
        if mode == "deploy" and "w_folded" not in self._parameters:
            raise ValueError("ConvBN: call to_deploy() before using mode 'deploy'")
        self.mode = mode
        return self

    def scale(self) -> np.ndarray:
        """s = γ/√(σ² + ε) of this block (per output channel)."""
        return bn_scale(self.bn.weight.data, self.bn.running_var, self.bn.eps)

    def rescale(self, k):
        """Divide the block's s by k without changing its Eval-mode function (`rescale_block`)."""
        c, bn = self.conv, self.bn
        w, b, mean, var = rescale_block(
            c.weight.data, None if c.bias is None else c.bias.data, bn.running_mean, bn.running_var, k, bn.eps
        )
        c.weight.data[...] = w
        if c.bias is not None:
            c.bias.data[...] = b
        bn.running_mean[...], bn.running_var[...] = mean, var
        return self

    def to_deploy(self):
        """Fold BN into the conv once; W', b' become the block's only (trainable) parameters."""
        c, bn = self.conv, self.bn
        w, b = fold_bn(
            c.weight.data,
            None if c.bias is None else c.bias.data,
            bn.weight.data,
            bn.bias.data,
            bn.running_mean,
            bn.running_var,
            bn.eps,
        )
        self.geom = (c.stride, c.padding)
        del self.conv, self.bn
        self.w_folded = Parameter(np.array(w))
        self.b_folded = Parameter(np.array(b))
        self.mode = "deploy"
        return self

    def trainable(self, freeze_affine: bool = True) -> list:
        """The parameters a fine-tuning run updates: W (and b) in Eval/Tune mode — plus γ, β unless
        `freeze_affine` — and W', b' in Deploy mode."""
        if self.mode == "deploy":
            return [self.w_folded, self.b_folded]
        out = [p for p in (self.conv.weight, self.conv.bias) if p is not None]
        return out if freeze_affine else out + [self.bn.weight, self.bn.bias]

    def forward(self, x):
        if self.mode == "deploy":
            return convbn_deploy(x, self.w_folded, self.b_folded, *self.geom)
        c, bn = self.conv, self.bn
        args = (x, c.weight, c.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)
        geom = dict(stride=c.stride, padding=c.padding)
        if self.mode == "train":
            return convbn_train(*args, momentum=bn.momentum, **geom)
        if self.mode == "eval":
            return convbn_eval(*args, **geom)
        return convbn_tune(*args, **geom)

    def extra_repr(self):
        return f"mode={self.mode}"


class SmallConvNet(Module):
    """ConvBN(1→c1, 3, pad 1) → ReLU → ConvBN(c1→c2, 3, stride 2, pad 1) → ReLU → mean over HW → Linear.

    Takes 8×8 images as (N, 1, 8, 8) or flattened (N, 64)."""

    def __init__(self, num_classes=5, c1=8, c2=16, rng=None):
        super().__init__()
        from ....nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.block1 = ConvBN(1, c1, 3, padding=1, rng=rng)
        self.block2 = ConvBN(c1, c2, 3, stride=2, padding=1, rng=rng)
        self.head = Linear(c2, num_classes, dtype=np.float64, rng=rng)

    def blocks(self):
        return (self.block1, self.block2)

    def set_mode(self, mode):
        for blk in self.blocks():
            if mode == "deploy" and blk.mode != "deploy":
                blk.to_deploy()
            else:
                blk.set_mode(mode)
        return self

    def features(self, x):
        if x.ndim == 2:
            x = ops.reshape(x, (x.shape[0], 1, 8, 8))
        if x.dtype != np.float64:
            x = x.astype(np.float64)
        h = ops.relu(self.block1(x))
        return ops.relu(self.block2(h))

    def forward(self, x):
        return self.head(ops.mean(self.features(x), axis=(2, 3)))


# --- family contract -----------------------------------------------------------------------------------
def contract_examples(seed: int = 0) -> list:
    """Deploy form (folded) vs Eval form of a ConvBN block with random statistics, float64."""
    rng = np.random.default_rng(seed)
    blk = ConvBN(2, 3, 3, padding=1, bias=True, rng=rng)
    blk.bn.weight.data[...] = rng.uniform(0.5, 2, 3)
    blk.bn.bias.data[...] = rng.normal(size=3)
    blk.bn.running_mean[...] = rng.normal(size=3)
    blk.bn.running_var[...] = rng.uniform(0.3, 3, 3)
    train_form = copy.deepcopy(blk).set_mode("eval")
    deploy_form = copy.deepcopy(blk).to_deploy()
    return [
        {
            "kind": "reparam",
            "name": "convbn eval vs deploy",
            "train": train_form,
            "deploy": deploy_form,
            "x": rng.normal(size=(2, 2, 6, 6)),
        }
    ]
