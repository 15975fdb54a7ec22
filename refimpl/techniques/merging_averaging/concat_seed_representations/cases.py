"""Reference cases of the concatenated representation: features and the concatenated head of two tiny
hand-written MLPs, worked by hand, and the probe's loss and gradient at a point where the softmax is
uniform (closed form)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ....catalog import ReferenceCase
from . import concat_representations, ensemble_logits, probe_loss_and_grad

_PKG = "refimpl.techniques.merging_averaging.concat_seed_representations"


def _net(w1, b1, w2, b2):
    return OrderedDict(
        [
            ("0.weight", np.array(w1, float)),
            ("0.bias", np.array(b1, float)),
            ("2.weight", np.array(w2, float)),
            ("2.bias", np.array(b2, float)),
        ]
    )


# Two 2-2-2 ReLU MLPs (one hidden layer of 2 units).
NET_A = _net([[1.0, 0.0], [0.0, 1.0]], [0.0, -1.0], [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
NET_B = _net([[1.0, 1.0], [-1.0, 0.0]], [0.0, 0.0], [[0.0, 1.0], [2.0, 0.0]], [1.0, -1.0])
X = np.array([[1.0, 2.0], [-1.0, 0.5]])


def reference_cases() -> list:
    def concat(wa1, ba1, wa2, ba2, wb1, bb1, wb2, bb2, x):
        states = [_net(wa1, ba1, wa2, ba2), _net(wb1, bb1, wb2, bb2)]
        return {"features": concat_representations(states, np.asarray(x))}

    def ensemble(wa1, ba1, wa2, ba2, wb1, bb1, wb2, bb2, x):
        states = [_net(wa1, ba1, wa2, ba2), _net(wb1, bb1, wb2, bb2)]
        return {"logits": ensemble_logits(states, np.asarray(x))}

    def probe(W, b, Z, y, lam):
        loss, gW, gb = probe_loss_and_grad(np.asarray(W, float), np.asarray(b, float), np.asarray(Z), y, lam)
        return {"loss": np.array(loss), "grad_W": gW, "grad_b": gb}

    nets = {
        "wa1": NET_A["0.weight"].tolist(),
        "ba1": NET_A["0.bias"].tolist(),
        "wa2": NET_A["2.weight"].tolist(),
        "ba2": NET_A["2.bias"].tolist(),
        "wb1": NET_B["0.weight"].tolist(),
        "bb1": NET_B["0.bias"].tolist(),
        "wb2": NET_B["2.weight"].tolist(),
        "bb2": NET_B["2.bias"].tolist(),
        "x": X.tolist(),
    }
    # By hand.  x1 = (1, 2): A's hidden relu(1, 2 − 1) = (1, 1); B's relu(1 + 2, −1) = (3, 0).
    #           x2 = (−1, 0.5): A's relu(−1, −0.5) = (0, 0); B's relu(−0.5, 1) = (0, 1).
    features = np.array([[1.0, 1.0, 3.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    # Logits: A(x1) = (1, 1), B(x1) = (0 + 1, 6 − 1) = (1, 5); A(x2) = (0, 0), B(x2) = (1 + 1, 0 − 1) = (2, −1).
    logits = np.array([[(1 + 1) / 2, (1 + 5) / 2], [(0 + 2) / 2, (0 - 1) / 2]])
    # Probe at W = 0, b = 0: softmax uniform (1/K); loss = log K; ∇_W = Zᵀ(1/K − Y)/m, ∇_b = mean(1/K − Y).
    Z = [[1.0, 2.0], [3.0, -1.0]]
    y = [0, 2]
    P_minus_Y = np.array([[1 / 3 - 1, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 / 3 - 1]])
    return [
        ReferenceCase(
            "concat_two_nets",
            nets,
            {"features": features},
            concat,
            function=f"{_PKG}.concat_representations",
            note="by hand: each net's hidden ReLU activations, net A's then net B's, side by side",
            conventions={
                "order": "features of states[0] first (Kmodel.get_feature: cat along dim 1)",
                "layer": "after the last hidden ReLU (the head removed)",
            },
            atol=1e-12,
        ),
        ReferenceCase(
            "concatenated_head_is_the_ensemble",
            nets,
            {"logits": logits},
            ensemble,
            function=f"{_PKG}.ensemble_logits",
            note="by hand: [W_A, W_B]/2 on [φ_A; φ_B] + (b_A + b_B)/2 = the mean of the two nets' logits",
            conventions={"head": "concatenated heads divided by n, biases averaged ('cat_weights')"},
            atol=1e-12,
        ),
        ReferenceCase(
            "probe_at_zero",
            {"W": np.zeros((2, 3)).tolist(), "b": [0.0, 0.0, 0.0], "Z": Z, "y": y, "lam": 0.5},
            {
                "loss": np.array(np.log(3.0)),
                "grad_W": np.array(Z).T @ P_minus_Y / 2,
                "grad_b": P_minus_Y.mean(axis=0),
            },
            probe,
            function=f"{_PKG}.probe_loss_and_grad",
            note="closed form at W = 0: uniform softmax, loss = log 3 (the L2 term is 0), gradient Zᵀ(P − Y)/m",
            conventions={"loss": "mean cross-entropy over examples + (λ/2)‖W‖²; the bias is not penalized"},
            atol=1e-12,
        ),
    ]
