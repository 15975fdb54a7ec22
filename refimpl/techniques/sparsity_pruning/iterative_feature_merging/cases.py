"""Reference cases of Iterative Feature Merging: hand cases (distances, fold coefficients, one exact merge,
feature complexity), the function preserved by an exact merge (checked against the unmerged network's
forward pass), and a random layer merged greedily, checked by a brute-force pair search in plain Python."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ....catalog import ReferenceCase
from . import equivalence_distances, feature_complexity, fold_coefficient, merge_layer

_PATH = "refimpl.techniques.sparsity_pruning.iterative_feature_merging."
CONVENTIONS = {
    "scheme": "distance ‖u_i − u_j‖ on unit-normalised [w_i; b_i]; closest pair first; larger-norm unit kept",
    "fold": "W_next[:, keep] += c · W_next[:, drop], c = ‖v_drop‖ / ‖v_keep‖ (rule 'norm')",
}


def _relu_net(W, b, W_next, x):
    """Plain NumPy forward of Linear → ReLU → Linear (no bias on the second), independent of the method."""
    return np.maximum(np.asarray(x) @ np.asarray(W).T + np.asarray(b), 0.0) @ np.asarray(W_next).T


def _brute_force_greedy(W, b, W_next, n_remove):
    """Greedy closest-pair merging written with Python loops: for every alive pair the distance of the
    normalised [w; b] rows; merge the closest (lowest index pair on ties), keep the larger norm."""
    V = [list(map(float, row)) + [float(bi)] for row, bi in zip(W, b)]
    norm = [math.sqrt(sum(t * t for t in v)) for v in V]
    U = [[t / n for t in v] for v, n in zip(V, norm)]
    Wn = [list(map(float, row)) for row in W_next]
    alive = [True] * len(V)
    for _ in range(n_remove):
        best = None
        for i, j in itertools.combinations(range(len(V)), 2):
            if alive[i] and alive[j]:
                d = math.sqrt(sum((p - q) ** 2 for p, q in zip(U[i], U[j])))
                if best is None or d < best[0]:
                    best = (d, i, j)
        _, i, j = best
        keep, drop = (i, j) if norm[i] >= norm[j] else (j, i)
        c = norm[drop] / norm[keep]
        for row in Wn:
            row[keep] += c * row[drop]
            row[drop] = 0.0
        alive[drop] = False
    return np.array(Wn), np.array(alive, dtype=float)


def reference_cases() -> list:
    def distances(W, b):
        return {"D": equivalence_distances(np.asarray(W), np.asarray(b))}

    def coefficients(v_keep, v_drop):
        return {
            "norm": fold_coefficient(v_keep, v_drop, "norm"),
            "proj": fold_coefficient(v_keep, v_drop, "proj"),
        }

    def merge(W, b, W_next, n_remove):
        Wn, alive, _ = merge_layer(np.asarray(W), np.asarray(b), np.asarray(W_next), n_remove=int(n_remove))
        return {"W_next": Wn, "alive": alive.astype(float)}

    def merged_output(W, b, W_next, x):
        Wn, alive, _ = merge_layer(np.asarray(W), np.asarray(b), np.asarray(W_next), n_remove=1)
        Wk = np.asarray(W)[alive]
        return {"y": _relu_net(Wk, np.asarray(b)[alive], Wn[:, alive], x), "width": float(alive.sum())}

    def complexity(W, b, beta):
        return {"complexity": float(feature_complexity(np.asarray(W), np.asarray(b), float(beta)))}

    # hand case: unit 2 = 2 · unit 0 (weights and bias); unit 1 points elsewhere
    W = [[1.0, 2.0], [0.0, -1.0], [2.0, 4.0]]
    b = [1.0, 3.0, 2.0]
    W_next = [[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]]
    x = np.array([[0.5, -1.0], [1.0, 1.0], [-2.0, 0.3], [0.0, 0.0], [-1.0, -1.0]])
    rng = np.random.default_rng(2310)
    Wr = rng.normal(size=(8, 5))
    Wr[5] = 1.7 * Wr[1] + 0.05 * rng.normal(size=5)  # one near-proportional pair, the rest generic
    br = rng.normal(size=8)
    br[5] = 1.7 * br[1]
    Wnr = rng.normal(size=(3, 8))
    Wn_bf, alive_bf = _brute_force_greedy(Wr, br, Wnr, 3)
    return [
        ReferenceCase(
            "distances_scaled_orthogonal_opposite",
            {"W": [[1.0, 0.0], [0.0, 1.0], [3.0, 0.0], [-1.0, 0.0]], "b": [0.0, 0.0, 0.0, 0.0]},
            {
                "D": np.array(
                    [
                        [np.inf, math.sqrt(2), 0.0, 2.0],
                        [math.sqrt(2), np.inf, math.sqrt(2), math.sqrt(2)],
                        [0.0, math.sqrt(2), np.inf, 2.0],
                        [2.0, math.sqrt(2), 2.0, np.inf],
                    ]
                )
            },
            distances,
            function=_PATH + "equivalence_distances",
            note="by hand: a positive multiple is at distance 0, an orthogonal unit at √2, the opposite at 2 "
            "(a negative scale is not an equivalence for ReLU); ∞ on the diagonal",
            conventions={"scheme": CONVENTIONS["scheme"]},
        ),
        ReferenceCase(
            "fold_coefficients",
            {"v_keep": [1.0, 0.0], "v_drop": [2.0, 1.0]},
            {"norm": np.array(math.sqrt(5)), "proj": np.array(2.0)},
            coefficients,
            function=_PATH + "fold_coefficient",
            note="by hand: ‖(2,1)‖/‖(1,0)‖ = √5; least squares (2,1)·(1,0)/‖(1,0)‖² = 2",
        ),
        ReferenceCase(
            "exact_merge_by_hand",
            {"W": W, "b": b, "W_next": W_next, "n_remove": 1},
            {"W_next": np.array([[0.0, 1.0, 1.5], [0.0, 0.0, 0.0]]), "alive": np.array([0.0, 1.0, 1.0])},
            merge,
            function=_PATH + "merge_layer",
            note="by hand: v_2 = 2·v_0 (distance 0); unit 2 has the larger norm and is kept, c = 1/2; "
            "column 2 becomes (1 + ½·1, −1 + ½·2) = (1.5, 0) and column 0 is dropped",
            conventions=CONVENTIONS,
        ),
        ReferenceCase(
            "exact_merge_preserves_the_function",
            {"W": W, "b": b, "W_next": W_next, "x": x},
            {"y": _relu_net(W, b, W_next, x), "width": np.array(2.0)},
            merged_output,
            function=_PATH + "merge_layer",
            note="forward pass of the unmerged 3-unit network (plain NumPy) on 5 inputs, including inputs "
            "where the merged units are off: ReLU(2z) = 2 ReLU(z), so the 2-unit merged network is equal",
            atol=1e-12,
            conventions=CONVENTIONS,
        ),
        ReferenceCase(
            "feature_complexity_two_groups",
            {
                "W": [[1.0, 1.0], [0.5, 0.5], [1.0, -1.0], [3.0, -3.0], [0.0, 1.0]],
                "b": [0.0, 0.0, 1.0, 3.0, 0.0],
                "beta": 0.1,
            },
            {"complexity": np.array(3.0)},
            complexity,
            function=_PATH + "feature_complexity",
            note="by hand: units 0,1 are proportional and units 2,3 too (bias included); unit 4 is at "
            "distance > 0.1 from all: 5 units, 3 features",
        ),
        ReferenceCase(
            "random_layer_greedy_brute_force",
            {"W": Wr, "b": br, "W_next": Wnr, "n_remove": 3},
            {"W_next": Wn_bf, "alive": alive_bf},
            merge,
            function=_PATH + "merge_layer",
            note="brute force: Python loops over all alive pairs, closest pair merged three times "
            "(random normal layer, seed 2310, one planted near-proportional pair)",
            atol=1e-12,
            conventions=CONVENTIONS,
        ),
    ]
