r"""Weight compander (WC): every weight of a network written as a bounded, S-shaped function of a new
weight, w = Ψ(v), so that weights cannot grow large and small weights are pushed away from zero.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Paper text read: the authors' IJCNN 2023 version, `files/WC_IJCNN_2023.pdf` in
github.com/rinorcakaj/rinorcakaj.github.io.  Official code: none found.

The idea
--------
Regularized networks (weight decay, dropout) have (i) no very large weights and (ii) a wide spread of
weights around zero with few weights *at* zero (Sec. III-A).  WC strengthens both by construction:

$$ w = \Psi(v) = a\,\arctan\!\left(\frac{v}{b}\right), \qquad a, b > 0 \qquad\text{(Eq. 1)} $$

applied to every weight of every Linear / Conv layer (never to biases or normalization layers), with
a, b shared by the whole network.  Ψ is odd and bounded, |w| < aπ/2 for every v — property (i).  By
the chain rule (Eq. 2) the gradient that reaches v is the weight's gradient times

$$ \frac{\partial\Psi}{\partial v} = \frac{a}{b\,(1 + v^2/b^2)} = \frac{a\,b}{b^2 + v^2} \qquad\text{(Eq. 3)}, $$

which is largest at v = 0 (a/b) and decays like ab/v²: weights near zero move faster than large ones
and are driven away from zero — property (ii), "reactivating dead weights".  Note a/b > 1 when a > b:
the slope at zero can exceed 1, but that is a consequence of the hyperparameters, not the mechanism.

Everything else is chosen so that the reparametrized network is comparable with the standard one:

* **Initialization** (Eq. 4): v = Ψ⁻¹(w) = b·tan(w/a), with w drawn from the usual initializer, so
  Ψ(v) starts exactly at the standard initialization (after Powerpropagation).  It needs |w| < aπ/2;
  the paper restricts itself to a, b ≥ 0.5.
* **Weight decay** (Eq. 5, Sec. III-A2): in the fixed version the L2 penalty acts on w = Ψ(v), not on v.
  We write it as (λ/2)‖Ψ(v)‖², whose gradient in w is the λw that SGD's `weight_decay=λ` adds to a
  plain network (Eq. 5's λ is our λ/2): both arms then carry the same decay on the same quantity.
* **Learnable a, b** (Sec. III-B): the *fine* version gives every layer its own (a, b), learned by SGD
  with the network, initialised a = 0.5, b = 1 (Sec. IV-E).  Weight decay then acts on v only — never
  on Ψ(v), a or b.
* **Adaptive optimizers** (Sec. III-A3): Adam normalises away the factor ∂Ψ/∂v.  The paper adopts
  Powerpropagation's modification: compute Adam's step from the raw gradient ∂L/∂Ψ(v), then multiply
  the step by ∂Ψ/∂v (`CompanderAdam`).  The paper's own experiments all use SGD.
* **Other S-shaped functions** (Sec. IV-F, Table VII): a·arsinh(v/b) (unbounded, same shape near 0)
  and a·erf(v/b) (bounded by a); `kind="arsinh" | "erf"`.
* **Inference** (Sec. III-A4): bake w = Ψ(v) into a plain layer (`remove_parametrizations(..., bake=True)`).

Derivatives used by the backward pass (chain rule on Eq. 1 and its Table VII variants; ∂Ψ/∂a = Ψ/a):

| kind | Ψ(v) | ∂Ψ/∂v | ∂Ψ/∂b | Ψ⁻¹(w) |
|---|---|---|---|---|
| arctan | a·arctan(v/b) | ab/(b²+v²) | −av/(b²+v²) | b·tan(w/a) |
| arsinh | a·arsinh(v/b) | a/√(b²+v²) | −av/(b√(b²+v²)) | b·sinh(w/a) |
| erf | a·erf(v/b) | (2a/(b√π))·e^{−v²/b²} | −(2av/(b²√π))·e^{−v²/b²} | b·erfinv(w/a) |

What is not reproduced, and deviations
--------------------------------------
* The *coarse* learnable version (one (a, b) for the whole network) is not implemented: the paper found
  the fine version significantly better and reports only it (Sec. IV-E).
* The paper does not say how positivity of learned a, b is kept; they are learned directly here, as
  written (nothing clamps them).
* Scale: MLPs on the 8×8 digits (the experiment, `experiment.py`) instead of ResNets/VGGs on
  CIFAR/ImageNet; SGD with momentum as in the paper.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/weight-compander.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.function import Function
from ....autograd.tensor import Tensor, no_grad
from ....nn.module import Module, Parameter
from ....optim.adam import Adam

CATALOG_ENTRY = {
    "slug": "weight-compander",
    "title": "Weight Compander: A Simple Weight Reparameterization for Regularization",
    "authors": "Rinor Cakaj, Jens Mehnert, Bin Yang",
    "year": 2023,
    "arxiv": "2306.16993",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/weight-compander.ipynb",
    "verified": "paper",
    "verification_note": (
        "Checked against the IJCNN 2023 paper text (WC_IJCNN_2023.pdf in the first author's "
        "rinorcakaj.github.io repository): Ψ(v) = a·arctan(v/b) (Eq. 1), its gradient (Eq. 2–3), the "
        "initialization v = b·tan(w/a) (Eq. 4), weight decay on Ψ(v) for fixed a, b (Eq. 5, Sec. III-A2) "
        "and on v only for the learnable per-layer version initialised a = 0.5, b = 1 (Sec. III-B, IV-E), "
        "Powerpropagation's adaptive-optimizer rescaling (Sec. III-A3), the arsinh and erf variants "
        "(Sec. IV-F, Table VII), the a, b grid {0.5, …, 1.0} (Sec. IV-A1). No official code was found."
    ),
    "summary": (
        "Reparameterize every weight as w = Ψ(v) = a·arctan(v/b): the weights stay inside (−aπ/2, aπ/2) "
        "and the gradient factor ab/(b²+v²) moves weights near zero faster, spreading them away from "
        "zero; v starts at b·tan(w/a) so Ψ(v) equals the usual initialization; weight decay acts on "
        "Ψ(v) (fixed a, b) or on v (a, b learned per layer); used on top of standard regularization."
    ),
    "equations": [
        "w = Ψ(v) = a·arctan(v/b),  a, b > 0,  |w| < aπ/2   (Eq. 1)",
        "∂L/∂v = ∂L/∂Ψ(v) · a / (b(1 + v²/b²))   (Eq. 2–3)",
        "v₀ = Ψ⁻¹(w₀) = b·tan(w₀/a)   (Eq. 4)",
        "L̄ = L + λ Ψ(v)ᵀΨ(v) (fixed a, b);  L + λ vᵀv (learnable a, b)   (Eq. 5, Sec. III-B)",
        "variants: a·arsinh(v/b), a·erf(v/b)   (Table VII)",
    ],
}

KINDS = ("arctan", "arsinh", "erf")
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"weight compander: `kind` must be one of {KINDS}, got {kind!r}")


# --- the function and its derivatives (arrays) ------------------------------------------------------
def _forward(v, a, b, kind):
    if kind == "arctan":
        return a * np.arctan(v / b)  # Eq. 1
    if kind == "arsinh":
        return a * np.arcsinh(v / b)  # Table VII
    from scipy.special import erf

    return a * erf(v / b)  # Table VII


def psi_derivative(v, a, b, kind: str = "arctan") -> np.ndarray:
    """∂Ψ/∂v (ndarray): ab/(b²+v²) for arctan (Eq. 3), a/√(b²+v²) for arsinh, 2a e^{−v²/b²}/(b√π) for erf."""
    _check_kind(kind)
    v = np.asarray(v, dtype=np.float64) if not isinstance(v, np.ndarray) else v
    if kind == "arctan":
        return a * b / (b * b + v * v)  # Eq. 3: a / (b (1 + v²/b²))
    if kind == "arsinh":
        return a / np.sqrt(b * b + v * v)
    return a * _TWO_OVER_SQRT_PI * np.exp(-((v / b) ** 2)) / b


def psi_inverse(w, a, b, kind: str = "arctan") -> np.ndarray:
    """v = Ψ⁻¹(w): b·tan(w/a) (Eq. 4), b·sinh(w/a), b·erfinv(w/a); refuses w outside Ψ's range."""
    _check_kind(kind)
    w = np.asarray(w)
    r = w / a
    if kind == "arctan":
        if np.any(np.abs(r) >= math.pi / 2):
            raise ValueError(
                f"weight compander: |w| = {float(np.max(np.abs(w))):.4g} is outside Ψ's range (−aπ/2, aπ/2) "
                f"with a = {a}: choose a larger a"
            )
        return b * np.tan(r)  # Eq. 4
    if kind == "arsinh":
        return b * np.sinh(r)
    if np.any(np.abs(r) >= 1):
        raise ValueError(
            f"weight compander: |w| = {float(np.max(np.abs(w))):.4g} is outside erf's range (−a, a) "
            f"with a = {a}: choose a larger a"
        )
    from scipy.special import erfinv

    return b * erfinv(r)


class _Psi(Function):
    """w = Ψ(v; a, b) elementwise (Eq. 1 / Table VII).  VJPs, with ḡ the upstream gradient:
    v̄ = ḡ ∂Ψ/∂v (Eq. 2–3);  ā = Σ ḡ Ψ/a;  b̄ = Σ ḡ ∂Ψ/∂b (the table in the module docstring)."""

    def forward(ctx, v, a, b, *, kind):
        w = _forward(v, a, b, kind)
        ctx.v, ctx.a, ctx.b, ctx.w, ctx.kind = v, a, b, w, kind
        return w.astype(v.dtype, copy=False)

    def backward(ctx, g):
        v, a, b, w, kind = ctx.v, ctx.a, ctx.b, ctx.w, ctx.kind
        dv = psi_derivative(v, a, b, kind)
        gv = g * dv  # Eq. 2: ∂L/∂v = ∂L/∂Ψ · ∂Ψ/∂v
        need = ctx.needs_input_grad
        ga = g * (w / a) if need[1] else None  # ∂Ψ/∂a = Ψ/a
        gb = g * (-dv * v / b) if need[2] else None  # ∂Ψ/∂b = −(v/b) ∂Ψ/∂v for all three kinds
        return gv, ga, gb

    def backward_graph(ctx, g, w, v, a, b):
        kind = ctx.kind
        if kind == "arctan":
            dv = ops.div(ops.mul(a, b), ops.add(ops.mul(b, b), ops.mul(v, v)))
        elif kind == "arsinh":
            dv = ops.div(a, ops.sqrt(ops.add(ops.mul(b, b), ops.mul(v, v))))
        else:
            z = ops.div(v, b)
            dv = ops.div(ops.mul(ops.mul(a, _TWO_OVER_SQRT_PI), ops.exp(ops.neg(ops.mul(z, z)))), b)
        gv = ops.mul(g, dv)
        ga = ops.mul(g, ops.div(w, a))
        gb = ops.neg(ops.mul(g, ops.div(ops.mul(dv, v), b)))
        return gv, ga, gb


def psi(v, a, b, kind: str = "arctan") -> Tensor:
    """w = Ψ(v) = a·arctan(v/b) (Eq. 1), or a·arsinh(v/b), a·erf(v/b) (Table VII); differentiable in
    v, a and b (Tensors or arrays/floats)."""
    _check_kind(kind)
    v = v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=np.float64))
    return _Psi.apply(v, a, b, kind=kind)


# --- the parametrization --------------------------------------------------------------------------------
class WeightCompander(Module):
    """w = Ψ(v) as a weight parametrization: `register_parametrization(layer, "weight",
    WeightCompander(a, b))` keeps the layer's current weight (v = Ψ⁻¹(w), Eq. 4).

    `learnable=False` (default): a, b are fixed hyperparameters (floats).  `learnable=True`: a, b are
    Parameters of this layer (the fine version, Sec. III-B; the paper initialises a = 0.5, b = 1)."""

    def __init__(
        self, a: float = 1.0, b: float = 1.0, kind: str = "arctan", learnable: bool = False, dtype=np.float32
    ):
        super().__init__()
        _check_kind(kind)
        if not (a > 0 and b > 0):
            raise ValueError(f"WeightCompander: `a` and `b` must be > 0, got a={a}, b={b}")
        self.kind, self.learnable = kind, bool(learnable)
        if learnable:
            self.a = Parameter(np.array(a, dtype=dtype))
            self.b = Parameter(np.array(b, dtype=dtype))
        else:
            self.a, self.b = float(a), float(b)

    def values(self) -> tuple:
        """(a, b) as floats."""
        return float(getattr(self.a, "data", self.a)), float(getattr(self.b, "data", self.b))

    def forward(self, v):
        return psi(v, self.a, self.b, self.kind)  # Eq. 1

    def derivative(self, v) -> np.ndarray:
        """∂Ψ/∂v at the current a, b (Eq. 3)."""
        a, b = self.values()
        return psi_derivative(np.asarray(getattr(v, "data", v)), a, b, self.kind)

    def right_inverse(self, w):
        a, b = self.values()
        return psi_inverse(w, a, b, self.kind).astype(np.asarray(w).dtype, copy=False)  # Eq. 4

    def extra_repr(self):
        a, b = self.values()
        return f"kind={self.kind}, a={a:.4f}, b={b:.4f}, learnable={self.learnable}"


def _weight_layers(model):
    from ....nn.layers.conv import Conv2d
    from ....nn.layers.linear import Linear

    return [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]


def compand(model, a: float = 1.0, b: float = 1.0, kind: str = "arctan", learnable: bool = False) -> list:
    """Register Ψ on the weight of every Linear and Conv2d layer of `model` (biases and normalization
    layers are not reparametrized, Sec. III-A); returns the WeightCompander modules, one per layer."""
    from ....nn.parametrize import register_parametrization

    comps = []
    for layer in _weight_layers(model):
        dtype = layer.weight.data.dtype
        comp = WeightCompander(a, b, kind, learnable=learnable, dtype=dtype)
        register_parametrization(layer, "weight", comp)
        comps.append(comp)
    return comps


def companders(model) -> list:
    """(layer, WeightCompander) for every companded weight of `model`."""
    from ....nn.parametrize import is_parametrized

    out = []
    for layer in _weight_layers(model):
        if is_parametrized(layer, "weight"):
            chain = layer.parametrizations.weight
            out.extend((layer, chain[i]) for i in range(len(chain)) if isinstance(chain[i], WeightCompander))
    return out


# --- weight decay as the paper applies it ---------------------------------------------------------------
def weight_decay_on_psi(model, weight_decay: float) -> Tensor:
    """(λ/2) Σ_layers ‖Ψ(v)‖²: Eq. 5 on w = Ψ(v) (fixed a, b; Sec. III-A2), scaled so that its gradient
    in w is λw, what SGD's `weight_decay=λ` adds to a plain network's weight."""
    total = None
    for layer, _ in companders(model):
        w = layer.weight  # Ψ(v), recomputed through the parametrization
        term = ops.sum(ops.mul(w, w))
        total = term if total is None else ops.add(total, term)
    if total is None:
        raise ValueError("weight_decay_on_psi: the model has no companded weight")
    return ops.mul(total, 0.5 * weight_decay)  # Eq. 5 (λ_Eq5 = λ/2)


def param_groups(model, weight_decay: float) -> list:
    """Optimizer groups with the paper's decay rule.  Fixed a, b: v gets no decay here (it is decayed
    through Ψ(v) by `weight_decay_on_psi`, Eq. 5); learnable a, b: v is decayed directly and a, b never
    (Sec. III-B).  Every other parameter (biases, norms) gets `weight_decay` as in a plain network."""
    comps = companders(model)
    vs = [layer.parametrizations.weight.original for layer, _ in comps]
    hyper = [p for _, c in comps if c.learnable for p in (c.a, c.b)]
    learnable = {c.learnable for _, c in comps}
    if len(learnable) != 1:
        raise ValueError("param_groups: mix of fixed and learnable companders (or none) in one model")
    special = {id(p) for p in vs + hyper}
    rest = [p for p in model.parameters() if id(p) not in special]
    if learnable.pop():
        groups = [
            {"params": vs + rest, "weight_decay": weight_decay},  # Sec. III-B: decay on v
            {"params": hyper, "weight_decay": 0.0},  # never on a, b
        ]
    else:
        groups = [
            {"params": vs, "weight_decay": 0.0},  # decayed through Ψ(v) instead (Eq. 5)
            {"params": rest, "weight_decay": weight_decay},
        ]
    return [g for g in groups if g["params"]]


# --- the adaptive optimizer (Sec. III-A3, after Powerpropagation) ---------------------------------------
class CompanderAdam(Adam):
    """Adam whose step for a companded weight v is Adam's step on the raw gradient ∂L/∂Ψ(v), multiplied
    by ∂Ψ/∂v (Sec. III-A3).  A param group with a ``"compander"`` entry (a WeightCompander; its
    "params" = [v]) takes that route, every other group is plain Adam.  With m̂, n̂ Adam's
    bias-corrected moments of g_w = (∂L/∂v)/(∂Ψ/∂v):

        v ← v − γ · ∂Ψ/∂v · m̂ / (√n̂ + ε)

    Weight decay in a compander group would be L2 on v through the moments: put decay in the loss
    (`weight_decay_on_psi`) or in another group instead; it is refused here."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        comp = group.get("compander")
        if comp is not None:
            if not isinstance(comp, WeightCompander):
                raise TypeError(
                    f"CompanderAdam: 'compander' must be a WeightCompander, got {type(comp).__name__}"
                )
            if group["weight_decay"] or group["amsgrad"] or group["maximize"]:
                raise ValueError(
                    "CompanderAdam: a compander group takes no weight_decay, amsgrad or maximize"
                )

    def add_param_group(self, param_group: dict) -> None:
        if param_group.get("compander") is not None and len(list(param_group["params"])) != 1:
            raise ValueError("CompanderAdam: a compander group holds exactly its one weight v")
        super().add_param_group(param_group)

    def _update(self, group: dict) -> None:
        comp = group.get("compander")
        if comp is None:
            return super()._update(group)
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        for p, g, x in self._with_grads(group):
            st = self.state.get(p)
            if st is None:
                st = self.state[p] = {"step": 0, "exp_avg": np.zeros_like(x), "exp_avg_sq": np.zeros_like(x)}
            st["step"] = t = st["step"] + 1
            slope = comp.derivative(x).astype(x.dtype, copy=False)  # ∂Ψ/∂v (Eq. 3)
            gw = np.divide(g, slope, out=np.zeros_like(g), where=slope > 0)  # ∂L/∂Ψ(v), Eq. 2 undone
            m, n = st["exp_avg"], st["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * gw
            n *= beta2
            n += (1 - beta2) * gw * gw
            step = (m / (1 - beta1**t)) / (np.sqrt(n / (1 - beta2**t)) + eps)  # Adam on ∂L/∂Ψ(v)
            x -= lr * slope * step  # rescaled by ∂Ψ/∂v (Sec. III-A3)


def compander_adam_groups(model, lr: float) -> list:
    """Param groups for `CompanderAdam`: one per companded weight, and one for everything else."""
    comps = companders(model)
    special = set()
    groups = []
    for layer, comp in comps:
        v = layer.parametrizations.weight.original
        special.add(id(v))
        groups.append({"params": [v], "compander": comp, "lr": lr})
    rest = [p for p in model.parameters() if id(p) not in special]
    if rest:
        groups.append({"params": rest, "lr": lr})
    return groups


# --- what the paper measures on the weights (Sec. IV-D) -------------------------------------------------
def effective_weights(model) -> list:
    """The weights the layers use (Ψ(v) where companded), one array per Linear/Conv layer."""
    with no_grad():
        return [layer.weight.data.copy() for layer in _weight_layers(model)]


def weight_statistics(weights, near: float = 0.01) -> dict:
    """max |w| and the fraction of weights with |w| < `near` over all given weight arrays."""
    w = np.abs(np.concatenate([np.ravel(x) for x in weights]))
    return {"max_abs_w": float(w.max()), "frac_near_zero": float(np.mean(w < near))}


# --- the family contract ---------------------------------------------------------------------------------
def contract_examples(seed: int = 0) -> list:
    """The learnable compander (Sec. III-B) on a float64 Linear: gradients must reach v, a and b."""
    from ....nn.layers.linear import Linear
    from ....nn.parametrize import register_parametrization

    rng = np.random.default_rng(seed)
    lin = Linear(4, 3, dtype=np.float64, rng=rng)
    comp = WeightCompander(0.5, 1.0, learnable=True, dtype=np.float64)
    register_parametrization(lin, "weight", comp)
    return [
        {
            "kind": "parametrization",
            "name": "learnable arctan compander on Linear",
            "layer": lin,
            "x": rng.normal(size=(5, 4)),
            "hyper": [comp.a, comp.b],
        }
    ]
