r"""TangleNAS: gradient-based (DARTS-style) architecture search run directly on a *weight-entangled* supernet,
where the candidate sub-architectures of a choice are slices of one shared weight, by mixing the sliced
weights (“weight superposition”) instead of the candidates' outputs.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**DARTS mixing (the gradient-based starting point, Liu et al. 2019, recalled in the paper's Sec. 2).**  A
choice among candidate operations :math:`o_1,\dots,o_K` carries architecture parameters α; the supernet
computes the softmax mixture of the candidates' *outputs*

.. math::

    \bar o(x) = \sum_{i=1}^K p_i\, o_i(x;\, W_i),\qquad p = \mathrm{softmax}(\alpha),

which needs K forward passes and, in a weight-*sharing* space, K separate weights :math:`W_i`.

**Weight entanglement.**  In a macro space (e.g. the hidden width of an MLP, a choice among widths
:math:`w_1<\dots<w_K=D`) the candidates are slices of one weight :math:`W\in\mathbb{R}^{D\times d}`:
candidate i uses the first :math:`w_i` rows, :math:`W_{[:w_i]}`, so the supernet holds only the largest
candidate's parameters.

**Weight superposition (TangleNAS, Sec. 3).**  Zero-pad every slice back to the full shape and mix the
*weights* with the same softmax, then run a single forward pass with the mixed weight:

.. math::

    \bar W = \sum_i p_i\, \mathrm{pad}\bigl(W_{[:w_i]}\bigr),\qquad
    \bar b = \sum_i p_i\, \mathrm{pad}\bigl(b_{[:w_i]}\bigr),\qquad
    \bar o(x) = \mathrm{ReLU}\bigl(x\bar W^\top + \bar b\bigr).

Row j of :math:`\bar W` is row j of W scaled by :math:`m_j=\sum_{i:\,w_i>j} p_i` (the mass of the
candidates that contain unit j).  Because the map is linear in W and ReLU is positively homogeneous
(:math:`\mathrm{ReLU}(m z)=m\,\mathrm{ReLU}(z)` for m ≥ 0), the superposed layer equals the DARTS output
mixture of the *sliced* candidates, each zero-padded to width D:
:math:`\bar o(x)=\sum_i p_i\,\mathrm{pad}(\mathrm{ReLU}(xW_{[:w_i]}^\top+b_{[:w_i]}))` — exactly, at the cost
of one forward pass instead of K (the reference cases check this by hand).  The next layer reads the full
D-wide vector with its full weight, which is what the sub-network of width :math:`w_i` does on its first
:math:`w_i` inputs.

**Search (bilevel, first-order DARTS).**  Alternate one step on the weights with the training loss and one
step on α with the loss on a held-out part of the training data; at the end keep
:math:`\arg\max_i\alpha_i` for every choice and retrain the chosen architecture from scratch.

What is read and what is ours
-----------------------------
The paper's full text could not be read here (only its abstract and a summary naming "weight
superposition" and "combi-superposition"), so the formulas are reconstructed from that description and
cited by section, not equation number; the official code (github.com/automl/TangleNAS) was not checked.
Assumed: the slice is the *first* w units (as in AutoFormer-style entangled spaces); only the width-sliced
layer's weight and bias are superposed (superposing the next layer's input slice with the same p as well
would weigh unit j by :math:`m_j^2`, no longer the DARTS mixture); α is per choice (per layer); the search
is first-order (no unrolled second-order term); α is trained with Adam on a fixed half of the training
split.  Combi-superposition (products of several choices in one weight) is not implemented: our space has
one width choice per layer.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/tanglenas.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "tanglenas",
    "title": "Weight-Entanglement Meets Gradient-Based Neural Architecture Search",
    "authors": "Rhea Sanjay Sukthanker, Arjun Krishnakumar, Mahmoud Safari, Frank Hutter",
    "year": 2023,
    "arxiv": "2312.10440",
    "family": "architectures",
    "notebook": "notebooks/architectures/tanglenas.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract and a summary of the paper (the full text and the official code, "
        "automl/TangleNAS, were not read): weight superposition W̄ = Σ softmax(α)_i pad(W[:w_i]) for a "
        "width choice, first-order DARTS bilevel updates, argmax discretisation.  Assumed: first-w slices, "
        "only the sliced layer superposed, per-layer α, Adam on α over half the training split; "
        "combi-superposition is not implemented."
    ),
    "summary": (
        "Make gradient-based NAS work in weight-entangled spaces, where candidate sub-architectures are "
        "slices of one shared weight: mix the zero-padded weight slices with softmax(α) and run one forward "
        "pass with the mixed weight, instead of one pass per candidate with its own weights.  α and the "
        "weights are trained with DARTS-style alternating updates; the argmax architecture is retrained."
    ),
    "equations": [
        "p = softmax(α);  W̄ = Σ_i p_i pad(W[:w_i]),  b̄ = Σ_i p_i pad(b[:w_i])",
        "ō(x) = ReLU(x W̄ᵀ + b̄) = Σ_i p_i pad(ReLU(x W[:w_i]ᵀ + b[:w_i]))  (linearity, ReLU homogeneity)",
        "DARTS ablation: ō(x) = Σ_i p_i pad(o_i(x; W_i)), a separate W_i per candidate",
        "search: w ← w − η∇_w L_train(w, α);  α ← α − η_α ∇_α L_heldout(w, α);  keep argmax_i α_i",
    ],
}

MODES = ("entangled", "separate")


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))


def _check_widths(widths, fn, D=None):
    ws = tuple(widths)
    if (
        not ws
        or any(not isinstance(w, (int, np.integer)) or w < 1 for w in ws)
        or list(ws) != sorted(set(ws))
    ):
        raise ValueError(f"{fn}: `widths` must be strictly increasing integers ≥ 1, got {widths!r}")
    if D is not None and ws[-1] > D:
        raise ValueError(f"{fn}: `widths` must not exceed the weight's {D} rows, got {ws}")
    return ws


def pad_slice(W, w: int):
    """pad(W[:w]): the first w rows of W (or entries of a vector), zero-padded back to W's shape."""
    W = _as_tensor(W)
    D = W.shape[0]
    if not (isinstance(w, (int, np.integer)) and 1 <= w <= D):
        raise ValueError(f"pad_slice: `w` must be an integer in [1, {D}], got {w!r}")
    return ops.pad(W[:w], [(0, D - w)] + [(0, 0)] * (W.ndim - 1))


def superpose(W, widths, alpha):
    """W̄ = Σ_i softmax(α)_i pad(W[:w_i])  (weight superposition, Sec. 3)."""
    W, alpha = _as_tensor(W), _as_tensor(alpha)
    ws = _check_widths(widths, "superpose", W.shape[0])
    if alpha.shape != (len(ws),):
        raise ValueError(
            f"superpose: `alpha` must have shape ({len(ws)},) (one per width), got {alpha.shape}"
        )
    p = ops.softmax(alpha, -1)
    out = None
    for i, w in enumerate(ws):
        term = pad_slice(W, w) * p[i]
        out = term if out is None else out + term
    return out


def entangled_layer(x, W, b, widths, alpha):
    """ReLU(x W̄ᵀ + b̄): one forward pass with the superposed (out, in) weight and bias."""
    return ops.relu(F.linear(_as_tensor(x), superpose(W, widths, alpha), superpose(b, widths, alpha)))


def mixed_outputs(x, Ws, bs, alpha):
    """DARTS mixing of separate candidates: Σ_i p_i pad(ReLU(x W_iᵀ + b_i)) to the widest candidate."""
    x, alpha = _as_tensor(x), _as_tensor(alpha)
    if not (len(Ws) == len(bs) == alpha.shape[0]):
        raise ValueError(
            f"mixed_outputs: `Ws`, `bs` and `alpha` must have one entry per candidate, got {len(Ws)}, "
            f"{len(bs)}, {alpha.shape}"
        )
    D = max(_as_tensor(W).shape[0] for W in Ws)
    p = ops.softmax(alpha, -1)
    out = None
    for i, (W, b) in enumerate(zip(Ws, bs)):
        h = ops.relu(F.linear(x, _as_tensor(W), _as_tensor(b)))
        term = ops.pad(h, [(0, 0)] * (h.ndim - 1) + [(0, D - h.shape[-1])]) * p[i]
        out = term if out is None else out + term
    return out


def _linear_init(g, n_out, n_in, dtype):
    bound = 1.0 / np.sqrt(n_in)  # the PyTorch Linear default scale (ours)
    return g.uniform(-bound, bound, (n_out, n_in)).astype(dtype), g.uniform(-bound, bound, n_out).astype(
        dtype
    )


class WidthChoice(nn.Module):
    """One hidden layer d_in → max(widths) whose width is searched.  `mode="entangled"` holds one (D, d_in)
    weight and superposes its slices (TangleNAS); `mode="separate"` holds one weight per candidate and mixes
    their outputs (DARTS without entanglement).  α starts at zero (uniform p)."""

    def __init__(self, d_in: int, widths, *, mode: str = "entangled", rng=None, dtype=np.float32):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"WidthChoice: `mode` must be one of {MODES}, got {mode!r}")
        if not (isinstance(d_in, (int, np.integer)) and d_in >= 1):
            raise ValueError(f"WidthChoice: `d_in` must be an integer ≥ 1, got {d_in!r}")
        self.widths, self.mode = _check_widths(widths, "WidthChoice"), mode
        g = np.random.default_rng(rng)
        self.alpha = nn.Parameter(np.zeros(len(self.widths), dtype=dtype))
        if mode == "entangled":
            W, b = _linear_init(g, self.widths[-1], d_in, dtype)
            self.weight, self.bias = nn.Parameter(W), nn.Parameter(b)
        else:
            for i, w in enumerate(self.widths):
                W, b = _linear_init(g, w, d_in, dtype)
                setattr(self, f"weight{i}", nn.Parameter(W))
                setattr(self, f"bias{i}", nn.Parameter(b))

    def forward(self, x):
        if self.mode == "entangled":
            return entangled_layer(x, self.weight, self.bias, self.widths, self.alpha)
        K = len(self.widths)
        Ws = [getattr(self, f"weight{i}") for i in range(K)]
        return mixed_outputs(x, Ws, [getattr(self, f"bias{i}") for i in range(K)], self.alpha)


class SuperMLP(nn.Module):
    """d_in → WidthChoice → … → WidthChoice → Linear(max width → d_out): a supernet over one hidden-width
    choice per layer."""

    def __init__(self, d_in, widths, d_out, depth=2, *, mode="entangled", rng=None, dtype=np.float32):
        super().__init__()
        if not (isinstance(depth, (int, np.integer)) and depth >= 1):
            raise ValueError(f"SuperMLP: `depth` must be an integer ≥ 1, got {depth!r}")
        widths = _check_widths(widths, "SuperMLP")
        seed = 0 if rng is None else rng
        self.depth, self.widths, self.mode = int(depth), widths, mode
        for k in range(depth):
            n_in = d_in if k == 0 else widths[-1]
            setattr(self, f"choice{k}", WidthChoice(n_in, widths, mode=mode, rng=[seed, k], dtype=dtype))
        W, b = _linear_init(np.random.default_rng([seed, 99]), d_out, widths[-1], dtype)
        self.head_weight, self.head_bias = nn.Parameter(W), nn.Parameter(b)

    def choices(self):
        return [getattr(self, f"choice{k}") for k in range(self.depth)]

    def arch_parameters(self):
        return [c.alpha for c in self.choices()]

    def weight_parameters(self):
        arch = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def num_weights(self) -> int:
        """Parameters the supernet holds, α excluded (the memory that entanglement saves)."""
        return int(sum(p.data.size for p in self.weight_parameters()))

    def forward(self, x):
        h = _as_tensor(x)
        for c in self.choices():
            h = c(h)
        return F.linear(h, self.head_weight, self.head_bias)


def discretize(model: SuperMLP) -> tuple:
    """The chosen architecture: argmax_i α_i of every choice, as widths."""
    if not isinstance(model, SuperMLP):
        raise TypeError(f"discretize: `model` must be a SuperMLP, got {type(model).__name__}")
    return tuple(int(c.widths[int(np.argmax(c.alpha.data))]) for c in model.choices())


class MLP(nn.Module):
    """The plain sub-network d_in → ReLU(Linear) per hidden width → Linear(→ d_out), retrained from scratch."""

    def __init__(self, d_in, hidden, d_out, *, rng=None, dtype=np.float32):
        super().__init__()
        dims = [d_in, *hidden]
        g = np.random.default_rng(rng)
        self.n = len(hidden)
        for k in range(self.n):
            W, b = _linear_init(g, dims[k + 1], dims[k], dtype)
            setattr(self, f"w{k}", nn.Parameter(W))
            setattr(self, f"b{k}", nn.Parameter(b))
        W, b = _linear_init(g, d_out, dims[-1], dtype)
        self.head_weight, self.head_bias = nn.Parameter(W), nn.Parameter(b)

    def forward(self, x):
        h = _as_tensor(x)
        for k in range(self.n):
            h = ops.relu(F.linear(h, getattr(self, f"w{k}"), getattr(self, f"b{k}")))
        return F.linear(h, self.head_weight, self.head_bias)
