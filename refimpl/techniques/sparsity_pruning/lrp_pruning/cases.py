"""Reference cases of LRP pruning: the rules on one linear layer and the three variants through a tiny MLP,
all worked by hand, and medium-size random cases of one layer computed by explicit loops."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ..masks import prunable_layers
from . import lrp_linear, lrp_mlp


def _tiny_mlp(W1, b1, W2, b2):
    """MLP 2-2-1 with the given weights (PyTorch layout)."""
    from ....nn import MLP

    model = MLP([2, 2, 1], rng=np.random.default_rng(0))
    (l1, l2) = prunable_layers(model).values()
    for layer, w, b in ((l1, W1, b1), (l2, W2, b2)):
        layer.weight.data[...] = np.asarray(w, dtype=layer.weight.data.dtype)
        layer.bias.data[...] = np.asarray(b, dtype=layer.bias.data.dtype)
    return model


def _lrp_loops(a, W, R, rule, eps, b=None):
    """R_in by explicit loops over samples n, inputs i and outputs j (independent of `lrp_linear`):
    ε: z_j = Σ_i a_i w_ji + b_j, R_i = Σ_j a_i w_ji R_j/(z_j + ε sign z_j);
    z⁺: z_j = Σ_i a_i max(w_ji, 0) + 1e-9, R_i = Σ_j a_i max(w_ji, 0) R_j/z_j."""
    N, n_in = a.shape
    n_out = W.shape[0]
    out = np.zeros((N, n_in))
    for n in range(N):
        for j in range(n_out):
            if rule == "zplus":
                w = [max(W[j, i], 0.0) for i in range(n_in)]
                z = sum(a[n, i] * w[i] for i in range(n_in)) + 1e-9
            else:
                w = list(W[j])
                z = sum(a[n, i] * w[i] for i in range(n_in)) + (0.0 if b is None else b[j])
                z += eps if z >= 0 else -eps
            for i in range(n_in):
                out[n, i] += a[n, i] * w[i] * R[n, j] / z
    return out


def reference_cases() -> list:
    def lin(a, W, R, rule, eps, b=None):
        out = lrp_linear(np.asarray(a), np.asarray(W), np.asarray(R), rule=rule, eps=float(eps), b=b)
        return {"R_in": out}

    def mlp(x, W1, b1, W2, b2, target, rule):
        units, r_in = lrp_mlp(_tiny_mlp(W1, b1, W2, b2), np.asarray(x), np.asarray(target), rule=rule)
        return {"R_hidden": units[0], "R_in": r_in}

    net = {
        "x": [[1.0, 1.0]],
        "W1": [[1.0, 1.0], [2.0, -1.0]],
        "b1": [0.0, 0.0],
        "W2": [[1.0, -1.0]],
        "b2": [1.0],
        "target": [0],
    }
    how = "by hand: h = relu([1+1, 2−1]) = [2, 1], logit = 2 − 1 + 1 = 2 = R_out; "
    rng = np.random.default_rng(2203)
    ra = rng.uniform(0.1, 1.0, size=(12, 16))  # post-ReLU activations of a batch of 12
    rW = rng.normal(0.0, 0.5, size=(8, 16))
    rb = rng.normal(0.0, 0.1, size=8)
    rR = rng.uniform(0.0, 1.0, size=(12, 8))
    random_cases = [
        ReferenceCase(
            "random_batch12_16to8_epsilon_bias",
            {"a": ra, "W": rW, "R": rR, "rule": "epsilon", "eps": 0.25, "b": rb},
            {"R_in": _lrp_loops(ra, rW, rR, "epsilon", 0.25, rb)},
            lin,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_linear",
            note="explicit loops over n, j, i: z_j = Σ_i a_i w_ji + b_j, R_i = Σ_j a_i w_ji R_j/(z_j + 0.25 sign z_j) "
            "(a ~ U(0.1, 1), W ~ N(0, 0.5²), b ~ N(0, 0.1²), R ~ U(0, 1), seed 2203; |z_j + ε sign z_j| ≥ 0.25)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
        ReferenceCase(
            "random_batch12_16to8_zplus",
            {"a": ra, "W": rW, "R": rR, "rule": "zplus", "eps": 0.0},
            {"R_in": _lrp_loops(ra, rW, rR, "zplus", 0.0)},
            lin,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_linear",
            note="explicit loops over n, j, i: z_j = Σ_i a_i w⁺_ji + 1e-9 (no bias), R_i = Σ_j a_i w⁺_ji R_j/z_j; "
            "same data as the ε case; relevance is conserved (Σ_i R_i = Σ_j R_j per sample)",
            atol=1e-10,
            rtol=1e-10,
            atol32=1e-5,
            rtol32=1e-4,
        ),
    ]
    return [
        ReferenceCase(
            "lrp0_conservation_catalogue",
            {"a": [[1.0, 2.0]], "W": [[1.0, 1.0]], "R": [[3.0]], "rule": "epsilon", "eps": 0.0},
            {"R_in": np.array([[1.0, 2.0]])},
            lin,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_linear",
            note="by hand: z = 1 + 2 = 3, R = 3 → R_i = a_i w_i / z · R = [1, 2] (sums to 3)",
            atol=1e-12,
        ),
        ReferenceCase(
            "epsilon_rule",
            {"a": [[1.0, 2.0]], "W": [[1.0, 1.0]], "R": [[3.0]], "rule": "epsilon", "eps": 1.0},
            {"R_in": np.array([[0.75, 1.5]])},
            lin,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_linear",
            note="by hand: z + ε sign z = 4 → R_i = a_i w_i / 4 · 3 = [0.75, 1.5] (relevance absorbed)",
            atol=1e-12,
        ),
        ReferenceCase(
            "epsilon_rule_bias_absorbs",
            {"a": [[1.0, 2.0]], "W": [[1.0, 1.0]], "R": [[4.0]], "rule": "epsilon", "eps": 0.0, "b": [1.0]},
            {"R_in": np.array([[1.0, 2.0]])},
            lin,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_linear",
            note="by hand: z = 1 + 2 + 1 = 4 → R_i = a_i w_i / 4 · 4 = [1, 2]; the bias keeps 1 of 4",
            atol=1e-12,
        ),
        ReferenceCase(
            "zplus_rule",
            {"a": [[1.0, 2.0]], "W": [[2.0, -1.0]], "R": [[4.0]], "rule": "zplus", "eps": 0.0},
            {"R_in": np.array([[4.0, 0.0]])},
            lin,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_linear",
            note="by hand: w⁺ = [2, 0], z⁺ = 2 (+1e-9) → R = [1·2/2·4, 0] = [4, 0]",
            atol=1e-7,
        ),
        ReferenceCase(
            "mlp_zplus",
            {**net, "rule": "zplus"},
            {"R_hidden": np.array([[2.0, 0.0]]), "R_in": np.array([[1.0, 1.0]])},
            mlp,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_mlp",
            note=how + "z⁺ on top: w⁺ = [1, 0] → R_h = [2·1/2·2, 0] = [2, 0]; below: W1⁺ = [[1, 1], [2, 0]], "
            "z⁺ = [2, 2], R/z = [1, 0] → R_in = x ⊙ [1, 1] = [1, 1]",
            atol=1e-7,
        ),
        ReferenceCase(
            "mlp_epsilon",
            {**net, "rule": "epsilon"},
            {"R_hidden": np.array([[2.0, -1.0]]), "R_in": np.array([[-1.0, 2.0]])},
            mlp,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_mlp",
            note=how
            + "ε = 0 with bias on top: R_h = h ⊙ w · 2/2 = [2, −1] (bias keeps 1); below: z = [2, 1], "
            "R/z = [1, −1], (R/z) W1 = [1 − 2, 1 + 1] → R_in = [−1, 2]",
            atol=1e-9,
        ),
        ReferenceCase(
            "mlp_composite",
            {**net, "rule": "composite"},
            {"R_hidden": np.array([[2.0, -1.0]]), "R_in": np.array([[0.0, 1.0]])},
            mlp,
            function="refimpl.techniques.sparsity_pruning.lrp_pruning.lrp_mlp",
            note=how + "ε on top: R_h = [2, −1] as for ε; z⁺ below: z⁺ = [2, 2], R/z = [1, −0.5], "
            "(R/z) W1⁺ = [1 − 1, 1 + 0] → R_in = [0, 1]",
            atol=1e-7,
        ),
    ] + random_cases
