r"""EvoNorm-B0 and EvoNorm-S0: normalization and activation in one evolved layer.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: tensorflow/tpu, `models/official/resnet/resnet_model.py` (`evonorm` L194-273,
`_batch_std` L120-151, `_instance_std` L111-117, `_group_std` L171-191).

The idea
--------
Instead of designing "BatchNorm, then ReLU", the paper searches (evolution over computation graphs of
primitive tensor ops, with rejection of poor or unstable candidates and multi-objective selection across
architectures) for one layer that normalises *and* is nonlinear.  Two of the discovered layers replace
BN-ReLU.  For a feature map x of shape (N, C, H, W) with per-channel γ, β and v (v initialised to 1):

**EvoNorm-B0** (batch-dependent):
$$ y = \frac{x}{\max\!\big(\sqrt{s^2_{b,w,h}(x) + \epsilon},\; v\,x + \sqrt{s^2_{w,h}(x) + \epsilon}\big)}\,\gamma + \beta $$

**EvoNorm-S0** (batch-independent, "sample-based"):
$$ y = \frac{x\,\sigma(v\,x)}{\sqrt{s^2_{w,h,c/g}(x) + \epsilon}}\,\gamma + \beta $$

$s^2_{b,w,h}$ is the variance per channel over the batch and the positions, $s^2_{w,h}$ the variance per
sample and channel, $s^2_{w,h,c/g}$ the variance per sample over the positions and the channels of one of
g groups (GroupNorm's grouping).  The formula lines below cite the layer ("B0", "S0") and the line of the
official code they were checked against; the paper's own numbering of these expressions was not re-read
in this pass.

Variance conventions (checked per variant)
-----------------------------------------
* Every variance is the **biased** one (divide by the count): the official code uses `tf.nn.moments`
  for the batch (L142), instance (L116) and group (L184/L188) statistics; timm's `evo_norm.py` does the
  same with `var(unbiased=False)` (L37, L68/L71, L134).
* B0's **moving variance** starts at 1 and is updated as m ← m − (m − s²)(1 − 0.9) with the *biased*
  batch variance (official L134, L142-146); test time divides by √(m + ε) (L149-150).  timm's
  `EvoNorm2dB0` instead multiplies the batch variance by n/(n − 1) before the update (L139) and uses
  ε = 1e-3; we follow the official code.
* ε = 1e-5 (L38), inside the square root, for all three statistics.
* S0's group count starts at 32 and is lowered until it divides C (L175-179): `largest_divisor_at_most`.
* No mean is subtracted anywhere: S0's numerator is x·σ(vx), a Swish-like gate, and B0's "right" branch
  v·x + instance std makes the denominator depend on the sign and size of x itself.

The gradient of S0
------------------
Write $u = x\,\sigma(vx)$ and $d = \sqrt{s^2 + \epsilon}$ for one group of $m$ values.  Then
$\partial u/\partial x = \sigma(vx) + v x\,\sigma(vx)(1-\sigma(vx))$, $\partial u / \partial v = x^2 \sigma(vx)(1 - \sigma(vx))$,
and $\partial d/\partial x_j = (x_j - \bar x)/(m\,d)$, so
$$ \frac{\partial y_i}{\partial x_j} = \gamma\Big(\frac{\delta_{ij}\,u'(x_i)}{d} - \frac{u_i (x_j - \bar x)}{m\,d^3}\Big) $$
for $x_i, x_j$ in the same group (0 across groups).
The layer is built from differentiable primitives, so the engine applies exactly this; the tests check
it (and B0's, away from the max's tie) against float64 central differences.

What is simplified, and deviations
----------------------------------
* The search is not reproduced — only the two published layers.
* The experiment (`experiment.py`) uses a two-conv network on 8×8 digits with per-image contrast and
  offset shifts, not pre-activation ResNets on ImageNet (the official code requires the pre-activation
  form for EvoNorms, L853); see its docstring.
* `nonlinearity=False` (the official affine-only variant for the last layer of a block) is not provided.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/evonorm.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "evonorm",
    "title": "Evolving Normalization-Activation Layers",
    "authors": "Hanxiao Liu, Andrew Brock, Karen Simonyan, Quoc V. Le",
    "year": 2020,
    "arxiv": "2004.02967",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/evonorm.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Both layers read in tensorflow/tpu models/official/resnet/resnet_model.py (commit 7dc921f): "
        "evonorm L194-273 (S0 x·σ(vx)/group std L260, B0 x/max(batch std, v·x + instance std) L270, "
        "γ, β, v init 1, 0, 1), "
        "_batch_std L120-151 (moving variance init 1, decay 0.9 L37, updated with the biased tf.nn.moments "
        "variance L142-146, used at test time), _instance_std L111-117 and _group_std L171-191 (biased, "
        "groups lowered from 32 to a divisor of C), ε = 1e-5 L38; cross-read against "
        "timm/layers/evo_norm.py (commit aa4b5850: same, except B0's running variance gets n/(n−1), L139, "
        "and ε = 1e-3). The paper's PDF was not re-read in this pass: formulas are the official code's."
    ),
    "summary": (
        "Two evolved layers that replace BatchNorm+ReLU: B0 divides x by the max of the batch std and "
        "v·x + instance std; S0 multiplies x by sigmoid(v·x) and divides by the group std, so it never "
        "mixes samples and behaves the same at every batch size."
    ),
    "equations": [
        "B0: y = x / max(√(s²_{b,w,h}(x) + ε), v x + √(s²_{w,h}(x) + ε)) · γ + β   (resnet_model.py L270)",
        "S0: y = x σ(v x) / √(s²_{w,h,c/g}(x) + ε) · γ + β   (L260)",
        "all s² biased (tf.nn.moments); moving m ← m − (m − s²_{b,w,h})(1 − 0.9), m₀ = 1, replaces "
        "s²_{b,w,h} at test time   (L134-150)",
    ],
}


def _var(x, axes):
    """Biased variance over `axes` (kept dims), as `tf.nn.moments`; built from primitives, so it is
    differentiable (twice)."""
    mu = ops.mean(x, axis=axes, keepdims=True)
    d = x - mu
    return ops.mean(d * d, axis=axes, keepdims=True)


def _shape(c, ndim):
    return (1, c) + (1,) * (ndim - 2)


# --- the two layers as functions ------------------------------------------------------------------
def evonorm_b0(x, gamma, beta, v, running_var=None, training=True, momentum=0.1, eps=1e-5):
    """EvoNorm-B0 of x (N, C, H, W) (or (N, C, L)); `running_var` (C,) is updated in place in training
    (official `_batch_std`: m ← m − (m − s²)·momentum with the biased batch variance s²,
    momentum = 1 − decay = 0.1)."""
    c, nd = x.shape[1], x.ndim
    spatial = tuple(range(2, nd))
    if not spatial:
        raise ValueError(f"evonorm_b0: `x` needs spatial axes (N, C, H, W) or (N, C, L), got shape {x.shape}")
    if training:
        bvar = _var(x, (0,) + spatial)  # s²_{b,w,h}, biased (L142)
        if running_var is not None:
            running_var *= 1 - momentum  # moving ← moving − (moving − s²)(1 − decay)  (L144-146)
            running_var += momentum * bvar.data.reshape(c)
    else:
        if running_var is None:
            raise ValueError("evonorm_b0: eval mode needs `running_var`")
        bvar = Tensor(running_var.reshape(_shape(c, nd)).astype(x.dtype))  # test time (L149)
    left = ops.sqrt(bvar + eps)  # √(s²_{b,w,h} + ε)  (L150)
    istd = ops.sqrt(_var(x, spatial) + eps)  # √(s²_{w,h} + ε), biased (L116-117)
    right = x * ops.reshape(v, _shape(c, nd)) + istd  # v x + √(s²_{w,h} + ε)  (L268-269)
    y = x / ops.maximum(left, right)  # B0  (L270)
    return y * ops.reshape(gamma, _shape(c, nd)) + ops.reshape(beta, _shape(c, nd))  # ·γ + β  (L273)


def evonorm_s0(x, gamma, beta, v, groups: int, eps=1e-5):
    """EvoNorm-S0 of x (N, C, …): x·σ(v x)/group std · γ + β (no batch statistics)."""
    n, c, nd = x.shape[0], x.shape[1], x.ndim
    if groups < 1 or c % groups:
        raise ValueError(f"evonorm_s0: `groups`={groups} must divide the {c} channels")
    grouped = ops.reshape(x, (n, groups, -1))
    std = ops.sqrt(_var(grouped, (2,)) + eps)  # √(s²_{w,h,c/g} + ε), biased (L188-189)
    std = ops.reshape(ops.broadcast_to(std, grouped.shape), x.shape)
    vx = x * ops.reshape(v, _shape(c, nd))
    y = x * ops.sigmoid(vx) / std  # S0  (L260)
    return y * ops.reshape(gamma, _shape(c, nd)) + ops.reshape(beta, _shape(c, nd))  # ·γ + β  (L273)


def largest_divisor_at_most(c: int, groups: int) -> int:
    """The official code's group count: start from `groups` and go down until it divides C (L175-179)."""
    g = max(1, min(groups, c))
    while c % g:
        g -= 1
    return g


class EvoNorm2d(Module):
    """EvoNorm-B0 or -S0 on (N, C, H, W) or (N, C, L) inputs; γ=1, β=0, v=1 at init (official code
    L238-253); `groups` as the official default 32, lowered to a divisor of C."""

    def __init__(
        self,
        num_features: int,
        kind: str = "S0",
        groups: int = 32,
        momentum: float = 0.1,
        eps: float = 1e-5,
        dtype=np.float32,
    ):
        super().__init__()
        if kind not in ("B0", "S0"):
            raise ValueError(f"EvoNorm2d: `kind` must be 'B0' or 'S0', got {kind!r}")
        self.kind, self.num_features, self.momentum, self.eps = kind, num_features, momentum, eps
        self.groups = largest_divisor_at_most(num_features, groups)
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.v = Parameter(np.ones(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype) if kind == "B0" else None)

    def forward(self, x):
        if x.ndim < 3 or x.shape[1] != self.num_features:
            raise ValueError(
                f"EvoNorm2d: expected input (N, {self.num_features}, …spatial), got shape {tuple(x.shape)}"
            )
        if self.kind == "B0":
            return evonorm_b0(
                x, self.weight, self.bias, self.v, self.running_var, self.training, self.momentum, self.eps
            )
        return evonorm_s0(x, self.weight, self.bias, self.v, self.groups, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, kind={self.kind}, groups={self.groups}"
