"""Reference cases of Relaxed Recursive Transformers: Average + SVD-LoRA initialisation and CYCLE tying."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import init_shared, svd_lora_init, tied_layers

_MOD = "refimpl.techniques.lowrank_peft_sharing.relaxed_recursive"


def reference_cases() -> list:
    def catalogue_case(W1, W2, r):
        shared = init_shared([W1, W2], 1, "average")[0]
        out = {"shared": shared}
        for name, W in (("layer1", W1), ("layer2", W2)):
            Bm, Am = svd_lora_init(W - shared, int(r))
            out[name] = shared + Bm @ Am
        return out

    def tied_case(L, B):
        return {"tied": np.array([tied_layers(int(L), int(B), b) for b in range(int(B))])}

    W1, W2 = np.eye(2), np.diag([3.0, 1.0])
    return [
        ReferenceCase(
            "average_and_rank1_svd_lora",
            {"W1": W1, "W2": W2, "r": 1},
            {"shared": np.diag([2.0, 1.0]), "layer1": W1, "layer2": W2},
            catalogue_case,
            function=f"{_MOD}.svd_lora_init",
            note="by hand: average diag(2,1); residuals diag(−1,0), diag(1,0) are rank 1, so rank-1 "
            "SVD-LoRA reconstructs both layers exactly",
            atol=1e-12,
        ),
        ReferenceCase(
            "cycle_tying_L6_B2",
            {"L": 6, "B": 2},
            {"tied": np.array([[0, 2, 4], [1, 3, 5]])},
            tied_case,
            function=f"{_MOD}.tied_layers",
            note="definition: depth ℓ uses block ℓ mod B",
            atol=0,
        ),
    ]
