r"""Single-Path NAS: every candidate operation of a layer is a *subset of one superkernel*, so choosing an
operation is choosing which weights of that kernel to use; the choice is a threshold on the norm of the
extra weights, trained with the network by gradient descent together with a differentiable cost.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method (1-D here: a size-5 superkernel contains the size-3 kernel as its centre)
----------------------------------------------------------------------------------
**Kernel-size decision (Sec. 3.1).**  Split the superkernel :math:`w\in\mathbb{R}^{C_o\times C_i\times 5}`
into its centre :math:`w_{3}` (taps 1..3, zero elsewhere) and its outer ring
:math:`w_{5\setminus 3} = w - w_3` (taps 0 and 4).  The layer uses

.. math::

    w_k = w_3 + \mathbb{1}\bigl(\|w_{5\setminus 3}\| > t_{k=5}\bigr)\, w_{5\setminus 3},

a 3-tap kernel when the indicator is 0 and the full 5-tap one when it is 1; :math:`t_{k=5}` is a trainable
threshold.  **Expansion (channel) decision**, the same rule on groups of output channels: with
:math:`w_{50\%}` the first half of the output channels of :math:`w_k` and :math:`w_{100\%}` the rest,

.. math::

    w = w_{50\%} + \mathbb{1}\bigl(\|w_{100\%}\| > t_{100\%}\bigr)\, w_{100\%} .

(The paper also gates the first half, which drops the whole layer, a skip op; we keep every layer.)

**The indicator's gradient.**  :math:`\mathbb{1}(x > 0)` has zero derivative, so the forward pass uses the
hard step and the backward pass the derivative of the sigmoid :math:`\sigma(x/\tau)` (the straight-through
form of the authors' ``Indicator``: ``stop_gradient(step(x) − σ(x)) + σ(x)``).  The thresholds and the
weights thus both receive gradients through the decisions.

**Differentiable cost (Sec. 3.2–3.3).**  Because each decision is a 0/1 number in the forward pass, the
cost of the chosen network is a polynomial in the decisions; the paper's runtime model sums per-layer
latencies looked up for each candidate (``runtime_channels·(ratio + (1 − ratio)·d5x5)`` in the authors'
superkernel code).  Here the cost is the multiply–accumulates per output position, exact for a 1-D conv net:

.. math::

    R = \sum_l c^{\mathrm{in}}_l\, c^{\mathrm{out}}_l\, k_l,\quad
    k_l = 3 + 2\,d^{k}_l,\quad c^{\mathrm{out}}_l = \tfrac{C}{2}\,(1 + d^{c}_l),\quad c^{\mathrm{in}}_{l+1}
    = c^{\mathrm{out}}_l ,

and the search minimises :math:`\mathrm{CE}(w, t) + \lambda \log R(t)`, the paper's multiplicative-log form
of the accuracy–latency trade-off.  After the search the decisions are read off (hard) and the chosen
network is trained from scratch (the paper's second stage).

What is read and what is ours
-----------------------------
Checked against the authors' TensorFlow superkernel (class ``DepthwiseConv2DMasked`` in their released
code): masks for the centre 3×3 and the outer ring, thresholds initialised to 0, the straight-through
``Indicator`` (hard ``x ≥ 0`` forward, sigmoid backward), the channel-group gate applied to the
kernel-masked weights, the runtime term as a product of decisions.  The paper's full text was only partly
available here, so formulas are cited by section, not equation number.  The paper writes the squared
norm ``‖w_{5∖3}‖² > t``; the authors' code compares the plain norm, ``‖w‖ − t ≥ 0``, which we follow: the
threshold then moves in the units of the norm (a pilot search with the squared norm left every threshold
far below the growing squared norms, so no decision ever changed).  Ours:
the 1-D setting (full convolutions instead of MBConv depthwise blocks), the MAC count instead of measured
phone latency, the temperature τ, the bias of a switched-off channel group gated with its weights, and (in
the experiment) a warm-up of the weights with the thresholds frozen before the cost term is switched on.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/single-path-nas.ipynb
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "single-path-nas",
    "title": "Single-Path NAS: Designing Hardware-Efficient ConvNets in less than 4 Hours",
    "authors": "Dimitrios Stamoulis, Ruizhou Ding, Di Wang, Dimitrios Lymberopoulos, Bodhi Priyantha, Jie Liu, "
    "Diana Marculescu",
    "year": 2019,
    "arxiv": "1904.02877",
    "family": "architectures",
    "notebook": "notebooks/architectures/single-path-nas.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the authors' TensorFlow superkernel (DepthwiseConv2DMasked): centre/outer-ring masks, "
        "trainable thresholds initialised at 0, straight-through indicator (hard step forward, sigmoid "
        "backward), channel-group gate on the kernel-masked weights, runtime as a product of decisions.  The "
        "paper's abstract and opening were read, not its method section; equations are cited by section.  Ours: 1-D full "
        "convolutions, the norm as in the code (the paper writes the squared norm), MACs instead of phone "
        "latency, the temperature τ, gated biases, no skip (layer-drop) decision, a warm-up before the search."
    ),
    "summary": (
        "Encode every candidate operation of a layer as a subset of one shared superkernel (a 3-tap kernel is "
        "the centre of the 5-tap one; half the channels are a subset of all of them).  Decide each subset by "
        "thresholding the norm of its extra weights, with a trainable threshold and a sigmoid "
        "straight-through gradient, and add a differentiable cost of the decisions to the loss; then train the "
        "chosen network."
    ),
    "equations": [
        "w_k = w_3 + 1(‖w_{5∖3}‖ > t_{k=5}) · w_{5∖3}  (kernel-size decision, Sec. 3.1; paper: ‖·‖²)",
        "w = w_{50%} + 1(‖w_{100%}‖ > t_{100%}) · w_{100%}  (expansion decision)",
        "forward 1(x ≥ 0), backward d/dx σ(x/τ)  (straight-through indicator)",
        "R = Σ_l c_in,l · c_out,l · k_l,  k_l = 3 + 2 d^k_l,  c_out,l = C/2 · (1 + d^c_l)  (cost of the decisions)",
        "search: min CE(w, t) + λ log R(t); then train the chosen network from scratch",
    ],
}

K_SMALL, K_LARGE = 3, 5
_CENTRE = np.array([0.0, 1.0, 1.0, 1.0, 0.0])  # taps of the 3-kernel inside the 5-superkernel


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_int(name, v, fn, low=1):
    if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low):
        raise ValueError(f"{fn}: `{name}` must be an integer ≥ {low}, got {v!r}")


def _norm(w):
    """‖w‖₂ (Frobenius); a tiny ε keeps the gradient finite at w = 0 (ours)."""
    return ((w * w).sum() + 1e-12).sqrt()


def indicator(x, tau: float = 1.0):
    """1(x ≥ 0) in the forward pass, d/dx σ(x/τ) in the backward pass (straight-through, authors' code)."""
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ValueError(f"indicator: `tau` must be a number > 0, got {tau!r}")
    x = _as_tensor(x)
    hard = (ops.sign(ops.sign(x) + 0.5) + 1.0) * 0.5  # 1 for x ≥ 0, 0 below; zero gradient
    soft = ops.sigmoid(x / tau)
    return hard + (soft - soft.detach())


def superkernel(w, t_k, t_c, tau: float = 1.0):
    """The weights a superkernel uses and its two decisions: (w, d_k, d_c).

    w: (C_out, C_in, 5) superkernel; t_k: threshold of the outer ring (Sec. 3.1); t_c: threshold of the
    second half of the output channels (expansion decision).  C_out must be even."""
    w = _as_tensor(w)
    if w.ndim != 3 or w.shape[-1] != K_LARGE or w.shape[0] % 2:
        raise ValueError(f"superkernel: `w` must be (C_out even, C_in, 5), got shape {w.shape}")
    centre = _CENTRE.astype(w.dtype)
    w3, ring = w * centre, w * (1.0 - centre)
    d_k = indicator(_norm(ring) - t_k, tau)  # 1(‖w_{5∖3}‖ > t_{k=5}), Sec. 3.1 (code: norm)
    wk = w3 + d_k * ring  # Sec. 3.1
    half = (np.arange(w.shape[0]) < w.shape[0] // 2).astype(w.dtype)[:, None, None]
    first, rest = wk * half, wk * (1.0 - half)
    d_c = indicator(_norm(rest) - t_c, tau)  # 1(‖w_{100%}‖ > t_{100%})
    return first + d_c * rest, d_k, d_c


def network_cost(decisions, width: int, c_in: int = 1):
    """R = Σ_l c_in,l · c_out,l · k_l  (MACs per output position) for per-layer decisions (d_k, d_c), each 0/1
    (numbers or Tensors: the cost is then differentiable in them)."""
    _check_int("width", width, "network_cost")
    _check_int("c_in", c_in, "network_cost")
    if width % 2:
        raise ValueError(f"network_cost: `width` must be even (two channel groups), got {width}")
    total, cin = 0.0, float(c_in)
    for d_k, d_c in decisions:
        k = K_SMALL + (K_LARGE - K_SMALL) * d_k
        cout = (width / 2) * (1.0 + d_c)
        total = total + cin * cout * k
        cin = cout
    return total


def architectures(n_layers: int):
    """Every architecture of the search space: tuples of (kernel size, full width?) per layer."""
    _check_int("n_layers", n_layers, "architectures")
    return list(itertools.product(itertools.product((K_SMALL, K_LARGE), (False, True)), repeat=n_layers))


def arch_cost(arch, width: int, c_in: int = 1) -> float:
    """The cost R of a discrete architecture ((k, full), ...)."""
    if not arch or any(not (isinstance(a, (tuple, list)) and len(a) == 2) for a in arch):
        raise ValueError(f"arch_cost: `arch` must be a non-empty sequence of (k, full) pairs, got {arch!r}")
    if any(k not in (K_SMALL, K_LARGE) for k, _ in arch):
        raise ValueError(f"arch_cost: `arch` kernel sizes must be 3 or 5, got {arch!r}")
    return float(network_cost([(int(k == K_LARGE), int(bool(full))) for k, full in arch], width, c_in))


class SuperConvNet(nn.Module):
    """The searchable network: n_layers superkernel convolutions (width C, 'same' padding) → ReLU → mean
    over time → Linear(C → classes).  `decisions()` and `cost()` expose the current choices."""

    def __init__(self, c_in, width, n_classes, n_layers=2, *, tau=1.0, rng=None, dtype=np.float32):
        super().__init__()
        for nm, v in (("c_in", c_in), ("width", width), ("n_classes", n_classes), ("n_layers", n_layers)):
            _check_int(nm, v, "SuperConvNet")
        if width % 2:
            raise ValueError(f"SuperConvNet: `width` must be even (two channel groups), got {width}")
        g = np.random.default_rng(rng)
        self.c_in, self.width, self.tau, self.n_layers = c_in, width, tau, n_layers
        cin = c_in
        for i in range(n_layers):
            std = 1.0 / math.sqrt(cin * K_LARGE)
            setattr(
                self, f"w{i}", nn.Parameter((std * g.standard_normal((width, cin, K_LARGE))).astype(dtype))
            )
            setattr(self, f"b{i}", nn.Parameter(np.zeros(width, dtype=dtype)))
            setattr(self, f"t_k{i}", nn.Parameter(np.zeros((), dtype=dtype)))  # thresholds start at 0 (code)
            setattr(self, f"t_c{i}", nn.Parameter(np.zeros((), dtype=dtype)))
            cin = width
        self.head_w = nn.Parameter((g.standard_normal((n_classes, width)) / math.sqrt(width)).astype(dtype))
        self.head_b = nn.Parameter(np.zeros(n_classes, dtype=dtype))

    def _layer(self, i):
        w, d_k, d_c = superkernel(
            getattr(self, f"w{i}"), getattr(self, f"t_k{i}"), getattr(self, f"t_c{i}"), self.tau
        )
        b = getattr(self, f"b{i}")
        half = (np.arange(self.width) < self.width // 2).astype(b.dtype)
        return w, b * half + d_c * (b * (1.0 - half)), d_k, d_c

    def forward(self, x):
        h = _as_tensor(x)
        for i in range(self.n_layers):
            w, b, _, _ = self._layer(i)
            h = ops.relu(F.conv1d(h, w, b, padding=K_LARGE // 2))
        return h.mean(axis=-1) @ self.head_w.T + self.head_b

    def decision_tensors(self):
        return [self._layer(i)[2:] for i in range(self.n_layers)]

    def cost(self):
        """The differentiable cost R of the current decisions (a Tensor)."""
        return network_cost(self.decision_tensors(), self.width, self.c_in)

    def architecture(self):
        """The current hard choice: ((k, full), ...) per layer."""
        return tuple(
            (K_LARGE if float(dk.data) > 0.5 else K_SMALL, bool(float(dc.data) > 0.5))
            for dk, dc in self.decision_tensors()
        )


class ChosenConvNet(nn.Module):
    """A discrete architecture ((k, full), ...) as a plain conv net with exactly its weights: layer l is a
    k_l-tap convolution to C (full) or C/2 channels, 'same' padding, ReLU; then mean over time → Linear."""

    def __init__(self, arch, c_in, width, n_classes, *, rng=None, dtype=np.float32):
        super().__init__()
        arch_cost(arch, width, c_in)  # validates
        g = np.random.default_rng(rng)
        self.arch, cin = tuple((int(k), bool(f)) for k, f in arch), c_in
        for i, (k, full) in enumerate(self.arch):
            cout = width if full else width // 2
            w = g.standard_normal((cout, cin, k)) / math.sqrt(cin * k)
            setattr(self, f"w{i}", nn.Parameter(w.astype(dtype)))
            setattr(self, f"b{i}", nn.Parameter(np.zeros(cout, dtype=dtype)))
            cin = cout
        self.head_w = nn.Parameter((g.standard_normal((n_classes, cin)) / math.sqrt(cin)).astype(dtype))
        self.head_b = nn.Parameter(np.zeros(n_classes, dtype=dtype))

    def forward(self, x):
        h = _as_tensor(x)
        for i, (k, _) in enumerate(self.arch):
            h = ops.relu(F.conv1d(h, getattr(self, f"w{i}"), getattr(self, f"b{i}"), padding=k // 2))
        return h.mean(axis=-1) @ self.head_w.T + self.head_b


def search_loss(model: SuperConvNet, lam: float):
    """The search objective CE + λ log R (Sec. 3.3) as a `loss_fn(output, target)` for training."""
    if not lam >= 0:
        raise ValueError(f"search_loss: `lam` must be ≥ 0, got {lam!r}")

    def loss(out, y):
        return F.cross_entropy(out, y) + lam * ops.log(model.cost())

    return loss
