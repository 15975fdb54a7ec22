"""Reference cases of PERP: the adapter updates and the selective trainable set, worked by hand."""

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
    ]
