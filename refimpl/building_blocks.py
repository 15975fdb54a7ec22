"""Reference cases for the building blocks people implement most often, apart from any one paper.

`refimpl vectors lora` (or `dora`, ...) exports them like a technique's cases, and
`refimpl.vectors.check(fn, "lora")` checks a user's function against them.  Each set names the function
it exercises and every argument; the expected values are computed independently (by hand in the note, or
by a closed form written out here in NumPy), never by the code under test.

Sets: `lora` (LoRA and rsLoRA: ΔW and a layer's output), `dora` (DoRA's weight, output and gradients
with PEFT's detached norm).  Further blocks (fake quantization with its straight-through gradient, FP8/FP4
casts, magnitude masks, LAMB and Lion steps) are the reference cases of the techniques that define them:
`refimpl vectors global-magnitude-pruning`, `lamb`, `lion-constrained`, `llm-fp4`.
"""

from __future__ import annotations

import numpy as np

from .catalog import ReferenceCase

__all__ = ["BLOCKS", "block_cases"]

_ADAPTERS = "refimpl.techniques.lowrank_peft_sharing.adapters"


def _lora(A, B, alpha, r, use_rslora=False, x=None, W=None, b=None):
    from .autograd.tensor import Tensor
    from .nn import functional as F
    from .techniques.lowrank_peft_sharing.adapters import LoRA

    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    lora = LoRA(B.shape[0], A.shape[1], int(r), float(alpha), dtype=np.float64, use_rslora=bool(use_rslora))
    lora.A.data[...], lora.B.data[...] = A, B
    out = {"delta": lora.delta(None).data}
    if x is not None:
        w = lora(Tensor(np.asarray(W, dtype=np.float64)))
        out["y"] = F.linear(
            Tensor(np.asarray(x, dtype=np.float64)), w, Tensor(np.asarray(b, dtype=np.float64))
        ).data
    return out


def _dora(W, A, B, magnitude, alpha, r, x=None, G=None):
    from .autograd.tensor import Tensor
    from .nn import functional as F
    from .techniques.lowrank_peft_sharing.adapters import DoRA

    dora = DoRA(np.asarray(W, dtype=np.float64), int(r), float(alpha))
    dora.A.data[...], dora.B.data[...] = A, B
    dora.magnitude.data[...] = magnitude
    w = dora(Tensor(np.asarray(W, dtype=np.float64)))
    out = {"weight": w.data}
    if x is not None:
        y = F.linear(Tensor(np.asarray(x, dtype=np.float64)), w)
        (y * np.asarray(G)).sum().backward()
        out.update(y=y.data, grad_A=dora.A.grad, grad_B=dora.B.grad, grad_magnitude=dora.magnitude.grad)
    return out


def _dora_closed_form(W, A, B, m, s, x, G):
    """DoRA with the norm treated as a constant (PEFT), written out: the oracle of the random case."""
    V = W + s * B @ A
    n = np.linalg.norm(V, axis=1, keepdims=True)
    Wp = (m[:, None] / n) * V
    y = x @ Wp.T
    gW = G.T @ x  # ∂⟨y, G⟩/∂W'
    D = (m[:, None] / n) * gW  # through V only (n constant)
    return {
        "weight": Wp,
        "y": y,
        "grad_A": s * B.T @ D,
        "grad_B": s * D @ A.T,
        "grad_magnitude": ((V / n) * gW).sum(1),
    }


def lora_cases() -> list:
    r = np.random.default_rng(20261204)
    A, B = r.standard_normal((3, 6)), r.standard_normal((5, 3))
    x, W, b = r.standard_normal((4, 6)), r.standard_normal((5, 6)), r.standard_normal(5)
    f = f"{_ADAPTERS}.LoRA"
    return [
        ReferenceCase(
            "lora_delta_by_hand",
            {"A": [[1.0, 2.0, 3.0]], "B": [[1.0], [-1.0]], "alpha": 4.0, "r": 1},
            {"delta": np.array([[4.0, 8.0, 12.0], [-4.0, -8.0, -12.0]])},
            _lora,
            function=f,
            note="by hand: (α/r)·B A = 4·[[1, 2, 3], [−1, −2, −3]]",
        ),
        ReferenceCase(
            "rslora_delta_by_hand",
            {
                "A": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]],
                "B": [[1.0, 1.0, 1.0, 1.0]],
                "alpha": 8.0,
                "r": 4,
                "use_rslora": True,
            },
            {"delta": np.array([[8.0, 8.0]])},
            _lora,
            function=f,
            note="by hand: B A = [[2, 2]]; rsLoRA scales by α/√r = 8/2 = 4 → [[8, 8]] (plain LoRA: α/r = 2 → [[4, 4]])",
        ),
        ReferenceCase(
            "lora_layer_random",
            {"A": A, "B": B, "alpha": 6.0, "r": 3, "x": x, "W": W, "b": b},
            {"delta": 2.0 * B @ A, "y": x @ (W + 2.0 * B @ A).T + b},
            _lora,
            function=f,
            note="closed form in NumPy: ΔW = (α/r) B A with α/r = 2, y = x (W + ΔW)ᵀ + b",
            atol=1e-12,
            rtol=1e-12,
        ),
    ]


def dora_cases() -> list:
    r = np.random.default_rng(4)
    W, A, B = r.standard_normal((5, 4)), r.standard_normal((3, 4)), r.standard_normal((5, 3))
    m, x, G = r.uniform(0.5, 2.0, 5), r.standard_normal((6, 4)), r.standard_normal((6, 5))
    f = f"{_ADAPTERS}.DoRA"
    return [
        ReferenceCase(
            "dora_weight_by_hand",
            {
                "W": [[3.0, 4.0], [0.0, 2.0]],
                "A": [[0.0, 1.0]],
                "B": [[0.0], [2.0]],
                "magnitude": [10.0, 2.0],
                "alpha": 1.0,
                "r": 1,
            },
            {"weight": np.array([[6.0, 8.0], [0.0, 2.0]])},
            _dora,
            function=f,
            note="by hand: V + sBA = [[3, 4], [0, 4]], row norms (5, 4); m/‖·‖ = (2, 0.5) → [[6, 8], [0, 2]]",
        ),
        ReferenceCase(
            "dora_layer_and_gradients_random",
            {"W": W, "A": A, "B": B, "magnitude": m, "alpha": 6.0, "r": 3, "x": x, "G": G},
            _dora_closed_form(W, A, B, m, 2.0, x, G),
            _dora,
            function=f,
            note="closed form in NumPy with the norm ‖W + sBA‖ (per output row) treated as a constant, as "
            "PEFT and the paper's Sec. 4.3 do; gradients of ⟨y, G⟩",
            atol=1e-12,
            rtol=1e-10,
        ),
    ]


BLOCKS = {"lora": lora_cases, "dora": dora_cases}


def block_cases(name: str) -> list:
    """The reference cases of building block `name` (see BLOCKS)."""
    if name not in BLOCKS:
        raise KeyError(f"unknown building block {name!r}; known: {', '.join(BLOCKS)}")
    return BLOCKS[name]()
