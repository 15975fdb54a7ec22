"""Reference cases of WideNet, all by hand: top-2 routing on two tokens (softmax of logits ln 1, ln 2, ln 3),
the balance loss of that routing (uniform mean probability → 1) and of a skewed one (every token to the same
two experts → 5/4), a one-token top-1 MoE (gate 3/4 times GeLU(2) + ½, GeLU from math.erf), and the parameter
counts of the four toy models summed term by term."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import PatchTransformer, balance_loss, count_parameters, moe, route

_P = "refimpl.techniques.architectures.widenet."
LN2, LN3 = math.log(2.0), math.log(3.0)
W_R = np.array([[0.0, LN2, LN3], [LN3, LN2, 0.0]])  # token e₁ → probs (1, 2, 3)/6, e₂ → (3, 2, 1)/6


def _gelu(z: float) -> float:
    return z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _route_and_balance(x, W_r, k):
    gates, probs, mask = route(x, W_r, k)
    return {"gates": gates.data, "balance": balance_loss(probs, mask, k).data}


def _counts(**kw):
    # patch_dim 4, 16 tokens, 10 classes; d = 16, 2 heads, hidden 32, depth 4, E = 4, k = 2
    base = dict(d=16, heads=2, hidden=32, depth=4, k=2)
    return {"params": count_parameters(PatchTransformer(4, 16, 10, **base, **kw))}


# by hand: embedding 4·16+16 = 80, positions 16·16 = 256, head 16·10+10 = 170, final norm 32 → 538;
# attention 4d²+4d = 1088; FFN 2dh+h+d = 1072; MoE 4·1072 + router 16·4 = 4352; a pair of norms 64.
_COUNTS = {
    "widenet": (dict(share=True, experts=4, individual_norms=True), 538 + 1088 + 4352 + 4 * 64),
    "vit": (dict(share=False, experts=0, individual_norms=True), 538 + 4 * (1088 + 1072) + 4 * 64),
    "shared_ln": (dict(share=True, experts=4, individual_norms=False), 538 + 1088 + 4352 + 64),
    "shared_dense": (dict(share=True, experts=0, individual_norms=True), 538 + 1088 + 1072 + 4 * 64),
}


def reference_cases() -> list:
    conv = {
        "gates": "top-k of softmax(x W_r) kept as is, not renormalised over the k (official Router)",
        "balance": "E · Σᵢ mᵢ Pᵢ, mᵢ = share of the T·k routing slots, Pᵢ = mean router probability",
        "ties": "equal probabilities: the lower expert index wins (stable sort)",
    }
    cases = [
        ReferenceCase(
            "top2_routing_two_tokens",
            {"x": np.eye(2), "W_r": W_R, "k": 2},
            {"gates": np.array([[0.0, 1 / 3, 1 / 2], [1 / 2, 1 / 3, 0.0]]), "balance": np.array(1.0)},
            _route_and_balance,
            function=_P + "route",
            note="by hand: probs (1/6, 1/3, 1/2) and (1/2, 1/3, 1/6); top-2 keeps experts {1, 2} and {0, 1}; "
            "m = (1, 2, 1)/4, P = (1/3, 1/3, 1/3), ℓ = 3 · Σ m P = 1",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "balance_loss_all_tokens_to_the_same_experts",
            {"x": np.array([[1.0, 0.0], [1.0, 0.0]]), "W_r": W_R, "k": 2},
            {"gates": np.array([[0.0, 1 / 3, 1 / 2], [0.0, 1 / 3, 1 / 2]]), "balance": np.array(1.25)},
            _route_and_balance,
            function=_P + "balance_loss",
            note="by hand: both tokens use experts {1, 2}: m = (0, ½, ½), P = (1/6, 1/3, 1/2), "
            "ℓ = 3 · (1/6 + 1/4) = 5/4 > 1 (the uniform value)",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "moe_top1_one_token",
            {
                "x": np.array([[1.0]]),
                "W_r": np.array([[0.0, LN3]]),
                "W1": np.array([[[1.0]], [[2.0]]]),
                "b1": np.zeros((2, 1)),
                "W2": np.array([[[1.0]], [[1.0]]]),
                "b2": np.array([[0.0], [0.5]]),
                "k": 1,
            },
            {"out": np.array([[0.75 * (_gelu(2.0) + 0.5)]])},
            lambda **a: {"out": moe(**a)[0].data},
            function=_P + "moe",
            note="by hand: probs (1/4, 3/4), top-1 is expert 1 with gate 3/4; e₁(1) = 1·GeLU(2·1) + 0.5; "
            "out = 0.75 · (GeLU(2) + 0.5) = 1.840875",
            atol=1e-12,
            conventions={**conv, "gelu": "exact (erf)"},
        ),
    ]
    for name, (kw, expected) in _COUNTS.items():
        cases.append(
            ReferenceCase(
                f"parameter_count_{name}",
                kw,
                {"params": np.array(expected)},
                _counts,
                function=_P + "count_parameters",
                note="by hand, term by term (see the comment above _COUNTS in cases.py)",
                atol=0,
                rtol=0,
                conventions={"sharing": "a shared tensor is counted once"},
            )
        )
    return cases
