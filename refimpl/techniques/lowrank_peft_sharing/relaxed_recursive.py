r"""Relaxed Recursive Transformers: loop a few shared blocks initialised from a deeper pretrained model, and
relax the tying with depth-specific LoRA initialised from the SVD of what the sharing lost.

Paper: *Relaxed Recursive Transformers: Effective Parameter Sharing with Layer-wise LoRA* — Sangmin Bae, Adam
Fisch, Hrayr Harutyunyan, Ziwei Ji, Seungyeon Kim, Tal Schuster, ICLR 2025.
arXiv: 2410.20672
Official code: none found (third-party re-implementations exist, e.g. avramdj/rrt-lora).

The idea
--------
Take a pretrained model with $L$ blocks $f_{\theta_1},\ldots,f_{\theta_L}$.  A *recursive* model keeps only
$B$ unique blocks and loops them $L/B$ times; with the CYCLE order, depth $\ell$ (0-based) uses shared block
$\ell \bmod B$:

$$h_{\ell+1} = f\big(h_\ell;\ \Phi'_{\ell \bmod B}\big).$$

The shared weights are initialised from the deep model: **Average** of the tied layers,
$\Phi'_b = \frac{B}{L}\sum_{\ell\equiv b} \theta_\ell$; **Stepwise**, one of the tied layers taken at a
regular interval; **Lower**, the first $B$ layers.  A *relaxed* recursive model adds a depth-specific LoRA to
every weight matrix,

$$W_\ell = W'_{\ell \bmod B} + B_\ell A_\ell,$$

initialised by truncated SVD of the residual $R_\ell = W_\ell^{\text{orig}} - W'_{\ell\bmod B}$:
$U_r\Sigma_rV_r^\top = \mathrm{SVD}_r(R_\ell)$, $B_\ell = U_r\Sigma_r$, $A_\ell = V_r^\top$.  With full rank
the original model is recovered exactly; rank 0 is the strictly tied model.  Everything is then briefly
"uptrained".

What is simplified / deviations
-------------------------------
* A Gemma/TinyLlama transformer becomes a residual MLP on the 8×8 digits (bias-free blocks h ← h + W₂
  relu(W₁h)); L = 6 blocks converted to B = 2 shared blocks × 3 loops (and B = 1, one block looped 6 times);
  LoRA on both matrices of each block; embedding and head are kept as they are.  Uptraining: a few epochs of
  Adam on all parameters with the digits' cross-entropy (the paper uptrains on 15–60B tokens with distillation
  variants).
* "Stepwise" is read as taking, for each shared block, one of the layers it replaces at a fixed stride (here
  the one of the middle loop, see `init_shared`); "Lower" as the first B layers.  These two details could not
  be checked against the paper text (reconstructed).
* Continuous depth-wise batching / early exit (the paper's serving contribution) is not reproduced.

Verified: reconstructed — CYCLE tying, Average init and the SVD initialisation of the layer-wise LoRA
(B = U_rΣ_r, A = V_rᵀ from R_ℓ = W_ℓ − W'_{ℓ mod B}) match the paper's abstract/figures as summarised publicly
and the third-party implementation avramdj/rrt-lora; the Stepwise/Lower readings are ours.

Notebook: notebooks/lowrank-peft-sharing/relaxed-recursive.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module
from ...threads import blas_single_thread
from .adapters import LoRA

CATALOG_ENTRY = {
    "slug": "relaxed-recursive",
    "title": "Relaxed Recursive Transformers: Effective Parameter Sharing with Layer-wise LoRA",
    "authors": "Sangmin Bae, Adam Fisch, Hrayr Harutyunyan, Ziwei Ji, Seungyeon Kim, Tal Schuster",
    "year": 2025,
    "arxiv": "2410.20672",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/relaxed-recursive.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "CYCLE tying (depth ℓ uses shared block ℓ mod B), Average initialisation and the truncated-SVD "
        "initialisation of depth-specific LoRA (B_ℓ = U_rΣ_r, A_ℓ = V_rᵀ of W_ℓ − W'_{ℓ mod B}) taken "
        "from the "
        "paper's abstract/figures as publicly summarised and cross-read with avramdj/rrt-lora; no "
        "official code; "
        "the Stepwise and Lower initialisations are our reading."
    ),
    "summary": (
        "Convert a deep pretrained model into a recursive one that loops B shared blocks (initialised "
        "e.g. as "
        "the average of the layers they replace), and relax the tying with per-depth LoRA modules "
        "initialised "
        "from the truncated SVD of each layer's residual to its shared block; full rank recovers the "
        "original."
    ),
    "equations": [
        "h_{ℓ+1} = f(h_ℓ; Φ'_{ℓ mod B})   (CYCLE recursion, L/B loops)",
        "Φ'_b = (B/L) Σ_{ℓ ≡ b mod B} θ_ℓ   (Average initialisation)",
        "W_ℓ = W'_{ℓ mod B} + B_ℓ A_ℓ,   U_rΣ_rV_rᵀ = SVD_r(W_ℓ − W'_{ℓ mod B}),  B_ℓ = U_rΣ_r,  A_ℓ = V_rᵀ",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def tied_layers(L: int, B: int, b: int) -> list:
    """Depths that share block b under the CYCLE order: b, b + B, b + 2B, …"""
    if L % B:
        raise ValueError(f"tied_layers: L={L} must be a multiple of the number of shared blocks B={B}")
    return list(range(b, L, B))


def init_shared(weights, B: int, method: str = "average") -> list:
    """Shared matrices W'_b (b < B) from the deep model's per-depth matrices `weights` (list of L arrays).

    average:  mean of the tied layers;  stepwise: the tied layer of loop ⌊(L/B)/2⌋ (a layer from the middle of
    each stride);  lower: layer b (the first B layers)."""
    L = len(weights)
    if method not in ("average", "stepwise", "lower"):
        raise ValueError(f"init_shared: `method` must be 'average', 'stepwise' or 'lower', got {method!r}")
    out = []
    for b in range(B):
        tied = tied_layers(L, B, b)
        if method == "average":
            out.append(np.mean([weights[l] for l in tied], axis=0))  # Φ'_b = mean of tied layers
        elif method == "stepwise":
            out.append(np.array(weights[tied[len(tied) // 2]], copy=True))
        else:
            out.append(np.array(weights[b], copy=True))
    return out


def svd_lora_init(residual, r: int):
    """(B, A) with B = U_rΣ_r, A = V_rᵀ: the best rank-r approximation B A of the residual."""
    U, S, Vt = np.linalg.svd(np.asarray(residual, dtype=np.float64), full_matrices=False)
    r = min(r, len(S))
    return U[:, :r] * S[:r], Vt[:r]


class ResidualMLP(Module):
    """x → relu(E x) → L blocks h ← h + W2_ℓ relu(W1_ℓ h) → head  (bias-free blocks, like Gemma's
    matrices)."""

    def __init__(self, d_in=64, d=32, d_ff=64, n_blocks=6, n_out=10, seed=0, dtype=np.float32):
        super().__init__()
        from ...nn import Linear, ModuleList

        rng = np.random.default_rng(seed)
        self.embed = Linear(d_in, d, rng=rng, dtype=dtype)
        self.up = ModuleList([Linear(d, d_ff, bias=False, rng=rng, dtype=dtype) for _ in range(n_blocks)])
        self.down = ModuleList([Linear(d_ff, d, bias=False, rng=rng, dtype=dtype) for _ in range(n_blocks)])
        self.head = Linear(d, n_out, rng=rng, dtype=dtype)
        self.n_blocks = n_blocks

    def forward(self, x):
        h = F.relu(self.embed(x))
        for up, down in zip(self.up, self.down):
            h = h + down(F.relu(up(h)))
        return self.head(h)


class RelaxedRecursiveMLP(Module):
    """B shared blocks looped over L depths (CYCLE) with optional depth-specific LoRA on both matrices."""

    def __init__(self, deep: ResidualMLP, B: int, init: str = "average", rank: int = 0):
        super().__init__()
        from ...nn import Linear, ModuleList

        L = deep.n_blocks
        tied_layers(L, B, 0)  # validates L % B
        self.L, self.B, self.rank = L, B, rank
        self.embed = copy.deepcopy(deep.embed)
        self.head = copy.deepcopy(deep.head)
        dt = deep.embed.weight.dtype
        up_w = init_shared([m.weight.data for m in deep.up], B, init)
        dn_w = init_shared([m.weight.data for m in deep.down], B, init)
        self.up, self.down = ModuleList(), ModuleList()
        for b in range(B):
            u = Linear(*deep.up[0].weight.shape[::-1], bias=False, dtype=dt)
            u.weight.data[...] = up_w[b]
            d = Linear(*deep.down[0].weight.shape[::-1], bias=False, dtype=dt)
            d.weight.data[...] = dn_w[b]
            self.up.append(u)
            self.down.append(d)
        self.lora_up, self.lora_down = ModuleList(), ModuleList()
        if rank > 0:
            for l in range(L):
                for src, shared, dst in (
                    (deep.up[l], self.up[l % B], self.lora_up),
                    (deep.down[l], self.down[l % B], self.lora_down),
                ):
                    out_f, in_f = src.weight.shape
                    lora = LoRA(out_f, in_f, min(rank, out_f, in_f), alpha=min(rank, out_f, in_f), dtype=dt)
                    Bm, Am = svd_lora_init(
                        src.weight.data - shared.weight.data, rank
                    )  # R_ℓ = W_ℓ − W'_{ℓ mod B}
                    lora.B.data[...] = Bm
                    lora.A.data[...] = Am
                    dst.append(lora)

    def _weight(self, shared, loras, l):
        if not self.rank:
            return shared.weight
        return shared.weight + loras[l].delta(None)  # W_ℓ = W'_{ℓ mod B} + B_ℓ A_ℓ

    def forward(self, x):
        h = F.relu(self.embed(x))
        for l in range(self.L):
            b = l % self.B  # CYCLE
            u, d = self.up[b], self.down[b]
            z = F.relu(F.linear(h, self._weight(u, self.lora_up, l), u.bias))
            h = h + F.linear(z, self._weight(d, self.lora_down, l), d.bias)
        return self.head(h)


def n_params(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))


# --- the toy experiment ------------------------------------------------------------------------------------
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Train a 6-block residual MLP; convert to 2 shared blocks × 3 loops (Average / Stepwise / Lower) and
    1 block × 6 loops, with layer-wise SVD-LoRA of rank 0, 2, 8, 32 (full); test loss before and after brief
    uptraining, against a 2-block model trained from scratch."""
    with blas_single_thread():
        return _demo(seed, quick, progress)


def _demo(seed, quick, progress):
    from ...data import load_digits
    from ...nn import functional as Fn
    from ...optim import Adam
    from ...train import evaluate, fit, progress_bar

    split = load_digits(seed=seed)
    ep_pre, ep_up = (15, 3) if quick else (40, 8)
    data = (split.x_train, split.y_train)

    def train(model, epochs, lr, s):
        if epochs:
            fit(
                model,
                Fn.cross_entropy,
                data,
                Adam(model.parameters(), lr=lr),
                epochs=epochs,
                batch_size=32,
                seed=s,
                progress=False,
            )
        ev = evaluate(model, split.x_test, split.y_test, loss_fn=Fn.cross_entropy)
        return ev["loss"], ev["accuracy"]

    deep = ResidualMLP(seed=seed)
    deep_loss, deep_acc = train(deep, ep_pre, 2e-3, seed)
    small = ResidualMLP(n_blocks=2, seed=seed + 1)
    small_loss, small_acc = train(small, ep_pre + ep_up, 2e-3, seed)
    configs = [(2, "average", r) for r in (0, 2, 8, 32)] + [
        (2, "stepwise", 0),
        (2, "lower", 0),
        (2, "stepwise", 8),
        (1, "average", 0),
        (1, "average", 8),
    ]
    rows = [
        {
            "model": "original (6 blocks)",
            "params": n_params(deep),
            "loss_init": deep_loss,
            "acc_init": deep_acc,
            "loss_uptrained": deep_loss,
            "acc_uptrained": deep_acc,
        },
        {
            "model": "vanilla 2 blocks, from scratch",
            "params": n_params(small),
            "loss_init": small_loss,
            "acc_init": small_acc,
            "loss_uptrained": small_loss,
            "acc_uptrained": small_acc,
        },
    ]
    from ...train import predict

    ref = predict(deep, split.x_test)
    for B, init, r in progress_bar(configs, total=len(configs), desc="recursive", enabled=progress):
        model = RelaxedRecursiveMLP(deep, B, init, r)
        dist = float(
            np.mean((predict(model, split.x_test) - ref) ** 2)
        )  # how far from the original, in logits
        l0, a0 = train(model, 0, 0, seed)
        l1, a1 = train(model, ep_up, 1e-3, seed + 7)
        rows.append(
            {
                "model": f"B={B} ×{6 // B} loops, {init}, LoRA r={r}",
                "params": n_params(model),
                "logit_mse_to_original": dist,
                "loss_init": l0,
                "acc_init": a0,
                "loss_uptrained": l1,
                "acc_uptrained": a1,
            }
        )
    by = {row["model"]: row for row in rows}
    key = lambda B, init, r: by[f"B={B} ×{6 // B} loops, {init}, LoRA r={r}"]  # noqa: E731
    metrics = {
        "loss_original": deep_loss,
        "acc_original": deep_acc,
        "loss_small_scratch": small_loss,
        "acc_small_scratch": small_acc,
        "params_original": float(n_params(deep)),
    }
    for r in (0, 2, 8, 32):
        metrics[f"logit_mse_avg_r{r}"] = key(2, "average", r)["logit_mse_to_original"]
        metrics[f"loss_init_avg_r{r}"] = key(2, "average", r)["loss_init"]
        metrics[f"loss_up_avg_r{r}"] = key(2, "average", r)["loss_uptrained"]
        metrics[f"params_avg_r{r}"] = float(key(2, "average", r)["params"])
    for init in ("stepwise", "lower"):
        metrics[f"loss_init_{init}_r0"] = key(2, init, 0)["loss_init"]
        metrics[f"loss_up_{init}_r0"] = key(2, init, 0)["loss_uptrained"]
    metrics["loss_up_1block_r0"] = key(1, "average", 0)["loss_uptrained"]
    metrics["loss_up_1block_r8"] = key(1, "average", 8)["loss_uptrained"]
    dists = [metrics[f"logit_mse_avg_r{r}"] for r in (0, 2, 8, 32)]
    lost = metrics["loss_init_avg_r0"] - deep_loss
    metrics["share_recovered_r8"] = (metrics["loss_init_avg_r0"] - metrics["loss_init_avg_r8"]) / lost
    holds = bool(
        all(a >= b for a, b in zip(dists, dists[1:]))
        and dists[-1] < 1e-8
        and metrics["share_recovered_r8"] > 0.5
    )
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {
            "statement": "Right after conversion, a higher layer-wise LoRA rank brings the recursive model's "
            "outputs closer to the original's (full rank is exact), and Average + SVD-LoRA of rank 8 "
            "recovers most (> 50%) of the test loss that strict tying lost.",
            "holds": holds,
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in result["table"]:
        ax.scatter(row["params"], row["loss_uptrained"], s=40)
        ax.annotate(
            row["model"],
            (row["params"], row["loss_uptrained"]),
            fontsize=6.5,
            xytext=(3, 2),
            textcoords="offset points",
        )
    ax.set_xlabel("parameters")
    ax.set_ylabel("test cross-entropy after uptraining")
    ax.set_title("loss vs parameters: recursive and relaxed recursive models")
    fig.tight_layout()
    return {"relaxed-recursive": fig}


def reference_cases() -> list:
    def catalogue_case(W1, W2, r):
        shared = init_shared([W1, W2], 1, "average")[0]
        out = {"shared": shared}
        for name, W in (("layer1", W1), ("layer2", W2)):
            Bm, Am = svd_lora_init(W - shared, int(r))
            out[name] = shared + Bm @ Am
        return out

    def tied_case(L, B):
        return {"tied": np.array([tied_layers(int(L), int(B), b) for b in range(int(B))])}

    W1, W2 = np.eye(2), np.diag([3.0, 1.0])
    return [
        ReferenceCase(
            "average_and_rank1_svd_lora",
            {"W1": W1, "W2": W2, "r": 1},
            {"shared": np.diag([2.0, 1.0]), "layer1": W1, "layer2": W2},
            catalogue_case,
            note="by hand: average diag(2,1); residuals diag(−1,0), diag(1,0) are rank 1, so rank-1 "
            "SVD-LoRA reconstructs both layers exactly",
            atol=1e-12,
        ),
        ReferenceCase(
            "cycle_tying_L6_B2",
            {"L": 6, "B": 2},
            {"tied": np.array([[0, 2, 4], [1, 3, 5]])},
            tied_case,
            note="definition: depth ℓ uses block ℓ mod B",
            atol=0,
        ),
    ]
