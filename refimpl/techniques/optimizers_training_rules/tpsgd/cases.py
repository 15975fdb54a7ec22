"""Reference cases of tpSGD: the local target t = P y*, and one layer's gradient and SGD step (tpSGD and the
DRTP ablation) on a 2-example, 3-unit layer, all worked by hand with the delta rule written out."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import TargetProjectionMLP, projected_target, tpsgd_losses, train_layerwise
from .drtp import drtp_losses

_PATH = "refimpl.techniques.optimizers_training_rules.tpsgd"

# one hidden layer of 3 tanh units on 2 inputs, 2 classes; 2 examples (labels 1 and 0)
_P = [[0.5, -1.0], [0.25, 0.75], [-0.5, 0.0]]
_W = [[0.2, -0.4], [0.0, 0.3], [-0.1, 0.1]]
_B = [0.1, -0.2, 0.0]
_X = [[1.0, 2.0], [-1.0, 0.5]]
_Y = [1, 0]
_LR = 0.5


def _target(P, y):
    return {"t": projected_target(np.asarray(P, dtype=np.float64), np.asarray(y))}


def _layer_step(P, W, b, x, y, lr, rule):
    """Build the 2 → 3 → 2 net with these weights and P, take one plain SGD step (momentum 0, no
    schedule, the whole batch) of `rule`'s losses; return the hidden layer's gradient and new weights."""
    net = TargetProjectionMLP([2, 3], 2, dtype=np.float64, rng=0)
    net.hidden[0].weight.data[...] = np.asarray(W, dtype=np.float64)
    net.hidden[0].bias.data[...] = np.asarray(b, dtype=np.float64)
    net.P[0] = np.asarray(P, dtype=np.float64)
    fn = {"tpsgd": tpsgd_losses, "drtp": drtp_losses}[rule]
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    train_layerwise(net, fn, x, y, 1, lr=lr, batch_size=len(y), momentum=0.0, cosine=False)
    layer = net.hidden[0]
    return {
        "grad_W": layer.weight.grad,
        "grad_b": layer.bias.grad,
        "W": layer.weight.data,
        "b": layer.bias.data,
    }


def _by_hand(signal):
    """The delta rule, written out: z = x Wᵀ + b, y = tanh z, t = P y*; e = signal(t, y) is the error on
    y (tpSGD: y − t, the gradient of ½‖t − y‖²; DRTP: −t); δ = e ⊙ (1 − y²); ∂W = δᵀ x / B, ∂b = mean δ."""
    P, W, b, x = (np.array(a, dtype=np.float64) for a in (_P, _W, _B, _X))
    onehot = np.array([[0.0, 1.0], [1.0, 0.0]])  # y* for labels [1, 0]
    t = onehot @ P.T  # rows: P[:, 1] = (−1, 0.75, 0) and P[:, 0] = (0.5, 0.25, −0.5)
    y = np.tanh(x @ W.T + b)  # z rows: (1·0.2 − 2·0.4 + 0.1, 0.6 − 0.2, −0.1 + 0.2) = (−0.5, 0.4, 0.1), ...
    delta = signal(t, y) * (1.0 - y**2)
    gW, gb = delta.T @ x / 2.0, delta.mean(0)
    return {"grad_W": gW, "grad_b": gb, "W": W - _LR * gW, "b": b - _LR * gb}


def reference_cases() -> list:
    layer = {"P": _P, "W": _W, "b": _B, "x": _X, "y": _Y, "lr": _LR}
    conv = {
        "scheme": "J_i = ½‖P_i y* − y_i‖² summed over units, averaged over the batch; tanh units",
        "gradient": "layer input detached (no gradient from later layers); plain SGD step W − lr·∂J/∂W",
    }
    return [
        ReferenceCase(
            name="projected_target_3x2",
            inputs={"P": _P, "y": _Y},
            expected={"t": [[-1.0, 0.75, 0.0], [0.5, 0.25, -0.5]]},
            compute=_target,
            function=f"{_PATH}.projected_target",
            note="t = P y*: label 1 picks P's second column (−1, 0.75, 0), label 0 its first (0.5, 0.25, −0.5).",
            atol=0.0,
            rtol=0.0,
        ),
        ReferenceCase(
            name="tpsgd_layer_step_2x3",
            inputs={**layer, "rule": "tpsgd"},
            expected=_by_hand(lambda t, y: y - t),
            compute=_layer_step,
            function=f"{_PATH}.tpsgd_losses",
            note="By hand: z = x Wᵀ + b = [[−0.5, 0.4, 0.1], [−0.3, −0.05, 0.15]], y = tanh z, t = P y*, "
            "δ = (y − t) ⊙ (1 − y²), ∂W = δᵀx/2, ∂b = mean δ, W' = W − 0.5 ∂W (NumPy on these formulas, "
            "not the library).",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            name="drtp_layer_step_2x3",
            inputs={**layer, "rule": "drtp"},
            expected=_by_hand(lambda t, y: -t),
            compute=_layer_step,
            function=f"{_PATH}.drtp.drtp_losses",
            note="The ablation on the same layer: the error on y is −t = −P y* whatever y (DRTP's fixed "
            "signal), δ = −t ⊙ (1 − y²); the rest as for tpSGD.",
            atol=1e-12,
            conventions={**conv, "scheme": "DRTP pseudo-loss −⟨P_i y*, y_i⟩, batch mean; tanh units"},
        ),
    ]
