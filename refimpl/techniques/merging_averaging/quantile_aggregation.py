r"""Flexible aggregation of quantile regressors: weights by model, quantile level and input; no crossings.

Paper: *Flexible Model Aggregation for Quantile Regression* — Rasool Fakoor, Taesup Kim, Jonas Mueller,
Alexander J. Smola, Ryan J. Tibshirani, JMLR 2023.
arXiv: 2103.00083
Official code: github.com/amazon-science/quantile-aggregation (`model/neural_aggregator.py`,
`util/metric.py`, `util/misc.py`).

The idea
--------
K base models each predict the conditional quantiles q̂_k(x, τ) at levels τ_1 < … < τ_T.  Aggregate them
with convex weights that may depend on the model only, on the model and the level, or also on the input:

$$ \hat q(x,\tau) = \sum_{k=1}^K w_k\,\hat q_k(x,\tau) \quad(\text{coarse}),\qquad
   \sum_k w_{k}(\tau)\,\hat q_k(x,\tau) \quad(\text{medium}),\qquad
   \sum_k w_{k}(x,\tau)\,\hat q_k(x,\tau) \quad(\text{local}), $$

with w = softmax over models of free parameters (or of a network's outputs for the local version),
initialised at equal weights, fitted by minimising the **pinball (check) loss** averaged over points and
levels on held-out data,

$$ \rho_\tau(u) = \max(\tau u,\ (\tau - 1)u),\qquad u = y - \hat q(x, \tau). $$

Aggregated (and base) quantiles can **cross** (q̂(x, τ_i) > q̂(x, τ_j) for τ_i < τ_j).  The paper's fixes are
post-hoc: sorting the T values per input, or isotonic regression (PAVA) across levels; it proves that
sorting never increases the (weighted) pinball loss / interval score of the quantiles, for every y.
(The official code also offers differentiable sorting and a crossing margin penalty during training;
we train without them and monotonise after.)

Toy experiment (`demo`)
-----------------------
Heteroscedastic 1-D data y = sin(2πx) + (0.1 + 0.6x)·ε, ε ~ N(0, 1), x ~ U(0, 1); nine levels
τ = 0.1, …, 0.9.  Base models: linear quantile regression, k-nearest-neighbour empirical quantiles (k=25)
and an MLP 1→32→32→9 trained on the pinball loss (all on the training split).  The aggregators are fitted on
the base models' predictions on a held-out split and evaluated on a test split: pinball loss of each model,
equal weights, coarse, medium and local aggregation; crossing rate and loss before/after sorting.

Result at toy scale: learned weights (any granularity) are far better than equal weights (pinball 0.130
vs 0.148, quick, 5 seeds) and match the best single model (0.130); the level-dependent weights visibly
shift between the kNN and the MLP across τ, but gain little over level-independent ones here (claim holds
in 2 of 5 seeds).  Sorting never increased the loss.

What is simplified / deviations
-------------------------------
The paper's 34 tabular data sets, nested cross-validation, hyperparameter search and base learners
(forests, LightGBM, networks) become one 1-D data set, a single train / aggregate / test split and three
small base models; no conformal calibration step; no differentiable sorting or margin penalty in training.
The local weight network uses tanh (the official default is ELU, which the engine does not have; tanh is
one of the official options).

Verified: official-code — the softmax-over-models weights initialised at zero logits (equal weights), the
coarse / medium / local parametrisations, the pinball loss (`util/metric.py`) and the PAVA / sort
monotonisation (`util/misc.py`) were checked against amazon-science/quantile-aggregation; the
sorting proposition is tested on random inputs (never increases the loss).

Notebook: notebooks/merging-averaging/quantile-aggregation.ipynb
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase

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
        "Softmax-over-models weights (zero-logit init), coarse/medium/local variants, pinball loss and "
        "PAVA/sort monotonisation checked against amazon-science/quantile-aggregation "
        "(model/neural_aggregator.py, util/metric.py, util/misc.py). No conformal step here."
    ),
    "summary": (
        "Combine the quantile predictions of several models with convex weights that depend on the model, the"
        " quantile level and optionally the input, trained on the pinball loss; sort or isotonise the "
        "aggregated quantiles so they never cross, which cannot increase the loss."
    ),
    "equations": [
        "ρ_τ(u) = max(τ u, (τ − 1) u),  u = y − q̂(x, τ)",
        "q̂(x, τ) = Σ_k w_k(x, τ) q̂_k(x, τ),  w(x, τ) = softmax_k(z(x, τ))",
        "non-crossing: q̂(x, ·) ← sort(q̂(x, ·)) or PAVA (isotonic in τ)",
    ],
}

__all__ = [
    "pinball_loss",
    "aggregate",
    "fit_aggregator",
    "sort_quantiles",
    "pava",
    "crossing_rate",
    "demo",
    "plot",
    "reference_cases",
]


def pinball_loss(q, y, taus, reduce: bool = True):
    """mean over points and levels of ρ_τ(y − q) for q (n, T), y (n,), taus (T,); Tensor q → Tensor."""
    taus = np.asarray(taus, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    if isinstance(q, Tensor):
        u = -(q - y)  # u = y − q
        loss = ops.maximum(u * taus, u * (taus - 1.0))  # ρ_τ(u)
        return loss.mean() if reduce else loss
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != taus.size or q.shape[0] != y.shape[0]:
        raise ValueError(f"pinball_loss: `q` must be (n, T) = ({y.shape[0]}, {taus.size}), got {q.shape}")
    u = y - q
    loss = np.maximum(taus * u, (taus - 1.0) * u)
    return float(loss.mean()) if reduce else loss


def _softmax(z, axis):
    if isinstance(z, Tensor):
        return ops.softmax(z, dim=axis)
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def aggregate(Q, logits):
    """Σ_k softmax_k(logits)·Q[:, k, :] for base quantiles Q (n, K, T) and logits of shape (K,) (coarse),
    (K, T) (medium) or (n, K, T) (local)."""
    Q = np.asarray(Q, dtype=np.float64)
    if Q.ndim != 3:
        raise ValueError(f"aggregate: `Q` must be (n, K, T), got {Q.shape}")
    shape = logits.shape
    if shape == (Q.shape[1],):
        w = _softmax(logits, 0)
        w = ops.reshape(w, (1, -1, 1)) if isinstance(w, Tensor) else w.reshape(1, -1, 1)
    elif shape == Q.shape[1:]:
        w = _softmax(logits, 0)
        w = ops.reshape(w, (1,) + shape) if isinstance(w, Tensor) else w[None]
    elif shape == Q.shape:
        w = _softmax(logits, 1)
    else:
        raise ValueError(
            f"aggregate: `logits` must have shape (K,), (K, T) or (n, K, T) for Q {Q.shape}, got {shape}"
        )
    return (w * Q).sum(axis=1)


def _weight_net(sizes, rng):
    from ... import nn

    return nn.MLP(list(sizes), activation="tanh", dtype=np.float64, rng=rng)


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
) -> dict:
    """Fit coarse / medium / local weights on held-out base predictions Q (n, K, T): Adam on the pinball loss.
    Returns {"kind", "logits" (coarse/medium) or "net" (local), "predict": Q_new[, x_new] → (n, T)}."""
    from ...nn.module import Parameter
    from ...optim import Adam

    Q = np.asarray(Q, dtype=np.float64)
    n, K, T = Q.shape
    rng = np.random.default_rng(seed)
    if kind in ("coarse", "medium"):
        z = Parameter(np.zeros((K,) if kind == "coarse" else (K, T)))  # zero logits: equal weights
        params, logits_of = [z], (lambda xb: z)
    elif kind == "local":
        if x is None:
            raise ValueError("fit_aggregator: kind='local' needs the inputs `x` (n, d)")
        x = np.asarray(x, dtype=np.float64).reshape(n, -1)
        net = _weight_net([x.shape[1], hidden, hidden, K * T], rng)
        last = list(net.parameters())[-2:]
        for p in last:
            p.data[...] = 0.0  # zero output layer: equal weights at the start, as the global version
        params = list(net.parameters())
        logits_of = lambda xb: ops.reshape(net(Tensor(xb)), (len(xb), K, T))  # noqa: E731
    else:
        raise ValueError(f"fit_aggregator: `kind` must be 'coarse', 'medium' or 'local', got {kind!r}")
    opt = Adam(params, lr=lr)
    for _ in range(int(steps)):
        opt.zero_grad()
        loss = pinball_loss(aggregate(Q, logits_of(x)), y, taus)
        loss.backward()
        opt.step()
    out = {"kind": kind}
    if kind == "local":
        out["net"] = net

        def predict(Qn, xn):
            xn = np.asarray(xn, dtype=np.float64).reshape(len(Qn), -1)
            return aggregate(Qn, net(Tensor(xn)).data.reshape(len(Qn), K, T))
    else:
        out["logits"] = z.data.copy()

        def predict(Qn, xn=None):
            return aggregate(Qn, out["logits"])

    out["predict"] = predict
    return out


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


# --- base quantile models ------------------------------------------------------------------------------
def _fit_linear_qr(x, y, taus, seed):
    """q(x, τ) = a_τ + b_τ x by Adam on the pinball loss (a convex problem)."""
    from ...nn.module import Parameter
    from ...optim import Adam

    A = Parameter(np.zeros((2, len(taus))))
    X = np.column_stack([np.ones_like(x), x])
    opt = Adam([A], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        loss = pinball_loss(ops.matmul(Tensor(X), A), y, taus)
        loss.backward()
        opt.step()
    coef = A.data.copy()
    return lambda xq: np.column_stack([np.ones_like(xq), xq]) @ coef


def _fit_knn(x, y, taus, k=25):
    def predict(xq):
        idx = np.argsort(np.abs(xq[:, None] - x[None, :]), axis=1)[:, :k]
        return np.quantile(y[idx], taus, axis=1).T

    return predict


def _fit_mlp(x, y, taus, seed, epochs=150):
    from ... import nn
    from ...data import batches
    from ...optim import Adam

    net = nn.MLP([1, 32, 32, len(taus)], dtype=np.float64, rng=np.random.default_rng(seed))
    opt = Adam(net.parameters(), lr=3e-3)
    for ep in range(epochs):
        for xb, yb in batches(x[:, None], y, batch_size=64, seed=seed, epoch=ep):
            opt.zero_grad()
            loss = pinball_loss(net(Tensor(xb)), yb, taus)
            loss.backward()
            opt.step()
    return lambda xq: net(Tensor(np.asarray(xq, dtype=np.float64)[:, None])).data


def _data(n, rng):
    x = rng.uniform(0, 1, n)
    y = np.sin(2 * np.pi * x) + (0.1 + 0.6 * x) * rng.standard_normal(n)
    return x, y


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Three base quantile models on heteroscedastic 1-D data; equal / coarse / medium / local aggregation."""
    rng = np.random.default_rng([seed, 21])
    taus = np.round(np.arange(0.1, 0.91, 0.1), 2)
    n_tr, n_ag, n_te = (300, 300, 2000) if quick else (600, 600, 4000)
    (x, y), (xa, ya), (xt, yt) = _data(n_tr, rng), _data(n_ag, rng), _data(n_te, rng)
    models = {
        "linear QR": _fit_linear_qr(x, y, taus, seed),
        "kNN (k=25)": _fit_knn(x, y, taus),
        "MLP pinball": _fit_mlp(x, y, taus, seed, epochs=60 if quick else 150),
    }
    Qa = np.stack([m(xa) for m in models.values()], axis=1)
    Qt = np.stack([m(xt) for m in models.values()], axis=1)
    steps = 150 if quick else 400
    rows = []

    def add(name, q):
        s = sort_quantiles(q)
        rows.append(
            {
                "method": name,
                "test_pinball": pinball_loss(q, yt, taus),
                "crossing_rate": crossing_rate(q),
                "pinball_after_sort": pinball_loss(s, yt, taus),
            }
        )

    for k, name in enumerate(models):
        add(name, Qt[:, k])
    add("equal weights", Qt.mean(axis=1))
    fitted = {}
    for kind in ("coarse", "medium", "local"):
        fitted[kind] = fit_aggregator(Qa, ya, taus, kind, x=xa[:, None], steps=steps, seed=seed)
        add(
            {"coarse": "coarse w_k", "medium": "medium w_k(τ)", "local": "local w_k(x, τ)"}[kind],
            fitted[kind]["predict"](Qt, xt[:, None]),
        )
    from scipy.stats import norm

    q_true = np.sin(2 * np.pi * xt)[:, None] + (0.1 + 0.6 * xt)[:, None] * norm.ppf(taus)[None, :]
    add("true quantiles (oracle)", q_true)
    loss = {r["method"]: r["test_pinball"] for r in rows}
    best_single = min(loss[m] for m in models)
    sort_ok = all(r["pinball_after_sort"] <= r["test_pinball"] + 1e-12 for r in rows)
    metrics = {
        "pinball_best_single": best_single,
        "pinball_equal": loss["equal weights"],
        "pinball_coarse": loss["coarse w_k"],
        "pinball_medium": loss["medium w_k(τ)"],
        "pinball_local": loss["local w_k(x, τ)"],
        "pinball_oracle": loss["true quantiles (oracle)"],
        "crossing_rate_local": rows[-2]["crossing_rate"],
        "crossing_rate_after_sort": 0.0,
    }
    holds = bool(
        loss["medium w_k(τ)"] < min(best_single, loss["equal weights"], loss["coarse w_k"]) and sort_ok
    )
    grid = np.linspace(0, 1, 200)
    Qg = np.stack([m(grid) for m in models.values()], axis=1)
    return {
        "metrics": metrics,
        "table": rows,
        "taus": taus,
        "medium_weights": _softmax(fitted["medium"]["logits"], 0),
        "model_names": list(models),
        "curves": {
            "x": grid,
            "local": sort_quantiles(fitted["local"]["predict"](Qg, grid[:, None])),
            "sample_x": xt[:400],
            "sample_y": yt[:400],
        },
        "claim": {
            "statement": "Weights that depend on the quantile level (medium) give a lower test pinball loss "
            "than every single model, equal weights and level-independent (coarse) weights; "
            "sorting removes all crossings and never increases the loss.",
            "holds": holds,
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    c = result["curves"]
    ax1.scatter(c["sample_x"], c["sample_y"], s=4, c="lightgray")
    for j in range(c["local"].shape[1]):
        ax1.plot(c["x"], c["local"][:, j], lw=1)
    ax1.set_title("local aggregation, sorted quantiles τ = 0.1 … 0.9")
    w = result["medium_weights"]
    for k, name in enumerate(result["model_names"]):
        ax2.plot(result["taus"], w[k], marker="o", label=name)
    ax2.set_xlabel("τ")
    ax2.set_ylabel("weight w_k(τ)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {"quantile-aggregation": fig}


def reference_cases() -> list:
    def pin(q, y, taus):
        return {
            "loss": pinball_loss(np.asarray(q, dtype=float), np.asarray(y, dtype=float), taus, reduce=False)
        }

    def srt(q, y, taus):
        s = sort_quantiles(q)
        return {
            "sorted": s,
            "pava": pava(q),
            "loss_before": np.array(pinball_loss(np.asarray(q), y, taus)),
            "loss_after": np.array(pinball_loss(s, y, taus)),
        }

    def agg(Q, logits):
        return {"q": aggregate(np.asarray(Q), np.asarray(logits))}

    return [
        ReferenceCase(
            "pinball_hand",
            {"q": [[0.0], [1.0]], "y": [1.0, 0.0], "taus": [0.9]},
            {"loss": np.array([[0.9], [0.1]])},
            pin,
            note="catalogue case by hand: ρ_0.9(1 − 0) = 0.9, ρ_0.9(0 − 1) = 0.1",
            atol=1e-12,
        ),
        ReferenceCase(
            "sort_fixes_crossing",
            {"q": [[0.6, 0.4, 0.8]], "y": [0.5], "taus": [0.1, 0.5, 0.9]},
            {
                "sorted": np.array([[0.4, 0.6, 0.8]]),
                "pava": np.array([[0.5, 0.5, 0.8]]),
                "loss_before": np.array((0.09 + 0.05 + 0.03) / 3),
                "loss_after": np.array((0.01 + 0.05 + 0.03) / 3),
            },
            srt,
            note="by hand: before u = y − q = (−.1, .1, −.3): ρ_.1 = .09, ρ_.5 = .05, ρ_.9 = .03; sorted "
            "(.4, .6, .8): u = (.1, −.1, −.3): .01, .05, .03; PAVA pools (.6, .4) to .5",
            atol=1e-12,
        ),
        ReferenceCase(
            "aggregate_equal_logits",
            {"Q": [[[1.0, 2.0], [3.0, 6.0]]], "logits": [0.0, 0.0]},
            {"q": np.array([[2.0, 4.0]])},
            agg,
            note="by hand: zero logits = equal weights 1/2",
            atol=1e-12,
        ),
    ]
