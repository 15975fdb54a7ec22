r"""Flexible aggregation of quantile regressors: weights by model, quantile level and input; no crossings.

The paper card (title, authors, arXiv, what was verified) is CATALOG_ENTRY below.
Official code: github.com/amazon-science/quantile-aggregation (`model/neural_aggregator.py`,
`util/metric.py`, `util/misc.py`).

The idea
--------
K base models each predict the conditional quantiles q̂_k(x, τ) at levels τ_1 < … < τ_T.  Aggregate them
with convex weights whose granularity is a choice (coarse / medium / fine — the official code's `model_type`
names — each either global or local = a function of the input x):

$$ \text{coarse: } \hat q(x,\tau_t)=\sum_k w_k\,\hat q_k(x,\tau_t),\qquad
   \text{medium: } \sum_k w_{k,t}\,\hat q_k(x,\tau_t),\qquad
   \text{fine: } \sum_{k}\sum_{s} w_{(k,s),t}\,\hat q_k(x,\tau_s) \qquad (1) $$

with the weights a softmax of free logits — over the models (coarse, medium) or over all K·T (model, level)
pairs for each output level t (fine: each output quantile may draw on *other* levels of the base models,
the "cross" option of the official `QuantileGlobalAggregator`) — and, in the local versions, the logits are
the outputs of a network of x (`QuantileLocalAggregator`).  All logits start at zero (equal weights).
The weights are fitted on held-out base predictions by minimising the **pinball (check) loss**

$$ \rho_\tau(u) = \max(\tau u,\ (\tau - 1)u),\qquad u = y - \hat q(x, \tau) \qquad (2) $$

averaged over points and levels.

Non-crossing.  Aggregated quantiles can cross (q̂(x, τ_i) > q̂(x, τ_j) for τ_i < τ_j).  Sorting the T values
per input (rearrangement) or isotonic regression across levels (PAVA) removes crossings; sorting never
increases the pinball loss for any y (the paper's proposition, tested here point by point).  The official
code also applies the monotoniser **during training** (`use_grad=True`: the loss is taken on the
monotonised output): sorting as y = M(q)·q with M(q) the permutation matrix of q held fixed, whose gradient
is Mᵀ (the derivative of the piecewise-linear sort), and PAVA as y = A(q)·q with A(q) the block-averaging
matrix held fixed (the official `pava_forward` builds exactly such a detached mask):

$$ \operatorname{sort}(q) = P_\pi\, q,\ \ \frac{\partial \operatorname{sort}(q)}{\partial q} = P_\pi;\qquad
   \operatorname{pava}(q) = A\, q,\ \ A_{ij} = \frac{[i, j \text{ in one block}]}{|\text{block}|}
   \qquad (3) $$

Deviations
----------
The official training-time sort is the *soft* sort of Blondel et al. (`fast_soft_sort`, with a
regularisation strength); we use the hard sort (3), its limit as the strength goes to 0.  No crossing
margin penalty, no conformal calibration, no Huber smoothing of the pinball loss (the official default
alpha is 0, the plain pinball).  The local weight network uses tanh (the official default is ELU; tanh is
one of its options).  The paper's tabular data sets and base learners are replaced by the experiment's
1-D task (experiment.py).

The experiment is in `experiment.py`; the reference cases in `cases.py`.
Notebook: notebooks/merging-averaging/quantile-aggregation.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "quantile-aggregation",
    "title": "Flexible Model Aggregation for Quantile Regression",
    "authors": "Rasool Fakoor, Taesup Kim, Jonas Mueller, Alexander J. Smola, Ryan J. Tibshirani",
    "year": 2021,
    "arxiv": "2103.00083",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/quantile-aggregation.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against amazon-science/quantile-aggregation: model/neural_aggregator.py "
        "(QuantileGlobalAggregator / QuantileLocalAggregator: zero-initialised logits, softmax over dim 1; "
        "share → coarse (1, K, 1), default → medium (1, K, T), cross → fine (1, K·T, T) with the input "
        "reshaped to (n, K·T, 1); local = the same from a network of x; compute_loss applies the "
        "monotoniser before the loss when use_grad), util/misc.py (pava_forward = bmm with a detached "
        "block-averaging mask from single_pava; sort_forward = fast_soft_sort soft_sort — here the hard "
        "sort, its zero-regularisation limit), util/metric.py (pinball loss). Paper full text not read; "
        "no margin penalty or conformal step."
    ),
    "summary": (
        "Combine the quantile predictions of several models with convex weights that depend on the model, the"
        " quantile level and optionally the input, trained on the pinball loss; sort or isotonise the "
        "aggregated quantiles so they never cross, which cannot increase the loss."
    ),
    "equations": [
        "ρ_τ(u) = max(τ u, (τ − 1) u),  u = y − q̂(x, τ)",
        "q̂(x, τ) = Σ_k w_k(x, τ) q̂_k(x, τ),  w(x, τ) = softmax_k(z(x, τ))",
        "fine: q̂(x, τ_t) = Σ_{k,s} w_{(k,s),t}(x) q̂_k(x, τ_s),  softmax over the K·T pairs (k, s)",
        "non-crossing: q̂(x, ·) ← sort(q̂(x, ·)) or PAVA (isotonic in τ)",
    ],
}

__all__ = [
    "pinball_loss",
    "aggregate",
    "sort_forward",
    "pava_forward",
    "QuantileAggregator",
    "fit_aggregator",
    "sort_quantiles",
    "pava",
    "crossing_rate",
]


def pinball_loss(q, y, taus, reduce: bool = True):
    """mean over points and levels of ρ_τ(y − q) (2) for q (n, T), y (n,), taus (T,); Tensor q → Tensor."""
    taus = np.asarray(taus, dtype=np.float64)
    y = np.asarray(getattr(y, "data", y), dtype=np.float64).reshape(-1, 1)
    if isinstance(q, Tensor):
        u = -(q - y)  # u = y − q
        loss = ops.maximum(u * taus, u * (taus - 1.0))  # ρ_τ(u)  (2)
        return loss.mean() if reduce else loss
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != taus.size or q.shape[0] != y.shape[0]:
        raise ValueError(f"pinball_loss: `q` must be (n, T) = ({y.shape[0]}, {taus.size}), got {q.shape}")
    u = y - q
    loss = np.maximum(taus * u, (taus - 1.0) * u)  # (2)
    return float(loss.mean()) if reduce else loss


def _softmax(z, axis):
    if isinstance(z, Tensor):
        return ops.softmax(z, dim=axis)
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def aggregate(Q, logits):
    """(1): base quantiles Q (n, K, T) combined with softmax weights from `logits` of shape (K,) (coarse),
    (K, T) (medium), (K·T, T) (fine: row k·T + s weighs model k's level s), or with a leading n — (n, K, T)
    and (n, K·T, T) — for the local versions.  A Tensor of logits gives a Tensor."""
    Q = np.asarray(Q, dtype=np.float64)
    if Q.ndim != 3:
        raise ValueError(f"aggregate: `Q` must be (n, K, T), got {Q.shape}")
    n, K, T = Q.shape
    shape = tuple(logits.shape)
    is_t = isinstance(logits, Tensor)
    reshape = (lambda v, s: ops.reshape(v, s)) if is_t else (lambda v, s: v.reshape(s))  # noqa: E731
    if shape == (K,):  # coarse: w_k
        w = reshape(_softmax(logits, 0), (1, K, 1))
    elif shape == (K, T):  # medium: w_{k,t}
        w = reshape(_softmax(logits, 0), (1, K, T))
    elif shape == (K * T, T):  # fine: w_{(k,s),t}, softmax over the K·T pairs for each output level t
        w = reshape(_softmax(logits, 0), (1, K * T, T))
        return (w * Q.reshape(n, K * T, 1)).sum(axis=1)  # (1), fine
    elif shape == (n, K, T):  # local medium
        w = _softmax(logits, 1)
    elif shape == (n, K * T, T):  # local fine
        return (_softmax(logits, 1) * Q.reshape(n, K * T, 1)).sum(axis=1)
    else:
        raise ValueError(
            f"aggregate: `logits` must have shape (K,), (K, T), (K·T, T), (n, K, T) or (n, K·T, T) for Q "
            f"{Q.shape}, got {shape}"
        )
    return (w * Q).sum(axis=1)  # (1), coarse / medium / local


def _sort_matrix(q):
    """Per row, the permutation matrix P with (q P) = sort(q): P[i, j] = 1 where the j-th smallest is q_i."""
    n, T = q.shape
    P = np.zeros((n, T, T))
    P[np.arange(n)[:, None], np.argsort(q, axis=1, kind="stable"), np.arange(T)[None, :]] = 1.0
    return P


def _pava_matrix(q):
    """Per row, the block-averaging matrix A with (q A) = pava(q) (a symmetric matrix, A = Aᵀ)."""
    n, T = q.shape
    A = np.zeros((n, T, T))
    for r, row in enumerate(q):
        blocks = []  # [start, end, mean]
        for i, v in enumerate(row):
            blocks.append([i, i + 1, float(v)])
            while len(blocks) > 1 and blocks[-2][2] > blocks[-1][2]:  # pool adjacent violators
                (s0, _, m0), (s1, e1, m1) = blocks[-2], blocks[-1]
                n0, n1 = s1 - s0, e1 - s1
                blocks[-2:] = [[s0, e1, (m0 * n0 + m1 * n1) / (n0 + n1)]]
        for s0, e0, _ in blocks:
            A[r, s0:e0, s0:e0] = 1.0 / (e0 - s0)
    return A


def _apply_rows(q, M):
    n, T = q.shape
    return ops.reshape(ops.matmul(ops.reshape(q, (n, 1, T)), Tensor(M)), (n, T))


def sort_forward(q):
    """Sort each row of q (n, T), differentiably (3): y = q·P with the permutation P held fixed."""
    if isinstance(q, Tensor):
        return _apply_rows(q, _sort_matrix(q.data))
    return sort_quantiles(q)


def pava_forward(q):
    """Isotonic regression of each row (3): y = q·A with the block-averaging A held fixed (the official
    `pava_forward`)."""
    if isinstance(q, Tensor):
        return _apply_rows(q, _pava_matrix(q.data))
    return pava(q)


KINDS = ("coarse", "medium", "fine", "local-medium", "local-fine")


class QuantileAggregator(Module):
    """The aggregator (1) as a Module.  Its input is one array per point: the K·T base quantiles (model-major,
    as `Q.reshape(n, K*T)`) followed by the d features x (used by the local kinds only).  `monotone` =
    "sort" or "pava" monotonises the output in forward, in training too (3); None leaves it as is."""

    def __init__(self, n_models, n_levels, kind="medium", d_in=0, hidden=32, monotone=None, rng=None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"QuantileAggregator: `kind` must be one of {KINDS}, got {kind!r}")
        if monotone not in (None, "sort", "pava"):
            raise ValueError(
                f"QuantileAggregator: `monotone` must be None, 'sort' or 'pava', got {monotone!r}"
            )
        K, T = int(n_models), int(n_levels)
        self.K, self.T, self.kind, self.d_in, self.monotone = K, T, kind, int(d_in), monotone
        self.logit_shape = {"coarse": (K,), "medium": (K, T), "fine": (K * T, T)}.get(kind)
        if kind.startswith("local"):
            if self.d_in < 1:
                raise ValueError("QuantileAggregator: a local kind needs the number of features `d_in` ≥ 1")
            from ....nn import MLP

            self.logit_shape = (K, T) if kind == "local-medium" else (K * T, T)
            out = int(np.prod(self.logit_shape))
            self.net = MLP([self.d_in, hidden, hidden, out], activation="tanh", dtype=np.float64, rng=rng)
            for p in list(self.net.parameters())[-2:]:
                p.data[...] = 0.0  # zero output layer: equal weights at the start (zero logits)
        else:
            self.logits = Parameter(np.zeros(self.logit_shape))  # zero logits: equal weights

    def weights_logits(self, x):
        if self.kind.startswith("local"):
            z = self.net(Tensor(np.asarray(x, dtype=np.float64)))
            return ops.reshape(z, (len(x),) + self.logit_shape)
        return self.logits

    def forward(self, inp):
        inp = np.asarray(getattr(inp, "data", inp), dtype=np.float64)
        n, KT = len(inp), self.K * self.T
        Q = inp[:, :KT].reshape(n, self.K, self.T)
        q = aggregate(Q, self.weights_logits(inp[:, KT:]))
        if self.monotone == "sort":
            q = sort_forward(q)
        elif self.monotone == "pava":
            q = pava_forward(q)
        return q


def aggregator_input(Q, x=None) -> np.ndarray:
    """The QuantileAggregator's input: Q (n, K, T) flattened model-major, then the features x (n, d)."""
    Q = np.asarray(Q, dtype=np.float64)
    parts = [Q.reshape(len(Q), -1)]
    if x is not None:
        parts.append(np.asarray(x, dtype=np.float64).reshape(len(Q), -1))
    return np.concatenate(parts, axis=1)


def fit_aggregator(
    Q,
    y,
    taus,
    kind: str = "medium",
    x=None,
    steps: int = 300,
    lr: float = 0.05,
    hidden: int = 32,
    seed: int = 0,
    monotone=None,
    batch_size=None,
) -> dict:
    """Fit an aggregator (1) on held-out base predictions Q (n, K, T) by Adam on the pinball loss (2),
    through `refimpl.train.fit` (`steps` epochs; full batch by default).  `kind` "local" is "local-medium".
    Returns {"kind", "model", "predict": (Q_new, x_new) → (n, T)} (the model's own monotoniser applied)."""
    from .... import optim
    from ....train import fit, predict

    kind = "local-medium" if kind == "local" else kind
    if kind not in KINDS:
        raise ValueError(f"fit_aggregator: `kind` must be one of {KINDS} or 'local', got {kind!r}")
    Q = np.asarray(Q, dtype=np.float64)
    n, K, T = Q.shape
    if kind.startswith("local") and x is None:
        raise ValueError("fit_aggregator: a local kind needs the inputs `x` (n, d)")
    d = 0 if x is None or not kind.startswith("local") else np.asarray(x).reshape(n, -1).shape[1]
    model = QuantileAggregator(K, T, kind, d, hidden, monotone, rng=np.random.default_rng(seed))
    inp = aggregator_input(Q, x if d else None)
    opt = optim.Adam(model.parameters(), lr=lr)
    fit(
        model,
        lambda out, target: pinball_loss(out, target, taus),
        (inp, np.asarray(y, dtype=np.float64)),
        opt,
        epochs=int(steps),
        batch_size=n if batch_size is None else int(batch_size),
        seed=seed,
        progress=False,
    )

    def predict_fn(Qn, xn=None):
        return predict(model, aggregator_input(Qn, xn if d else None))

    return {"kind": kind, "model": model, "predict": predict_fn}


def sort_quantiles(q):
    """Rearrangement: sort each row (the T quantiles of one input) in increasing order."""
    return np.sort(np.asarray(q, dtype=np.float64), axis=-1)


def pava(q):
    """Isotonic regression of each row onto non-decreasing sequences (pool-adjacent-violators)."""
    q = np.asarray(q, dtype=np.float64)
    out = np.empty_like(q)
    for r, row in enumerate(q.reshape(-1, q.shape[-1])):
        vals, cnts = [], []
        for v in row:
            vals.append(v)
            cnts.append(1)
            while len(vals) > 1 and vals[-2] > vals[-1]:  # merge violating blocks into their mean
                c = cnts[-2] + cnts[-1]
                v2 = (vals[-2] * cnts[-2] + vals[-1] * cnts[-1]) / c
                vals[-2:], cnts[-2:] = [v2], [c]
        out.reshape(-1, q.shape[-1])[r] = np.repeat(vals, cnts)
    return out


def crossing_rate(q) -> float:
    """Fraction of inputs whose T quantiles are not non-decreasing."""
    q = np.asarray(q)
    return float(np.mean(np.any(np.diff(q, axis=-1) < 0, axis=-1)))
