r"""SparK: BERT-style masked image modelling for a convnet, with the visible patches treated as a sparse set
(every convolution's output re-masked, so masked positions stay empty) and a hierarchical decoder that fills
the empty positions of each scale with a learned mask token before reconstructing the masked pixels.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Why a convnet needs the sparse treatment
----------------------------------------
Cut an H×W image into p×p patches (an f×f grid, f = H/p) and keep a random set of them: the binary patch mask
a ∈ {0, 1}^{f×f} has round(f²(1 − r)) ones for a mask ratio r (the official `SparK.mask`, r = 0.6).  Upsampled to
a feature map of side h (`upsample_mask`, nearest neighbour by the factor h/f, the official
`_get_active_ex_or_ii`),

.. math::

    A^{(h)}_{ij} = a_{\lfloor i f/h\rfloor,\lfloor j f/h\rfloor}.

A dense convnet given the zero-filled image x ⊙ A^{(H)} sees the masked patches as black squares: after one
3×3 convolution with a bias, the masked positions already hold b + (border terms) ≠ 0, and after a few layers
the mask pattern has vanished ("mask pattern vanishing", the paper's motivation for sparse masking) — the encoder computes on
positions that hold no information, and the pixel statistics differ from those of the unmasked images it will
see downstream.  SparK treats the visible pixels as the active sites of a sparse (submanifold) convolution:
only active sites are computed, and only active sites are read.  On a dense grid this is emulated by masking
after every operator (the official `sp_conv_forward`: `x = conv(x); x *= active`):

.. math::

    z^{(\ell)} = \big(W^{(\ell)} * h^{(\ell-1)} + b^{(\ell)}\big)\odot A^{(h_\ell)},\qquad
    h^{(\ell)} = \mathrm{ReLU}(z^{(\ell)}),\qquad h^{(0)} = x\odot A^{(H)}.

By induction every h^{(ℓ)} is zero at masked positions, so a visible site reads only visible sites (its masked
neighbours contribute 0) and the visible outputs equal those of a submanifold sparse convolution over the
visible set — the reference case `sparse_conv_equals_brute_force` computes the latter by explicit loops.
A stride-2 convolution maps visible patch (i, j) to output site (i, j) at the next scale, where the mask is
A^{(h/2)}: the same patch set, coarser (`upsample_mask` at the smaller side).  (The official code also replaces
every BatchNorm by one whose statistics are taken over visible positions only; this toy encoder has no
normalisation layers, see "What is ours".)

Hierarchical decoder (official `SparK.forward` step 3 and `decoder.LightDecoder`)
---------------------------------------------------------------------------------
The encoder returns sparse maps S_1 (side H) and S_2 (side H/2).  Densify each with its own learned mask token
m_k ∈ ℝ^{C_k} and a projection φ_k (1×1 at the smallest scale, 3×3 above, as the official `densify_projs`):

.. math::

    D_k = \phi_k\big(A^{(h_k)}\odot S_k + (1 - A^{(h_k)})\odot m_k\big),

then decode from the smallest scale up: u = conv(up₂(D_2)) and the reconstruction x̂ = head(ReLU(conv(u + D_1))).
The loss is the squared error on the masked pixels only (official `recon_loss`):

.. math::

    \mathcal L = \frac{\sum_{ij}(1 - A^{(H)}_{ij})(\hat x_{ij} - x_{ij})^2}{\sum_{ij}(1 - A^{(H)}_{ij})}.

After pretraining only the encoder is kept; downstream it runs with every site active (A ≡ 1), where re-masking
is the identity, so the sparse and the dense encoders are the same network at test time.

The dense ablation (`sparse=False`) is the same encoder, decoder, mask tokens and loss with the re-masking
removed: exactly what lacks only the sparse treatment.

What is read and what is ours
-----------------------------
Read in keyu-tian/SparK: `pretrain/encoder.py` (`_get_active_ex_or_ii` upsamples the patch mask by
repeat-interleave; `sp_conv_forward` multiplies each conv/pool output by it; `sp_bn_forward` normalises the
visible positions only), `pretrain/spark.py` (`mask`: round(f²(1 − r)) kept patches by a random argsort, r = 0.6;
`forward`: input x ⊙ A, densify with `torch.where(active, feature, mask_token)` then `densify_projs` — kernel 1
at the smallest scale, 3 above; per-patch-normalised L2 on the masked patches).  The paper's text was reachable
only in its abstract and introduction: no equation or section numbers are cited.  Ours: a three-conv encoder (8×8 → 4×4) without normalisation layers (so no
sparse BatchNorm), a nearest-neighbour upsampling + 3×3 conv in place of the transposed convolutions of
LightDecoder, no densify normalisation, and raw pixel targets (per-patch normalisation of 2×2 patches of
near-binary digits mostly divides by a near-zero spread).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/representations-weighting/spark-sparse-masked-modeling.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd.ops.elementwise import where
from ....autograd.tensor import Tensor
from ....nn import Module, Parameter
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "spark-sparse-masked-modeling",
    "title": "Designing BERT for Convolutional Networks: Sparse and Hierarchical Masked Modeling",
    "authors": "Keyu Tian, Yi Jiang, Qishuai Diao, Chen Lin, Liwei Wang, Zehuan Yuan",
    "year": 2023,
    "arxiv": "2301.03580",
    "family": "representations-weighting",
    "notebook": "notebooks/representations-weighting/spark-sparse-masked-modeling.ipynb",
    "verified": "official-code",
    "verification_note": (
        "ICLR 2023.  Checked against keyu-tian/SparK: pretrain/encoder.py (_get_active_ex_or_ii: patch mask "
        "upsampled by repeat-interleave; sp_conv_forward: every conv output multiplied by it; sp_bn_forward: "
        "BatchNorm over visible positions) and pretrain/spark.py (mask: round(f²(1 − r)) kept patches, r = 0.6; "
        "densify with torch.where(active, feature, mask_token) and a 1×1 / 3×3 projection; L2 on masked patches "
        "only).  The paper's text was read in its abstract and introduction; it has no numbered equations.  "
        "Ours: a three-conv encoder without normalisation (no sparse BN), nearest upsampling + conv in the "
        "decoder, raw pixel targets."
    ),
    "summary": (
        "BERT-style masked image modelling for convnets: the visible patches are a sparse set and every "
        "convolution's output is re-masked so masked positions stay empty (no mask pattern vanishing); a "
        "hierarchical decoder fills each scale's empty positions with a learned mask token and reconstructs "
        "the masked pixels.  Masked autoencoding on 8×8 digits against the dense (zero-filled) ablation and "
        "no pretraining, judged by a few-label linear probe."
    ),
    "equations": [
        "A^(h)_ij = a_{⌊i f/h⌋, ⌊j f/h⌋}  (patch mask a ∈ {0,1}^{f×f}, round(f²(1−r)) ones)",
        "h^(0) = x ⊙ A^(H);  h^(ℓ) = ReLU((W^(ℓ) * h^(ℓ−1) + b^(ℓ)) ⊙ A^(h_ℓ))  (sparse conv by re-masking)",
        "D_k = φ_k(A ⊙ S_k + (1 − A) ⊙ m_k)  (densify with a mask token per scale)",
        "L = Σ (1 − A)(x̂ − x)² / Σ (1 − A)  (masked pixels only)",
    ],
}

IMAGE, PATCH = 8, 2
GRID = IMAGE // PATCH  # f = 4: a 4×4 grid of 2×2 patches
WIDTHS = (16, 32)  # encoder channels at sides 8 and 4


def random_patch_masks(n: int, grid: int, mask_ratio: float, rng) -> np.ndarray:
    """(n, grid, grid) float masks, 1 = visible: each row keeps round(grid²(1 − r)) patches chosen uniformly
    (official `SparK.mask`: argsort of uniforms, first len_keep kept)."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"random_patch_masks: `n` must be an integer ≥ 0, got {n!r}")
    if not isinstance(grid, (int, np.integer)) or grid < 1:
        raise ValueError(f"random_patch_masks: `grid` must be an integer ≥ 1, got {grid!r}")
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"random_patch_masks: `mask_ratio` must be in [0, 1), got {mask_ratio!r}")
    L = grid * grid
    keep = round(L * (1 - mask_ratio))
    order = np.argsort(rng.random((n, L)), axis=1)
    a = np.zeros((n, L), dtype=np.float32)
    np.put_along_axis(a, order[:, :keep], 1.0, axis=1)
    return a.reshape(n, grid, grid)


def upsample_mask(a, side: int) -> np.ndarray:
    """A^(side): the (n, f, f) patch mask repeated by side/f along both axes → (n, 1, side, side)."""
    a = np.asarray(a)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"upsample_mask: `a` must be (n, f, f), got shape {a.shape}")
    f = a.shape[1]
    if not isinstance(side, (int, np.integer)) or side < f or side % f:
        raise ValueError(f"upsample_mask: `side` must be a multiple of f = {f}, got {side!r}")
    k = side // f
    return np.repeat(np.repeat(a, k, axis=1), k, axis=2)[:, None].astype(np.float32)


def _upsample2_matrix(side: int) -> np.ndarray:
    """U (side², (2 side)²): nearest-neighbour ×2 upsampling of a flattened map as a matrix product."""
    U = np.zeros((side * side, 4 * side * side), dtype=np.float32)
    for i in range(2 * side):
        for j in range(2 * side):
            U[(i // 2) * side + j // 2, i * 2 * side + j] = 1.0
    return U


def _conv_param(rng, out_c, in_c, k, dtype):
    bound = 1.0 / math.sqrt(in_c * k * k)  # PyTorch's default U(−1/√fan_in, 1/√fan_in)
    w = Parameter(rng.uniform(-bound, bound, (out_c, in_c, k, k)).astype(dtype))
    b = Parameter(rng.uniform(-bound, bound, out_c).astype(dtype))
    return w, b


class SparseEncoder(Module):
    """conv3×3(1→C₁) @8×8, conv3×3 stride 2 (C₁→C₂) → 4×4, conv3×3 (C₂→C₂); ReLU after each.  With
    `sparse=True` every conv output is multiplied by the mask at its side (the official `sp_conv_forward`);
    `sparse=False` is the dense ablation.  `forward(x, a)` returns [S_1 (side 8), S_2 (side 4)]."""

    def __init__(self, sparse: bool = True, widths=WIDTHS, seed: int = 0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng([seed, 2301])
        c1, c2 = widths
        self.sparse = bool(sparse)
        self.w1, self.b1 = _conv_param(rng, c1, 1, 3, dtype)
        self.w2, self.b2 = _conv_param(rng, c2, c1, 3, dtype)
        self.w3, self.b3 = _conv_param(rng, c2, c2, 3, dtype)

    def _remask(self, z, A):
        return (
            z * Tensor(A) if self.sparse else z
        )  # sparse conv emulated by re-masking (official sp_conv_forward)

    def forward(self, x, a):
        A8, A4 = upsample_mask(a, IMAGE), upsample_mask(a, IMAGE // 2)
        h0 = x * Tensor(A8)  # h⁽⁰⁾ = x ⊙ A^(H): the masked input (zeros at masked patches)
        s1 = self._remask(F.conv2d(h0, self.w1, self.b1, padding=1), A8).relu()
        h2 = self._remask(F.conv2d(s1, self.w2, self.b2, stride=2, padding=1), A4).relu()
        s2 = self._remask(F.conv2d(h2, self.w3, self.b3, padding=1), A4).relu()
        return [s1, s2]

    def features(self, x) -> np.ndarray:
        """Downstream features of (n, 64) images, every site active (A ≡ 1): S_2 flattened, (n, C₂·16)."""
        from ....autograd.tensor import no_grad

        x = np.asarray(x, dtype=np.float32).reshape(-1, 1, IMAGE, IMAGE)
        a = np.ones((len(x), GRID, GRID), dtype=np.float32)
        with no_grad():
            return self.forward(Tensor(x), a)[1].data.reshape(len(x), -1)


def densify(s, A, token):
    """A ⊙ S + (1 − A) ⊙ m: the empty positions filled with the scale's mask token (official torch.where)."""
    cond = np.broadcast_to(np.asarray(A) > 0.5, s.shape)
    return where(cond, s, token * Tensor(np.ones(s.shape, dtype=s.data.dtype)))


class SparKModel(Module):
    """Encoder + hierarchical decoder.  `forward(batch)` takes rows [image (64) | patch mask (16)] and returns
    the per-pixel squared error on masked pixels, scaled so that its mean is the loss L (every row masks the
    same number of patches)."""

    def __init__(self, sparse: bool = True, widths=WIDTHS, seed: int = 0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng([seed, 3580])
        c1, c2 = widths
        self.encoder = SparseEncoder(sparse, widths, seed, dtype)
        self.token1 = Parameter(rng.uniform(-0.02, 0.02, (1, c1, 1, 1)).astype(dtype))
        self.token2 = Parameter(rng.uniform(-0.02, 0.02, (1, c2, 1, 1)).astype(dtype))
        self.p1w, self.p1b = _conv_param(rng, c1, c1, 3, dtype)  # φ₁: 3×3 above the smallest scale
        self.p2w, self.p2b = _conv_param(rng, c2, c2, 1, dtype)  # φ₂: 1×1 at the smallest scale
        self.uw, self.ub = _conv_param(rng, c1, c2, 3, dtype)  # after up₂
        self.dw, self.db = _conv_param(rng, c1, c1, 3, dtype)
        self.hw, self.hb = _conv_param(rng, 1, c1, 1, dtype)  # head → pixels
        self._U = _upsample2_matrix(IMAGE // 2)

    def reconstruct(self, x, a):
        """x̂ (n, 1, 8, 8) from images x (n, 1, 8, 8) and patch masks a (n, 4, 4)."""
        s1, s2 = self.encoder(x, a)
        A8, A4 = upsample_mask(a, IMAGE), upsample_mask(a, IMAGE // 2)
        d2 = F.conv2d(densify(s2, A4, self.token2), self.p2w, self.p2b)  # D₂ (1×1 projection)
        d1 = F.conv2d(densify(s1, A8, self.token1), self.p1w, self.p1b, padding=1)  # D₁ (3×3 projection)
        n, c = d2.shape[0], d2.shape[1]
        up = (d2.reshape(n, c, 16) @ Tensor(self._U)).reshape(n, c, IMAGE, IMAGE)  # up₂, nearest
        u = F.conv2d(up, self.uw, self.ub, padding=1)
        h = F.conv2d(u + d1, self.dw, self.db, padding=1).relu()
        return F.conv2d(h, self.hw, self.hb)

    def forward(self, batch):
        data = batch.data if isinstance(batch, Tensor) else np.asarray(batch)
        x = data[:, : IMAGE * IMAGE].reshape(-1, 1, IMAGE, IMAGE)
        a = data[:, IMAGE * IMAGE :].reshape(-1, GRID, GRID)
        hidden = 1.0 - upsample_mask(a, IMAGE)
        scale = hidden.size / max(hidden.sum(), 1.0)  # mean of the output = Σ(1−A)(x̂−x)² / Σ(1−A)
        err = (self.reconstruct(Tensor(x), a) - Tensor(x)) * Tensor(hidden)
        return (err * err * scale).reshape(len(x), -1)


def masked_reconstruction_loss(out, y=None, reduction: str = "mean"):
    """L from `SparKModel.forward`'s output (the target y is unused: the image is the target)."""
    per = out.mean(axis=1) if reduction == "none" else out.mean()
    return per


def masked_position_activity(encoder: SparseEncoder, x, a) -> float:
    """Share of masked sites of the last encoder map S₂ whose feature vector is not all zero: 0 for the sparse
    encoder by construction, the measure of mask pattern vanishing for the dense one."""
    from ....autograd.tensor import no_grad

    x = np.asarray(x, dtype=np.float32).reshape(-1, 1, IMAGE, IMAGE)
    with no_grad():
        s2 = encoder(Tensor(x), a)[1].data
    hidden = upsample_mask(a, IMAGE // 2)[:, 0] < 0.5
    active = np.abs(s2).max(axis=1) > 0
    return float(active[hidden].mean())
