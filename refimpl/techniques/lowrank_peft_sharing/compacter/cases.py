"""Reference cases of Compacter: the Kronecker product, the LPHM weight and the parameter counts, by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import PHMLinear, adapter_param_count, kron

_MOD = "refimpl.techniques.lowrank_peft_sharing.compacter"


def reference_cases() -> list:
    def kron_case(A, B):
        return {"K": kron(Tensor(A), Tensor(B)).data}

    def lphm_case(A, s, t):
        n = A.shape[0]
        layer = PHMLinear(t.shape[-1] * n, s.shape[1] * n, n, rank=1, bias=False, dtype=np.float64)
        layer.rule.A.data[...] = A
        layer.s.data[...] = s
        layer.t.data[...] = t
        return {"W": layer.weight.data}

    def counts(d, k, n, layers):
        return {
            "adapter": adapter_param_count("adapter", d, k, n, layers),
            "phm": adapter_param_count("phm", d, k, n, layers),
            "compacter": adapter_param_count("compacter", d, k, n, layers),
        }

    A = np.diag([1.0, 2.0])
    B = np.array([[1.0, -1.0], [1.0, -1.0]])  # = s tᵀ with s = [1, 1], t = [1, −1]
    K = np.array([[1, -1, 0, 0], [1, -1, 0, 0], [0, 0, 2, -2], [0, 0, 2, -2]], dtype=float)
    # n = 2: A_1 = diag(1, 2), A_2 = [[0,1],[1,0]];  B_1 = s_1 t_1ᵀ = [1,1]ᵀ[1,−1],  B_2 = [1,0]ᵀ[0,1]
    A2 = np.stack([A, np.array([[0.0, 1.0], [1.0, 0.0]])])
    s2 = np.array([[[1.0], [1.0]], [[1.0], [0.0]]])
    t2 = np.array([[[1.0, -1.0]], [[0.0, 1.0]]])
    # A_2 ⊗ B_2 puts B_2 = [[0,1],[0,0]] in the off-diagonal blocks
    W2 = K + np.array([[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    return [
        ReferenceCase(
            "kron_catalogue_example",
            {"A": A, "B": B},
            {"K": K},
            kron_case,
            function=f"{_MOD}.kron",
            note="by hand: block (i, j) of A ⊗ B is A[i, j]·B; A = diag(1, 2)",
            atol=0,
        ),
        ReferenceCase(
            "lphm_weight_n2",
            {"A": A2, "s": s2, "t": t2},
            {"W": W2},
            lphm_case,
            function=f"{_MOD}.PHMLinear",
            note="by hand: Σ_i A_i ⊗ s_i t_iᵀ with the two terms written out block by block",
            atol=1e-12,
        ),
        ReferenceCase(
            "param_counts_d128_k16_n4_L2",
            {"d": 128, "k": 16, "n": 4, "layers": 2},
            {
                "adapter": np.array(2 * (2 * 16 * 128 + 16 + 128)),
                "phm": np.array(2 * (2 * 16 * 128 // 4 + 16 + 128) + 64),
                "compacter": np.array(2 * (2 * (16 + 128) + 16 + 128) + 64),
            },
            counts,
            function=f"{_MOD}.adapter_param_count",
            note="arithmetic: 2·(4096+144) = 8480; 2·(1024+144)+64 = 2400; 2·(288+144)+64 = 928",
            atol=0,
        ),
    ]
