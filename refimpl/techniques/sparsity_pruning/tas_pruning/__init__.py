r"""Network Pruning via Transformable Architecture Search (TAS).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/D-X-Y/AutoDL-Projects (formerly NAS-Projects): `lib/models/shape_searchs/SoftSelect.py`
(`select2withP`, `ChannelWiseInterV1/V2`, `linear_forward`, `get_width_choices`),
`lib/models/shape_searchs/SearchSimResNet_width.py` (`conv_forward`, `search_forward`, `get_flop`, `set_tau`)
and `lib/procedures/search_main.py` (`get_flop_loss`).

The idea
--------
Instead of fixing the width of the pruned network by hand, learn a categorical distribution over the width
of every layer.  Each layer l has logits $\alpha_l$ over K candidate widths $c_1<\dots<c_K$ (fractions of the
unpruned width).  In a forward pass two widths are sampled from a Gumbel-softmax of $\alpha_l$; the layer's
output is the weighted sum of the two width-truncated outputs (weights shared: width c uses the first c
units), made the same size by *channel-wise interpolation* (CWI).  A cost loss on the *expected* cost (the
expected widths under softmax(α)) pushes the distribution towards a budget.  After the search the most
likely width of every layer is taken and that network is trained from scratch with knowledge
distillation (KD) from the unpruned network.

The equations (numbered as in the paper, Sec. 3; each checked against the official code named):

$$p_j = \frac{\exp\alpha_j}{\sum_k \exp\alpha_k}\quad\text{(Eq. 1)}\qquad
\hat h_j = \frac{\exp((\log p_j + o_j)/\tau)}{\sum_k \exp((\log p_k + o_k)/\tau)},\ o_j\sim\mathrm{Gumbel}(0,1)
\quad\text{(Eq. 2, `select2withP`)}$$

$$\hat O = \sum_{j\in\mathcal I} \hat h'_j\,\mathrm{CWI}(O_j, \max_{k\in\mathcal I} c_k)\quad\text{(Eq. 3)},\qquad
\hat h'_j = \mathrm{softmax}_{\mathcal I}\big((\log p + o)/\tau\big)_j$$

where $\mathcal I$ are two indices drawn without replacement from $\hat h$ and $O_j$ the output truncated to
its first $c_j$ units.  CWI resizes C channels to C' by averaging, for output channel i, the input channels
$[\lfloor iC/C'\rfloor, \lceil (i+1)C/C'\rceil)$ (Eq. 4, `ChannelWiseInterV1`; V2 is adaptive average pooling
over the channel axis, the same bins).  The cost loss (Eq. 6, `get_flop_loss`) with the budget R, the cost
$F$ of the current argmax architecture and the expected cost $E$ (expected widths $\sum_j p_j c_j$ put into
the cost formula, `search_forward`):

$$\mathcal L_{cost} = \begin{cases}\log E & F > R\\ -\log E & F < (1-t)R\\ 0 & \text{otherwise}\end{cases}
\quad\text{(Eq. 6)},\qquad \min_\alpha\ \mathcal L_{val}(\omega^*, \alpha) + \lambda_{cost}\mathcal L_{cost}
\quad\text{(Eq. 7)}$$

with the network weights ω trained on one half of the training data and α on the other (bi-level,
alternating steps).  The temperature follows $\tau = \tau_{min} + \tfrac12(\tau_{max}-\tau_{min})(1+\cos\pi r)$
over the search (`set_tau`).  KD (Eq. 8, Hinton et al.):
$\mathcal L = (1-\lambda)\,\mathrm{CE}(z_s, y) + \lambda T^2\,\mathrm{KL}(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T))$.

What is implemented, and deviations
-----------------------------------
* An MLP instead of ResNets: a hidden Linear layer of width c uses the first c rows of the full weight and
  the next layer the first c columns (`linear_forward` / `conv_forward` zero-pad the same way).  The cost is
  the parameter count of the Linear layers (weights and biases), not FLOPs — for an MLP they are the same up
  to the biases.  No batch norm (the official search keeps one BN per candidate width).
* Width choices: fractions 0.1 … 1.0 of the unpruned width (official: 0.3 … 1.0) so that a small budget is
  reachable.  The search's own settings (τ from 10 to 0.1, the α learning rate, λ_cost, t) are fixed, not
  tuned (set once so that the argmax widths land near the budget).  The formulas are taken from the official
  code named above; the paper's equation numbers are our reading of its Sec. 3 and were not re-checked
  against the paper's text (only its abstract was retrievable in this session).
* CWI is a fixed averaging matrix applied with a matmul, so its gradient is the autograd matmul's (no custom
  backward).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/tas-pruning.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....nn import Linear, Module, Parameter
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "tas-pruning",
    "title": "Network Pruning via Transformable Architecture Search",
    "authors": "Xuanyi Dong, Yi Yang",
    "year": 2019,
    "arxiv": "1905.09717",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/tas-pruning.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Gumbel two-width sampling (select2withP), channel-wise interpolation (ChannelWiseInterV1/V2), "
        "weight-shared width truncation (conv_forward/linear_forward), expected-width cost, the cosine τ "
        "schedule and the three-case cost loss (get_flop_loss) read in D-X-Y/AutoDL-Projects; CWI checked "
        "by hand cases. Equation numbers are our reading of the paper, not re-checked; cost = parameter count of an MLP."
    ),
    "summary": (
        "Learn a distribution over the width of every layer: sample two widths by Gumbel-softmax, align their "
        "outputs by channel-wise interpolation and mix them; a cost loss on the expected widths pushes towards "
        "a budget. Take the most likely widths and train that network with knowledge distillation."
    ),
    "equations": [
        "p = softmax(α_l) over candidate widths c_1..c_K                                      (Eq. 1)",
        "ĥ = softmax((log p + o)/τ), o ~ Gumbel; two widths I sampled from ĥ                 (Eq. 2)",
        "Ô = Σ_{j∈I} softmax_I((log p + o)/τ)_j · CWI(O_j, max_{k∈I} c_k)                    (Eq. 3)",
        "CWI(O, C')_i = mean(O[⌊iC/C'⌋ : ⌈(i+1)C/C'⌉])                                        (Eq. 4)",
        "L_cost = log E if F > R; −log E if F < (1−t)R; 0 otherwise (E: expected cost)          (Eq. 6)",
        "L_KD = (1−λ) CE(z_s, y) + λ T² KL(softmax(z_t/T) ‖ softmax(z_s/T))                    (Eq. 8)",
    ],
}

__all__ = [
    "width_choices",
    "cwi_matrix",
    "channel_wise_interpolation",
    "gumbel_select2",
    "tau_schedule",
    "mlp_params",
    "expected_params",
    "cost_loss",
    "kd_loss",
    "SearchMLP",
    "uniform_width_for_budget",
]


def width_choices(n: int, fractions=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> tuple:
    """Candidate widths int(n·f), deduplicated and sorted, at least 1 (`get_width_choices`)."""
    if n < 1:
        raise ValueError(f"width_choices: `n` must be ≥ 1, got {n}")
    return tuple(sorted({max(1, int(n * f)) for f in fractions}))


def cwi_matrix(c_in: int, c_out: int) -> np.ndarray:
    """The (c_in, c_out) averaging matrix of CWI: column i averages input channels
    ⌊i·c_in/c_out⌋ … ⌈(i+1)·c_in/c_out⌉ − 1 (Eq. 4, `ChannelWiseInterV1`)."""
    if c_in < 1 or c_out < 1:
        raise ValueError(f"cwi_matrix: sizes must be ≥ 1, got c_in={c_in}, c_out={c_out}")
    m = np.zeros((c_in, c_out))
    for i in range(c_out):
        lo, hi = (i * c_in) // c_out, -((-(i + 1) * c_in) // c_out)  # floor, ceil  (Eq. 4)
        m[lo:hi, i] = 1.0 / (hi - lo)
    return m


def channel_wise_interpolation(x, c_out: int):
    """CWI(x, C') along the last axis of x (N, C) → (N, C') (Eq. 4); the identity when C = C'."""
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    c_in = x.shape[-1]
    if c_in == c_out:
        return x
    return x @ Tensor(cwi_matrix(c_in, c_out).astype(x.dtype))


def gumbel_select2(alpha, tau: float, rng):
    """Two width indices per row of `alpha` (L, K) and their mixing weights (`select2withP`).

    The perturbed logits are (log_softmax(α) + o)/τ with o ~ Gumbel(0, 1) (Eq. 2); two indices are drawn
    without replacement with probabilities softmax of them; the weights are the softmax of the two
    selected perturbed logits (Eq. 3), differentiable in α.  τ ≤ 0 means no noise and no temperature."""
    a = alpha if isinstance(alpha, Tensor) else Tensor(np.asarray(alpha, dtype=np.float64))
    L, K = a.shape
    if tau > 0:
        o = -np.log(rng.exponential(size=(L, K)))  # Gumbel(0, 1)
        z = (a.log_softmax(-1) + Tensor(o.astype(a.dtype))) / tau  # Eq. 2
    else:
        z = a
    probs = z.softmax(-1).data.astype(np.float64)
    idx = np.stack([rng.choice(K, size=2, replace=False, p=p / p.sum()) for p in probs])
    rows = np.arange(L)[:, None]
    weights = z[rows, idx].softmax(-1)  # Eq. 3: softmax over the selected perturbed logits
    return idx, weights


def tau_schedule(tau_max: float, tau_min: float, ratio: float) -> float:
    """Cosine annealing of the Gumbel temperature over the search, ratio ∈ [0, 1] (`set_tau`)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"tau_schedule: `ratio` must be in [0, 1], got {ratio}")
    return tau_min + (tau_max - tau_min) * (1 + math.cos(math.pi * ratio)) / 2


def mlp_params(widths) -> float:
    """Parameters of the Linear layers of an MLP with sizes `widths` = [d_in, h_1, …, d_out] (weights + biases).
    Works on floats too (expected widths)."""
    w = list(widths)
    return sum(a * b + b for a, b in zip(w[:-1], w[1:]))


def expected_params(alpha, choices, d_in: int, d_out: int):
    """The expected cost E: `mlp_params` of the expected widths Σ_j p_j c_j, p = softmax(α_l) (Eq. 1, 6),
    as a Tensor differentiable in α (L, K)."""
    p = alpha.softmax(-1)
    ew = [(p[l] * Tensor(np.asarray(c, dtype=p.dtype))).sum() for l, c in enumerate(choices)]
    return mlp_params([d_in, *ew, d_out])


def cost_loss(expected, current: float, budget: float, tolerance: float):
    """Eq. 6 (`get_flop_loss`): log E when the argmax architecture is over budget, −log E when it is below
    (1 − t)·R, else 0."""
    if current > budget:
        return expected.log()
    if current < budget * (1.0 - tolerance):
        return -expected.log()
    return None


def kd_loss(student, teacher, y, temperature: float, weight: float):
    """(1 − λ)·CE(student, y) + λ·T²·KL(softmax(teacher/T) ‖ softmax(student/T)), batch mean (Eq. 8)."""
    t = teacher.data if isinstance(teacher, Tensor) else np.asarray(teacher)
    q = np.exp(t / temperature - np.max(t / temperature, axis=-1, keepdims=True))
    q = q / q.sum(-1, keepdims=True)
    log_ps = (student / temperature).log_softmax(-1)
    kl = (
        (Tensor(q.astype(log_ps.dtype)) * (Tensor(np.log(q + 1e-12).astype(log_ps.dtype)) - log_ps))
        .sum(-1)
        .mean()
    )
    ce = F.cross_entropy(student, y)
    return ce * (1.0 - weight) + kl * (weight * temperature**2)


class SearchMLP(Module):
    """The TAS super-network for an MLP of sizes [d_in, H_1, …, H_k, d_out]: full-width Linear layers
    (weights shared by all widths) and width logits α (k, K).

    `forward(x)` in search mode samples two widths per hidden layer (Eq. 2), computes both truncated
    outputs from one matmul, aligns them with CWI and mixes them (Eq. 3), then ReLU; the next layer uses
    the first columns of its weight for the (max-of-two) width it receives (`linear_forward`).  With
    `search=False` it runs at the widths `fixed` (default the full widths)."""

    def __init__(self, sizes, fractions=None, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.sizes = [int(s) for s in sizes]
        self.layers = [Linear(a, b, rng=rng) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        for i, lin in enumerate(self.layers):
            setattr(self, f"fc{i}", lin)
        kw = {} if fractions is None else {"fractions": fractions}
        self.choices = [width_choices(h, **kw) for h in self.sizes[1:-1]]
        K = max(len(c) for c in self.choices)
        if any(len(c) != K for c in self.choices):
            raise ValueError("SearchMLP: every hidden layer needs the same number of width choices")
        self.alpha = Parameter((rng.normal(0.0, 0.01, size=(len(self.choices), K))).astype(np.float32))
        self.tau, self.search, self.rng = 10.0, True, np.random.default_rng(rng.integers(2**31))

    def weight_parameters(self):
        return [p for lin in self.layers for p in (lin.weight, lin.bias)]

    def probabilities(self) -> np.ndarray:
        a = self.alpha.data.astype(np.float64)
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)  # Eq. 1

    def argmax_widths(self) -> list:
        """The most likely width of every hidden layer: the pruned network's widths (Sec. 3.3)."""
        return [c[int(i)] for c, i in zip(self.choices, self.probabilities().argmax(-1))]

    def expected_cost(self):
        return expected_params(self.alpha, self.choices, self.sizes[0], self.sizes[-1])

    def forward(self, x, fixed=None):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if self.search:
            idx, mix = gumbel_select2(self.alpha, self.tau, self.rng)
        for l, lin in enumerate(self.layers):
            c_in = x.shape[-1]
            z = F.linear(x, lin.weight[:, :c_in], lin.bias)  # linear_forward: first c_in columns
            if l == len(self.layers) - 1:
                return z
            if self.search:
                ca, cb = (self.choices[l][int(j)] for j in idx[l])
                c = max(ca, cb)
                x = (
                    channel_wise_interpolation(z[:, :ca], c) * mix[l, 0]
                    + channel_wise_interpolation(z[:, :cb], c) * mix[l, 1]
                )  # Eq. 3
            else:
                c = self.sizes[l + 1] if fixed is None else int(fixed[l])
                x = z[:, :c]
            x = x.relu()


def uniform_width_for_budget(budget: float, d_in: int, d_out: int, n_hidden: int) -> int:
    """The largest uniform hidden width h with mlp_params([d_in] + [h]·n_hidden + [d_out]) ≤ budget (≥ 1)."""
    h = 1
    while mlp_params([d_in, *([h + 1] * n_hidden), d_out]) <= budget:
        h += 1
    return h
