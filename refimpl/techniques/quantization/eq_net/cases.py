"""Reference cases of EQ-Net: the step-size initialisation, quantiser switching (a 4-bit weight re-quantized
at 8 bits), the LSQ step-size gradient, the WDR moments and the GPG distillation term, all by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import gpg_loss, init_step, kurtosis_t, lsq_quantize_t, quantize_weight, skewness_t, soft_kl

_F = "refimpl.techniques.quantization.eq_net."

_Q = {
    "rounding": "divide: code = round(w/s), half to even (np.rint)",
    "saturation": "codes clamped to [−2^(b−1), 2^(b−1) − 1]",
    "scheme": "symmetric: zero point 0, step s per output channel (rows of w (out, in))",
}
_INIT = {
    **_Q,
    "init": "s = 2ρ·max|w_row|/(2^b − 1), ρ ∈ {1, 0.99, …, 0.96}, the ρ of least mean |w − ŵ|^2.4 per row",
}
_LOSS = {"rounding": "none: a loss on float values, nothing is rounded", "std": "unbiased (n − 1)"}


def _lsq_grads(w, s, bits):
    wt = Tensor(np.asarray(w, np.float64), requires_grad=True)
    st = Tensor(np.asarray(s, np.float64), requires_grad=True)
    q = lsq_quantize_t(wt, st, bits)
    q.sum().backward()
    return {"q": q.data, "dw": wt.grad, "ds": st.grad}


def _gpg(logits, y):
    return {"loss": gpg_loss([Tensor(np.asarray(z, np.float64)) for z in logits], np.asarray(y)).data}


def reference_cases() -> list:
    ln2, ln3 = np.log(2.0), np.log(3.0)
    return [
        ReferenceCase(
            name="init_step_hand",
            conventions=_INIT,
            inputs={"w": [[1.0, 0.0], [-1.0, 0.0]], "bits": 2},
            expected={"s": np.array([[2 / 3], [0.64]])},
            compute=lambda w, bits: {"s": init_step(w, bits)},
            function=_F + "init_step",
            note="By hand, 2 bits (codes −2…1): row [1, 0]: 1/s ≥ 1.5 always clips to code 1, q = s, error "
            "1 − s, least at the largest s (ρ = 1): s = 2/3.  Row [−1, 0]: −1/s = −1.5/ρ rounds to −2 "
            "for every ρ, q = −2s = −4ρ/3, error |1 − 4ρ/3| least at ρ = 0.96: s = 2·0.96/3 = 0.64.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="switching_4_to_8_bits_nested_grid",
            conventions=_Q,
            inputs={"w": [[1.5, -0.31, 0.05, -1.5]], "s4": [[0.2]], "s8": [[1 / 85]]},
            expected={
                "q4": np.array([[1.4, -0.4, 0.0, -1.6]]),
                "q4_at_8": np.array([[119 / 85, -34 / 85, 0.0, -128 / 85]]),
            },
            compute=lambda w, s4, s8: {
                "q4": quantize_weight(w, s4, 4),
                "q4_at_8": quantize_weight(quantize_weight(w, s4, 4), s8, 8),
            },
            function=_F + "quantize_weight",
            note="Quantiser switching at the min–max start (max|w| = 1.5): s₄ = 2·1.5/15 = 0.2, s₈ = 3/255 = "
            "1/85 = s₄/17.  4-bit codes: 7.5 → 8 → clipped 7 (1.4), −1.55 → −2 (−0.4), 0.25 → 0, −7.5 → "
            "−8 (−1.6).  Re-quantized at 8 bits: 1.4 = 119/85 and −0.4 = −34/85 are 8-bit levels (17 × "
            "the 4-bit code) and stay; −1.6 = −136/85 lies below the 8-bit range and saturates at "
            "−128/85: every 4-bit level but the most negative is an 8-bit level.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="lsq_step_gradient_hand",
            conventions={**_Q, "gradient": "STE: ∂ŵ/∂w = 1 inside the clip, 0 outside; ∂ŵ/∂s by LSQ × g"},
            inputs={"w": [[0.9, -0.3, 0.2, 0.05]], "s": [[0.3]], "bits": 2},
            expected={
                "q": np.array([[0.3, -0.3, 0.3, 0.0]]),
                "dw": np.array([[0.0, 1.0, 1.0, 1.0]]),
                "ds": np.array([[2 * (1 + 0 + (1 - 2 / 3) + (0 - 1 / 6))]]),
            },
            compute=_lsq_grads,
            function=_F + "lsq_quantize_t",
            note="By hand, 2 bits, s = 0.3: w/s = [3, −1, 2/3, 1/6] → codes [1 (clipped), −1, 1, 0].  LSQ: "
            "∂(Σŵ)/∂s = Σ (clipped: the bound q_p = 1; inside: round(v) − v) = 1 + 0 + 1/3 − 1/6 = 7/6, "
            "times g = 2/√(q_p·d_out) = 2/√1 = 2 → 7/3.  ∂/∂w: 0 for the clipped weight, 1 inside.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="kurtosis_and_skewness_hand",
            conventions=_LOSS,
            inputs={"w": [0.0, 0.0, 3.0]},
            expected={"kurt": np.array(2 / 3), "skew": np.array(2 / (3 * np.sqrt(3)))},
            compute=lambda w: {
                "kurt": kurtosis_t(Tensor(np.asarray(w, np.float64))).data,
                "skew": skewness_t(Tensor(np.asarray(w, np.float64))).data,
            },
            function=_F + "kurtosis_t",
            note="By hand: mean 1, deviations [−1, −1, 2], unbiased variance 6/2 = 3, z = [−1, −1, 2]/√3; "
            "mean z⁴ = (1 + 1 + 16)/(9·3) = 2/3; mean z³ = (−1 − 1 + 8)/(3√3·3) = 2/(3√3).",
            atol=1e-12,
        ),
        ReferenceCase(
            name="soft_kl_hand",
            conventions=_LOSS,
            inputs={"z": [[0.0, 0.0]], "z_teacher": [[ln3, 0.0]], "alpha": 1.0},
            expected={"kl": np.array(0.75 * np.log(1.5) + 0.25 * np.log(0.5))},
            compute=lambda z, z_teacher, alpha: {
                "kl": soft_kl(Tensor(np.asarray(z, np.float64)), np.asarray(z_teacher), alpha).data
            },
            function=_F + "soft_kl",
            note="Teacher softmax [3/4, 1/4], student [1/2, 1/2]: KL = ¾ ln(3/2) + ¼ ln(1/2) = 0.1308.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="gpg_chain_hand",
            conventions=_LOSS,
            inputs={"logits": [[[0.0, 0.0]], [[0.0, 0.0]], [[ln3, 0.0]]], "y": [0]},
            expected={"loss": np.array(1.5 * ln2 + 0.75 * np.log(4 / 3))},
            compute=_gpg,
            function=_F + "gpg_loss",
            note="Chain z₁ = z₂ = [0, 0], z₃ = [ln 3, 0], label 0, α = ½: CE(z₁) = ln 2; subnet 2: ½·KL = 0 "
            "plus ½·CE = ½ ln 2; subnet 3 guided by z₂ (softmax [½, ½]) against its own [¾, ¼]: KL = "
            "½ ln(½/¾) + ½ ln(½/¼) = ½ ln(4/3), times ½; plus ½·CE(z₃) = ½ ln(4/3).  Total "
            "1.5 ln 2 + ¾ ln(4/3).",
            atol=1e-12,
        ),
    ]
