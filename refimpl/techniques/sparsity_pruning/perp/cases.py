"""Reference cases of PERP: the adapter updates and the selective trainable set, worked by hand, and a
medium-size random MaskLoRA update computed by explicit sums."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import lora_delta, masked_lora_delta, select_peft_parameters


def reference_cases() -> list:
    def delta(A, B, mask, scaling):
        A, B, s = np.asarray(A), np.asarray(B), float(scaling)
        return {"delta": masked_lora_delta(A, B, np.asarray(mask), s).data, "dense": lora_delta(A, B, s).data}

    def count(sizes):
        from ....nn import MLP

        model = MLP(list(sizes), norm="layer", rng=np.random.default_rng(0))
        return {
            "trainable": np.array(sum(p.data.size for p in select_peft_parameters(model, adapters=False)))
        }

    rng = np.random.default_rng(2204)
    rA = rng.normal(0.0, 1.0, size=(4, 16))  # rank 4, 16 inputs
    rB = rng.normal(0.0, 1.0, size=(12, 4))  # 12 outputs
    rM = (rng.uniform(size=(12, 16)) < 0.4).astype(np.float64)  # the pruning mask, 40 % kept
    dense = np.array([[sum(rB[o, r] * rA[r, i] for r in range(4)) for i in range(16)] for o in range(12)])
    random_case = ReferenceCase(
        "random_12x16_rank4_masked",
        {"A": rA, "B": rB, "mask": rM, "scaling": 0.5},
        {"delta": 0.5 * dense * rM, "dense": 0.5 * dense},
        delta,
        function="refimpl.techniques.sparsity_pruning.perp.masked_lora_delta",
        note="explicit sums: (BA)_oi = Σ_r B_or A_ri; dense = s·BA (LoRA), delta = s·(BA) ⊙ M (MaskLoRA) with "
        "s = 0.5; A, B ~ N(0, 1), M Bernoulli(0.4) (seed 2204)",
        atol=1e-12,
        rtol=1e-12,
        atol32=1e-5,
        rtol32=1e-5,
    )
    return [
        ReferenceCase(
            "masklora_delta",
            {"A": [[1.0, 2.0]], "B": [[1.0], [3.0]], "mask": [[1, 0], [0, 1]], "scaling": 0.5},
            {"delta": np.array([[0.5, 0.0], [0.0, 3.0]]), "dense": np.array([[0.5, 1.0], [1.5, 3.0]])},
            delta,
            function="refimpl.techniques.sparsity_pruning.perp.masked_lora_delta",
            note="by hand: BA = [[1,2],[3,6]]; × 0.5 = [[0.5,1],[1.5,3]] (LoRA); ⊙ M keeps the diagonal (MaskLoRA)",
            atol=1e-12,
        ),
        ReferenceCase(
            "trainable_bias_ln_count",
            {"sizes": [4, 6, 3]},
            {"trainable": np.array(6 + 3 + 6 + 6)},
            count,
            function="refimpl.techniques.sparsity_pruning.perp.select_peft_parameters",
            note="by hand: biases 6 + 3, LayerNorm(6) scale 6 + shift 6 = 21",
        ),
    ] + [random_case]
