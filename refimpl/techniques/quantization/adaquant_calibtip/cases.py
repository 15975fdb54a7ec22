"""Reference cases of AdaQuant/CalibTIP: the knapsack by hand, the learnable affine grid by hand, the class
embeddings of the official bias tuning, and its KL loss against a closed form."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import affine_quant, allocate_bits, class_embeddings, kl_bias_loss

_F = "refimpl.techniques.quantization.adaquant_calibtip."

_AFFINE = {
    "rounding": "divide: code = round((x − lo)/s), half to even (np.rint); the gradient passes it (STE)",
    "saturation": "codes clamped to [0, 2^b − 1]",
    "scheme": "learnable affine grid x̂ = lo + s·code with s = max(rng, 1e-8)/(2^b − 1); lo is a real "
    "offset, not rounded to the grid (no integer zero point)",
}


def _kl_closed_form(z, e):
    """mean over rows and classes of p·(log p − log q), p = softmax(e), q = softmax(z), written out."""
    z, e = np.asarray(z, np.float64), np.asarray(e, np.float64)
    p = np.exp(e) / np.exp(e).sum(1, keepdims=True)
    q = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return float(np.mean(p * (np.log(p) - np.log(q))))


def reference_cases() -> list:
    dl = [[0.50, 0.10, 0.01], [0.90, 0.20, 0.02], [0.05, 0.03, 0.00]]
    sz = [[2, 4, 8], [4, 8, 16], [2, 4, 8]]
    z = [[0.2, -1.0, 0.5], [1.5, 0.0, -0.3]]
    e = [[0.0, -0.5, 1.0], [2.0, 0.1, 0.1]]
    return [
        ReferenceCase(
            name="knapsack_budget_16",
            inputs={"delta_loss": dl, "sizes": sz, "budget": 16},
            expected={"choice": [1, 1, 1], "loss": 0.33, "size": 16},
            compute=lambda delta_loss, sizes, budget: dict(
                zip(("choice", "loss", "size"), allocate_bits(delta_loss, sizes, budget))
            ),
            function=_F + "allocate_bits",
            note="By hand (bits {2,4,8} of layers with 1, 2, 1 size units): (4,4,4) costs 4+8+4 = 16, loss "
            "0.10+0.20+0.03 = 0.33; every combination with a lower loss needs 8 bits somewhere and costs ≥ 18.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="knapsack_budget_15",
            inputs={"delta_loss": dl, "sizes": sz, "budget": 15},
            expected={"choice": [1, 1, 0], "loss": 0.35, "size": 14},
            compute=lambda delta_loss, sizes, budget: dict(
                zip(("choice", "loss", "size"), allocate_bits(delta_loss, sizes, budget))
            ),
            function=_F + "allocate_bits",
            note="By hand: budget 15 rules out (4,4,4); (4,4,2) costs 14 with loss 0.35, the next best (2,4,4) "
            "0.73.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="affine_quant_hand",
            conventions=_AFFINE,
            inputs={"x": [-0.4, 0.1, 0.8, 0.5], "lo": -0.4, "rng": 1.2, "bits": 2},
            expected={"q": [-0.4, 0.0, 0.8, 0.4]},
            compute=lambda x, lo, rng, bits: {"q": affine_quant(x, lo, rng, bits)},
            function=_F + "affine_quant",
            note="By hand: s = 1.2/3 = 0.4; (x − lo)/s = [0, 1.25, 3, 2.25] → [0, 1, 3, 2] → lo + s·k = "
            "[−0.4, 0, 0.8, 0.4].",
            atol=1e-12,
        ),
        ReferenceCase(
            name="class_embeddings_last_sample_wins",
            inputs={"fp_logits": [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]], "y": [0, 1, 0], "num_classes": 2},
            expected={"emb": [[3.0, 1.0], [0.0, 2.0]]},
            compute=lambda fp_logits, y, num_classes: {"emb": class_embeddings(fp_logits, y, num_classes)},
            function=_F + "class_embeddings",
            note="trainer.py l. 268–274 writes output_embed[label] = output sample by sample: class 0's "
            "second sample [3, 1] overwrites its first.",
            atol=0,
        ),
        ReferenceCase(
            name="kl_bias_loss_closed_form",
            inputs={"q_logits": z, "emb_targets": e},
            expected={"loss": _kl_closed_form(z, e)},
            compute=lambda q_logits, emb_targets: {
                "loss": float(kl_bias_loss(Tensor(np.asarray(q_logits, np.float64)), emb_targets).data)
            },
            function=_F + "kl_bias_loss",
            note="nn.KLDivLoss(reduction='mean')(log_softmax(z), softmax(e)): the mean over all 6 entries of "
            "p(log p − log q), written out with exp and log.",
            atol=1e-12,
        ),
    ]
