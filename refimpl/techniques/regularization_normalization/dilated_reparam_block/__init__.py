r"""The Dilated Reparam Block of UniRepLKNet: parallel dilated small kernels merged into one large kernel.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/AILab-CVC/UniRepLKNet, `unireplknet.py` (`fuse_bn` l. 143–146,
`convert_dilated_to_nondilated` l. 148–160, `merge_dilated_into_large_kernel` l. 162–169,
`DilatedReparamBlock` l. 172–246).

The idea
--------
A large depthwise kernel (K×K) sees wide, but on its own it is poor at small-scale and *sparse* patterns
(a pixel may relate more to some distant pixels than to its neighbours).  During training, the Dilated
Reparam Block runs, beside the large kernel, parallel depthwise convolutions with *small* kernels $k_i$
and *dilations* $r_i$, each followed by its own BatchNorm:

$$ y = \mathrm{BN}_0(W_0 * x) + \sum_i \mathrm{BN}_i(W_i *_{r_i} x) \qquad\text{(forward, l. 218–226)} $$

At inference every branch becomes a plain kernel and all are summed into one K×K kernel — exactly, so the
deployed block has the cost of the plain large-kernel conv.

The derivation of the merge
---------------------------
1. *Fold each BN into its conv* (eval mode, running statistics): per channel c,
   $\mathrm{BN}_i(z)_c = s_{i,c}(z_c - \mu_{i,c}) + \beta_{i,c}$ with $s_{i,c} = \gamma_{i,c}/\sqrt{\sigma^2_{i,c}+\epsilon}$,
   and $z = W_i *_{r} x$ is linear in $W_i$, so $\mathrm{BN}_i(W_i *_r x) = (s_i W_i) *_r x + (\beta_i - s_i\mu_i)$
   (`fuse_bn`, l. 143–146).
2. *Dilation is a sparse dense kernel*: a k-tap kernel with dilation r reads the inputs at offsets
   $r\,j$, $j = 0..k-1$, which is what the dense kernel of size $r(k-1)+1$ with $W'[rj] = W[j]$ and zeros
   elsewhere reads without dilation.  The paper writes it as $W' = \mathrm{conv\_transpose}(W, I, \text{stride}=r)$
   with the 1×1 identity kernel I (Eq. 1; `convert_dilated_to_nondilated`); `dilate_kernel` writes the
   taps by strided assignment, the same array.
3. *Centring*: with 'same' padding, a centred kernel of size $k' \le K$ is the K-kernel zero-padded by
   $(K-k')/2$ on each side (`merge_dilated_into_large_kernel`, l. 167–168).
4. *Sum*: convolution is linear in the kernel, so
   $\sum_i (W_i' * x + b_i') = (\sum_i \mathrm{pad}_K(W_i')) * x + \sum_i b_i'$ (l. 235–236).

Default branch settings (official code, l. 185–205): K=5 → k=(3,3), r=(1,2); K=7 → k=(5,3,3),
r=(1,2,3); K=9 → (5,5,3,3)/(1,2,3,4); K=11 → (5,5,3,3,3)/(1,2,3,4,5); K=13 → (5,7,3,3,3)/(1,2,3,4,5);
K=15 → (5,7,3,3,3)/(1,2,3,5,7); K=17 → (5,9,3,3,3)/(1,2,4,5,7).  Each needs r(k−1)+1 ≤ K.

What is implemented, and deviations
-----------------------------------
* `DilatedReparamBlock` is the official block (large kernel without bias + BN, dilated branches without
  bias + BN, `merge()` = `merge_dilated_branches`), in 2-D and also in 1-D (`ndim=1`).
* `dilated=False` keeps the same parallel branches and kernel sizes with dilation 1: the re-parameterization
  with non-dilated small kernels (RepLKNet's), the ablation that lacks only the paper's idea;
  `branches=False` is the plain large-kernel conv + BN.
* The rest of the UniRepLKNet block (SE, GRN, FFN, layer scale, the BN after the block) is not
  reproduced; the toy network of the experiment is described in `experiment.py`.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/dilated-reparam-block.ipynb
"""

from __future__ import annotations

import copy

import numpy as np

from ....nn.module import Module, Parameter
from ..folding import fold_bn

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
        "Read in AILab-CVC/UniRepLKNet unireplknet.py: fuse_bn (l. 143–146), convert_dilated_to_nondilated "
        "(stride-r transposed conv with a 1×1 identity, l. 148–160; the paper's Eq. 1), "
        "merge_dilated_into_large_kernel (pad K//2 − k'//2, l. 162–169), DilatedReparamBlock (no conv bias, "
        "one BN per branch, branch kernel sizes/dilations per K, merge, l. 172–246). The paper's ablation "
        "tables were not available to us (only its abstract and Eq. 1). Merge checked against a loop "
        "convolution and in the family contract (deploy = training form to 1e-10, float64)."
    ),
    "summary": (
        "Train a large depthwise kernel together with parallel small dilated depthwise kernels (each with "
        "BN); at inference fold each BN, turn each dilated kernel into a dense one with zeros between "
        "taps, centre-pad and add: one large kernel gives exactly the same outputs."
    ),
    "equations": [
        "y = BN_0(W_0 * x) + Σ_i BN_i(W_i *_{r_i} x)",
        "W_i' = s_i W_i,  b_i' = β_i − s_i μ_i,  s_i = γ_i/√(σ_i² + ε)",
        "dense(W, r) = conv_transpose(W, I_1×1, stride r): dense[r·j] = W[j], size r(k−1)+1   (Eq. 1)",
        "W = W_0' + Σ_i pad_K(dense(W_i', r_i)),  b = Σ_i b_i'",
    ],
}

__all__ = [
    "BRANCHES",
    "dilate_kernel",
    "pad_kernel_to",
    "merge_parallel_kernels",
    "branch_config",
    "merge_branches",
    "DilatedReparamBlock",
    "contract_examples",
]

BRANCHES = {  # K: (kernel sizes, dilations) — the official defaults (unireplknet.py l. 185–205)
    5: ((3, 3), (1, 2)),
    7: ((5, 3, 3), (1, 2, 3)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
}


# --- merging parallel dilated branches into one kernel ---------------------------------------------
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
    out[(slice(None), slice(None)) + tuple(slice(None, None, r) for _ in spatial)] = kernel  # Eq. 1
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
    pads = [(0, 0), (0, 0)] + [((s - k) // 2, (s - k) // 2) for s, k in zip(size, spatial)]  # l. 167–168
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
        kk = pad_kernel_to(dilate_kernel(k, r), size)  # Eq. 1, then centre in K
        kernel = kk if kernel is None else kernel + kk  # W = Σ_i pad_K(dense(W_i', r_i))
        if b is not None:
            bias = np.asarray(b).copy() if bias is None else bias + np.asarray(b)  # b = Σ_i b_i'
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
        w, b = fold_bn(  # W_i' = s_i W_i,  b_i' = β_i − s_i μ_i  (fuse_bn, l. 143–146)
            br["weight"], None, br["gamma"], br["beta"], br["mean"], br["var"], br["eps"]
        )
        parts.append((w, b, br["dilation"]))
    return merge_parallel_kernels(parts, size)  # dilate → pad to K → sum


# --- the block ---------------------------------------------------------------------------------------
def _dw_conv(ndim, channels, k, dilation, rng, dtype):
    from ....nn.layers.conv import Conv1d, Conv2d

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
    from ....nn.layers.norm import BatchNorm1d, BatchNorm2d

    return (BatchNorm1d if ndim == 1 else BatchNorm2d)(channels, dtype=dtype)


class DilatedReparamBlock(Module):
    """Depthwise K-kernel conv + BN, plus parallel dilated depthwise convs + BN (training form).

    `merge()` switches to the deploy form: one depthwise K-kernel conv with bias (BN statistics must be
    final: call it on a model in eval mode).  `branches=False` gives the plain large-kernel conv + BN;
    `dilated=False` keeps the branches' kernel sizes with dilation 1 (non-dilated re-parameterization)."""

    def __init__(
        self,
        channels: int,
        kernel_size: int = 7,
        ndim: int = 2,
        branches: bool = True,
        dilated: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"DilatedReparamBlock: `ndim` must be 1 or 2, got {ndim}")
        rng = np.random.default_rng(rng)
        self.channels, self.kernel_size, self.ndim = channels, kernel_size, ndim
        ks, dils = branch_config(kernel_size) if branches else ((), ())
        self.ks, self.dils = ks, (dils if dilated else (1,) * len(ks))
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
            return self.lk(x)  # deploy: one K-kernel conv with bias
        out = self.lk_bn(self.lk(x))  # BN_0(W_0 * x)
        for c, b in self.convs:
            out = out + b(c(x))  # + Σ_i BN_i(W_i *_{r_i} x)
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


# --- family contract ----------------------------------------------------------------------------------
def _randomised_block(ndim, rng):
    """A float64 K=7 block in eval mode with random BN statistics and affine parameters."""
    blk = DilatedReparamBlock(3, 7, ndim=ndim, dtype=np.float64, rng=rng)
    for bn in [blk.lk_bn] + [b for _, b in blk.convs]:
        bn.weight.data[...] = rng.uniform(0.5, 2, 3)
        bn.bias.data[...] = rng.normal(size=3)
        bn.running_mean[...] = rng.normal(size=3)
        bn.running_var[...] = rng.uniform(0.3, 3, 3)
    blk.eval()
    return blk


def contract_examples(seed: int = 0) -> list:
    """The family contract's reparam examples: the 1-D and 2-D block, training form vs merged form."""
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
