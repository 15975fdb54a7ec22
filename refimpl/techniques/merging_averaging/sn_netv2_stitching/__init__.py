r"""SN-Netv2: stitch the blocks of two pretrained networks of different sizes into many networks in between.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/ziplab/SN-Netv2, read in `classification/snnet.py` (`ps_inv`,
`get_stitch_configs_bidirection`, `StitchingLayer` / LoRA `Linear`, `SNNetv2.initialize_stitching_weights`,
`SNNetv2.sampling_stitch_config`), `classification/main.py` (FLOPs-group sampling probabilities, the
least-squares initialisation on one training batch) and `segmentation/mmseg/engine/hooks/snnet_hook.py`
(`group_subnets_by_flops`).  SN-Netv2 builds on SN-Net (Pan, Cai and Zhuang, arXiv 2302.06586), whose
Sec. 3 gives the least-squares stitching layer.

The idea
--------
Two pretrained *anchors* of one family, a small fast one S and a large slow one L, both made of D blocks.
A **stitch** runs the first blocks of one anchor, maps its activations with a *stitching layer* (a linear
map, width of one anchor → width of the other) and finishes with the remaining blocks and the head of the
other.  Every cut point gives a network whose cost lies between the anchors' costs, so one set of weights
covers many speed/accuracy trade-offs chosen at run time.

**Least-squares stitching layer** (SN-Net Sec. 3.2; `ps_inv` in snnet.py).  With A ∈ R^{N×D_1} the front
anchor's activations after block e on N inputs (ViT tokens there, examples here) and B ∈ R^{N×D_2} the end
anchor's activations after the same block, the stitching layer solves

$$ M_o = \arg\min_M \lVert \tilde A M - B \rVert_F = \tilde A^{\dagger} B, \qquad \tilde A = [A,\ \mathbf 1], $$

the Moore–Penrose pseudoinverse with a column of ones appended, so that M_o stacks the weight (first D_1
rows) and the bias (last row) of the stitching Linear.

**Two-way stitching** (SN-Netv2, `get_stitch_configs_bidirection`).  SN-Net stitched only Fast-to-Slow
(S's first blocks, then L).  SN-Netv2 adds Slow-to-Fast (L → S) and the two-stitch routes
Fast-Slow-Fast (S → L → S) and Slow-Fast-Slow (L → S → L); a stitching layer from anchor a after block e
is shared by every route that crosses there.  For equal depths the cut e runs over 1 … D−1 in both
directions (a cut after the last block would only swap heads) and a two-stitch route needs e₁ < e₂.

**Resource-constrained sampling** (SN-Netv2; `group_subnets_by_flops`, main.py, `sampling_stitch_config`).
Training samples one route per step.  Uniform sampling over routes over-trains the FLOPs ranges that hold
many routes; SN-Netv2 sorts the routes by FLOPs, cuts them into groups wherever the FLOPs jump by more than
a gap, samples a *group* (uniformly, or with probabilities rising linearly with the group's rank when
`flops_sampling_k` is set), then a route uniformly inside the group:

$$ p(g) = \frac{g/k + 1/G}{\sum_{g'} (g'/k + 1/G)}\ \ (\text{or } 1/G), \qquad
   p(\text{route} \mid g) = 1/|g|. $$

**Low-rank stitching layers** (SN-Netv2; `StitchingLayer(r=lora_r)` in snnet.py).  The least-squares
weight M_o is kept frozen and training learns a low-rank update and the bias:

$$ W = W_0 + \tfrac{\alpha}{r} B A, \qquad B = 0 \text{ at the start}, \ \ \alpha = 1 \ (\text{lora\_alpha}). $$

Deviations (the toy)
--------------------
ViTs (DeiT-3 S/B/L) on ImageNet become two ReLU MLPs of widths 16 and 128 with D = 4 hidden blocks each on
the 8×8 digits (a block = Linear + ReLU; the head = the last Linear).  The official code fine-tunes the
anchors with the stitches; here the anchors stay frozen and only the stitching layers train, so the
experiment isolates the stitching layers (and an anchor is never sampled: it has nothing to learn).  The
least squares use every training example (rows = examples; a ViT batch of 100 images gives 100 × 197 rows).
FLOPs are the multiply–accumulates of the Linears a route runs (the stitching Linear included).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/merging-averaging/sn-netv2-stitching.ipynb
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ....autograd.tensor import Tensor
from ....nn import Module, Parameter
from ....nn import functional as F
from ..state import check_state, linear_layers

CATALOG_ENTRY = {
    "slug": "sn-netv2-stitching",
    "title": "Stitched ViTs are Flexible Vision Backbones",
    "authors": "Zizheng Pan, Jing Liu, Haoyu He, Jianfei Cai, Bohan Zhuang",
    "year": 2023,
    "arxiv": "2307.00154",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/sn-netv2-stitching.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in ziplab/SN-Netv2: classification/snnet.py (ps_inv: pinv of the front activations with a "
        "ones column times the end activations, transposed into weight and bias; "
        "get_stitch_configs_bidirection: Fast-to-Slow, Slow-to-Fast, FSF and SFS routes with shared "
        "stitching layers; StitchingLayer over a LoRA Linear with the base weight frozen, B zero-initialised, "
        "scaling lora_alpha/r; sampling_stitch_config: a FLOPs group, then a route in it), classification/"
        "main.py (uniform or linearly rising group probabilities; least squares on one training batch) and "
        "segmentation/.../snnet_hook.py (group_subnets_by_flops). The paper's own equation numbers could "
        "not be read here; formulas are cited by section and code function. Anchors are frozen in the toy."
    ),
    "summary": (
        "Stitch the first blocks of one pretrained anchor to the remaining blocks of another of a different "
        "width through a linear stitching layer initialised by least squares on their activations; two-way "
        "routes (small→large, large→small, and both) sampled by FLOPs group give one set of weights with many "
        "speed/accuracy trade-offs at run time."
    ),
    "equations": [
        "stitching layer (SN-Net Sec. 3.2, ps_inv): [W; b] = [A, 1]^† B,  A, B = activations of the two anchors",
        "routes (two-way): S→L, L→S at a cut e ∈ 1…D−1; S→L→S, L→S→L at cuts e1 < e2; one layer per (anchor, e)",
        "sampling: group routes by FLOPs gaps; p(group) ∝ g/k + 1/G (or uniform); route uniform in the group",
        "low-rank stitch: W = W_0 + (α/r) B A,  W_0 = least-squares weight (frozen), B = 0 at init",
    ],
}

__all__ = [
    "least_squares_stitch",
    "block_features",
    "stitch_routes",
    "route_stitches",
    "route_flops",
    "group_by_flops",
    "group_probabilities",
    "sample_route",
    "init_stitches",
    "stitched_forward",
    "SNNet",
]


# --- the least-squares stitching layer ----------------------------------------------------------------
def least_squares_stitch(a, b):
    """(W, bias) minimising ‖A Wᵀ + bias − B‖_F: [Wᵀ; biasᵀ] = [A, 1]^† B (SN-Net Sec. 3.2; ps_inv).

    `a` (N, D_1) are the front anchor's activations, `b` (N, D_2) the end anchor's; W has shape
    (D_2, D_1) like a Linear's weight.  Where [A, 1] is rank-deficient the pseudoinverse gives the
    minimum-norm solution."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"least_squares_stitch: `a` (N, D1) and `b` (N, D2) need the same N, got {a.shape}, {b.shape}"
        )
    a1 = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)  # Ã = [A, 1]
    m = np.linalg.pinv(a1) @ b  # M_o = Ã^† B (SN-Net Sec. 3.2)
    return m[:-1].T, m[-1]  # weight (D2, D1), bias (D2,)


# --- anchors as blocks ---------------------------------------------------------------------------------
def _blocks(sd):
    """[(W, b), …] of an MLP state dict: D hidden blocks (Linear + ReLU) then the head Linear."""
    sd = check_state(sd, "anchor")
    return [(sd[w], None if bk is None else sd[bk]) for w, bk in linear_layers(sd)]


def block_features(sd, x) -> list:
    """The activations after each hidden block of the MLP `sd` (ReLU outputs), in NumPy: [h_1, …, h_D]."""
    layers = _blocks(sd)
    h, out = np.asarray(x, dtype=np.float64), []
    for w, b in layers[:-1]:
        h = np.maximum(h @ w.T + (0.0 if b is None else b), 0.0)
        out.append(h)
    return out


# --- the two-way stitching space -----------------------------------------------------------------------
def stitch_routes(depth: int) -> list:
    """Every route of two anchors (0 = small/fast, 1 = large/slow) with `depth` blocks each, as tuples of
    segments (anchor, first block, end block); blocks [first, end) of that anchor run, the last segment's
    anchor supplies the head.  Anchors first, then S→L and L→S at e = 1…D−1, then S→L→S and L→S→L at
    e₁ < e₂ (get_stitch_configs_bidirection)."""
    depth = int(depth)
    if depth < 2:
        raise ValueError(
            f"stitch_routes: `depth` must be ≥ 2 (a cut needs a block on each side), got {depth}"
        )
    routes = [((0, 0, depth),), ((1, 0, depth),)]
    cuts = range(1, depth)
    for a in (0, 1):  # one stitch: Fast-to-Slow (a = 0), Slow-to-Fast (a = 1)
        routes += [((a, 0, e), (1 - a, e, depth)) for e in cuts]
    for a in (0, 1):  # two stitches: S→L→S (a = 0), L→S→L (a = 1)
        routes += [((a, 0, e1), (1 - a, e1, e2), (a, e2, depth)) for e1 in cuts for e2 in cuts if e1 < e2]
    return routes


def route_stitches(route) -> list:
    """The stitching layers a route crosses, as keys (front anchor, cut e): one layer per (anchor, e)."""
    return [(seg[0], seg[2]) for seg in route[:-1]]


def route_flops(route, widths, d_in: int, d_out: int) -> int:
    """Multiply–accumulates of the Linears `route` runs: blocks, stitching layers and the head, for anchors
    of hidden widths `widths` = (w_S, w_L) with `d_in` inputs and `d_out` classes."""
    total = 0
    for i, (a, s, e) in enumerate(route):
        w = widths[a]
        for blk in range(s, e):
            total += (d_in if blk == 0 else w) * w
        if i + 1 < len(route):
            total += w * widths[route[i + 1][0]]  # the stitching Linear a → next anchor
    return total + widths[route[-1][0]] * d_out  # the head


# --- resource-constrained sampling ---------------------------------------------------------------------
def group_by_flops(flops, gap: float) -> list:
    """Route indices grouped by cost (group_subnets_by_flops): walk the routes by ascending FLOPs; a route
    whose FLOPs differ from the current group's first by more than `gap` opens a new group."""
    flops = np.asarray(flops, dtype=np.float64)
    groups, current, first = [], [], None
    for i in np.argsort(flops, kind="stable"):
        if first is None or abs(flops[i] - first) > gap:
            if current:
                groups.append(current)
            current, first = [int(i)], flops[i]
        else:
            current.append(int(i))
    if current:
        groups.append(current)
    return groups


def group_probabilities(n_groups: int, k: float | None = None) -> np.ndarray:
    """p(group g), g = 0…G−1 cheapest first: uniform 1/G, or ∝ g/k + 1/G when `k` is given (main.py)."""
    if n_groups < 1:
        raise ValueError(f"group_probabilities: `n_groups` must be ≥ 1, got {n_groups}")
    if k is None:
        return np.full(n_groups, 1.0 / n_groups)
    y = np.arange(n_groups) / float(k) + 1.0 / n_groups  # g/k + 1/G
    return y / y.sum()


def sample_route(groups, probs, rng) -> int:
    """One route index: a group by `probs`, then a route uniformly within it (sampling_stitch_config)."""
    g = groups[int(rng.choice(len(groups), p=probs))]
    return int(g[int(rng.integers(len(g)))])


# --- stitching layers ----------------------------------------------------------------------------------
def init_stitches(anchors, x, depth: int, how: str = "ls", rng=None) -> OrderedDict:
    """{(a, e): (W, bias)} for every stitching layer of the two-way space.  `how="ls"`: least squares on the
    anchors' activations after block e on `x`; `how="random"`: a Linear's default (Kaiming-uniform) init,
    the ablation without the least-squares idea."""
    if how not in ("ls", "random"):
        raise ValueError(f"init_stitches: `how` must be 'ls' or 'random', got {how!r}")
    feats = [block_features(sd, x) for sd in anchors]
    rng = np.random.default_rng(rng)
    out = OrderedDict()
    for a in (0, 1):
        for e in range(1, depth):
            fa, fb = feats[a][e - 1], feats[1 - a][e - 1]  # both anchors after block e
            if how == "ls":
                out[(a, e)] = least_squares_stitch(fa, fb)
            else:
                bound = 1.0 / math.sqrt(fa.shape[1])  # kaiming_uniform(a=√5) and the bias bound of nn.Linear
                out[(a, e)] = (
                    rng.uniform(-bound, bound, (fb.shape[1], fa.shape[1])),
                    rng.uniform(-bound, bound, fb.shape[1]),
                )
    return out


def _walk(route, anchor_layers, stitch, x, linear, relu):
    """Run `route`: blocks of each segment, the stitching layer between segments, the last anchor's head."""
    h = x
    for i, (a, s, e) in enumerate(route):
        for w, b in anchor_layers[a][s:e]:
            h = relu(linear(h, w, b))  # a block: Linear + ReLU
        if i + 1 < len(route):
            h = linear(h, *stitch((a, e)))  # the stitching layer (no activation)
    w, b = anchor_layers[route[-1][0]][-1]
    return linear(h, w, b)  # the head


def _np_linear(h, w, b):
    return h @ np.asarray(w).T + (0.0 if b is None else np.asarray(b))


def stitched_forward(anchors, stitches, route, x) -> np.ndarray:
    """Logits of `route` (NumPy): `anchors` = (sd_S, sd_L), `stitches` = {(a, e): (W, bias)}."""
    layers = [_blocks(sd) for sd in anchors]
    return _walk(
        route, layers, lambda k: stitches[k], np.asarray(x), _np_linear, lambda z: np.maximum(z, 0.0)
    )


class SNNet(Module):
    """The two anchors (frozen) and the trainable stitching layers of the two-way space.

    `rank=None`: each stitching layer is a full Linear (W, bias) trained from its init.  `rank=r`: the
    SN-Netv2 low-rank layer W_0 + (α/r) B A with W_0 the init frozen, A Kaiming-uniform, B = 0 and the bias
    trainable.  `route` (an index into `routes`) selects the network `forward` runs."""

    def __init__(self, anchors, stitches, depth: int, rank: int | None = None, alpha: float = 1.0, rng=None):
        super().__init__()
        self.depth = int(depth)
        self.routes = stitch_routes(self.depth)
        self.route = 0
        self._layers = [
            [
                (Tensor(w.astype(np.float32)), None if b is None else Tensor(b.astype(np.float32)))
                for w, b in _blocks(sd)
            ]
            for sd in anchors
        ]
        self.rank, self.scaling = rank, (None if rank is None else float(alpha) / int(rank))
        rng = np.random.default_rng(rng)
        self._keys = list(stitches)
        for (a, e), (w, b) in stitches.items():
            name = f"s{a}_{e}"
            self.register_parameter(f"{name}_bias", Parameter(np.asarray(b, dtype=np.float32)))
            if rank is None:
                self.register_parameter(f"{name}_weight", Parameter(np.asarray(w, dtype=np.float32)))
            else:
                object.__setattr__(self, f"_{name}_w0", Tensor(np.asarray(w, dtype=np.float32)))
                bound = 1.0 / math.sqrt(w.shape[1])
                self.register_parameter(
                    f"{name}_A", Parameter(rng.uniform(-bound, bound, (rank, w.shape[1])).astype(np.float32))
                )
                self.register_parameter(
                    f"{name}_B", Parameter(np.zeros((w.shape[0], rank), dtype=np.float32))
                )

    def stitch_weight(self, key):
        """(W, bias) of stitching layer `key` = (a, e) as Tensors; W = W_0 + (α/r) B A when low-rank."""
        name = f"s{key[0]}_{key[1]}"
        bias = getattr(self, f"{name}_bias")
        if self.rank is None:
            return getattr(self, f"{name}_weight"), bias
        w0 = self.__dict__[f"_{name}_w0"]
        return w0 + (getattr(self, f"{name}_B") @ getattr(self, f"{name}_A")) * self.scaling, bias  # LoRA

    def stitches(self) -> OrderedDict:
        """The current stitching layers as arrays {(a, e): (W, bias)} (low-rank updates merged)."""
        out = OrderedDict()
        for k in self._keys:
            w, b = self.stitch_weight(k)
            out[k] = (np.array(w.data, dtype=np.float64), np.array(b.data, dtype=np.float64))
        return out

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        return _walk(self.routes[self.route], self._layers, self.stitch_weight, x, F.linear, F.relu)
