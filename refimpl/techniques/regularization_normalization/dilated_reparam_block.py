r"""The Dilated Reparam Block of UniRepLKNet: parallel dilated small kernels merged into one large kernel.

Paper: *UniRepLKNet: A Universal Perception Large-Kernel ConvNet for Audio, Video, Point Cloud,
Time-Series and Image Recognition* — Xiaohan Ding, Yiyuan Zhang, Yixiao Ge, Sijie Zhao, Lin Song,
Xiangyu Yue, Ying Shan, CVPR 2024.
arXiv: 2311.15599
Official code: github.com/AILab-CVC/UniRepLKNet (`unireplknet.py`: `DilatedReparamBlock`, `fuse_bn`,
`convert_dilated_to_nondilated`, `merge_dilated_into_large_kernel`).

The idea
--------
A large depthwise kernel (K×K) is strong but hard to train and poor at capturing small-scale patterns.
During training, the Dilated Reparam Block adds parallel depthwise convolutions with *small* kernels
k_i and *dilations* r_i (each followed by its own BatchNorm) to the large kernel's branch:

$$ y = \mathrm{BN}_0(W_0 * x) + \sum_i \mathrm{BN}_i(W_i *_{r_i} x) $$

At inference every branch is made into a plain kernel and summed into one K×K kernel — exactly:

1. fold each BN into its conv: $W_i' = s_i W_i$, $b_i' = \beta_i - s_i\mu_i$, $s_i = \gamma_i/\sqrt{\sigma_i^2+\epsilon}$;
2. a k-tap kernel with dilation r equals a dense kernel of size $r(k-1)+1$ with r − 1 zeros between
   taps (the official code builds it with a stride-r transposed conv of the kernel by a 1×1 one);
3. centre it in K×K by zero padding ($(K - (r(k-1)+1))/2$ on each side) and add it to $W_0'$; the
   biases add.  With 'same' padding, conv is linear in the kernel, so the merged conv reproduces the sum.

Default branch settings (official code): K=5 → k=(3,3), r=(1,2); K=7 → k=(5,3,3), r=(1,2,3);
K=9 → k=(5,5,3,3), r=(1,2,3,4); K=11 → (5,5,3,3,3)/(1,2,3,4,5); K=13 → (5,7,3,3,3)/(1,2,3,4,5);
K=15 → (5,7,3,3,3)/(1,2,3,5,7); K=17 → (5,9,3,3,3)/(1,2,4,5,7).  Each needs r(k−1)+1 ≤ K.

What is simplified
------------------
The block is used inside a tiny ConvNet on 8×8 digits (K = 7) and is also provided for 1-D signals
(`ndim=1`); the rest of the UniRepLKNet block (SE, GRN, FFN, layer scale) is not reproduced.

Verified: official-code — fold, dilation-to-dense conversion, centring and branch defaults read in
`unireplknet.py` of AILab-CVC/UniRepLKNet; exactness checked here against a direct loop convolution
and, in the family contract, deploy = training form to 1e-10 in float64.

Notebook: notebooks/regularization-normalization/dilated-reparam-block.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module, Parameter
from ...threads import one_blas_thread
from .folding import fold_bn
from .training import sgd_step

CATALOG_ENTRY = {
    "slug": "dilated-reparam-block",
    "title": "UniRepLKNet: A Universal Perception Large-Kernel ConvNet for Audio, Video, Point Cloud, "
    "Time-Series and Image Recognition",
    "authors": "Xiaohan Ding, Yiyuan Zhang, Yixiao Ge, Sijie Zhao, Lin Song, Xiangyu Yue, Ying Shan",
    "year": 2024,
    "arxiv": "2311.15599",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/dilated-reparam-block.ipynb",
    "verified": "official-code",
    "verification_note": (
        "DilatedReparamBlock, fuse_bn, convert_dilated_to_nondilated and merge_dilated_into_large_kernel "
        "read in unireplknet.py of AILab-CVC/UniRepLKNet (branch kernel sizes/dilations per K copied as "
        "settings); exact merge checked against a loop convolution and the family contract (1e-10, float64)."
    ),
    "summary": (
        "Train a large depthwise kernel together with parallel small dilated depthwise kernels (each with "
        "BN); at inference fold each BN, turn each dilated kernel into a dense one with zeros between "
        "taps, centre-pad and add: one large kernel gives exactly the same outputs."
    ),
    "equations": [
        "y = BN_0(W_0 * x) + Σ_i BN_i(W_i *_{r_i} x)",
        "W_i' = s_i W_i,  b_i' = β_i − s_i μ_i,  s_i = γ_i/√(σ_i² + ε)",
        "dense(W, r)[r·j] = W[j], zeros elsewhere; size r(k−1)+1",
        "W = W_0' + Σ_i pad_K(dense(W_i', r_i)),  b = Σ_i b_i'",
    ],
}

BRANCHES = {  # K: (kernel sizes, dilations) — the official defaults
    5: ((3, 3), (1, 2)),
    7: ((5, 3, 3), (1, 2, 3)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
}


# --- merging parallel dilated branches into one kernel ---------------------------------------------
# A kernel of size k with dilation r is the kernel of size r(k − 1) + 1 with r − 1 zeros between its taps
# (`dilate_kernel`), and a smaller centred kernel is the larger one zero-padded on every side
# (`pad_kernel_to`); so Σ_i conv(x, K_i, r_i) + b_i = conv(x, Σ_i pad(dilate(K_i, r_i)), Σ_i b_i)
# (`merge_parallel_kernels`), exactly.
def dilate_kernel(kernel, dilation: int):
    """Insert dilation − 1 zeros between the taps of the spatial axes (all axes after the first two):
    a (O, I, k[, k]) kernel becomes (O, I, r(k−1)+1[, …]) and conv with it equals the dilated conv."""
    kernel = np.asarray(kernel)
    r = int(dilation)
    if r < 1:
        raise ValueError(f"dilate_kernel: `dilation` must be an int ≥ 1, got {dilation}")
    if kernel.ndim < 3:
        raise ValueError(f"dilate_kernel: `kernel` must be (O, I, k, …), got shape {kernel.shape}")
    if r == 1:
        return kernel.copy()
    spatial = kernel.shape[2:]
    out = np.zeros(kernel.shape[:2] + tuple(r * (k - 1) + 1 for k in spatial), dtype=kernel.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, r) for _ in spatial)] = kernel
    return out


def pad_kernel_to(kernel, size):
    """Zero-pad the spatial axes of an odd-sized kernel symmetrically to `size` (int or tuple, odd)."""
    kernel = np.asarray(kernel)
    spatial = kernel.shape[2:]
    size = (int(size),) * len(spatial) if np.isscalar(size) else tuple(int(s) for s in size)
    if len(size) != len(spatial) or any(s < k or (s - k) % 2 for s, k in zip(size, spatial)):
        raise ValueError(
            f"pad_kernel_to: cannot centre a kernel of spatial size {spatial} in {size} "
            "(each target must be ≥ the kernel and differ from it by an even number)"
        )
    pads = [(0, 0), (0, 0)] + [((s - k) // 2, (s - k) // 2) for s, k in zip(size, spatial)]
    return np.pad(kernel, pads)


def merge_parallel_kernels(branches, size):
    """Σ_i conv(x, K_i, dilation r_i) + b_i as one conv (kernel of spatial `size`, dilation 1, 'same'
    padding): returns (Σ_i pad(dilate(K_i, r_i)), Σ_i b_i).  `branches` = [(K_i, b_i or None, r_i)]."""
    if not branches:
        raise ValueError(
            "merge_parallel_kernels: `branches` must be a non-empty list of (kernel, bias, dilation)"
        )
    kernel, bias = None, None
    for k, b, r in branches:
        kk = pad_kernel_to(dilate_kernel(k, r), size)
        kernel = kk if kernel is None else kernel + kk
        if b is not None:
            bias = np.asarray(b).copy() if bias is None else bias + np.asarray(b)
    if bias is None:
        bias = np.zeros(kernel.shape[0], dtype=kernel.dtype)
    return kernel, bias


def branch_config(kernel_size: int):
    """(kernel sizes, dilations) of the parallel branches for a large kernel K (official defaults)."""
    if kernel_size not in BRANCHES:
        raise ValueError(f"branch_config: `kernel_size` must be one of {sorted(BRANCHES)}, got {kernel_size}")
    return BRANCHES[kernel_size]


def merge_branches(large, branches, size: int):
    """Merge the large-kernel branch and the dilated branches into one (kernel, bias).

    `large` and each branch are dicts with "weight" (C, 1, k[, k]) and the BN's "gamma", "beta", "mean",
    "var", "eps"; branches also carry "dilation".  Returns the K-sized kernel and its bias."""
    parts = []
    for br in [dict(large, dilation=1)] + list(branches):
        w, b = fold_bn(
            br["weight"], None, br["gamma"], br["beta"], br["mean"], br["var"], br["eps"]
        )  # fold BN
        parts.append((w, b, br["dilation"]))
    return merge_parallel_kernels(parts, size)  # dilate → pad to K → sum


def _dw_conv(ndim, channels, k, dilation, rng, dtype):
    from ...nn.layers.conv import Conv1d, Conv2d

    cls = Conv1d if ndim == 1 else Conv2d
    return cls(
        channels,
        channels,
        k,
        padding=(dilation * (k - 1) + 1) // 2,
        dilation=dilation,
        groups=channels,
        bias=False,
        dtype=dtype,
        rng=rng,
    )


def _bn(ndim, channels, dtype):
    from ...nn.layers.norm import BatchNorm1d, BatchNorm2d

    return (BatchNorm1d if ndim == 1 else BatchNorm2d)(channels, dtype=dtype)


class DilatedReparamBlock(Module):
    """Depthwise K-kernel conv + BN, plus parallel dilated depthwise convs + BN (training form).

    `merge()` switches to the deploy form: one depthwise K-kernel conv with bias (BN statistics must be
    final: call it on a model in eval mode).  `branches=False` gives the plain large-kernel baseline."""

    def __init__(
        self,
        channels: int,
        kernel_size: int = 7,
        ndim: int = 2,
        branches: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"DilatedReparamBlock: `ndim` must be 1 or 2, got {ndim}")
        rng = np.random.default_rng(rng)
        self.channels, self.kernel_size, self.ndim = channels, kernel_size, ndim
        self.ks, self.dils = branch_config(kernel_size) if branches else ((), ())
        self.lk = _dw_conv(ndim, channels, kernel_size, 1, rng, dtype)
        self.lk_bn = _bn(ndim, channels, dtype)
        self.convs = [
            (_dw_conv(ndim, channels, k, r, rng, dtype), _bn(ndim, channels, dtype))
            for k, r in zip(self.ks, self.dils)
        ]
        for i, (c, b) in enumerate(self.convs):
            setattr(self, f"dil{i}", c)
            setattr(self, f"dil_bn{i}", b)
        self.merged = False

    def forward(self, x):
        if self.merged:
            return self.lk(x)
        out = self.lk_bn(self.lk(x))
        for c, b in self.convs:
            out = out + b(c(x))  # Σ_i BN_i(W_i *_{r_i} x)
        return out

    def _spec(self, conv, bn, dilation):
        return {
            "weight": conv.weight.data,
            "gamma": bn.weight.data,
            "beta": bn.bias.data,
            "mean": bn.running_mean,
            "var": bn.running_var,
            "eps": bn.eps,
            "dilation": dilation,
        }

    def merge(self):
        """Replace all branches by one K-kernel depthwise conv with bias (exact in eval mode)."""
        if self.merged:
            return self
        large = self._spec(self.lk, self.lk_bn, 1)
        branches = [self._spec(c, b, r) for (c, b), r in zip(self.convs, self.dils)]
        w, b = merge_branches(large, branches, self.kernel_size)
        dtype = self.lk.weight.data.dtype
        self.lk.weight = Parameter(np.asarray(w, dtype=dtype))
        self.lk.bias = Parameter(np.asarray(b, dtype=dtype))
        del self.lk_bn
        for i in range(len(self.convs)):
            delattr(self, f"dil{i}")
            delattr(self, f"dil_bn{i}")
        self.convs = []
        self.merged = True
        return self

    def extra_repr(self):
        return f"{self.channels}, K={self.kernel_size}, branches={list(zip(self.ks, self.dils))}, merged={self.merged}"


class TinyLKNet(Module):
    """Conv(1→C, 3) + BN + ReLU → DilatedReparamBlock(C, K) → ReLU → Conv1×1(C→C) + ReLU → flatten → Linear."""

    def __init__(self, channels=8, kernel_size=7, branches=True, num_classes=10, dtype=np.float64, rng=None):
        super().__init__()
        from ...nn.layers.conv import Conv2d
        from ...nn.layers.linear import Linear
        from ...nn.layers.norm import BatchNorm2d

        rng = np.random.default_rng(rng)
        self.stem = Conv2d(1, channels, 3, padding=1, bias=False, dtype=dtype, rng=rng)
        self.stem_bn = BatchNorm2d(channels, dtype=dtype)
        self.block = DilatedReparamBlock(
            channels, kernel_size, ndim=2, branches=branches, dtype=dtype, rng=rng
        )
        self.pw = Conv2d(channels, channels, 1, dtype=dtype, rng=rng)
        self.head = Linear(channels * 64, num_classes, dtype=dtype, rng=rng)

    def forward(self, x):
        h = ops.relu(self.stem_bn(self.stem(x)))
        h = ops.relu(self.block(h))
        h = ops.relu(self.pw(h))
        return self.head(ops.reshape(h, (h.shape[0], -1)))


# --- the toy experiment -------------------------------------------------------------------------------
def _fit(model, x, y, epochs, lr, seed, batch_size=64):
    from ...data import batches

    params, buffers = list(model.parameters()), {}
    model.train()
    for epoch in range(epochs):
        for xb, yb in batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch, drop_last=True):
            model.zero_grad()
            F.cross_entropy(model(Tensor(xb)), yb).backward()
            sgd_step(params, lr, 0.9, buffers, weight_decay=1e-4)
    model.eval()
    return model


def _predict(model, x):
    with no_grad():
        return model(Tensor(x)).data


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Digits (8×8) with a K=7 depthwise block: plain large kernel vs Dilated Reparam Block; merge and compare."""
    from ...data import load_digits

    split = load_digits(seed=seed, flatten=False, dtype=np.float64)
    epochs, batch_size = (2, 128) if quick else (8, 64)
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    n_train = 512 if quick else len(split.x_train)  # quick: a subset keeps the run within seconds
    x_train, y_train = split.x_train[:n_train], split.y_train[:n_train]
    rows, diffs, accs = [], [], {"plain": [], "drb": []}
    for s in seeds:
        for name, branches in (("plain", False), ("drb", True)):
            m = _fit(TinyLKNet(branches=branches, rng=s), x_train, y_train, epochs, 0.05, s, batch_size)
            logits = _predict(m, split.x_test)
            n_train = m.num_parameters()
            deployed = copy.deepcopy(m)
            deployed.block.merge()
            logits_dep = _predict(deployed, split.x_test)
            diff = float(np.max(np.abs(logits - logits_dep)))
            acc = float(np.mean(logits.argmax(1) == split.y_test))
            acc_dep = float(np.mean(logits_dep.argmax(1) == split.y_test))
            accs[name].append(acc)
            if branches:
                diffs.append(diff)
            rows.append(
                {
                    "seed": s,
                    "model": name,
                    "params_train": n_train,
                    "params_deploy": deployed.num_parameters(),
                    "test_acc": acc,
                    "test_acc_deployed": acc_dep,
                    "max_abs_logit_diff": diff,
                }
            )
    max_diff = max(diffs)
    metrics = {
        "max_abs_logit_diff_merged": max_diff,
        "test_acc_plain_mean": float(np.mean(accs["plain"])),
        "test_acc_drb_mean": float(np.mean(accs["drb"])),
        "test_acc_plain_std": float(np.std(accs["plain"])),
        "test_acc_drb_std": float(np.std(accs["drb"])),
    }
    exact = max_diff < 1e-10
    same_cost = all(r["params_deploy"] == rows[0]["params_deploy"] for r in rows)
    metrics["drb_minus_plain_acc"] = metrics["test_acc_drb_mean"] - metrics["test_acc_plain_mean"]
    return {
        "metrics": metrics,
        "table": rows,
        "checks": {
            "merge_exact": exact,
            "deploy_cost_equals_plain": same_cost,
            "drb_not_worse_than_plain": bool(metrics["drb_minus_plain_acc"] >= -0.01),
        },
        "kernels": _example_kernels(seed),
        "claim": {
            "statement": "The multi-branch Dilated Reparam Block merges into one large kernel with identical "
            "outputs (≤ 1e-10, float64) and the deploy cost (parameters) of a plain large-kernel "
            "block. (Accuracy vs the plain block is reported, not claimed: at toy scale it is "
            "within seed noise.)",
            "holds": bool(exact and same_cost),
        },
    }


def _example_kernels(seed):
    """The per-branch dense kernels and the merged kernel of a freshly initialised 1-D block (for the plot)."""
    rng = np.random.default_rng(seed)
    blk = DilatedReparamBlock(1, 7, ndim=1, dtype=np.float64, rng=rng)
    parts = [("K=7, r=1", blk.lk.weight.data[0, 0])]
    for (c, _), k, r in zip(blk.convs, blk.ks, blk.dils):
        parts.append((f"k={k}, r={r}", pad_kernel_to(dilate_kernel(c.weight.data, r), 7)[0, 0]))
    blk.eval()
    blk.merge()
    parts.append(("merged", blk.lk.weight.data[0, 0]))
    return parts


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    parts = result["kernels"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for i, (name, k) in enumerate(parts):
        axes[0].bar(np.arange(len(k)) + 0.12 * i, k, width=0.12, label=name)
    axes[0].set_title("1-D branches as dense K=7 kernels, and their sum")
    axes[0].set_xlabel("tap")
    axes[0].legend(fontsize=7)
    rows = result["table"]
    for name in ("plain", "drb"):
        axes[1].plot(
            [r["seed"] for r in rows if r["model"] == name],
            [r["test_acc"] for r in rows if r["model"] == name],
            "o-",
            label=name,
        )
    axes[1].set_xlabel("seed")
    axes[1].set_ylabel("test accuracy")
    axes[1].legend()
    fig.tight_layout()
    return {"dilated-reparam-block": fig}


# --- family contract and reference cases ------------------------------------------------------------------
def _randomised_block(ndim, rng):
    blk = DilatedReparamBlock(3, 7, ndim=ndim, dtype=np.float64, rng=rng)
    for bn in [blk.lk_bn] + [b for _, b in blk.convs]:
        bn.weight.data[...] = rng.uniform(0.5, 2, 3)
        bn.bias.data[...] = rng.normal(size=3)
        bn.running_mean[...] = rng.normal(size=3)
        bn.running_var[...] = rng.uniform(0.3, 3, 3)
    blk.eval()
    return blk


def contract_examples(seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for ndim, shape in ((1, (2, 3, 16)), (2, (2, 3, 9, 9))):
        blk = _randomised_block(ndim, rng)
        out.append(
            {
                "kind": "reparam",
                "name": f"dilated reparam block {ndim}-D K=7",
                "train": blk,
                "deploy": copy.deepcopy(blk).merge(),
                "x": rng.normal(size=shape),
            }
        )
    return out


def reference_cases() -> list:
    def merged(large_w, branch_w, dilation, size):
        ones = np.ones(large_w.shape[0])
        spec = lambda w: {
            "weight": np.asarray(w),
            "gamma": ones,
            "beta": 0 * ones,
            "mean": 0 * ones,
            "var": ones - 1e-5,
            "eps": 1e-5,
        }
        k, b = merge_branches(spec(large_w), [dict(spec(branch_w), dilation=dilation)], size)
        return {"kernel": k, "bias": b}

    return [
        ReferenceCase(
            "k3_r2_into_k7",
            {
                "large_w": np.zeros((1, 1, 7)),
                "branch_w": np.array([[[1.0, 2.0, 3.0]]]),
                "dilation": 2,
                "size": 7,
            },
            {"kernel": np.array([[[0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0]]]), "bias": np.zeros(1)},
            merged,
            note="by hand: [1,2,3] dilated by 2 is [1,0,2,0,3] (size 5), centred in 7 with one zero each side; "
            "identity BN (γ=1, β=0, μ=0, σ²+ε=1)",
            atol=1e-12,
        ),
        ReferenceCase(
            "k3_r3_plus_large",
            {
                "large_w": np.ones((1, 1, 7)),
                "branch_w": np.array([[[1.0, -1.0, 2.0]]]),
                "dilation": 3,
                "size": 7,
            },
            {"kernel": np.array([[[2.0, 1.0, 1.0, 0.0, 1.0, 1.0, 3.0]]]), "bias": np.zeros(1)},
            merged,
            note="by hand: [1,−1,2] dilated by 3 is [1,0,0,−1,0,0,2] (size 7), plus the all-ones large kernel",
            atol=1e-12,
        ),
    ]
