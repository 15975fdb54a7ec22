r"""Bone / MiSS: block-wise adaptation with one small matrix shared across the blocks of a weight — the plain
structure (PEFT's MiSS default), its smaller `mini` variant, and the weight-guided "Block Affine
Transformation" (Bat).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  The method changed across
versions of the paper (first "Bone", later re-presented as "MiSS"); Hugging Face PEFT carries the author's
implementation, now as `tuners/miss/layer.py` (`MissLayer`, `init_weights=True | "bat" | "mini"`).  We
implement exactly those three forms and cross-check them against PEFT (tests/xcheck/test_xcheck_peft.py).

The forms
---------
* **Bone / MiSS** (PEFT's default): a zero-initialised $D\in\mathbb R^{r\times d_{out}}$; the input axis of
  $W\in\mathbb R^{d_{out}\times d_{in}}$ is cut into $d_{in}/r$ blocks of width $r$ and every block gets the
  same $D^\top$:
  $$W' = W + [\,D^\top\ D^\top\ \cdots\ D^\top\,],\qquad y = Wx + \textstyle\sum_j D^\top x_j$$
  ($x_j$ the $j$-th $r$-chunk of $x$): the update sees only $\sum_j x_j$; $r\,d_{out}$ parameters, rank $\le r$.
* **MiSS mini** (`init_weights="mini"`, `mini_r`): $D$ is itself tiled from a smaller block
  $M\in\mathbb R^{r\times m}$ along the output axis, $D = [M\ M\ \cdots\ M]$ ($d_{out}/m$ copies), so output
  unit $k$ gets column $k \bmod m$ of $M$: $r\,m$ parameters.  With $m = d_{out}$ it is the default.
* **Bat**: $W$ is cut into $r\times r$ blocks $W_{ij}$ and one zero-initialised $B_i\in\mathbb R^{r\times r}$
  per output block is shared along the row of blocks:
  $$W'_{ij} = W_{ij} + W_{ij}B_i + B_i \;=\; W_{ij}(I+B_i) + B_i,$$
  $d_{out}\,r$ parameters; the update depends on the weights themselves and can have full rank.  PEFT unmerges
  with $W_{ij} = (W'_{ij}-B_i)(I+B_i)^{-1}$ (`bat_unmerge` here).

All are weight parametrizations $W=\theta+\Delta(\theta)$ in refimpl, so they merge, unmerge and stack.
Deviation: PEFT pads the input when $d_{in}$ is not a multiple of $r$; we require divisibility (ValueError).
The experiment (`experiment.py`) is ours: an MLP pretrained on digits 0–4 and adapted to mirrored 5–9.
"""

from __future__ import annotations

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn.module import Parameter
from ..adapters import WeightAdapter

CATALOG_ENTRY = {
    "slug": "bone",
    "title": "Bone: Block-Affine Adaptation of Large Language Models",
    "authors": "Jiale Kang",
    "year": 2024,
    "arxiv": "2409.15371",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/bone.ipynb",
    "verified": "official-code",
    "verification_note": (
        "The three forms of HF PEFT 0.21.2 src/peft/tuners/miss/layer.py (the author's implementation, formerly "
        "tuners/bone): the default ΔW = [Dᵀ … Dᵀ] with D ∈ R^{r×out} (get_delta_weight_miss, forward sum of "
        "r-chunks @ miss_block), 'mini' (miss_block (r, mini_r) repeated out/mini_r times along the output "
        "axis) and 'bat' W'_ij = W_ij B_i + B_i + W_ij with B ∈ R^{out/r×r×r} (get_delta_weight); zero init, "
        "shapes and the Bat inverse read there, and outputs, gradients and merged weights checked against "
        "PEFT in tests/xcheck/test_xcheck_peft.py. The paper changed across versions; its equation numbers "
        "were not checked. The toy experiment is ours."
    ),
    "summary": (
        "Cut a weight matrix into blocks and adapt all blocks with one small shared matrix: Bone/MiSS adds "
        "the same r×out block to every input chunk (mini: that block tiled from an even smaller one); Bat "
        "(block affine transformation) updates each r×r block as W_ij(I + B_i) + B_i, so the update is "
        "guided by the weights themselves."
    ),
    "equations": [
        "Bone/MiSS:  W' = W + [Dᵀ Dᵀ … Dᵀ],  D ∈ R^{r×d_out};   y = W x + Σ_j Dᵀ x_j",
        "MiSS mini:  D = [M M … M],  M ∈ R^{r×m}  (d_out/m copies along the output axis)",
        "Bat:   W'_ij = W_ij + W_ij B_i + B_i,  B_i ∈ R^{r×r} shared over input blocks j",
        "Bat unmerge:  W_ij = (W'_ij − B_i)(I + B_i)^{-1}",
        "#params: Bone r·d_out, mini r·m, Bat d_out·r (LoRA: r(d_in + d_out))",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def _check(shape, r, need_out: bool):
    out_f, in_f = shape
    if not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"bone: block size `r` must be an int ≥ 1, got {r!r}")
    if in_f % r or (need_out and out_f % r):
        raise ValueError(
            f"bone: the weight {tuple(shape)} must split into blocks of {r} "
            f"({'both axes' if need_out else 'the input axis'} divisible by r={r})"
        )


def bone_delta(D, in_features: int):
    """ΔW = [Dᵀ Dᵀ … Dᵀ] (d_out × d_in) for D of shape (r, d_out)  (PEFT `get_delta_weight_bone`)."""
    D = D if isinstance(D, Tensor) else Tensor(np.asarray(D))
    r, out_f = D.shape
    if in_features % r:
        raise ValueError(f"bone_delta: in_features={in_features} must be divisible by r={r}")
    tiled = ops.broadcast_to(ops.reshape(ops.permute(D, (1, 0)), (out_f, 1, r)), (out_f, in_features // r, r))
    return ops.reshape(tiled, (out_f, in_features))


def bat_delta(W, Bm):
    """ΔW with blocks ΔW_ij = W_ij B_i + B_i for W (d_out, d_in) and Bm (d_out/r, r, r)  (PEFT
    `get_delta_weight`)."""
    W = W if isinstance(W, Tensor) else Tensor(np.asarray(W))
    Bm = Bm if isinstance(Bm, Tensor) else Tensor(np.asarray(Bm))
    out_f, in_f = W.shape
    nb, r, _ = Bm.shape
    _check((out_f, in_f), r, True)
    if nb != out_f // r:
        raise ValueError(f"bat_delta: Bm must have shape ({out_f // r}, {r}, {r}), got {tuple(Bm.shape)}")
    blocks = ops.permute(ops.reshape(W, (nb, r, in_f // r, r)), (2, 0, 1, 3))  # [j, i] = W_ij
    upd = ops.matmul(blocks, Bm) + Bm  # W_ij B_i + B_i (Bm broadcast over j)
    return ops.reshape(ops.permute(upd, (1, 2, 0, 3)), (out_f, in_f))


def bat_unmerge(W_merged, Bm) -> np.ndarray:
    """W_ij = (W'_ij − B_i)(I + B_i)^{-1}: recover W from a merged Bat weight (PEFT `re=True`)."""
    W_merged, Bm = np.asarray(W_merged, np.float64), np.asarray(Bm, np.float64)
    out_f, in_f = W_merged.shape
    nb, r, _ = Bm.shape
    blocks = W_merged.reshape(nb, r, in_f // r, r).transpose(2, 0, 1, 3)
    inv = np.linalg.inv(np.eye(r) + Bm)
    W = (blocks - Bm) @ inv
    return W.transpose(1, 2, 0, 3).reshape(out_f, in_f)


class Bone(WeightAdapter):
    """W = θ + [Dᵀ … Dᵀ], D (r, d_out) zero-initialised.  Trainable: r·d_out."""

    def __init__(self, out_features: int, in_features: int, r: int, dtype=np.float32):
        super().__init__()
        _check((out_features, in_features), r, False)
        self.out_features, self.in_features, self.r = out_features, in_features, int(r)
        self.D = Parameter(np.zeros((self.r, out_features), dtype=dtype))

    @classmethod
    def for_layer(cls, layer, r: int):
        out_f, in_f = layer.weight.shape
        return cls(out_f, in_f, r, dtype=layer.weight.dtype)

    def delta(self, w):
        return bone_delta(self.D, self.in_features)

    def num_trainable(self) -> int:
        return self.r * self.out_features


def mini_tile(M, out_features: int):
    """D = [M M … M] (r, d_out) from M (r, m): output unit k gets column k mod m  (PEFT MiSS `mini`:
    ``miss_block.repeat(1, out_features // mini_r)``)."""
    M = M if isinstance(M, Tensor) else Tensor(np.asarray(M))
    r, m = M.shape
    if out_features % m:
        raise ValueError(f"mini_tile: out_features={out_features} must be divisible by mini_r={m}")
    return ops.reshape(
        ops.broadcast_to(ops.reshape(M, (r, 1, m)), (r, out_features // m, m)), (r, out_features)
    )


class MissMini(WeightAdapter):
    """W = θ + [Dᵀ … Dᵀ] with D = [M … M], M (r, m) zero-initialised.  Trainable: r·m."""

    def __init__(self, out_features: int, in_features: int, r: int, mini_r: int, dtype=np.float32):
        super().__init__()
        _check((out_features, in_features), r, False)
        if not isinstance(mini_r, (int, np.integer)) or mini_r < 1 or out_features % mini_r:
            raise ValueError(
                f"MissMini: `mini_r` must be an int ≥ 1 dividing out_features={out_features}, got {mini_r!r}"
            )
        self.out_features, self.in_features, self.r, self.mini_r = (
            out_features,
            in_features,
            int(r),
            int(mini_r),
        )
        self.M = Parameter(np.zeros((self.r, self.mini_r), dtype=dtype))

    @classmethod
    def for_layer(cls, layer, r: int, mini_r: int):
        out_f, in_f = layer.weight.shape
        return cls(out_f, in_f, r, mini_r, dtype=layer.weight.dtype)

    def delta(self, w):
        return bone_delta(mini_tile(self.M, self.out_features), self.in_features)

    def num_trainable(self) -> int:
        return self.r * self.mini_r


class Bat(WeightAdapter):
    """W = θ + Δ with Δ_ij = θ_ij B_i + B_i, B (d_out/r, r, r) zero-initialised.  Trainable: d_out·r."""

    def __init__(self, out_features: int, in_features: int, r: int, dtype=np.float32):
        super().__init__()
        _check((out_features, in_features), r, True)
        self.out_features, self.in_features, self.r = out_features, in_features, int(r)
        self.B = Parameter(np.zeros((out_features // self.r, self.r, self.r), dtype=dtype))

    @classmethod
    def for_layer(cls, layer, r: int):
        out_f, in_f = layer.weight.shape
        return cls(out_f, in_f, r, dtype=layer.weight.dtype)

    def delta(self, w):
        return bat_delta(w, self.B)  # the update is guided by the weight it adapts

    def num_trainable(self) -> int:
        return self.out_features * self.r


ADAPTER_FACTORIES = {
    # name → (layer, rng) → zero-initialised WeightAdapter; used by the family contract tests
    "bone-r2": lambda layer, rng: Bone.for_layer(layer, 2),
    "bat-r2": lambda layer, rng: Bat.for_layer(layer, 2),
    "miss-mini-r2": lambda layer, rng: MissMini.for_layer(layer, 2, _divisor(layer.weight.shape[0])),
}


def _divisor(n: int) -> int:
    """The largest proper divisor of n (a mini_r that really shrinks D), or n itself when n is prime."""
    return next((d for d in range(n // 2, 0, -1) if n % d == 0 and d > 1), n)
