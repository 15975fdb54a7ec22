r"""Experts Weights Averaging (EWA): train with averaged MoE feed-forward layers, deploy a dense model.

Paper: *Experts Weights Averaging: A New General Training Scheme for Vision Transformers* — Yongqi Huang,
Peng Ye, Xiaoshui Huang, Sheng Li, Tao Chen, Tong He, Wanli Ouyang, 2023.
arXiv: 2308.06093
Official code: none found.

The idea
--------
A training-time re-parameterisation for transformers.  Some feed-forward networks (FFNs) are replaced
during training by mixture-of-experts layers with n experts E_1, …, E_n (copies of the FFN) and **no
router**: the tokens of a batch are split among the experts by a *random uniform partition* (each expert
receives an equal, random share).  At the end of **every iteration**, after the optimizer step, each
expert's weights are pulled towards the others (Experts Weights Averaging, share rate β):

$$ E_i \leftarrow \beta\, E_i + (1-\beta)\,\frac1n\sum_{j=1}^n E_j \qquad (i = 1, …, n). $$

The mean of the experts is unchanged by this step and every expert's deviation from it shrinks by β —
the paper's analysis reads it as a weight-decay-like pull together with an aggregation of the experts'
histories.  After training each MoE is converted back into one FFN by averaging its experts,

$$ \mathrm{FFN} = \frac1n \sum_{i=1}^n E_i , $$

so the deployed model is the original dense architecture (inference cost unchanged).

Toy experiment (`demo`)
-----------------------
A small token model on the 8×8 digits: the 8 rows are tokens (8 pixels each) embedded to width 32 with a
learned position embedding, two pre-LayerNorm residual FFN blocks (32→64→32, GELU), then the flattened
tokens → 10 classes.  The second FFN is trained (a) dense, (b) as a 4-expert random-partition MoE
without EWA and then averaged, (c) as a 4-expert MoE with EWA (β = 0.9) and then averaged.  Test accuracy of
the dense deployed model, and the spread of the experts during training.

Result at toy scale: EWA keeps the experts ~50× closer together, but the deployed accuracies of dense
training (0.965 ± 0.004), MoE without EWA (0.968 ± 0.008) and EWA (0.967 ± 0.008) are within noise (quick,
5 seeds; the claim flag, EWA ≥ dense, is true in 4 of 5 by a few test samples).

What is simplified / deviations
-------------------------------
ViT-S/B on CIFAR/ImageNet becomes a two-block token MLP on 8×8 digits (no attention: the token mixing is
the final flatten + linear layer).  The paper's exact form of the averaging step could not be read; we use
the form above (mean over *all* experts, as in the catalogue); `exclude_self=True` gives the other
plausible reading E_i ← βE_i + (1 − β)·mean_{j≠i} E_j, which shrinks deviations by (nβ − 1)/(n − 1)
instead of β.  Both keep the experts' mean fixed.

Verified: reconstructed — from the abstract and the secondary descriptions we could read (random uniform
partition, averaging after each iteration, experts averaged into one FFN at the end); the update's exact
normalisation is our assumption (see above).  Tests check the update against a loop, that the mean is
invariant, that β = 1 is plain MoE, and that the converted dense model equals the MoE in eval mode.

Notebook: notebooks/merging-averaging/experts-weights-averaging.ipynb
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "experts-weights-averaging",
    "title": "Experts Weights Averaging: A New General Training Scheme for Vision Transformers",
    "authors": "Yongqi Huang, Peng Ye, Xiaoshui Huang, Sheng Li, Tao Chen, Tong He, Wanli Ouyang",
    "year": 2023,
    "arxiv": "2308.06093",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/experts-weights-averaging.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "From the abstract and secondary summaries: random uniform token partition, expert averaging after "
        "every iteration, experts averaged into one FFN at the end. The exact update E_i ← βE_i + "
        "(1−β)·mean_j E_j (mean over all experts) is our assumption; exclude_self=True gives the mean over "
        "the other experts. No official code found."
    ),
    "summary": (
        "Train a transformer with some FFNs replaced by router-free mixture-of-experts layers (tokens split "
        "uniformly at random), pull the experts towards their mean after every step, and average them into a "
        "single FFN for deployment: a training-only re-parameterisation at no inference cost."
    ),
    "equations": [
        "E_i ← β E_i + (1 − β) (1/n) Σ_j E_j  after each iteration",
        "FFN_deploy = (1/n) Σ_i E_i",
        "tokens → experts by a random uniform partition (equal random shares, no router)",
    ],
}

__all__ = [
    "ewa_update",
    "average_experts",
    "random_uniform_partition",
    "FFN",
    "RUPMoE",
    "TokenModel",
    "demo",
    "plot",
    "reference_cases",
]


def ewa_update(experts, beta: float, exclude_self: bool = False) -> list:
    """One EWA step on a list of equally shaped arrays (one per expert)."""
    experts = [np.asarray(e) for e in experts]
    n = len(experts)
    if n == 0:
        raise ValueError("ewa_update: `experts` must hold at least one array")
    if any(e.shape != experts[0].shape for e in experts):
        raise ValueError(f"ewa_update: `experts` must share one shape, got {[e.shape for e in experts]}")
    if not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"ewa_update: `beta` must be in [0, 1], got {beta}")
    total = np.sum(experts, axis=0)
    if exclude_self:
        if n == 1:
            return [e.copy() for e in experts]
        return [(beta * e + (1 - beta) * (total - e) / (n - 1)).astype(e.dtype) for e in experts]
    mean = total / n
    return [(beta * e + (1 - beta) * mean).astype(e.dtype) for e in experts]  # E_i ← βE_i + (1−β)·mean


def average_experts(experts) -> np.ndarray:
    """(1/n) Σ_i E_i — the deployed FFN's weight."""
    experts = [np.asarray(e) for e in experts]
    if not experts:
        raise ValueError("average_experts: `experts` must hold at least one array")
    return (np.sum(experts, axis=0) / len(experts)).astype(experts[0].dtype)


def random_uniform_partition(n_tokens: int, n_experts: int, rng) -> list:
    """A random permutation of the token indices cut into n_experts shares whose sizes differ by ≤ 1."""
    if n_experts < 1:
        raise ValueError(f"random_uniform_partition: `n_experts` must be ≥ 1, got {n_experts}")
    perm = rng.permutation(int(n_tokens))
    return np.array_split(perm, int(n_experts))


class FFN(Module):
    """Linear(d → h) → GELU → Linear(h → d)."""

    def __init__(self, d: int, h: int, rng=None, dtype=np.float32):
        super().__init__()
        from ... import nn

        self.fc1 = nn.Linear(d, h, dtype=dtype, rng=rng)
        self.fc2 = nn.Linear(h, d, dtype=dtype, rng=rng)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class RUPMoE(Module):
    """Random-uniform-partition MoE of `n_experts` FFNs.  Training: each token goes to one expert, the
    tokens split uniformly at random; eval: the averaged FFN (the deployed form)."""

    def __init__(self, d: int, h: int, n_experts: int = 4, rng=None, dtype=np.float32, seed: int = 0):
        super().__init__()
        from ... import nn

        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        first = FFN(d, h, rng=rng, dtype=dtype)
        experts = [first]
        for _ in range(n_experts - 1):  # the experts start as copies of one FFN (as when an FFN is replaced)
            e = FFN(d, h, rng=rng, dtype=dtype)
            e.load_state_dict(first.state_dict())
            experts.append(e)
        self.experts = nn.ModuleList(experts)
        self.n_experts = n_experts
        self._rng = np.random.default_rng([seed, 17])

    def expert_params(self) -> dict:
        """name → list of the experts' Parameters (fc1.weight, fc1.bias, fc2.weight, fc2.bias)."""
        names = [n for n, _ in self.experts[0].named_parameters()]
        return {n: [dict(e.named_parameters())[n] for e in self.experts] for n in names}

    def ewa_(self, beta: float, exclude_self: bool = False) -> None:
        """In-place EWA step on every expert parameter."""
        for _, ps in self.expert_params().items():
            for p, v in zip(ps, ewa_update([p.data for p in ps], beta, exclude_self)):
                p.data[...] = v

    def dense_state(self) -> dict:
        """The averaged FFN's state dict (fc1.weight, …)."""
        return {n: average_experts([p.data for p in ps]) for n, ps in self.expert_params().items()}

    def expert_spread(self) -> float:
        """Σ over parameters of mean_i ‖E_i − mean‖² (how far the experts are apart)."""
        total = 0.0
        for _, ps in self.expert_params().items():
            arr = np.stack([p.data.astype(np.float64) for p in ps])
            total += float(np.mean(np.sum((arr - arr.mean(0)) ** 2, axis=tuple(range(1, arr.ndim)))))
        return total

    def forward(self, x):
        shape = x.shape
        d = shape[-1]
        flat = ops.reshape(x, (-1, d))
        if not self.training:
            from ...nn import functional_call

            dense = self.__dict__.get("_dense_shell")
            if (
                dense is None
            ):  # a parameter-less stand-in (not a submodule: the state dict keeps only the experts)
                dense = FFN(d, self.experts[0].fc1.weight.shape[0], rng=np.random.default_rng(0))
                object.__setattr__(self, "_dense_shell", dense)
            return ops.reshape(
                functional_call(dense, {k: Tensor(v) for k, v in self.dense_state().items()}, flat), shape
            )
        parts = random_uniform_partition(flat.shape[0], self.n_experts, self._rng)
        outs = [self.experts[i](flat[idx]) for i, idx in enumerate(parts)]
        order = np.concatenate(parts)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        out = ops.concatenate(outs, axis=0)[inverse]  # back to the original token order
        return ops.reshape(out, shape)


class TokenModel(Module):
    """8×8 digits as 8 row tokens: embed + position, two pre-LN residual FFN blocks (the second optionally a
    RUPMoE), flatten → classes."""

    def __init__(
        self, d: int = 32, h: int = 64, n_experts: int = 1, rng=None, dtype=np.float32, seed: int = 0
    ):
        super().__init__()
        from ... import nn

        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self.embed = nn.Linear(8, d, dtype=dtype, rng=rng)
        self.pos = Parameter((0.02 * rng.standard_normal((8, d))).astype(dtype))
        self.ln1 = nn.LayerNorm(d, dtype=dtype)
        self.ffn1 = FFN(d, h, rng=rng, dtype=dtype)
        self.ln2 = nn.LayerNorm(d, dtype=dtype)
        self.ffn2 = (
            FFN(d, h, rng=rng, dtype=dtype)
            if n_experts == 1
            else RUPMoE(d, h, n_experts, rng=rng, dtype=dtype, seed=seed)
        )
        self.head = nn.Linear(8 * d, 10, dtype=dtype, rng=rng)

    def forward(self, x):
        t = ops.reshape(x, (-1, 8, 8))
        h = self.embed(t) + self.pos
        h = h + self.ffn1(self.ln1(h))
        h = h + self.ffn2(self.ln2(h))
        return self.head(ops.reshape(h, (h.shape[0], -1)))


def _train(split, n_experts, beta, epochs, seed, exclude_self=False):
    from ... import optim
    from ...data import batches
    from ...train import evaluate, train_step

    model = TokenModel(n_experts=n_experts, rng=np.random.default_rng(seed), seed=seed)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    spread = []
    model.train()
    for ep in range(epochs):
        for xb, yb in batches(split.x_train, split.y_train, batch_size=64, seed=seed, epoch=ep):
            train_step(model, F.cross_entropy, xb, yb, opt)
            if n_experts > 1 and beta < 1.0:
                model.ffn2.ewa_(beta, exclude_self)  # EWA at the end of every iteration
        if n_experts > 1:
            spread.append(model.ffn2.expert_spread())
    acc = evaluate(model, split.x_test, split.y_test)["accuracy"]  # eval mode: experts averaged
    return acc, spread


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Dense FFN vs router-free MoE (averaged at the end) without / with EWA, deployed as a dense model."""
    from ...data import load_digits

    split = load_digits(seed=seed)
    epochs, n_runs = (6, 1) if quick else (20, 2)
    runs = [
        ("dense FFN", 1, 1.0),
        ("MoE ×4, no EWA (β=1), averaged", 4, 1.0),
        ("MoE ×4 + EWA (β=0.9), averaged", 4, 0.9),
    ]
    rows, spreads = [], {}
    for name, n, beta in runs:
        accs = []
        for s in range(n_runs):
            acc, spread = _train(split, n, beta, epochs, seed=100 * seed + s)
            accs.append(acc)
            if s == 0 and n > 1:
                spreads[name] = spread
        rows.append(
            {
                "training": name,
                "test_acc (deployed dense)": float(np.mean(accs)),
                "runs": len(accs),
                "min": float(np.min(accs)),
                "max": float(np.max(accs)),
            }
        )
    dense, naive, ewa = (r["test_acc (deployed dense)"] for r in rows)
    metrics = {
        "dense_acc": dense,
        "moe_no_ewa_averaged_acc": naive,
        "ewa_acc": ewa,
        "final_spread_no_ewa": float(spreads[runs[1][0]][-1]),
        "final_spread_ewa": float(spreads[runs[2][0]][-1]),
    }
    holds = bool(ewa >= dense)
    return {
        "metrics": metrics,
        "table": rows,
        "spreads": spreads,
        "claim": {
            "statement": "Training with EWA-averaged random-partition MoE layers and deploying the averaged "
            "dense model is at least as accurate as training the dense model directly.",
            "holds": holds,
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, s in result["spreads"].items():
        ax1.plot(np.arange(1, len(s) + 1), s, marker="o", label=name)
    ax1.set_yscale("log")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("mean ‖E_i − Ē‖²")
    ax1.legend(fontsize=8)
    rows = result["table"]
    ax2.barh([r["training"] for r in rows], [r["test_acc (deployed dense)"] for r in rows])
    ax2.set_xlim(min(r["min"] for r in rows) - 0.05, 1.0)
    ax2.invert_yaxis()
    ax2.set_xlabel("test accuracy of the deployed dense model")
    fig.tight_layout()
    return {"experts-weights-averaging": fig}


def reference_cases() -> list:
    def step(experts, beta, exclude_self):
        out = ewa_update([np.asarray(e, dtype=np.float64) for e in experts], beta, exclude_self)
        return {"experts": np.stack(out), "deployed": average_experts(out)}

    return [
        ReferenceCase(
            "ewa_mean_over_all",
            {"experts": [[0.0], [2.0], [4.0]], "beta": 0.5, "exclude_self": False},
            {"experts": np.array([[1.0], [2.0], [3.0]]), "deployed": np.array([2.0])},
            step,
            note="by hand: mean 2; 0.5·E_i + 0.5·2 = 1, 2, 3; the mean stays 2",
            atol=1e-12,
        ),
        ReferenceCase(
            "ewa_mean_over_others",
            {"experts": [[0.0], [2.0], [4.0]], "beta": 0.5, "exclude_self": True},
            {"experts": np.array([[1.5], [2.0], [2.5]]), "deployed": np.array([2.0])},
            step,
            note="by hand: 0.5·0 + 0.5·(2+4)/2 = 1.5; 0.5·2 + 0.5·(0+4)/2 = 2; 0.5·4 + 0.5·(0+2)/2 = 2.5",
            atol=1e-12,
        ),
    ]
