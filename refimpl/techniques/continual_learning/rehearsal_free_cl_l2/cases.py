"""Reference cases of the rehearsal-free regularisers, by hand and by brute force: the L2 and EWC penalties of two
small parameters, the diagonal Fisher of a linear head at uniform predictions (closed form) and of a two-layer ReLU
head with one class masked (central finite differences of log p, written here independently of the method), and
the distillation loss when student and teacher agree (the teacher's entropy)."""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import fisher_diagonal, prediction_distillation, quadratic_penalty

_PATH = "refimpl.techniques.continual_learning.rehearsal_free_cl_l2"

_THETA = [[[1.0, 2.0], [3.0, 4.0]], [0.5]]
_ANCHOR = [[[0.0, 2.0], [1.0, 1.0]], [-0.5]]
_OMEGA = [[[1.0, 0.5], [0.0, 2.0]], [4.0]]

# a 2 → 2 → 3 ReLU head (weights (out, in)), two inputs, class 2 masked out
_MLP = {
    "W1": [[0.5, -0.3], [0.8, 0.2]],
    "b1": [0.1, -0.1],
    "W2": [[0.4, -0.6], [-0.2, 0.9], [0.3, 0.3]],
    "b2": [0.0, 0.2, -0.1],
    "x": [[1.0, 0.5], [-0.4, 1.5]],
    "classes": [0, 1],
}


def _penalty(theta, anchor, importance=None):
    params = [np.asarray(t, dtype=np.float64) for t in theta]
    imp = None if importance is None else [np.asarray(w, dtype=np.float64) for w in importance]
    value = quadratic_penalty(params, [np.asarray(a, dtype=np.float64) for a in anchor], imp)
    return {"penalty": np.array([float(value.data)])}


def _net(layers_in):
    sizes = [np.asarray(w).shape for w in layers_in[0::2]]
    mods = []
    for k, (out_dim, in_dim) in enumerate(sizes):
        mods += [nn.Linear(in_dim, out_dim)] + ([nn.ReLU()] if k < len(sizes) - 1 else [])
    net = nn.Sequential(*mods)
    state = {}
    for k, i in enumerate(i for i, m in enumerate(mods) if isinstance(m, nn.Linear)):
        state[f"{i}.weight"] = np.asarray(layers_in[2 * k], dtype=np.float32)
        state[f"{i}.bias"] = np.asarray(layers_in[2 * k + 1], dtype=np.float32)
    net.load_state_dict(state)
    return net


def _fisher_linear(W, b, x):
    F = fisher_diagonal(_net([W, b]), np.asarray(x))
    return {"F_W": F[0], "F_b": F[1]}


def _fisher_mlp(W1, b1, W2, b2, x, classes):
    F = fisher_diagonal(_net([W1, b1, W2, b2]), np.asarray(x), classes)
    return {"F_W1": F[0], "F_b1": F[1], "F_W2": F[2], "F_b2": F[3]}


def _brute_force_fisher(W1, b1, W2, b2, x, classes, h=1e-6):
    """mean_n Σ_y p(y|x_n) (∂ log p(y|x_n)/∂θ)², every derivative a central difference (float64)."""
    # the weights as the float32 the network stores, so both sides see the same numbers
    theta = [np.asarray(a, dtype=np.float32).astype(np.float64) for a in (W1, b1, W2, b2)]
    x = np.asarray(x, dtype=np.float64)

    def logp(th, xn):
        hid = np.maximum(th[0] @ xn + th[1], 0.0)
        z = (th[2] @ hid + th[3])[classes]
        return z - z.max() - np.log(np.sum(np.exp(z - z.max())))

    out = [np.zeros_like(t) for t in theta]
    for xn in x:
        p = np.exp(logp(theta, xn))
        for k, t in enumerate(theta):
            for idx in np.ndindex(t.shape):
                up = [a.copy() for a in theta]
                dn = [a.copy() for a in theta]
                up[k][idx] += h
                dn[k][idx] -= h
                g = (logp(up, xn) - logp(dn, xn)) / (2 * h)
                out[k][idx] += np.sum(p * g**2) / len(x)
    return out


def _kd(logits, teacher, T):
    value = prediction_distillation(Tensor(np.asarray(logits, dtype=np.float64)), np.asarray(teacher), T)
    return {"kd": np.array([float(value.data)])}


def reference_cases() -> list:
    q = np.array([0.25, 0.75])
    bf = _brute_force_fisher(**_MLP)
    return [
        ReferenceCase(
            name="l2_penalty_hand",
            inputs={"theta": _THETA, "anchor": _ANCHOR},
            expected={"penalty": [15.0]},
            compute=_penalty,
            function=f"{_PATH}.quadratic_penalty",
            note="Differences 1, 0, 2, 3 and 1: 1 + 0 + 4 + 9 + 1 = 15.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="ewc_penalty_hand",
            inputs={"theta": _THETA, "anchor": _ANCHOR, "importance": _OMEGA},
            expected={"penalty": [23.0]},
            compute=_penalty,
            function=f"{_PATH}.quadratic_penalty",
            note="Squared differences 1, 0, 4, 9, 1 weighted by 1, 0.5, 0, 2, 4: 1 + 0 + 0 + 18 + 4 = 23.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="fisher_linear_uniform",
            inputs={"W": [[0.0, 0.0], [0.0, 0.0]], "b": [0.0, 0.0], "x": [[1.0, 2.0]]},
            expected={"F_W": [[0.25, 1.0], [0.25, 1.0]], "F_b": [0.25, 0.25]},
            compute=_fisher_linear,
            function=f"{_PATH}.fisher_diagonal",
            note="Zero weights: p = (½, ½); ∂ log p_y/∂z_k = δ_yk − p_k, so E_y(δ_yk − p_k)² = p_k(1 − p_k) = ¼; "
            "the weight entry is that times x_j²: ¼·1 and ¼·4; the bias entry ¼.",
            conventions={"fisher": "true Fisher: y drawn from the model's softmax, not the label"},
            atol=1e-12,
        ),
        ReferenceCase(
            name="fisher_mlp_masked_brute_force",
            inputs=_MLP,
            expected={"F_W1": bf[0], "F_b1": bf[1], "F_W2": bf[2], "F_b2": bf[3]},
            compute=_fisher_mlp,
            function=f"{_PATH}.fisher_diagonal",
            note="Brute force: central differences (h = 1e-6, float64) of log p(y|x) over every weight, squared, "
            "weighted by p(y|x) over the unmasked classes 0 and 1 and averaged over the two inputs; class 2's "
            "row gets zero.",
            conventions={
                "fisher": "true Fisher: y drawn from the model's softmax over `classes`",
                "relu": "ReLU'(0) = 0",
            },
            atol=1e-8,
        ),
        ReferenceCase(
            name="prediction_distillation_agreeing",
            inputs={"logits": [[0.0, 2 * np.log(3.0)]], "teacher": [[0.0, 2 * np.log(3.0)]], "T": 2.0},
            expected={"kd": [-np.sum(q * np.log(q))]},
            compute=_kd,
            function=f"{_PATH}.prediction_distillation",
            note="At T = 2 both become [0, ln 3]: softmax [¼, ¾]; student = teacher, so the loss is the entropy "
            "−(¼ ln ¼ + ¾ ln ¾) = 0.5623.",
            atol=1e-9,
        ),
    ]
