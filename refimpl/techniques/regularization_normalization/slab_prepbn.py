r"""SLAB: progressive re-parameterized BatchNorm (PRepBN) and simplified linear attention (SLA).

Paper: *SLAB: Efficient Transformers with Simplified Linear Attention and Progressive Re-parameterized
Batch Normalization* — Jialong Guo, Xinghao Chen, Yehui Tang, Yunhe Wang, ICML 2024.
arXiv: 2405.11582
Official code: github.com/xinghaochen/SLAB (`classification/models/prepbn.py`: `RepBN`, `LinearNorm`;
`classification/models/slab_deit.py`: the simplified linear `Attention`).

The idea
--------
LayerNorm in transformers computes statistics at inference time; BatchNorm does not (its statistics
are frozen and it folds into the adjacent linear layer), but swapping LN for BN makes transformer
training unstable.  SLAB (1) re-parameterizes BN with a learnable skip, and (2) moves from LN to it
progressively:

$$ \mathrm{RepBN}(x) = \mathrm{BN}(x) + \alpha\,x, \qquad \alpha \text{ learnable, initialised to } 1 $$
$$ \mathrm{PRepBN}(x) = \lambda\,\mathrm{LN}(x) + (1-\lambda)\,\mathrm{RepBN}(x), \qquad
   \lambda = r_0\,\frac{T_{total} - t}{T_{total}} \ \ (\to 0) $$

after an optional LN-only warm-up; at inference only RepBN is used.  In eval mode RepBN is a
per-channel affine map, $\mathrm{RepBN}(x) = a \odot x + c$ with
$a = \gamma/\sqrt{\sigma^2+\epsilon} + \alpha$, $c = \beta - \gamma\mu/\sqrt{\sigma^2+\epsilon}$, so it folds
into the next linear layer: $W(a\odot x + c) + b = (W\,\mathrm{diag}(a))\,x + (W c + b)$.

The simplified linear attention replaces softmax by a ReLU kernel and adds a depthwise conv on V:

$$ \mathrm{SLA}(Q, K, V) = \frac{\mathrm{ReLU}(Q)\,\big(\mathrm{ReLU}(K)^\top V\big)}
   {\mathrm{ReLU}(Q)\,\sum_j \mathrm{ReLU}(K)_j + 10^{-6}} + \mathrm{DWC}(V) $$

(a learnable positional encoding is added to K before the ReLU, as in the official code), so its cost
is linear in the number of tokens.

What is simplified
------------------
A DeiT-like transformer on 8×8 digits cut into 16 patches of 2×2 (embedding 32, 2 heads, 2 blocks,
DWC 3×3 on the 4×4 token grid instead of 5×5 on 14×14), AdamW with gradient clipping, a short run.
The LN→RepBN ramp takes the first half of training with no warm-up (official defaults: warm = 0,
r₀ = 1, ramp 60 000 of the run's iterations).  The λ counter counts training forward calls, as in
`LinearNorm`.

Verified: official-code — RepBN (BN over tokens per channel + α·x, α = 1), LinearNorm's warm-up /
linear decay / eval-uses-RepBN logic, and the attention (ReLU kernel, K + positional encoding,
z = 1/(q·Σk + 1e-6), DWC on V shared by the heads) read in xinghaochen/SLAB; folding RepBN into the
next Linear derived here and checked to 1e-10 in float64 (family contract).

Notebook: notebooks/regularization-normalization/slab-prepbn.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module, Parameter
from ._base import fold_affine_into_next_linear, one_blas_thread

CATALOG_ENTRY = {
    "slug": "slab-prepbn",
    "title": "SLAB: Efficient Transformers with Simplified Linear Attention and Progressive Re-parameterized "
    "Batch Normalization",
    "authors": "Jialong Guo, Xinghao Chen, Yehui Tang, Yunhe Wang",
    "year": 2024,
    "arxiv": "2405.11582",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/slab-prepbn.ipynb",
    "verified": "official-code",
    "verification_note": (
        "RepBN, LinearNorm (PRepBN schedule) and the simplified linear attention read in xinghaochen/SLAB "
        "(classification/models/prepbn.py, slab_deit.py); the fold of eval-mode RepBN into the next Linear "
        "is derived here and checked to 1e-10 in float64."
    ),
    "summary": (
        "Replace LayerNorm in transformers by RepBN(x) = BN(x) + αx, reached progressively from LN "
        "(λ·LN + (1−λ)·RepBN, λ decaying linearly to 0); at inference RepBN is an affine map folded into "
        "the next linear layer. Attention is a ReLU-kernel linear attention plus a depthwise conv on V."
    ),
    "equations": [
        "RepBN(x) = BN(x) + α x,  α init 1",
        "PRepBN(x) = λ LN(x) + (1 − λ) RepBN(x),  λ = r0 (T − t)/T after warm-up; eval: RepBN only",
        "eval RepBN(x) = a ⊙ x + c,  a = γ/√(σ²+ε) + α,  c = β − γ μ/√(σ²+ε)",
        "W (a ⊙ x + c) + b = (W diag a) x + (W c + b)",
        "SLA = ReLU(Q)(ReLU(K)ᵀV) / (ReLU(Q) Σ_j ReLU(K)_j + 1e-6) + DWC(V)",
    ],
}


# --- RepBN and its fold ------------------------------------------------------------------------------
def progressive_lambda(t: int, total: int, warm: int = 0, r0: float = 1.0):
    """λ at training call t (0-based) as in LinearNorm: None during warm-up (LN only), then
    r0·(total − s)/total for the s-th post-warm-up call (s = t − warm), clamped at 0."""
    if total < 1 or warm < 0:
        raise ValueError(
            f"progressive_lambda: `total` must be ≥ 1 and `warm` ≥ 0, got total={total}, warm={warm}"
        )
    if t < warm:
        return None
    s = t - warm
    return r0 * max(total - s, 0) / total


def repbn_affine(bn, alpha):
    """(a, c) with eval-mode RepBN(x) = a ⊙ x + c."""
    rstd = 1.0 / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    g = bn.weight.data if bn.weight is not None else 1.0
    b = bn.bias.data if bn.bias is not None else 0.0
    a = g * rstd + float(np.asarray(alpha.data if hasattr(alpha, "data") else alpha).reshape(-1)[0])
    c = b - g * bn.running_mean * rstd
    return a, c


class RepBN(Module):
    """BN over the tokens of each channel plus α·x, for x of shape (B, N, C)."""

    def __init__(self, dim: int, dtype=np.float64):
        super().__init__()
        from ...nn.layers.norm import BatchNorm1d

        self.alpha = Parameter(np.ones(1, dtype=dtype))
        self.bn = BatchNorm1d(dim, dtype=dtype)

    def forward(self, x):
        xt = ops.transpose(x, 1, 2)  # (B, C, N): BN per channel over batch and tokens
        return ops.transpose(self.bn(xt), 1, 2) + self.alpha * x  # BN(x) + αx


class LinearNorm(Module):
    """PRepBN: LN during `warm` calls, then λ·LN + (1−λ)·RepBN with λ = r0·(total − s)/total; eval: RepBN."""

    def __init__(self, dim: int, total: int, warm: int = 0, r0: float = 1.0, dtype=np.float64):
        super().__init__()
        from ...nn.layers.norm import LayerNorm

        self.total, self.warm, self.r0 = int(total), int(warm), float(r0)
        self.norm1 = LayerNorm(dim, eps=1e-6, dtype=dtype)
        self.norm2 = RepBN(dim, dtype=dtype)
        self.register_buffer("calls", np.array(0, dtype=np.int64))

    def forward(self, x):
        if not self.training:
            return self.norm2(x)
        lam = progressive_lambda(int(self.calls), self.total, self.warm, self.r0)
        self.calls += 1
        if lam is None:
            return self.norm1(x)
        return lam * self.norm1(x) + (1.0 - lam) * self.norm2(x)  # λ LN + (1 − λ) RepBN


class TokenBN(Module):
    """Plain BatchNorm over tokens (the 'direct BN swap' baseline)."""

    def __init__(self, dim: int, dtype=np.float64):
        super().__init__()
        from ...nn.layers.norm import BatchNorm1d

        self.bn = BatchNorm1d(dim, dtype=dtype)

    def forward(self, x):
        return ops.transpose(self.bn(ops.transpose(x, 1, 2)), 1, 2)


# --- simplified linear attention ----------------------------------------------------------------------
def simplified_linear_attention(q, k, v, dwc_weight, dwc_bias, grid: int, eps: float = 1e-6):
    """q, k, v (B, H, N, d) with N = grid²; ReLU kernel + depthwise conv of V (weight (d, 1, k, k))."""
    q, k = ops.relu(q), ops.relu(k)
    kv = ops.matmul(ops.transpose(k, -1, -2), v)  # Kᵀ V: (B, H, d, d)
    ksum = ops.sum(k, axis=2, keepdims=True)  # Σ_j K_j: (B, H, 1, d)
    z = 1.0 / (ops.sum(q * ksum, axis=-1, keepdims=True) + eps)  # 1 / (q · Σ_j k_j + 1e-6)
    out = ops.matmul(q, kv) * z
    b, h, n, d = v.shape
    vg = ops.reshape(ops.transpose(ops.reshape(v, (b * h, n, d)), 1, 2), (b * h, d, grid, grid))
    conv = F.conv2d(vg, dwc_weight, dwc_bias, padding=dwc_weight.shape[-1] // 2, groups=d)  # DWC(V)
    conv = ops.reshape(ops.transpose(ops.reshape(conv, (b * h, d, n)), 1, 2), (b, h, n, d))
    return out + conv


class SLAttention(Module):
    def __init__(self, dim, heads, grid, kernel=3, dtype=np.float64, rng=None):
        super().__init__()
        from ...nn.layers.conv import Conv2d
        from ...nn.layers.linear import Linear

        self.dim, self.heads, self.grid = dim, heads, grid
        self.head_dim = dim // heads
        self.qkv = Linear(dim, 3 * dim, dtype=dtype, rng=rng)
        self.proj = Linear(dim, dim, dtype=dtype, rng=rng)
        self.dwc = Conv2d(
            self.head_dim,
            self.head_dim,
            kernel,
            padding=kernel // 2,
            groups=self.head_dim,
            dtype=dtype,
            rng=rng,
        )
        self.pos = Parameter(np.zeros((1, grid * grid, dim), dtype=dtype))

    def _heads(self, t):
        b, n, _ = t.shape
        return ops.transpose(ops.reshape(t, (b, n, self.heads, self.head_dim)), 1, 2)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x)
        q, k, v = qkv[:, :, :c], qkv[:, :, c : 2 * c], qkv[:, :, 2 * c :]
        k = k + self.pos  # positional encoding on K (official code)
        o = simplified_linear_attention(
            self._heads(q), self._heads(k), self._heads(v), self.dwc.weight, self.dwc.bias, self.grid
        )
        o = ops.reshape(ops.transpose(o, 1, 2), (b, n, c))
        return self.proj(o)


class Block(Module):
    def __init__(self, dim, heads, grid, norm, mlp_ratio=2, dtype=np.float64, rng=None):
        super().__init__()
        from ...nn.layers.linear import Linear

        self.norm1, self.norm2 = norm(), norm()
        self.attn = SLAttention(dim, heads, grid, dtype=dtype, rng=rng)
        self.fc1 = Linear(dim, mlp_ratio * dim, dtype=dtype, rng=rng)
        self.fc2 = Linear(mlp_ratio * dim, dim, dtype=dtype, rng=rng)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Identity(Module):
    def forward(self, x):
        return x


class TinyViT(Module):
    """8×8 digits → 16 patches of 2×2 → Linear embed → blocks → norm → mean over tokens → head.

    norm ∈ {"ln", "bn", "repbn", "prepbn"}; `total` is the PRepBN ramp length in training calls."""

    def __init__(
        self, norm="prepbn", dim=32, heads=2, depth=2, total=100, warm=0, dtype=np.float64, rng=None
    ):
        super().__init__()
        from ...nn.layers.linear import Linear
        from ...nn.layers.norm import LayerNorm

        rng = np.random.default_rng(rng)
        makers = {
            "ln": lambda: LayerNorm(dim, eps=1e-6, dtype=dtype),
            "bn": lambda: TokenBN(dim, dtype),
            "repbn": lambda: RepBN(dim, dtype),
            "prepbn": lambda: LinearNorm(dim, total, warm, dtype=dtype),
        }
        if norm not in makers:
            raise ValueError(f"TinyViT: `norm` must be one of {sorted(makers)}, got {norm!r}")
        self.norm_kind = norm
        self.embed = Linear(4, dim, dtype=dtype, rng=rng)
        self.pos = Parameter(rng.normal(0, 0.02, size=(1, 16, dim)).astype(dtype))
        self.blocks = [Block(dim, heads, 4, makers[norm], dtype=dtype, rng=rng) for _ in range(depth)]
        for i, b in enumerate(self.blocks):
            setattr(self, f"block{i}", b)
        self.norm = makers[norm]()
        self.head = Linear(dim, 10, dtype=dtype, rng=rng)

    @staticmethod
    def patches(x):
        """(B, 64) or (B, 1, 8, 8) digits → (B, 16, 4) patches of 2×2, row-major."""
        x = np.asarray(x).reshape(-1, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4)
        return x.reshape(len(x), 16, 4)

    def forward(self, x):
        t = x if isinstance(x, Tensor) and x.ndim == 3 else Tensor(self.patches(getattr(x, "data", x)))
        h = self.embed(t) + self.pos
        for b in self.blocks:
            h = b(h)
        h = self.norm(h)
        return self.head(ops.mean(h, axis=1))


def _norm_affine(norm):
    """(a, c) of an eval-mode norm that is affine per channel (RepBN or PRepBN in eval)."""
    if isinstance(norm, LinearNorm):
        norm = norm.norm2
    if not isinstance(norm, RepBN):
        raise TypeError(f"fold: only RepBN / PRepBN norms fold into a Linear, got {type(norm).__name__}")
    return repbn_affine(norm.bn, norm.alpha)


def _fold_into(linear, norm):
    a, c = _norm_affine(norm)
    w, b = fold_affine_into_next_linear(
        a, c, linear.weight.data, None if linear.bias is None else linear.bias.data
    )
    new = copy.deepcopy(linear)
    new.weight = Parameter(np.asarray(w, dtype=linear.weight.data.dtype))
    new.bias = Parameter(np.asarray(b, dtype=linear.weight.data.dtype))
    return new


def fold_model(model: TinyViT) -> TinyViT:
    """A copy of an eval-mode RepBN/PRepBN TinyViT with every norm folded into the next Linear (qkv, fc1,
    and — through the token mean, which is linear — the head); the norms become identities."""
    m = copy.deepcopy(model)
    m.eval()
    for b in m.blocks:
        b.attn.qkv = _fold_into(b.attn.qkv, b.norm1)
        b.fc1 = _fold_into(b.fc1, b.norm2)
        b.norm1, b.norm2 = Identity(), Identity()
    m.head = _fold_into(m.head, m.norm)
    m.norm = Identity()
    return m


# --- the toy experiment ---------------------------------------------------------------------------------
def train(model, x, y, epochs, lr, seed, batch_size=32, clip=1.0):
    """AdamW (weight decay 0.01) with gradient-norm clipping, as usual for vision transformers."""
    from ...data import batches
    from ...optim import AdamW, clip_grad_norm_

    params, losses = list(model.parameters()), []
    opt = AdamW(params, lr=lr, weight_decay=0.01)
    model.train()
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            for xb, yb in batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch, drop_last=True):
                opt.zero_grad()
                loss = F.cross_entropy(model(Tensor(TinyViT.patches(xb))), yb)
                losses.append(float(loss.data))
                if not np.isfinite(losses[-1]):
                    break
                loss.backward()
                clip_grad_norm_(params, clip)
                opt.step()
    model.eval()
    return np.array(losses)


def _acc(model, x, y):
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        logits = model(Tensor(TinyViT.patches(x))).data
    return float(np.mean(logits.argmax(1) == y)) if np.all(np.isfinite(logits)) else 0.0


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """LN vs direct BN swap vs RepBN vs PRepBN in a tiny SLA transformer on digit patches; fold PRepBN."""
    from ...data import load_digits

    split = load_digits(seed=seed, dtype=np.float64)
    n = 384 if quick else len(split.x_train)
    x, y = split.x_train[:n], split.y_train[:n]
    epochs, bs = (3, 32) if quick else (5, 32)
    depth = 1 if quick else 2  # quick: one block keeps the run within seconds
    steps = epochs * (n // bs)
    lr = 3e-3
    rows, curves = [], {}
    models = {}
    for kind in ("ln", "bn", "repbn", "prepbn"):
        m = TinyViT(kind, depth=depth, total=max(1, steps // 2), rng=seed)
        losses = train(m, x, y, epochs, lr, seed, bs)
        curves[kind] = losses
        models[kind] = m
        finite = bool(np.all(np.isfinite(losses)))
        rows.append(
            {
                "norm": kind,
                "test_acc": _acc(m, split.x_test, split.y_test),
                "final_train_loss": float(np.mean(losses[-5:])) if finite else float("inf"),
                "loss_std_last_quarter": float(np.std(losses[-max(1, len(losses) // 4) :]))
                if finite
                else float("inf"),
            }
        )
    folded = fold_model(models["prepbn"])
    with no_grad():
        xt = Tensor(TinyViT.patches(split.x_test))
        diff = float(np.max(np.abs(models["prepbn"](xt).data - folded(xt).data)))
    acc = {r["norm"]: r["test_acc"] for r in rows}
    for r in rows:
        if not np.isfinite(r["final_train_loss"]):
            r["final_train_loss"], r["loss_std_last_quarter"] = -1.0, -1.0  # marks divergence in the table
    metrics = {f"test_acc_{k}": v for k, v in acc.items()}
    metrics["max_abs_logit_diff_folded"] = diff
    metrics["prepbn_minus_ln"] = acc["prepbn"] - acc["ln"]
    metrics["prepbn_minus_bn"] = acc["prepbn"] - acc["bn"]
    fold_exact = diff < 1e-9
    close_to_ln = acc["prepbn"] >= acc["ln"] - 0.03
    beats_bn = acc["prepbn"] > acc["bn"]
    return {
        "metrics": metrics,
        "table": rows,
        "curves": curves,
        "checks": {
            "fold_exact": fold_exact,
            "prepbn_close_to_ln": close_to_ln,
            "prepbn_beats_bn_swap": beats_bn,
        },
        "claim": {
            "statement": "PRepBN trains as well as LayerNorm (within 3 points) and better than a direct BN swap, "
            "and at inference folds into the next linear layers exactly (no norm left).",
            "holds": bool(fold_exact and close_to_ln and beats_bn),
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, c in result["curves"].items():
        c = np.asarray(c)
        w = max(1, len(c) // 20)
        smooth = np.convolve(c, np.ones(w) / w, mode="valid") if len(c) >= w else c
        axes[0].plot(smooth, label=k)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("training loss (smoothed)")
    axes[0].legend()
    t = np.arange(0, 120)
    axes[1].plot(
        t,
        [
            progressive_lambda(i, 80, warm=20) if progressive_lambda(i, 80, warm=20) is not None else 1.0
            for i in t
        ],
    )
    axes[1].set_title("λ: LN-only warm-up (20), then linear decay over 80 calls")
    axes[1].set_xlabel("training call")
    fig.tight_layout()
    return {"slab-prepbn": fig}


# --- family contract and reference cases ----------------------------------------------------------------
def _randomised_eval_model(seed):
    rng = np.random.default_rng(seed)
    m = TinyViT("prepbn", dim=8, heads=2, depth=1, total=10, rng=seed)
    for mod in m.modules():
        if isinstance(mod, RepBN):
            c = mod.bn.num_features
            mod.alpha.data[...] = rng.uniform(0.5, 1.5)
            mod.bn.weight.data[...] = rng.uniform(0.5, 2, c)
            mod.bn.bias.data[...] = rng.normal(size=c)
            mod.bn.running_mean[...] = rng.normal(size=c)
            mod.bn.running_var[...] = rng.uniform(0.3, 3, c)
    m.eval()
    return m


def contract_examples(seed: int = 0) -> list:
    m = _randomised_eval_model(seed)
    x = TinyViT.patches(np.random.default_rng(seed + 1).uniform(0, 1, size=(3, 64)))
    return [
        {
            "kind": "reparam",
            "name": "PRepBN transformer eval vs folded",
            "train": m,
            "deploy": fold_model(m),
            "x": x,
        }
    ]


def reference_cases() -> list:
    from ...nn.layers.norm import BatchNorm1d

    def fold(gamma, beta, mean, var, eps, alpha, x):
        bn = BatchNorm1d(1, eps=eps, dtype=np.float64)
        bn.weight.data[...], bn.bias.data[...] = gamma, beta
        bn.running_mean[...], bn.running_var[...] = mean, var
        a, c = repbn_affine(bn, alpha)
        rep = RepBN(1)
        rep.bn, rep.alpha.data[...] = bn, alpha
        rep.eval()
        with no_grad():
            y = rep(Tensor(np.full((1, 1, 1), x))).data.ravel()
        return {"a": np.asarray(a), "c": np.asarray(c), "y": y}

    def lam(ts, total, warm, r0):
        return {
            "lam": np.array(
                [-1.0 if (v := progressive_lambda(t, total, warm, r0)) is None else v for t in ts]
            )
        }

    return [
        ReferenceCase(
            "repbn_fold_catalogue",
            {"gamma": 2.0, "beta": 0.0, "mean": 1.0, "var": 3.0, "eps": 1.0, "alpha": 1.0, "x": 3.0},
            {"a": np.array([2.0]), "c": np.array([-1.0]), "y": np.array([5.0])},
            fold,
            note="by hand: a = 2/√(3+1) + 1 = 2, c = 0 − 2·1/2 = −1; RepBN(3) = 2·(3−1)/2 + 0 + 1·3 = 5 = 2·3 − 1",
            atol=1e-12,
        ),
        ReferenceCase(
            "lambda_schedule",
            {"ts": [0, 1, 2, 3, 7, 10], "total": 4, "warm": 2, "r0": 1.0},
            {"lam": np.array([-1.0, -1.0, 1.0, 0.75, 0.0, 0.0])},
            lam,
            note="by hand: warm-up calls 0,1 use LN only (marked −1); then λ = (4 − s)/4 for s = t − 2: 1, 0.75, "
            "…, 0 from s = 4 on",
            atol=1e-12,
        ),
    ]
