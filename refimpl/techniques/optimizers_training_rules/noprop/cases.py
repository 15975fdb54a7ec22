"""Reference cases of NoProp-DT: the posterior coefficients of Eq. 3, the SNR and the schedule's ends, and
block t's loss (Eq. 8) at zero weights, all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import NoPropDT, alphas_from_alpha_bar, block_loss, cosine_schedule, posterior_coefficients, snr

_PATH = "refimpl.techniques.optimizers_training_rules.noprop"


def _coeff_case(alpha_bar):
    a, b, c = posterior_coefficients(alpha_bar)
    return {"a": a[1:], "b": b[1:], "c": c[1:], "alpha": alphas_from_alpha_bar(alpha_bar)}


def _schedule_case(alpha_bar, T):
    ab = cosine_schedule(int(T))
    return {"snr": snr(alpha_bar), "ab0": ab[0], "abT": ab[-1]}


def _zero_block_loss(T, t, n_classes, eta):
    """Block t with every weight 0: logits 0, û = 1/C in every class."""
    model = NoPropDT(4, int(n_classes), T=int(T), hidden=3, eta=float(eta), dtype=np.float64, rng=0)
    for p in model.blocks[int(t) - 1].parameters():
        p.data[...] = 0.0
    y = np.arange(6) % int(n_classes)
    loss = block_loss(model, int(t), np.ones((6, 4)), y, np.random.default_rng(0))
    return {"loss": loss}


def reference_cases() -> list:
    # ᾱ = [0.2, 0.5, 0.8] (T = 2): α_2 = 0.8, α_1 = 0.5/0.8 = 0.625, α_0 = 0.2/0.5 = 0.4
    a1 = np.sqrt(0.5) * (1 - 0.4) / (1 - 0.2)
    b1 = np.sqrt(0.4) * (1 - 0.5) / (1 - 0.2)
    c1 = (1 - 0.5) * (1 - 0.4) / (1 - 0.2)
    a2 = np.sqrt(0.8) * (1 - 0.625) / (1 - 0.5)
    b2 = np.sqrt(0.625) * (1 - 0.8) / (1 - 0.5)
    c2 = (1 - 0.8) * (1 - 0.625) / (1 - 0.5)
    # T = 4, t = 2: ᾱ_1 = cos²(π/2·(0.75 + s)/(1 + s)), ᾱ_2 = cos²(π/2·(0.5 + s)/(1 + s)), s = 0.008
    s = 0.008
    ab1 = np.cos(0.5 * np.pi * (0.75 + s) / (1 + s)) ** 2
    ab2 = np.cos(0.5 * np.pi * (0.5 + s) / (1 + s)) ** 2
    weight = 0.5 * 4 * 0.1 * (ab2 / (1 - ab2) - ab1 / (1 - ab1))
    return [
        ReferenceCase(
            name="posterior_coefficients_T2",
            inputs={"alpha_bar": [0.2, 0.5, 0.8]},
            expected={"a": [a1, a2], "b": [b1, b2], "c": [c1, c2], "alpha": [0.4, 0.625, 0.8]},
            compute=_coeff_case,
            function=f"{_PATH}.posterior_coefficients",
            note="By hand from ᾱ = [0.2, 0.5, 0.8]: α = [0.4, 0.625, 0.8]; a_1 = √0.5·0.6/0.8 = 0.530330, "
            "b_1 = √0.4·0.5/0.8 = 0.395285, c_1 = 0.5·0.6/0.8 = 0.375; a_2 = √0.8·0.375/0.5 = 0.670820, "
            "b_2 = √0.625·0.2/0.5 = 0.316228, c_2 = 0.2·0.375/0.5 = 0.15.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="snr_and_schedule_ends",
            inputs={"alpha_bar": [0.2, 0.5, 0.8], "T": 10},
            expected={"snr": [0.25, 1.0, 4.0], "ab0": 0.0, "abT": np.cos(0.5 * np.pi * 0.008 / 1.008) ** 2},
            compute=_schedule_case,
            function=f"{_PATH}.cosine_schedule",
            note="SNR = ᾱ/(1−ᾱ): 0.2/0.8, 0.5/0.5, 0.8/0.2; cosine schedule ᾱ_0 = cos²(π/2) = 0, "
            "ᾱ_T = cos²(π/2 · s/(1+s)) with s = 0.008.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="block_loss_at_zero_weights",
            inputs={"T": 4, "t": 2, "n_classes": 3, "eta": 0.1},
            expected={"loss": weight * (1 - 1 / 3)},
            compute=_zero_block_loss,
            function=f"{_PATH}.block_loss",
            note="Zero weights give logits 0 and û = (1/3, 1/3, 1/3) whatever z, so ‖û − u_y‖² = (2/3)² + 2/9 "
            "= 2/3 for every example; times (T/2)η(SNR(2) − SNR(1)) with ᾱ_t from the cosine schedule.",
            atol=1e-12,
        ),
    ]
