"""Reference cases for the building blocks people implement most often, apart from any one paper.

`refimpl vectors lora` (or `dora`, `fake-quant`, ...) exports them like a technique's cases, and
`refimpl.vectors.check(fn, "lora")` checks a user's function against them.  Each set names the function
it exercises and every argument; the expected values are computed independently (by hand in the note, or
by a closed form or an explicit loop written out here), never by the code under test.

Sets:
- `lora` (LoRA and rsLoRA: ΔW and a layer's output), `dora` (DoRA's weight, output and gradients with
  PEFT's detached norm);
- `fake-quant`: min–max integer fake quantization per tensor and per channel, with the clipped
  straight-through gradient (`fake_quant_ste` below);
- `fp-cast`: casts to FP8 (E4M3FN, E5M2) and FP4 (E2M1) codes and back, saturating or not;
- `magnitude-mask`: global magnitude pruning masks (the cases of `global-magnitude-pruning` that exercise
  `global_magnitude_masks`);
- `lamb-step`, `lion-step`: optimizer steps of LAMB and Lion (the LAMB cases of `lamb`, the Lion cases of
  `lion-constrained`, plus a random three-step Lion run computed here by a loop).
"""

from __future__ import annotations

import numpy as np

from .catalog import ReferenceCase

__all__ = ["BLOCKS", "block_cases", "fake_quant_ste"]

_ADAPTERS = "refimpl.techniques.lowrank_peft_sharing.adapters"
_FP = "refimpl.techniques.quantization.fp_formats"


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
            {"A": [[1.0, 2.0, 3.0]], "B": [[1.0], [-1.0]], "alpha": 4.0, "r": 1, "use_rslora": False},
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
            {"A": A, "B": B, "alpha": 6.0, "r": 3, "use_rslora": False, "x": x, "W": W, "b": b},
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


# --- fake quantization with the straight-through gradient --------------------------------------------------
def fake_quant_ste(x, bits: int, *, symmetric=True, granularity="tensor", axis=0, clip_ratio=1.0):
    """Min–max fake quantization of a Tensor with the clipped straight-through gradient.

    Forward: x̂ = s·(clip(round(x/s) + z, q_min, q_max) − z), (s, z) from `quant_params` (per tensor or per
    channel along `axis`; symmetric: s = max|x|·clip_ratio/(2^{b−1} − 1), z = 0, codes in [−2^{b−1},
    2^{b−1} − 1]; affine: s = (hi − lo)/(2^b − 1), z = round(−lo/s), codes in [0, 2^b − 1]); round is half
    to even.  Backward: ∂x̂/∂x = 1 where the unclipped code round(x/s) + z lies in [q_min, q_max], 0 where
    it was clipped — the mask of PyTorch's `fake_quantize_per_tensor_affine` / `_per_channel_affine`.
    s and z are treated as constants (no gradient flows into the statistics)."""
    from .autograd.function import straight_through
    from .autograd.tensor import Tensor
    from .techniques.quantization.quantizers import fake_quant, quant_params

    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))
    qp = quant_params(
        t.data, bits, symmetric=symmetric, granularity=granularity, axis=axis, clip_ratio=clip_ratio
    )
    code = np.rint(t.data / qp.scale) + qp.zero_point  # before the clip
    inside = (code >= qp.qmin) & (code <= qp.qmax)
    return straight_through(t, fake_quant(t.data, qp), pass_mask=inside.astype(t.data.dtype))


def _fake_quant(x, bits, symmetric, granularity, axis, clip_ratio, G):
    from .autograd.tensor import Tensor

    t = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = fake_quant_ste(
        t,
        int(bits),
        symmetric=bool(symmetric),
        granularity=str(granularity),
        axis=int(axis),
        clip_ratio=float(clip_ratio),
    )
    (y * np.asarray(G, dtype=np.float64)).sum().backward()
    return {"x_hat": y.data, "grad_x": t.grad}


def _fake_quant_by_loops(x, bits, symmetric, granularity, axis, clip_ratio, G):
    """The oracle of the random cases: one block of Python floats at a time (the whole 2-D array, or one row
    for axis 0 / one column for axis 1), Python's round (half to even) on each element."""
    x, G = np.asarray(x, dtype=np.float64), np.asarray(G, dtype=np.float64)
    rows, cols = x.shape
    if granularity == "tensor":
        blocks = [[(i, j) for i in range(rows) for j in range(cols)]]
    elif axis == 0:
        blocks = [[(i, j) for j in range(cols)] for i in range(rows)]
    else:
        blocks = [[(i, j) for i in range(rows)] for j in range(cols)]
    x_hat, grad = np.zeros_like(x), np.zeros_like(x)
    for block in blocks:
        vals = [float(x[ij]) for ij in block]
        lo, hi = min(min(vals), 0.0) * clip_ratio, max(max(vals), 0.0) * clip_ratio
        if symmetric:
            qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
            amax = max(abs(lo), abs(hi))
            s, z = (amax / qmax if amax > 0 else 1.0), 0
        else:
            qmin, qmax = 0, 2**bits - 1
            s = (hi - lo) / qmax if hi > lo else 1.0
            z = min(max(round(-lo / s), qmin), qmax)
        for ij in block:
            code = round(float(x[ij]) / s) + z
            x_hat[ij] = s * (min(max(code, qmin), qmax) - z)
            grad[ij] = G[ij] if qmin <= code <= qmax else 0.0
    return {"x_hat": x_hat, "grad_x": grad}


def fake_quant_cases() -> list:
    f = "refimpl.building_blocks.fake_quant_ste"

    def conventions(bits, symmetric, granularity, axis=0):
        qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
        return {
            "rounding": "divide: code = round(x/s) + z, round half to even (np.rint); not x·(1/s)",
            "saturation": f"codes clamped to [{qmin}, {qmax}]",
            "scheme": "symmetric: z = 0, s = max|x|·clip_ratio/(2^(b−1) − 1)"
            if symmetric
            else "affine: s = (hi − lo)/(2^b − 1), z = round(−lo/s) clamped to the code range",
            "range": "min–max with 0 included: lo = min(min x, 0)·clip_ratio, hi = max(max x, 0)·clip_ratio",
            "granularity": "per tensor"
            if granularity == "tensor"
            else f"per channel: one (s, z) per index of axis {axis}, statistics over the other axes",
            "gradient": "straight-through: G where the unclipped code is in [q_min, q_max], 0 where it was "
            "clipped; s and z are constants",
        }

    r = np.random.default_rng(20261205)
    w, Gw = r.standard_normal((8, 16)), r.standard_normal((8, 16))
    a, Ga = r.normal(0.3, 1.0, (6, 10)), r.standard_normal((6, 10))
    per_channel = {
        "x": w,
        "bits": 4,
        "symmetric": True,
        "granularity": "channel",
        "axis": 0,
        "clip_ratio": 0.8,
        "G": Gw,
    }
    per_tensor = {
        "x": a,
        "bits": 3,
        "symmetric": False,
        "granularity": "tensor",
        "axis": 0,
        "clip_ratio": 0.7,
        "G": Ga,
    }
    return [
        ReferenceCase(
            "per_tensor_symmetric_4bit_clipped_by_hand",
            {
                "x": [-4.5, -3.5, -0.74, 0.0, 0.25, 0.75, 7.0],
                "bits": 4,
                "symmetric": True,
                "granularity": "tensor",
                "axis": 0,
                "clip_ratio": 0.5,
                "G": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            },
            {
                "x_hat": np.array([-4.0, -3.5, -0.5, 0.0, 0.0, 1.0, 3.5]),
                "grad_x": np.array([0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]),
            },
            _fake_quant,
            function=f,
            note="by hand: range [−4.5, 7]·0.5 → max|·| = 3.5, s = 3.5/7 = 0.5, codes in [−8, 7]; x/s = "
            "[−9, −7, −1.48, 0, 0.5, 1.5, 14] → round [−9, −7, −1, 0, 0, 2, 14] (0.5 → 0, 1.5 → 2: half to "
            "even) → clip [−8, …, 7] → x̂ = s·code; the two clipped entries get no gradient",
            atol=1e-12,
            conventions=conventions(4, True, "tensor"),
        ),
        ReferenceCase(
            "per_channel_affine_2bit_by_hand",
            {
                "x": [[0.0, 1.5, 3.0], [-1.0, 0.5, 2.0]],
                "bits": 2,
                "symmetric": False,
                "granularity": "channel",
                "axis": 0,
                "clip_ratio": 1.0,
                "G": [[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]],
            },
            {
                "x_hat": np.array([[0.0, 2.0, 3.0], [-1.0, 0.0, 2.0]]),
                "grad_x": np.array([[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]]),
            },
            _fake_quant,
            function=f,
            note="by hand, one (s, z) per row, codes in [0, 3]: row 0 range [0, 3] → s = 1, z = 0, 1.5 → 2 (half "
            "to even); row 1 range [−1, 2] → s = 1, z = 1, codes round([−1, 0.5, 2]) + 1 = [0, 1, 3] → x̂ = "
            "[−1, 0, 2]; nothing clipped, so the gradient is G",
            atol=1e-12,
            conventions=conventions(2, False, "channel", 0),
        ),
        ReferenceCase(
            "per_channel_symmetric_4bit_random_8x16",
            per_channel,
            _fake_quant_by_loops(**per_channel),
            _fake_quant,
            function=f,
            note="explicit loop per row (Python round, half to even): s_row = 0.8·max|x_row|/7, codes clipped "
            "to [−8, 7]; the gradient G where the code was not clipped (x, G ~ N(0, 1), seed 20261205)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
            conventions=conventions(4, True, "channel", 0),
        ),
        ReferenceCase(
            "per_tensor_affine_3bit_random_6x10",
            per_tensor,
            _fake_quant_by_loops(**per_tensor),
            _fake_quant,
            function=f,
            note="explicit loop (Python round, half to even): lo, hi = 0.7·(min(x, 0), max(x, 0)), s = (hi − "
            "lo)/7, z = round(−lo/s), codes clipped to [0, 7] (x ~ N(0.3, 1), G ~ N(0, 1), seed 20261205)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-6,
            rtol32=1e-5,
            conventions=conventions(3, False, "tensor"),
        ),
    ]


# --- FP8 / FP4 casts ---------------------------------------------------------------------------------------
def _fp_cast(x, fmt, saturate):
    from .techniques.quantization import fp_formats

    f = getattr(fp_formats, str(fmt))
    code = fp_formats.encode(np.asarray(x, dtype=np.float64), f, saturate=bool(saturate))
    return {"code": code, "value": fp_formats.decode(code, f)}


_FP_LAYOUT = {"E4M3FN": (4, 3, 7, "fn"), "E5M2": (5, 2, 15, "ieee"), "E2M1": (2, 1, 1, "none")}


def _fp_cast_by_brute_force(x, fmt, saturate=True):
    """The oracle of the random cases: the value of every non-negative code from its bit fields, then for
    each |x| (clamped to the largest finite value) the nearest value, ties to the even code."""
    e_bits, m_bits, bias, special = _FP_LAYOUT[fmt]
    values = {}
    for c in range(2 ** (e_bits + m_bits)):
        e, m = c >> m_bits, c & (2**m_bits - 1)
        if special == "ieee" and e == 2**e_bits - 1:
            continue  # inf and NaN
        if special == "fn" and e == 2**e_bits - 1 and m == 2**m_bits - 1:
            continue  # NaN
        values[c] = m * 2.0 ** (1 - bias - m_bits) if e == 0 else (1 + m / 2**m_bits) * 2.0 ** (e - bias)
    top = max(values.values())
    codes, out = [], []
    for v in np.ravel(np.asarray(x, dtype=np.float64)):
        a = min(abs(float(v)), top)
        c = min(values, key=lambda k: (abs(values[k] - a), k & 1))
        sign = 1 if np.signbit(v) else 0
        codes.append(c + sign * 2 ** (e_bits + m_bits))
        out.append(-values[c] if sign else values[c])
    shape = np.shape(x)
    return {"code": np.array(codes, dtype=np.uint8).reshape(shape), "value": np.array(out).reshape(shape)}


def fp_cast_cases() -> list:
    f = f"{_FP}.encode"

    def conventions(fmt, saturate):
        overflow = {
            ("E4M3FN", True): "saturate: overflow and ±inf clamp to ±448 (PyTorch's float8_e4m3fn cast)",
            ("E4M3FN", False): "none: overflow gives NaN S.1111.111 (0x7F, 0xFF; E4M3FN has no inf)",
            ("E5M2", True): "saturate: overflow and ±inf clamp to ±57344",
            ("E5M2", False): "none: overflow gives ±inf (0x7C, 0xFC), as IEEE and PyTorch's float8_e5m2 cast",
            ("E2M1", True): "clamp to ±6 (E2M1 has no inf or NaN)",
            ("E2M1", False): "clamp to ±6 (E2M1 has no inf or NaN)",
        }[fmt, bool(saturate)]
        return {
            "rounding": "round to nearest, ties to the even code; below half the smallest subnormal → ±0",
            "saturation": overflow,
            "encoding": "code = sign·2^(bits−1) + exponent·2^M + mantissa (uint8); `value` is the code "
            "decoded (float64)",
        }

    r = np.random.default_rng(20261206)
    x8, x4 = r.normal(0.0, 250.0, (8, 16)), r.normal(0.0, 3.0, (4, 16))
    return [
        ReferenceCase(
            "e4m3fn_no_saturation_by_hand",
            {
                "x": [1.0, 448.0, 464.0, 500.0, -0.0, 2.0**-9, 1.0625, 1.1875, 1e4],
                "fmt": "E4M3FN",
                "saturate": False,
            },
            {"code": np.array([0x38, 0x7E, 0x7E, 0x7F, 0x80, 0x01, 0x38, 0x3A, 0x7F], dtype=np.uint8)},
            _fp_cast,
            function=f,
            note="by hand (bias 7, no inf): 1 = 0.0111.000; 448 = 0.1111.110 the largest; 464 is the midpoint "
            "448–480 and rounds to the even 448; 500 and 1e4 overflow to NaN 0.1111.111 (0x7F) without "
            "saturation; −0 keeps its sign; 2^−9 is the smallest subnormal; 1.0625 and 1.1875 are ties → "
            "1.0 (0x38) and 1.25 (0x3A)",
            atol=0.0,
            rtol=0.0,
            conventions=conventions("E4M3FN", False),
        ),
        ReferenceCase(
            "e4m3fn_saturating_by_hand",
            {
                "x": [1.0, 448.0, 500.0, -1e4, 1.1875, 2.0**-10, 3 * 2.0**-10],
                "fmt": "E4M3FN",
                "saturate": True,
            },
            {
                "code": np.array([0x38, 0x7E, 0x7E, 0xFE, 0x3A, 0x00, 0x02], dtype=np.uint8),
                "value": np.array([1.0, 448.0, 448.0, -448.0, 1.25, 0.0, 2.0**-8]),
            },
            _fp_cast,
            function=f,
            note="by hand: overflow clamps to ±448 (0x7E, 0xFE); 2^−10 is half the smallest subnormal 2^−9, a "
            "tie → 0; 3·2^−10 is the tie between 2^−9 (0x01) and 2^−8 (0x02) → the even 0x02",
            atol=0.0,
            rtol=0.0,
            conventions=conventions("E4M3FN", True),
        ),
        ReferenceCase(
            "e5m2_no_saturation_by_hand",
            {"x": [1.0, 57344.0, 61440.0, 1e5, -1e5, 1.125, 1.375], "fmt": "E5M2", "saturate": False},
            {"code": np.array([0x3C, 0x7B, 0x7C, 0x7C, 0xFC, 0x3C, 0x3E], dtype=np.uint8)},
            _fp_cast,
            function=f,
            note="by hand (bias 15, IEEE specials): 1 = 0.01111.00; 57344 = 0.11110.11 the largest finite; 61440 "
            "is the midpoint 57344–65536 and rounds to even upward, so it overflows to +inf 0.11111.00 (0x7C), "
            "as 1e5 does, and −1e5 to −inf (0xFC); the ties 1.125 → 1.0 and 1.375 → 1.5 (even mantissa)",
            atol=0.0,
            rtol=0.0,
            conventions=conventions("E5M2", False),
        ),
        ReferenceCase(
            "e2m1_by_hand",
            {"x": [0.75, 2.5, 5.0, 7.0, -0.25, -1.75, 6.0, -100.0], "fmt": "E2M1", "saturate": True},
            {
                "code": np.array([2, 4, 6, 7, 8, 12, 7, 15], dtype=np.uint8),
                "value": np.array([1.0, 2.0, 4.0, 6.0, -0.0, -2.0, 6.0, -6.0]),
            },
            _fp_cast,
            function=f,
            note="by hand (bias 1, values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, codes 0–7 in that order): the ties "
            "0.75 → 1, 2.5 → 2, 5 → 4, −0.25 → −0, −1.75 → −2 go to the even code; 7 and −100 clamp to ±6 "
            "(E2M1 has no inf or NaN)",
            atol=0.0,
            rtol=0.0,
            conventions=conventions("E2M1", True),
        ),
        ReferenceCase(
            "e4m3fn_saturating_random_8x16",
            {"x": x8, "fmt": "E4M3FN", "saturate": True},
            _fp_cast_by_brute_force(x8, "E4M3FN"),
            _fp_cast,
            function=f,
            note="brute force: every code's value from its bit fields, the nearest to min(|x|, 448) with ties "
            "to the even code, the sign bit from x (x ~ N(0, 250²), seed 20261206, some beyond ±448)",
            atol=0.0,
            rtol=0.0,
            conventions=conventions("E4M3FN", True),
        ),
        ReferenceCase(
            "e2m1_random_4x16",
            {"x": x4, "fmt": "E2M1", "saturate": True},
            _fp_cast_by_brute_force(x4, "E2M1"),
            _fp_cast,
            function=f,
            note="brute force as above over the 8 magnitudes of E2M1, clamped to 6 (x ~ N(0, 3²), seed 20261206)",
            atol=0.0,
            rtol=0.0,
            conventions=conventions("E2M1", True),
        ),
    ]


# --- masks and optimizer steps shared with the techniques --------------------------------------------------
def _technique_cases(slug: str, functions: tuple) -> list:
    """The reference cases of technique `slug` that exercise one of `functions` (one copy of each case)."""
    from .catalog import get

    return [c for c in get(slug).reference_cases() if c.function.rsplit(".", 1)[-1] in functions]


def magnitude_mask_cases() -> list:
    return _technique_cases("global-magnitude-pruning", ("global_magnitude_masks",))


def lamb_step_cases() -> list:
    return _technique_cases("lamb", ("LAMB",))


def _lion_run(x, grads, lr, beta1, beta2, weight_decay):
    from .nn import Parameter
    from .techniques.optimizers_training_rules.lion_constrained import Lion

    p = Parameter(np.asarray(x, dtype=np.float64).copy())
    opt = Lion([p], lr=float(lr), betas=(float(beta1), float(beta2)), weight_decay=float(weight_decay))
    for g in np.asarray(grads, dtype=np.float64):
        p.grad = g.copy()
        opt.step()
    return {"x": p.data.copy(), "m": opt.state[p]["exp_avg"].copy()}


def _lion_by_loops(x, grads, lr, beta1, beta2, weight_decay):
    """Lion element by element: c = β1 m + (1 − β1) g; x ← x − lr (sign(c) + λ x); m ← β2 m + (1 − β2) g."""
    xs = [float(a) for a in np.ravel(x)]
    ms = [0.0] * len(xs)
    for g in np.asarray(grads):
        gs = [float(a) for a in np.ravel(g)]
        cs = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(ms, gs)]
        xs = [xi - lr * (((c > 0) - (c < 0)) + weight_decay * xi) for xi, c in zip(xs, cs)]
        ms = [beta2 * mi + (1 - beta2) * gi for mi, gi in zip(ms, gs)]
    shape = np.shape(x)
    return {"x": np.array(xs).reshape(shape), "m": np.array(ms).reshape(shape)}


def lion_step_cases() -> list:
    r = np.random.default_rng(20261207)
    run = {
        "x": r.normal(0.0, 1.0, (6, 8)),
        "grads": r.normal(0.0, 1.0, (3, 6, 8)),
        "lr": 0.01,
        "beta1": 0.9,
        "beta2": 0.99,
        "weight_decay": 0.1,
    }
    return _technique_cases("lion-constrained", ("Lion",)) + [
        ReferenceCase(
            "lion_three_steps_random_6x8",
            run,
            _lion_by_loops(**run),
            _lion_run,
            function="refimpl.techniques.optimizers_training_rules.lion_constrained.Lion",
            note="element-by-element loop, m₀ = 0: c = β1 m + (1 − β1) g, x ← x − lr(sign(c) + λx) (decoupled "
            "decay, sign(0) = 0), m ← β2 m + (1 − β2) g; three steps, grads[t] the gradient of step t + 1; "
            "returns the final x and m (x, grads ~ N(0, 1), seed 20261207)",
            atol=1e-12,
            rtol=1e-12,
            atol32=1e-5,
            rtol32=1e-4,
        ),
    ]


BLOCKS = {
    "lora": lora_cases,
    "dora": dora_cases,
    "fake-quant": fake_quant_cases,
    "fp-cast": fp_cast_cases,
    "magnitude-mask": magnitude_mask_cases,
    "lamb-step": lamb_step_cases,
    "lion-step": lion_step_cases,
}


def block_cases(name: str) -> list:
    """The reference cases of building block `name` (see BLOCKS)."""
    if name not in BLOCKS:
        raise KeyError(f"unknown building block {name!r}; known: {', '.join(BLOCKS)}")
    return BLOCKS[name]()
