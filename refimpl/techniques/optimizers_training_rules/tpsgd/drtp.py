r"""The ablation: direct random target projection (DRTP; Frenkel, Lefebvre & Bol, "Learning without
feedback", Front. Neurosci. 2021, arXiv 1909.01311) on the same network and the same projections.

DRTP replaces the gradient that reaches hidden layer i's output by a fixed random projection of the label
(official code, function.py L61-62: ``grad_output_est = labels.mm(B)``, the hook placed after the
activation, models.py L145-147).  We write it as the pseudo-loss whose gradient with respect to y_i is that
signal,

.. math::  \tilde J_i = -\langle P_i y^*,\, y_i\rangle \;\Rightarrow\;
           \Delta W_i = \eta\,[(P_i y^*)\odot\sigma'(z_i)]\,\bar y_{i-1}^\top ,

with B_i = −P_iᵀ (B is a symmetric random draw in DRTP, so the sign is immaterial; sharing P with tpSGD
pairs the two methods seed by seed).  Everything else — detached inputs, the output layer's cross-entropy,
the optimizer — is tpSGD's: the only missing piece is the residual t_i − y_i, i.e. the paper's idea."""

from __future__ import annotations

import numpy as np

from . import TargetProjectionMLP, projected_target

__all__ = ["drtp_losses"]


def drtp_losses(net: TargetProjectionMLP, x, y) -> list:
    """[J̃_1, ..., J̃_L, J_out] with J̃_i = −mean_b ⟨P_i y*_b, y_{i,b}⟩ (gradient −P_i y* on y_i: DRTP's
    fixed modulatory signal) and the output layer's cross-entropy as in tpSGD."""
    from ....autograd.tensor import Tensor
    from ....nn import functional as F

    ys, logits = net.local_forward(x)
    losses = []
    for y_i, P in zip(ys, net.P):
        t = Tensor(projected_target(P, y).astype(y_i.data.dtype))
        losses.append(-(t * y_i).sum(axis=-1).mean())  # ∂J̃_i/∂y_i = −P_i y*  (DRTP)
    return [*losses, F.cross_entropy(logits, np.asarray(y))]
