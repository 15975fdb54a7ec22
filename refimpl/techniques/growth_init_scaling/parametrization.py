r"""Width-parametrized MLPs whose initialization, per-layer multipliers and per-layer learning rates follow a
named abc-parametrization: ``"standard"`` (SP), ``"ntk"`` and ``"mup"`` (μP, with its SGD and Adam rules).

Shared by the family's width-scaling techniques (mup, dit-mup, lowrank-init-rich-lazy...).

The abc-parametrization (Yang & Hu 2021, arXiv 2011.14522, Sec. 3 / Def. 3.1): a layer's effective weight is
$W = n^{-a}\,w$ with trainable $w_{ij}\sim\mathcal N(0, n^{-2b})$ and SGD learning rate $\eta\,n^{-c}$.  We
write every rule in the *SP form relative to a base width* $n_0$ that microsoft/mup uses (at the base shapes
its initializers reduce to PyTorch's, mup/init.py:7-11):
with the width multiplier $m = \text{fan}/\text{base fan}$ of a dimension, a layer has

    init std  σ_w · (scale in m),   multiplier  (scale in m),   lr multiplier  (scale in m),

and **all three parametrizations coincide at the base width** (m = 1).  Roles of an MLP
$d_{in}\to n\to\dots\to n\to d_{out}$: *input* weights (finite fan-in, width fan-out), *hidden* weights (both
width), *output* weights (width fan-in, finite fan-out), and biases (width-sized for input/hidden layers).

=========  ===============  =========================  ===========================  ========================
role       rule             standard (SP)              NTK                          μP (TP5 Table 3)
=========  ===============  =========================  ===========================  ========================
input      init std         σ/√fan_in                  σ/√fan_in                    σ/√fan_in
           multiplier       1                          1                            1
           lr SGD / Adam    1 / 1                      1 / 1                        m_out / 1
hidden     init std         σ/√fan_in                  σ/√base_fan_in               σ/√fan_in
           multiplier       1                          √(1/m_in)                    1
           lr SGD / Adam    1 / 1                      1 / 1                        m_out/m_in / 1/m_in
output     init std         σ/√fan_in                  σ/√base_fan_in               σ/√base_fan_in
           multiplier       1                          √(1/m_in)                    α/m_in
           lr SGD / Adam    1 / 1                      1 / 1                        m_in / 1
bias       init             0                          0                            0
           lr SGD / Adam    1 / 1                      1 / 1                        m (width-sized) or 1 / 1
=========  ===============  =========================  ===========================  ========================

Sources of the μP column (microsoft/mup at commit 1981497):
* output layer = ``MuReadout``: forward multiplies its input by ``output_mult / width_mult``
  (mup/layer.py:54-56, our α = ``output_mult``) and ``_rescale_parameters`` multiplies the SP-initialised
  weight by ``width_mult**0.5`` (mup/layer.py:51): std σ/√fan_in · √m = σ/√base_fan_in, constant in width;
* hidden and input weights keep their SP (fan-in) init (mup/shape.py:189-194 rescales only MuReadout and
  biases); the bias rescaling ``bias *= fanin_mult**0.5`` (mup/layer.py:80-83) makes a bias's init constant in
  width — we initialise biases to 0 in every parametrization instead (a deviation that does not depend on
  width, so every rule stays the same);
* SGD (``MuSGD``, mup/optim.py:116-139): a tensor with one width dimension ("vector-like": input weights,
  output weights, width-sized biases) gets ``lr *= width_mult`` (lines 123-124, 131-133); a tensor with two
  (hidden weights) gets ``lr /= fanin_mult / fanout_mult`` (lines 125-126, 136-137, ratio from
  mup/infshape.py:73-75); no width dimension (the output bias): unchanged (line 130);
* Adam (``MuAdam``, mup/optim.py:63-80): a tensor with two width dimensions gets ``lr /= width_mult`` (lines
  69-70, 75-77) — its width_mult is that of the *last* width dimension, the fan-in of a (out, in) weight
  (mup/infshape.py:63-67, 80-83); everything else keeps the base rate.
They correspond to Tensor Programs V's Table 3 ("μP formulation in the style of [SP]", arXiv 2203.03466),
whose text was not re-read here: the code above is the source of every number.

Checks against the abc form of 2011.14522 (tests/techniques/growth_init_scaling/test_parametrization.py): the
*effective* weight $W = \text{multiplier}\cdot w$ has std $\propto n^{-(a+b)}$ and SGD moves it with an
effective rate $\text{multiplier}^2\cdot\text{lr} \propto n^{-(2a+c)}$; μP's (a, b, c) = input (−½, ½, 0),
hidden (0, ½, 0), output (½, ½, 0) give input std n⁰ rate n¹, hidden n^{-½} and n⁰, output n^{-1} and n^{-1}.
NTK (a = ½ on width fan-in layers, b = 0, c = 0) and SP (a = 0, b = ½ on width fan-in layers, c = 0) likewise.

NTK with Adam has no width limit of its own (Adam normalises the gradient, so the multiplier no longer sets
the update size); we keep its rates constant and say so — the family uses NTK with SGD.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...autograd.tensor import Tensor
from ...nn import functional as F
from ...nn.layers.container import ModuleList
from ...nn.module import Module, Parameter

__all__ = [
    "PARAMETRIZATIONS",
    "OPTIMIZERS",
    "ROLES",
    "LayerRule",
    "layer_rule",
    "ScaledLinear",
    "WidthMLP",
    "param_groups",
]

PARAMETRIZATIONS = ("standard", "ntk", "mup")
OPTIMIZERS = ("sgd", "adam")
ROLES = ("input", "hidden", "output")
ACTIVATIONS = {"relu": F.relu, "tanh": F.tanh, "linear": None}


@dataclasses.dataclass(frozen=True)
class LayerRule:
    """How one Linear layer is initialised, multiplied and trained (see the module table)."""

    init_std: float  # std of the trainable weight w at init
    multiplier: float  # effective weight W = multiplier · w
    lr_mult: float  # the weight's learning rate = base lr · lr_mult
    bias_lr_mult: float  # the bias's learning rate = base lr · bias_lr_mult


def _positive_int(name, value, where):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: `{name}` must be an int ≥ 1, got {value!r}")
    return int(value)


def _choice(name, value, options, where):
    if value not in options:
        raise ValueError(f"{where}: `{name}` must be one of {options}, got {value!r}")
    return value


def layer_rule(
    parametrization: str,
    role: str,
    fan_in: int,
    fan_out: int,
    *,
    base_fan_in: int,
    base_fan_out: int,
    optimizer: str = "sgd",
    sigma: float = 1.0,
    output_mult: float = 1.0,
) -> LayerRule:
    """The rule of a layer (fan_out × fan_in) whose width dimensions had sizes base_fan_in / base_fan_out in
    the base model (pass base = actual for a finite dimension).  See the module table for the sources."""
    where = "layer_rule"
    _choice("parametrization", parametrization, PARAMETRIZATIONS, where)
    _choice("role", role, ROLES, where)
    _choice("optimizer", optimizer, OPTIMIZERS, where)
    for n, v in (("fan_in", fan_in), ("fan_out", fan_out), ("base_fan_in", base_fan_in)):
        _positive_int(n, v, where)
    _positive_int("base_fan_out", base_fan_out, where)
    if not sigma > 0:
        raise ValueError(f"{where}: `sigma` must be > 0, got {sigma!r}")
    m_in, m_out = fan_in / base_fan_in, fan_out / base_fan_out  # width multipliers (1 for finite dims)
    sp_std = sigma / math.sqrt(fan_in)
    if parametrization == "standard":
        return LayerRule(sp_std, 1.0, 1.0, 1.0)
    if parametrization == "ntk":  # W = w/√fan_in relative to base: w's std fixed at the base value
        if role == "input":
            return LayerRule(sp_std, 1.0, 1.0, 1.0)
        return LayerRule(sigma / math.sqrt(base_fan_in), math.sqrt(1.0 / m_in), 1.0, 1.0)
    # μP (TP5 Table 3; microsoft/mup layer.py, optim.py)
    sgd = optimizer == "sgd"
    if role == "input":  # vector-like (width fan-out): MuSGD lr·width_mult, MuAdam unchanged
        lr = m_out if sgd else 1.0
        return LayerRule(sp_std, 1.0, lr, lr)
    if role == "hidden":  # matrix-like: MuSGD lr / (fanin_mult/fanout_mult); MuAdam lr / fanin_mult
        lr = m_out / m_in if sgd else 1.0 / m_in
        return LayerRule(sp_std, 1.0, lr, m_out if sgd else 1.0)
    # output = MuReadout: std √m_in·SP (constant), multiplier output_mult/m_in; vector-like weight
    return LayerRule(sp_std * math.sqrt(m_in), output_mult / m_in, m_in if sgd else 1.0, 1.0)


class ScaledLinear(Module):
    """y = multiplier · (x Wᵀ) + b with W ~ N(0, init_std²), b = 0; `lr_mult`, `bias_lr_mult` and `role` are
    read by `param_groups`.  (Multiplying the product, not the input, leaves the bias unscaled, as in
    MuReadout, mup/layer.py:54-56.)"""

    def __init__(
        self, in_features, out_features, rule: LayerRule, role: str, bias=True, dtype=np.float32, rng=None
    ):
        super().__init__()
        self.in_features, self.out_features, self.role = int(in_features), int(out_features), role
        rng = rng if rng is not None else np.random.default_rng()
        w = rng.standard_normal((out_features, in_features)) * rule.init_std
        self.weight = Parameter(w.astype(dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None
        self.set_rule(rule)

    def set_rule(self, rule: LayerRule) -> None:
        self.rule = rule
        self.multiplier, self.lr_mult, self.bias_lr_mult = rule.multiplier, rule.lr_mult, rule.bias_lr_mult

    def effective_weight(self) -> np.ndarray:
        """multiplier · w: the matrix the layer applies (what the growth operators preserve)."""
        return self.multiplier * self.weight.data.astype(np.float64)

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.multiplier != 1.0:
            y = y * self.multiplier
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return (
            f"{self.in_features}→{self.out_features}, role={self.role}, multiplier={self.multiplier:.4g}, "
            f"lr_mult={self.lr_mult:.4g}"
        )


class WidthMLP(Module):
    """d_in → widths[0] → … → widths[-1] → d_out with layers `ScaledLinear` under `parametrization`.

    `width` is one int (repeated `depth` times) or a list of hidden widths; `base_width` likewise (the
    widths at which every parametrization equals SP).  `optimizer` picks μP's learning-rate rules;
    `sigma` is the init gain (√2 suits ReLU), `output_mult` μP's readout constant α.
    `features(x)` returns every layer's output (post-activation for hidden layers), for coordinate checks."""

    def __init__(
        self,
        d_in: int,
        width,
        d_out: int,
        *,
        depth: int = 2,
        parametrization: str = "mup",
        base_width=64,
        optimizer: str = "sgd",
        sigma: float = math.sqrt(2.0),
        output_mult: float = 1.0,
        activation: str = "relu",
        bias: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        where = "WidthMLP"
        _positive_int("d_in", d_in, where)
        _positive_int("d_out", d_out, where)
        _choice("parametrization", parametrization, PARAMETRIZATIONS, where)
        _choice("optimizer", optimizer, OPTIMIZERS, where)
        _choice("activation", activation, tuple(ACTIVATIONS), where)
        widths = self._widths("width", width, depth)
        base = self._widths("base_width", base_width, len(widths))
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.parametrization, self.optimizer, self.activation = parametrization, optimizer, activation
        self.sigma, self.output_mult, self.dtype = float(sigma), float(output_mult), dtype
        self.base_widths = base
        rng = rng if rng is not None else np.random.default_rng()
        layers = []
        for i, (fi, fo) in enumerate(zip([d_in, *widths], [*widths, d_out])):
            role = self.role_of(i, len(widths) + 1)
            layers.append(
                ScaledLinear(fi, fo, self.rule_for(i, fi, fo), role, bias=bias, dtype=dtype, rng=rng)
            )
        self.layers = ModuleList(layers)

    @staticmethod
    def _widths(name, value, depth):
        if isinstance(value, (list, tuple)):
            out = [_positive_int(name, v, "WidthMLP") for v in value]
            if not out or len(out) != depth:
                raise ValueError(f"WidthMLP: `{name}` must list {depth} hidden widths, got {value!r}")
            return out
        _positive_int("depth", depth, "WidthMLP")
        return [_positive_int(name, value, "WidthMLP")] * depth

    @staticmethod
    def role_of(i: int, n_layers: int) -> str:
        return "input" if i == 0 else "output" if i == n_layers - 1 else "hidden"

    @property
    def widths(self) -> list:
        return [layer.out_features for layer in list(self.layers)[:-1]]

    def rule_for(self, i: int, fan_in: int, fan_out: int) -> LayerRule:
        """The rule of layer i at its current fans (base fans: base_widths, or the fixed d_in / d_out)."""
        n = len(self.base_widths) + 1
        base_in = self.d_in if i == 0 else self.base_widths[i - 1]
        base_out = self.d_out if i == n - 1 else self.base_widths[i]
        return layer_rule(
            self.parametrization,
            self.role_of(i, n),
            fan_in,
            fan_out,
            base_fan_in=base_in,
            base_fan_out=base_out,
            optimizer=self.optimizer,
            sigma=self.sigma,
            output_mult=self.output_mult,
        )

    def _act(self, h):
        f = ACTIVATIONS[self.activation]
        return h if f is None else f(h)

    def forward(self, x):
        layers = list(self.layers)
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype))
        for layer in layers[:-1]:
            h = self._act(layer(h))
        return layers[-1](h)

    def features(self, x) -> dict:
        """{"input", "hidden_1", …, "output"} → that layer's output on x (hidden: after the activation)."""
        from ...autograd import no_grad

        names = ["input"] + [f"hidden_{i}" for i in range(1, len(self.layers) - 1)] + ["output"]
        out = {}
        with no_grad():
            h = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype))
            layers = list(self.layers)
            for name, layer in zip(names, layers):
                h = layer(h)
                if layer is not layers[-1]:
                    h = self._act(h)
                out[name] = np.array(h.data, dtype=np.float64)
        return out


def param_groups(model: Module, lr: float) -> list:
    """Optimizer param groups [{"params", "lr"}] with lr · lr_mult for every ScaledLinear weight and
    lr · bias_lr_mult for its bias (one group per distinct rate; any other parameter gets `lr`), so
    ``refimpl.optim.SGD(param_groups(model, lr), lr=lr)`` trains under the model's parametrization."""
    if not (isinstance(lr, (int, float, np.floating)) and lr > 0):
        raise ValueError(f"param_groups: `lr` must be a number > 0, got {lr!r}")
    by_rate: dict = {}
    claimed = set()
    for m in model.modules():
        if isinstance(m, ScaledLinear):
            for p, mult in ((m.weight, m.lr_mult), (m.bias, m.bias_lr_mult)):
                if p is not None:
                    by_rate.setdefault(float(lr) * mult, []).append(p)
                    claimed.add(id(p))
    rest = [p for p in model.parameters() if id(p) not in claimed]
    if rest:
        by_rate.setdefault(float(lr), []).extend(rest)
    return [{"params": ps, "lr": rate} for rate, ps in by_rate.items()]
