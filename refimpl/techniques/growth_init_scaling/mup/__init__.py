r"""μP, the Maximal Update Parametrization: abc-parametrizations of a width-n network, why the standard and
NTK ones lose feature learning (or blow up) as n → ∞, and the one that keeps every layer's features moving by
Θ(1) per step — which makes the optimal learning rate (nearly) independent of width (μTransfer).

The paper card is `CATALOG_ENTRY` below; the width-parametrized MLP, the rules of every parametrization and
their sources in microsoft/mup (file:line) are the family's `parametrization.py`.  This module holds the
paper's own statements: the abc table, the exponents it implies, the feature-change prediction, and thin
constructors for a μP model and its optimizer.

abc-parametrizations (Sec. 3 of arXiv 2011.14522)
-------------------------------------------------
Layer ℓ of an L-hidden-layer MLP of width n has effective weights $W^\ell = n^{-a_\ell} w^\ell$, trainable
$w^\ell_{ij}\sim\mathcal N(0, n^{-2b_\ell})$, and SGD rate $\eta\,n^{-c}$ (input dimension and output
dimension fixed).  The three named ones (the same table in the paper's Sec. 3 and Definition 5.1):

=====  ====================  ====================  ====================  ===
name   input ℓ=1 (a, b)      hidden (a, b)         output ℓ=L+1 (a, b)   c
=====  ====================  ====================  ====================  ===
SP     (0, 0)                (0, ½)                (0, ½)                0
NTK    (0, 0)                (½, 0)                (½, 0)                0
μP     (−½, ½)               (0, ½)                (½, ½)                0
=====  ====================  ====================  ====================  ===

Two exponents per layer decide everything (they are invariant under the symmetry $a\to a+\theta$,
$b\to b-\theta$, $c\to c-2\theta$):

* the effective weight's size at init, $W_{ij}\sim n^{-(a+b)}$;
* the effective SGD rate on $W$, $n^{-2a}\cdot n^{-c} = n^{-(2a+c)}$ (the multiplier enters once through the
  gradient and once through the forward pass).

A hidden feature $h = \phi(Wx)$ with $x$ of Θ(1) coordinates changes by $\Delta W x$; one SGD step gives
$\Delta W = -\eta n^{-(2a+c)} g\,x^\top$ so $\Delta W x = -\eta n^{-(2a+c)} g\,\lVert x\rVert^2$ with
$\lVert x\rVert^2 = \Theta(n)$ for a width input and $g$ of size $n^{-(a_{L+1}+b_{L+1})}$ inherited from the
readout.  For μP: hidden $2a+c = 0$, readout $a+b = 1$ ⇒ $\Delta h \sim 1\cdot n^{-1}\cdot n = \Theta(1)$:
*maximal* updates.  For NTK: hidden $2a+c=1$, readout $a+b=\tfrac12$ ⇒ $\Delta h\sim n^{-1}\,n^{-1/2}\,n =
n^{-1/2}\to 0$: the kernel (lazy) regime.  For SP at a fixed rate: readout update $n^{0}\cdot n = n$ ⇒ the
output blows up unless $\eta \propto 1/n$, which in turn freezes the features (the Dynamical Dichotomy:
feature learning or a kernel limit, never both).  `feature_change_exponent` returns these predictions.

In code the same parametrizations are written in the SP form relative to a base width n₀ (TP5 Table 3,
microsoft/mup): μP keeps SP's init for input and hidden layers, uses a constant-std readout with multiplier
n₀/n (``MuReadout``), and scales SGD rates by n/n₀ on width-sized vectors (input weights, readout weights,
biases).  At n = n₀ it *is* SP, so the base model's tuned hyperparameters are used unchanged at every width.
Deviations from microsoft/mup: biases start at 0 (mup rescales PyTorch's bias init to constant variance);
the readout is not zero-initialised (mup's default ``readout_zero_init=False``).
"""

from __future__ import annotations

import numpy as np

from ..parametrization import OPTIMIZERS, WidthMLP, layer_rule, param_groups

CATALOG_ENTRY = {
    "slug": "mup",
    "title": "Feature Learning in Infinite-Width Neural Networks",
    "authors": "Greg Yang, Edward J. Hu",
    "year": 2021,
    "arxiv": "2011.14522",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/mup.ipynb",
    "verified": "official-code",
    "verification_note": (
        "The μP rules implemented (refimpl/techniques/growth_init_scaling/parametrization.py) were read in "
        "microsoft/mup at commit 1981497: MuReadout's 1/width_mult multiplier and √width_mult weight rescale "
        "(mup/layer.py:51, 54-56), bias rescale (layer.py:80-83), which layers set_base_shapes rescales "
        "(mup/shape.py:189-194), MuSGD's and MuAdam's learning-rate scaling (mup/optim.py:63-80, 116-139) "
        "and "
        "width_mult/fanin_fanout_mult_ratio (mup/infshape.py:63-83); they correspond to Tensor Programs V's "
        "Table 3 (arXiv 2203.03466), whose text was not re-read here (the code is the source). "
        "The abc table (SP, NTK, μP) follows 2011.14522 Sec. 3 and Definition 5.1 (the "
        "definition number confirmed; other equation numbers were not checked). A unit test checks the "
        "code's "
        "SP form against the abc exponents. The toy experiment (teacher-student MLP, widths 32-512) is ours."
    ),
    "summary": (
        "Parametrize a width-n network by per-layer exponents (a, b, c): multiplier n^-a, init std n^-b, "
        "learning rate n^-c. Standard and NTK parametrizations either blow up or freeze their features as "
        "n grows; the Maximal Update Parametrization (μP) — constant-size readout weights behind a 1/n "
        "multiplier, fan-in init elsewhere, SGD rates scaled by width on vector-like weights (for Adam: "
        "hidden rates 1/width) — makes every layer's features change by Θ(1), so hyperparameters tuned "
        "on a narrow model transfer to wide ones."
    ),
    "equations": [
        "W^ℓ = n^{-a_ℓ} w^ℓ,  w^ℓ_ij ~ N(0, n^{-2 b_ℓ}),  SGD lr = η n^{-c}",
        "μP: (a, b) = (−½, ½) input, (0, ½) hidden, (½, ½) output; c = 0",
        "SP form (base width n₀, m = n/n₀): readout y = (α/m) W h with W ~ N(0, σ²/n₀)",
        "MuSGD: lr·m on vector-like weights (input, readout, biases), lr·1 on hidden",
        "MuAdam: lr/m on hidden weights, lr·1 elsewhere",
        "Δh ~ n^{-(2a+c)} · n^{-(a_{L+1}+b_{L+1})} · n:  μP Θ(1), NTK Θ(n^{-1/2})",
    ],
}

__all__ = [
    "ABC",
    "ROLES",
    "effective_exponents",
    "feature_change_exponent",
    "mup_rules",
    "mup_mlp",
    "mup_optimizer",
    "relative_feature_change",
]

ROLES = ("input", "hidden", "output")
ABC = {  # (a, b) per role and c — Sec. 3 / Definition 5.1 of arXiv 2011.14522
    "standard": {"input": (0.0, 0.0), "hidden": (0.0, 0.5), "output": (0.0, 0.5), "c": 0.0},
    "ntk": {"input": (0.0, 0.0), "hidden": (0.5, 0.0), "output": (0.5, 0.0), "c": 0.0},
    "mup": {"input": (-0.5, 0.5), "hidden": (0.0, 0.5), "output": (0.5, 0.5), "c": 0.0},
}


def _name(parametrization):
    if parametrization not in ABC:
        raise ValueError(f"`parametrization` must be one of {tuple(ABC)}, got {parametrization!r}")
    return parametrization


def effective_exponents(parametrization: str) -> dict:
    """{role: (init, rate)}: W_ij ~ n^{-init} at init and SGD moves W with rate ∝ n^{-rate}, where
    init = a + b and rate = 2a + c (see the module docstring)."""
    p = ABC[_name(parametrization)]
    return {r: (p[r][0] + p[r][1], 2 * p[r][0] + p["c"]) for r in ROLES}


def feature_change_exponent(parametrization: str):
    """The width exponent of a hidden layer's feature change after a fixed number of SGD steps at a fixed
    base rate: hidden rate exponent and readout size combine to n^{-(2a+c)}·n^{-(a_{L+1}+b_{L+1})}·n.
    μP → 0 (Θ(1)), NTK → −½; SP → +½ (its features and output blow up at a fixed rate: no limit)."""
    e = effective_exponents(parametrization)
    return 1.0 - e["hidden"][1] - e["output"][0]


def mup_rules(
    width: int,
    base_width: int,
    d_in: int,
    d_out: int,
    *,
    optimizer: str = "sgd",
    sigma: float = 1.0,
    output_mult: float = 1.0,
) -> dict:
    """{role: LayerRule} of a μP MLP d_in → width → … → d_out with base width `base_width`."""
    kw = dict(optimizer=optimizer, sigma=sigma, output_mult=output_mult)
    return {
        "input": layer_rule("mup", "input", d_in, width, base_fan_in=d_in, base_fan_out=base_width, **kw),
        "hidden": layer_rule(
            "mup", "hidden", width, width, base_fan_in=base_width, base_fan_out=base_width, **kw
        ),
        "output": layer_rule("mup", "output", width, d_out, base_fan_in=base_width, base_fan_out=d_out, **kw),
    }


def mup_mlp(d_in: int, width, d_out: int, *, base_width=64, optimizer: str = "sgd", **kwargs) -> WidthMLP:
    """A μP `WidthMLP` (kwargs: depth, sigma, output_mult, activation, bias, dtype, rng)."""
    return WidthMLP(
        d_in, width, d_out, parametrization="mup", base_width=base_width, optimizer=optimizer, **kwargs
    )


def mup_optimizer(model: WidthMLP, lr: float, **kwargs):
    """refimpl.optim.SGD or Adam (by the model's `optimizer`) over `param_groups(model, lr)`: the μP
    optimizer (MuSGD / MuAdam of mup/optim.py) with refimpl's own update rules."""
    from ....optim import SGD, Adam

    if getattr(model, "optimizer", None) not in OPTIMIZERS:
        raise ValueError(f"mup_optimizer: `model` must be a WidthMLP with an optimizer in {OPTIMIZERS}")
    cls = SGD if model.optimizer == "sgd" else Adam
    return cls(param_groups(model, lr), lr=lr, **kwargs)


def relative_feature_change(h0, h1) -> float:
    """‖h₁ − h₀‖_F / ‖h₀‖_F: how far training moved a layer's features relative to their size."""
    h0, h1 = np.asarray(h0, np.float64), np.asarray(h1, np.float64)
    if h0.shape != h1.shape:
        raise ValueError(f"relative_feature_change: `h0` {h0.shape} and `h1` {h1.shape} differ in shape")
    norm = np.linalg.norm(h0)
    if norm == 0:
        raise ValueError("relative_feature_change: `h0` is all zeros")
    return float(np.linalg.norm(h1 - h0) / norm)
