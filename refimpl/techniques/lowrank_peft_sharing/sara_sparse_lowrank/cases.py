"""Reference cases of SaRA: the nuclear norm, the smallest-magnitude mask and the re-selection, by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import nuclear_norm, small_mask

_MOD = "refimpl.techniques.lowrank_peft_sharing.sara_sparse_lowrank"


def reference_cases() -> list:
    def nuc_case(X):
        return {"nuc": nuclear_norm(Tensor(X)).data}

    def mask_case(W, k):
        return {"mask": small_mask(W, k=int(k)).astype(np.int64)}

    def reselect_case(W0, k, delta):
        """Attach SaRA to a one-layer model, apply the update `delta` to the trained entries, re-select."""
        from ....nn import Linear, Sequential
        from . import attach_sara, progressive_reselect

        W0 = np.asarray(W0, dtype=np.float64)
        layer = Linear(W0.shape[1], W0.shape[0], bias=False, dtype=np.float64)
        layer.weight.data[...] = W0
        model = Sequential(layer)
        (ad,) = attach_sara(model, fraction=int(k) / W0.size).values()
        ad.delta_values.data[...] = delta
        kept = progressive_reselect(model)
        mask = np.zeros(W0.size, dtype=np.int64)
        mask[ad.idx] = 1
        return {"mask": mask.reshape(W0.shape), "kept": np.array(kept)}

    return [
        ReferenceCase(
            "nuclear_norm_3_4",
            {"X": np.array([[3.0, 0.0], [4.0, 0.0]])},
            {"nuc": np.array(5.0)},
            nuc_case,
            function=f"{_MOD}.nuclear_norm",
            note="by hand: rank 1 with the single singular value ‖(3,4)‖ = 5",
            atol=1e-12,
        ),
        ReferenceCase(
            "nuclear_norm_diag",
            {"X": np.diag([2.0, -3.0, 0.5])},
            {"nuc": np.array(5.5)},
            nuc_case,
            function=f"{_MOD}.nuclear_norm",
            note="by hand: singular values are |diagonal| = 2, 3, 0.5",
            atol=1e-12,
        ),
        ReferenceCase(
            "smallest_two",
            {"W": np.array([[0.5, -0.01], [2.0, 0.02]]), "k": 2},
            {"mask": np.array([[0, 1], [0, 1]])},
            mask_case,
            function=f"{_MOD}.small_mask",
            note="by hand: |−0.01| and |0.02| are the two smallest magnitudes",
            atol=0,
        ),
        ReferenceCase(
            "reselection_only_shrinks",
            {"W0": [[0.01, 0.02], [0.5, -0.03]], "k": 3, "delta": [0.1, 0.0, 0.0]},
            {"mask": np.array([[0, 1], [0, 1]]), "kept": np.array(2 / 3)},
            reselect_case,
            function=f"{_MOD}.progressive_reselect",
            note="by hand: the 3 smallest |θ| are 0.01, 0.02, −0.03 (ε = 0.03); the update moves 0.01 to 0.11 ≥ ε, "
            "so it leaves; 0.5 stays frozen and never joins: 2 of the 3 entries are kept",
            atol=1e-12,
        ),
    ]
