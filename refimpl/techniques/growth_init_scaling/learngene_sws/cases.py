"""Reference cases of SWS, worked independently: the README's 12-layer stage map, the ablation's depth map
by hand, the soft distillation loss in closed form, and a 2-wide descendant expanded from a 2-stage
learngene whose forward pass is transcribed from the equations (not from the Modules)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import (
    auxiliary_model,
    depth_map,
    descendant_model,
    distillation_loss,
    init_from_learngene,
    layers_source,
    stage_plan,
)

_MOD = "refimpl.techniques.growth_init_scaling.learngene_sws"
_EXACT = dict(atol=0.0, rtol=0.0, atol32=0.0, rtol32=0.0)
_SPLIT = {"scheme": "depth split as evenly as possible over the stages, extra layers to the earliest"}
_LN_EPS = 1e-5  # LayerNorm's eps (PyTorch's default)


def _ln(h):
    """LayerNorm over the last axis, γ = 1, β = 0 (biased variance, eps inside the sqrt)."""
    mu = h.mean(axis=-1, keepdims=True)
    return (h - mu) / np.sqrt(((h - mu) ** 2).mean(axis=-1, keepdims=True) + _LN_EPS)


def _by_equations(x, We, be, genes, counts, Wh, bh):
    """h = W_e x + b_e; layer l of stage σ(l): h ← h + W₂ relu(W₁ LN(h) + b₁) + b₂; out = W_h LN(h) + b_h."""
    h = x @ We.T + be
    for s, k in enumerate(counts):
        W1, b1, W2, b2 = genes[s]
        for _ in range(k):
            h = h + np.maximum(_ln(h) @ W1.T + b1, 0.0) @ W2.T + b2
    return _ln(h) @ Wh.T + bh


def reference_cases() -> list:
    def plan(depth, n_stages):
        counts = stage_plan(int(depth), int(n_stages))
        return {"stage_counts": np.array(counts), "layers_source": layers_source(counts)}

    def dmap(n, k):
        return {"indices": depth_map(int(n), int(k))}

    def kd(z_student, p_teacher, T):
        from ....autograd import tensor

        return {
            "loss": np.asarray(
                distillation_loss(tensor(np.asarray(z_student)), np.asarray(p_teacher), T).data
            )
        }

    def expand(x, We, be, W1, b1, W2, b2, Wh, bh, aux_counts, descendant_counts):
        aux = auxiliary_model(2, 2, 2, 2, list(aux_counts), dtype=np.float64, rng=0)
        for p, v in (
            (aux.embed.weight, We),
            (aux.embed.bias, be),
            (aux.head.weight, Wh),
            (aux.head.bias, bh),
        ):
            p.data[...] = v
        genes = [aux.blocks[int(i)] for i in np.concatenate([[0], np.cumsum(aux_counts)[:-1]])]
        for g, w1, c1, w2, c2 in zip(genes, W1, b1, W2, b2):
            g.fc1.weight.data[...], g.fc1.bias.data[...] = w1, c1
            g.fc2.weight.data[...], g.fc2.bias.data[...] = w2, c2
        d = descendant_model(2, 2, 2, 2, list(descendant_counts), dtype=np.float64, rng=1)
        init_from_learngene(d, aux)
        return {"out": d(np.asarray(x)).data}

    x = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]])
    We, be = np.array([[1.0, 0.5], [-0.5, 1.0]]), np.array([0.1, -0.2])
    W1 = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.5, -0.5], [1.0, 1.0]]])  # stage 1, stage 2
    b1 = np.array([[0.0, 0.1], [-0.1, 0.0]])
    W2 = np.array([[[0.5, 0.0], [0.0, -0.5]], [[0.2, 0.3], [-0.1, 0.4]]])
    b2 = np.array([[0.05, 0.0], [0.0, -0.05]])
    Wh, bh = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.0, 0.3])
    genes = list(zip(W1, b1, W2, b2))
    ex_inputs = dict(x=x, We=We, be=be, W1=W1, b1=b1, W2=W2, b2=b2, Wh=Wh, bh=bh, aux_counts=[2, 3])
    return [
        ReferenceCase(
            "stage_plan_12_layers_over_5_stages",
            {"depth": 12, "n_stages": 5},
            {
                "stage_counts": np.array([3, 3, 2, 2, 2]),
                "layers_source": np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4]),
            },
            plan,
            function=f"{_MOD}.stage_plan",
            note="the official README's 12-layer descendant: --layers-source '0,0,0,1,1,1,2,2,3,3,4,4'",
            conventions=_SPLIT,
            **_EXACT,
        ),
        ReferenceCase(
            "stage_plan_8_layers_over_3_stages",
            {"depth": 8, "n_stages": 3},
            {"stage_counts": np.array([3, 3, 2]), "layers_source": np.array([0, 0, 0, 1, 1, 1, 2, 2])},
            plan,
            function=f"{_MOD}.stage_plan",
            note="by hand: 8 = 3·2 + 2, the two extra layers to stages 1 and 2",
            conventions=_SPLIT,
            **_EXACT,
        ),
        ReferenceCase(
            "depth_map_2_source_layers_to_3_and_to_1",
            {"n": 2, "k": 3},
            {"indices": np.array([0, 0, 1])},
            dmap,
            function=f"{_MOD}.depth_map",
            note="by hand: ⌊0·2/3⌋, ⌊1·2/3⌋, ⌊2·2/3⌋ = 0, 0, 1 (the ablation's map, ours)",
            **_EXACT,
        ),
        ReferenceCase(
            "depth_map_4_source_layers_to_2",
            {"n": 4, "k": 2},
            {"indices": np.array([0, 2])},
            dmap,
            function=f"{_MOD}.depth_map",
            note="by hand: ⌊0·4/2⌋, ⌊1·4/2⌋ = 0, 2 (evenly spaced when the descendant is shallower)",
            **_EXACT,
        ),
        ReferenceCase(
            "soft_distillation_T1",
            {"z_student": np.array([[0.0, math.log(3.0)]]), "p_teacher": np.array([[0.5, 0.5]]), "T": 1.0},
            {"loss": np.array(math.log(4.0) - 0.5 * math.log(3.0))},
            kd,
            function=f"{_MOD}.distillation_loss",
            note="closed form: softmax(0, ln 3) = (1/4, 3/4); −½ ln ¼ − ½ ln ¾ = ln 4 − ½ ln 3",
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "soft_distillation_T2",
            {"z_student": np.array([[0.0, math.log(3.0)]]), "p_teacher": np.array([[0.5, 0.5]]), "T": 2.0},
            {"loss": np.array(4.0 * (math.log(1.0 + math.sqrt(3.0)) - 0.25 * math.log(3.0)))},
            kd,
            function=f"{_MOD}.distillation_loss",
            note="closed form: softmax(0, ½ ln 3) = (1, √3)/(1+√3); T²·(ln(1+√3) − ¼ ln 3), T² = 4",
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "expand_2_stage_learngene_to_depth_3",
            {**ex_inputs, "descendant_counts": [2, 1]},
            {"out": _by_equations(x, We, be, genes, [2, 1], Wh, bh)},
            expand,
            function=f"{_MOD}.init_from_learngene",
            note=(
                "forward pass transcribed from the equations in float64 (NumPy, no Modules): stage 1's "
                "block applied twice, stage 2's once; aux (2, 3) → descendant (2, 1); LN γ = 1, β = 0, eps 1e-5"
            ),
            conventions={"scheme": "pre-LN residual block; embedding, final LN and head handed over"},
            atol=1e-12,
            rtol=1e-12,
        ),
        ReferenceCase(
            "expand_2_stage_learngene_to_depth_6",
            {**ex_inputs, "descendant_counts": [3, 3]},
            {"out": _by_equations(x, We, be, genes, [3, 3], Wh, bh)},
            expand,
            function=f"{_MOD}.init_from_learngene",
            note="as above, deeper than the auxiliary model: each stage's block applied three times",
            conventions={"scheme": "pre-LN residual block; embedding, final LN and head handed over"},
            atol=1e-12,
            rtol=1e-12,
        ),
    ]
