"""The experiment: ARM-Net against an MLP of similar size, a fixed second-order cross-feature network, and ARM-Net
with a dense softmax instead of the sparse attention, on a tabular regression with known interactions.

Toy: `tabular.interaction_regression(n=1500, d=16)` — 900 train / 300 validation / 300 test rows,
y = 0.5·xᵀw + two pair products + one triple product + N(0, 0.1²); the interacting fields are known.
Metric: normalised test MSE (MSE / Var(y_test)).  Budget: full-batch Adam, S = 150 steps (6 in the quick run);
5 seeds.

Methods (each tuned on validation NMSE over its own 7-point learning-rate grid; the first
record used 5 points, 1e-3 … 1e-1, and arm-net chose its lowest end, so every grid was widened to 1e-4 and the
record repeated with 5 seeds instead of 3):

* **arm-net** — `ARMNet` (n_e = 4, o = 8 exponential neurons, sparsemax gate, MLP head of width 32);
* **arm-softmax** — the same with a dense softmax gate (the ablation lacking only the sparse attention);
* **pairwise** — the same field embeddings, all m(m−1)/2 inner products ⟨e_i, e_j⟩ plus the embeddings into a
  GELU MLP head of width 12 (a fixed-order, second-order cross-feature network in the style of PNN/FM: the
  ablation lacking adaptive arbitrary order);
* **mlp** — 16 → 32 → 32 → 1 GELU MLP (the implicit-interaction baseline).
Parameter counts are reported (`n_params`).

Premise: higher-order structure carries signal — the triple product's share of Var(y) on the test split is
above 0.1 (a property of the toy, measured on every row).
Claims, margins fixed from the paper's claim (ARM-Net beats implicit (MLP) and fixed-order cross-feature models,
and sparse attention beats dense) before running: arm-net's test NMSE is lower than (1) the MLP's, (2) the
pairwise network's, (3) arm-softmax's (margin 0); (4) the sparse gate puts more of its interaction weight on the
truly interacting fields than the dense one (`interaction_mass`: share of Σ_j |w_ij| on fields in a pair or the
triple, averaged over test rows and neurons; chance is their count / m).
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor
from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....nn import functional as F
from ....optim import Adam
from .. import tabular
from . import ARMNet

SLUG = "arm-net"
N, D = 1500, 16
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
METHODS = ("arm-net", "arm-softmax", "pairwise", "mlp")


def _task(seed):
    return tabular.interaction_regression(N, D, seed)


class PairwiseNet(nn.Module):
    """Fixed second-order cross features: e_j = x_j v_j + b_j, all ⟨e_i, e_j⟩ (i < j) and e → GELU MLP → 1."""

    def __init__(self, m, n_e=4, hidden=12, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.m = m
        iu = np.triu_indices(m, 1)
        self.select = Tensor(np.eye(m * m, dtype=dtype)[:, iu[0] * m + iu[1]])  # constant 0/1 selection
        f = len(iu[0]) + m * n_e
        self.emb_v = nn.Parameter(g.standard_normal((m, n_e)).astype(dtype))
        self.emb_b = nn.Parameter((1.0 + 0.1 * g.standard_normal((m, n_e))).astype(dtype))
        self.W1 = nn.Parameter((g.standard_normal((f, hidden)) / np.sqrt(f)).astype(dtype))
        self.b1 = nn.Parameter(np.zeros(hidden, dtype))
        self.W2 = nn.Parameter((g.standard_normal((hidden, 1)) / np.sqrt(hidden)).astype(dtype))
        self.b2 = nn.Parameter(np.zeros(1, dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        B = x.shape[0]
        e = x.reshape(B, self.m, 1) * self.emb_v + self.emb_b
        G = (e @ e.transpose(1, 2)).reshape(B, self.m * self.m)  # (B, m²) inner products
        cross = G @ self.select  # the m(m−1)/2 entries above the diagonal
        feats = ops.concatenate([cross, e.reshape(B, -1)], axis=1)
        h = ops.gelu(feats @ self.W1 + self.b1)
        return (h @ self.W2).reshape(B) + self.b2


class MLP(nn.Module):
    """d → H → H → 1 GELU MLP."""

    def __init__(self, d, H=32, rng=None, dtype=np.float32):
        super().__init__()
        g = np.random.default_rng(rng)
        self.W1 = nn.Parameter((g.standard_normal((d, H)) / np.sqrt(d)).astype(dtype))
        self.b1 = nn.Parameter(np.zeros(H, dtype))
        self.W2 = nn.Parameter((g.standard_normal((H, H)) / np.sqrt(H)).astype(dtype))
        self.b2 = nn.Parameter(np.zeros(H, dtype))
        self.W3 = nn.Parameter((g.standard_normal((H, 1)) / np.sqrt(H)).astype(dtype))
        self.b3 = nn.Parameter(np.zeros(1, dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        z = ops.gelu(x @ self.W1 + self.b1)
        z = ops.gelu(z @ self.W2 + self.b2)
        return (z @ self.W3).reshape(x.shape[0]) + self.b3


def _nmse(pred, y):
    return float(np.mean((pred - y) ** 2) / np.var(y))


def _predict(model, x):
    model.eval()
    out = model(Tensor(x)).data
    model.train()
    return out


def _fit(model, task, lr, steps, curve):
    opt = Adam(list(model.parameters()), lr=lr)
    x, y = Tensor(task.x_train), Tensor(task.y_train)
    for t in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if t % 10 == 9 or t == steps - 1:
            curve.append(_nmse(_predict(model, task.x_val), task.y_val))


def interacting_fields(task) -> np.ndarray:
    """Indices of the fields that appear in a declared pair or triple."""
    return np.array(sorted({i for t in (*task.pairs, *task.triples) for i in t}))


def interaction_mass(w: np.ndarray, fields) -> float:
    """Share of Σ_j |w_ij| that falls on `fields`, averaged over rows and neurons (w: (B, o, m))."""
    a = np.abs(w)
    return float(np.mean(a[..., fields].sum(-1) / np.maximum(a.sum(-1), 1e-12)))


def triple_share(task) -> float:
    """Var of the triple products / Var(y) on the test split (the premise: higher order matters)."""
    x = task.x_test.astype(np.float64)
    t = sum(x[:, i] * x[:, j] * x[:, k] for i, j, k in task.triples)
    return float(np.var(t) / np.var(task.y_test))


def _arm(kind, steps, curves, masses):
    def run(seed, lr):
        task = _task(seed)
        if kind == "mlp":
            model = MLP(D, 32, rng=[seed, 7])
        elif kind == "pairwise":
            model = PairwiseNet(D, rng=[seed, 7])
        else:
            att = "sparsemax" if kind == "arm-net" else "softmax"
            model = ARMNet(D, n_e=4, o=8, hidden=32, attention=att, rng=[seed, 7])
        curve: list = []
        _fit(model, task, lr, steps, curve)
        curves[(kind, lr, seed)] = np.array(curve)
        S = interacting_fields(task)
        out = {
            "val_nmse": _nmse(_predict(model, task.x_val), task.y_val),
            "test_nmse": _nmse(_predict(model, task.x_test), task.y_test),
            "n_params": float(sum(p.data.size for p in model.parameters())),
            "triple_share": triple_share(task),
            "chance_mass": len(S) / D,
        }
        if isinstance(model, ARMNet):
            w = model.weights(task.x_test).data
            out["interaction_mass"] = interaction_mass(w, S)
            out["zero_fraction"] = float(np.mean(w == 0))
            masses[(kind, lr, seed)] = np.abs(w).mean(axis=(0, 1))[np.argsort(np.isin(np.arange(D), S))[::-1]]
        return out

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    steps = 6 if quick else 150
    curves: dict = {}
    masses: dict = {}
    methods = [
        Method(k, _arm(k, steps, curves, masses), grid={"lr": LRS}, quick_grid={"lr": [1e-2]})
        for k in METHODS
    ]
    comparison = compare(methods, seeds, select="val_nmse", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "higher-order structure carries signal: the triple product's share of Var(y_test) exceeds 0.1",
        "triple_share",
        "arm-net",
        threshold=0.1,
    )
    claims = [
        Claim(
            f"ARM-Net's test NMSE is lower than {b}'s", "test_nmse", "arm-net", baseline=b, direction="less"
        )
        for b in ("mlp", "pairwise", "arm-softmax")
    ]
    claims.append(
        Claim(
            "the sparse gate puts more interaction weight on the truly interacting fields than the dense one",
            "interaction_mass",
            "arm-net",
            baseline="arm-softmax",
        )
    )
    sel = {m: comparison.selected[m]["lr"] for m in METHODS}
    arrays = {
        "curves": np.array([np.mean([curves[(m, sel[m], s)] for s in seeds], axis=0) for m in METHODS]),
        "field_weight": np.array(
            [np.mean([masses[(m, sel[m], s)] for s in seeds], axis=0) for m in ("arm-net", "arm-softmax")]
        ),
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"methods": list(METHODS), "steps": steps, "n": N, "d": D, "curve_every": 10},
        metrics=[
            "test_nmse",
            "val_nmse",
            "n_params",
            "interaction_mass",
            "chance_mass",
            "zero_fraction",
            "triple_share",
        ],
    )


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    names = result.notes["methods"]
    curves = np.asarray(result.arrays["curves"])
    fw = np.asarray(result.arrays["field_weight"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    for i, name in enumerate(names):
        ax.plot(np.arange(1, curves.shape[1] + 1) * result.notes["curve_every"], curves[i], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("full-batch Adam step")
    ax.set_ylabel("validation NMSE (mean over seeds)")
    ax.legend(fontsize=8)
    k = np.arange(fw.shape[1])
    bx.bar(k - 0.2, fw[0], 0.4, label="arm-net (sparsemax)")
    bx.bar(k + 0.2, fw[1], 0.4, label="arm-softmax")
    bx.set_xlabel("field rank (interacting fields first)")
    bx.set_ylabel("mean |w_ij| over test rows and neurons")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
