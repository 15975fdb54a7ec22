r"""BatchNorm folding, shared by the structural-reparameterization techniques of the family
(`convbn-tune-mode`, `dilated-reparam-block`).

An eval-mode BatchNorm after a Linear/Conv with weight W (out channel first) and bias b is an affine
map per output channel, so it folds into the layer:

$$ s = \frac{\gamma}{\sqrt{\sigma^2_{run} + \epsilon}},\qquad W' = s \odot W,\qquad
   b' = \beta + s\,(b - \mu_{run}) $$

(`fold_bn`).  The fold is exact: the family contract checks deploy form = training form to 1e-10 in
float64.
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor

__all__ = ["fold_bn"]


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _reshape(x, shape):
    return ops.reshape(x, shape) if isinstance(x, Tensor) else np.reshape(x, shape)


# --- folding ---------------------------------------------------------------------------------------
def fold_bn(weight, bias, bn_weight, bn_bias, running_mean, running_var, eps: float = 1e-5):
    """W' = s ⊙ W (per output channel, axis 0), b' = β + s (b − μ), s = γ/√(σ² + ε).

    `weight` (out, …) and `bias` (out,) or None, `bn_weight`/`bn_bias` (out,) or None (γ = 1, β = 0).
    Works on ndarrays (deploy: fold once) and on Tensors (Tune mode: fold on the fly, differentiably
    with respect to W, b, γ, β; the running statistics are constants).
    """
    rv, rm = np.asarray(running_var), np.asarray(running_mean)
    out = _arr(weight).shape[0]
    if rv.shape != (out,) or rm.shape != (out,):
        raise ValueError(
            f"fold_bn: running_mean/running_var must have shape ({out},) for weight "
            f"{_arr(weight).shape}, got {rm.shape} and {rv.shape}"
        )
    dtype = _arr(weight).dtype
    rstd = (1.0 / np.sqrt(rv.astype(np.float64) + eps)).astype(dtype)
    scale = rstd if bn_weight is None else bn_weight * rstd  # s = γ/√(σ² + ε)
    shape = (out,) + (1,) * (_arr(weight).ndim - 1)
    w_folded = weight * _reshape(scale, shape)  # W' = s ⊙ W
    b = -rm.astype(dtype) if bias is None else bias - rm.astype(dtype)
    b_folded = scale * b  # s (b − μ)
    if bn_bias is not None:
        b_folded = b_folded + bn_bias  # + β
    return w_folded, b_folded
