r"""Polyhistor(-Lite): one shared hypernetwork writes every task's adapters, through low-rank factors (Decomposed
HyperNetworks) and a small template kernel that each layer scales to its own width (Layer-wise Scaling Kernels).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  No official code was
released; the paper's method section could not be read here (only its abstract, its Fig. 2 caption and its
project page), so this implementation is **reconstructed** and every assumption is listed below.

The setting
-----------
A frozen backbone whose blocks have different widths $d_\ell$ (a hierarchical ViT: the width doubles at each
stage) is adapted to $T$ tasks at once with bottleneck adapters (Houlsby et al.), one per block and task,

$$h \leftarrow h + U_{t,\ell}\,\sigma(D_{t,\ell}\,h),\qquad D_{t,\ell}\in\mathbb R^{k_\ell\times d_\ell},\;
U_{t,\ell}\in\mathbb R^{d_\ell\times k_\ell}.$$

Per-task adapters cost $T\sum_\ell 2k_\ell d_\ell$ trainable parameters, quadratic in the width when
$k_\ell \propto d_\ell$ (the paper's Fig. 1c); a hypernetwork that maps a task embedding to a whole
$d\times k$ matrix (Hyperformer) needs $d\,k$ outputs per input unit — the two costs Polyhistor removes.

Decomposed HyperNetworks (Sec. 4.1)
-----------------------------------
Condition on $c_{t,\ell} = [z_t;\,l_\ell]\in\mathbb R^{2e}$ (a trainable task embedding and layer embedding).
Instead of one hypernetwork emitting the $m\times n$ kernel, a *pair* emits its low-rank factors,

$$A = \mathrm{reshape}_{m\times\rho}(W_A c + b_A),\qquad B = \mathrm{reshape}_{n\times\rho}(W_B c + b_B),
\qquad K_{t,\ell} = A B^\top/\sqrt\rho,$$

so the hypernetworks have $(2e+1)\rho(m+n)$ parameters instead of $(2e+1)mn$
(`hypernet_output_count`, `hypernet_param_count`).

Layer-wise Scaling Kernels (Sec. 4.2)
-------------------------------------
The hypernetworks only ever emit a *template* kernel of a fixed size $m_0\times n_0$ (for the down projection
$k_0\times d_0$, for the up projection $d_0\times k_0$).  Block $\ell$ (with $d_\ell = s_\ell d_0$,
$k_\ell = s_\ell k_0$) gets its full-size kernel from a small trainable scaling kernel
$S_\ell\in\mathbb R^{s_\ell\times s_\ell}$ by a Kronecker product,

$$D_{t,\ell} = S^{D}_\ell \otimes K^{D}_{t,\ell},\qquad U_{t,\ell} = S^{U}_\ell \otimes K^{U}_{t,\ell},$$

so a block's own parameters are $2s_\ell^2$ instead of $2k_\ell d_\ell$.  Polyhistor-Lite (Sec. 4.3) is the
two combined: the hypernetworks (shared by tasks and layers) emit the templates, the scaling kernels (shared
by tasks) fit them to each block — this is what `Polyhistor` implements.

Assumptions (reconstructed, not read in the paper)
--------------------------------------------------
* the hypernetworks are single linear maps of the concatenated task and layer embeddings;
* $K = AB^\top/\sqrt\rho$ (the $1/\sqrt\rho$ and the fixed factors $1/\sqrt{d_\ell}$ on the down and
  $1/\sqrt{k_\ell}$ on the up projection are ours: they give the generated kernels the scale of a
  Kaiming-initialised layer at every width, so one learning rate serves all blocks);
* $S_\ell$ is square, $s_\ell = d_\ell/d_0$, and starts at all ones (every block starts as tiles of the
  template);
* the up projection's $B$-hypernetwork starts at zero, so $U = 0$ and the adapters start as the identity;
* GELU inside the adapter, no adapter biases.
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "polyhistor",
    "title": "Polyhistor: Parameter-Efficient Multi-Task Adaptation for Dense Vision Tasks",
    "authors": "Yen-Cheng Liu, Chih-Yao Ma, Junjiao Tian, Zijian He, Zsolt Kira",
    "year": 2022,
    "arxiv": "2210.03265",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/polyhistor.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract, the Fig. 2 caption (Decomposed HyperNetworks Sec. 4.1, Layer-wise "
        "Scaling Kernels Sec. 4.2, Polyhistor-Lite Sec. 4.3) and the project page; the method section's "
        "equations were not available and no official code was released. Assumed: linear hypernetworks on "
        "[task embedding; layer embedding] emitting the two low-rank factors of a template kernel, "
        "square layer-wise scaling kernels applied by Kronecker product, zero-initialised up projection. "
        "No equation numbers."
    ),
    "summary": (
        "Multi-task parameter-efficient adaptation of a backbone with blocks of different widths: a shared "
        "hypernetwork maps task and layer embeddings to the low-rank factors of small template adapter "
        "kernels, and per-layer scaling kernels blow a template up to the block's width by a Kronecker "
        "product; compared with per-task and shared bottleneck adapters at their trainable-parameter counts."
    ),
    "equations": [
        "h ← h + U_{t,ℓ} σ(D_{t,ℓ} h)   (bottleneck adapter per task t, block ℓ)",
        "K_{t,ℓ} = A Bᵀ,  A = H_A([z_t; l_ℓ]) ∈ R^{m0×ρ},  B = H_B([z_t; l_ℓ]) ∈ R^{n0×ρ}  (Sec. 4.1)",
        "D_{t,ℓ} = S^D_ℓ ⊗ K^D_{t,ℓ},  U_{t,ℓ} = S^U_ℓ ⊗ K^U_{t,ℓ},  S_ℓ ∈ R^{s_ℓ×s_ℓ}, s_ℓ = d_ℓ/d0  (Sec. 4.2)",
        "#hypernet params (2e+1)ρ(m0+n0) vs (2e+1)m0 n0 undecomposed",
    ],
}


# --- counts ------------------------------------------------------------------------------------------
def hypernet_output_count(m: int, n: int, rho: int | None = None) -> int:
    """Outputs a hypernetwork emits for one m×n kernel: m·n (whole kernel) or ρ(m + n) (decomposed, Sec. 4.1)."""
    for name, v in (("m", m), ("n", n)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"hypernet_output_count: `{name}` must be an int ≥ 1, got {v!r}")
    if rho is None:
        return int(m * n)
    if not isinstance(rho, (int, np.integer)) or rho < 1:
        raise ValueError(f"hypernet_output_count: rank `rho` must be an int ≥ 1 or None, got {rho!r}")
    return int(rho * (m + n))


def hypernet_param_count(in_dim: int, m: int, n: int, rho: int | None = None) -> int:
    """A linear hypernetwork from `in_dim` inputs (plus bias) to those outputs: (in_dim + 1)·outputs."""
    return int((in_dim + 1) * hypernet_output_count(m, n, rho))


def bottleneck_count(widths, ks, n_tasks: int = 1) -> int:
    """T independent bias-free bottleneck adapters: T·Σ_ℓ 2 k_ℓ d_ℓ."""
    return int(n_tasks * sum(2 * k * d for d, k in zip(widths, ks)))


# --- the pieces --------------------------------------------------------------------------------------
def kron(a, b):
    """(m, n) ⊗ (p, q) → (mp, nq),  (a ⊗ b)[i p + k, j q + l] = a[i, j] b[k, l]  (differentiable)."""
    a = a if isinstance(a, Tensor) else Tensor(np.asarray(a))
    b = b if isinstance(b, Tensor) else Tensor(np.asarray(b))
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"kron: need two matrices, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    (m, n), (p, q) = a.shape, b.shape
    prod = ops.reshape(a, (m, 1, n, 1)) * ops.reshape(b, (1, p, 1, q))
    return ops.reshape(prod, (m * p, n * q))


def template_kernel(c, W_A, b_A, W_B, b_B, m: int, n: int, rho: int):
    """K = A Bᵀ/√ρ with A = reshape(W_A c + b_A, (m, ρ)), B = reshape(W_B c + b_B, (n, ρ))  (Sec. 4.1)."""
    A = ops.reshape(ops.matmul(W_A, c) + b_A, (m, rho))  # task/layer-conditioned left factor
    B = ops.reshape(ops.matmul(W_B, c) + b_B, (n, rho))  # right factor
    return ops.matmul(A, B.T) * (1.0 / math.sqrt(rho))


def scaled_kernel(S, K):
    """The block's kernel S ⊗ K: the template K tiled and weighted by the layer's scaling kernel (Sec. 4.2)."""
    return kron(S, K)


class _HyperPair(Module):
    """The pair of linear hypernetworks (H_A, H_B) of one template kernel of size m×n (Sec. 4.1)."""

    def __init__(self, in_dim, m, n, rho, zero_B=False, dtype=np.float32, rng=None):
        super().__init__()
        self.m, self.n, self.rho = m, n, rho
        std = 1.0 / math.sqrt(in_dim)  # A, B entries ~ N(0, 1) for c ~ N(0, I)
        self.W_A = Parameter(rng.normal(0, std, (m * rho, in_dim)).astype(dtype))
        self.b_A = Parameter(np.zeros(m * rho, dtype=dtype))
        self.W_B = Parameter(
            np.zeros((n * rho, in_dim), dtype)
            if zero_B
            else rng.normal(0, std, (n * rho, in_dim)).astype(dtype)
        )
        self.b_B = Parameter(np.zeros(n * rho, dtype=dtype))

    def forward(self, c):
        return template_kernel(c, self.W_A, self.b_A, self.W_B, self.b_B, self.m, self.n, self.rho)


class Polyhistor(Module):
    """Polyhistor-Lite adapters for `n_tasks` tasks on blocks of widths `widths` (each a multiple of d0).

    Trainable: task embeddings T·e, layer embeddings L·e, two hypernetwork pairs (down k0×d0, up d0×k0),
    2·Σ_ℓ s_ℓ² scaling-kernel entries — `num_trainable()`; `weights(t, ℓ)` → (D, U); `adapt(h, t, ℓ)`."""

    def __init__(self, widths, n_tasks, d0, k0, rho=2, emb_dim=8, dtype=np.float32, rng=None):
        super().__init__()
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        widths = [int(w) for w in widths]
        for name, v in (("n_tasks", n_tasks), ("d0", d0), ("k0", k0), ("rho", rho), ("emb_dim", emb_dim)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Polyhistor: `{name}` must be an int ≥ 1, got {v!r}")
        bad = [w for w in widths if w < d0 or w % d0]
        if not widths or bad:
            raise ValueError(f"Polyhistor: every width must be a positive multiple of d0={d0}, got {widths}")
        self.widths, self.n_tasks, self.d0, self.k0, self.rho, self.e = widths, n_tasks, d0, k0, rho, emb_dim
        self.scales = [w // d0 for w in widths]  # s_ℓ
        self.task_emb = Parameter(rng.normal(0, 1, (n_tasks, emb_dim)).astype(dtype))  # z_t
        self.layer_emb = Parameter(rng.normal(0, 1, (len(widths), emb_dim)).astype(dtype))  # l_ℓ
        self.hyper_down = _HyperPair(2 * emb_dim, k0, d0, rho, dtype=dtype, rng=rng)
        self.hyper_up = _HyperPair(2 * emb_dim, d0, k0, rho, zero_B=True, dtype=dtype, rng=rng)
        for i, s in enumerate(self.scales):  # S^D_ℓ, S^U_ℓ (Sec. 4.2), all ones at the start
            setattr(self, f"S_down_{i}", Parameter(np.ones((s, s), dtype=dtype)))
            setattr(self, f"S_up_{i}", Parameter(np.ones((s, s), dtype=dtype)))

    def condition(self, t: int, layer: int):
        """c_{t,ℓ} = [z_t; l_ℓ]."""
        if not 0 <= t < self.n_tasks or not 0 <= layer < len(self.widths):
            raise ValueError(
                f"Polyhistor: need 0 ≤ t < {self.n_tasks} and 0 ≤ layer < {len(self.widths)}, got t={t}, "
                f"layer={layer}"
            )
        return ops.concatenate([self.task_emb[t], self.layer_emb[layer]], 0)

    def weights(self, t: int, layer: int):
        """(D_{t,ℓ} (k_ℓ×d_ℓ), U_{t,ℓ} (d_ℓ×k_ℓ)) with the fixed Kaiming-like factors (an assumption)."""
        c = self.condition(t, layer)
        d, k = self.widths[layer], self.scales[layer] * self.k0
        D = scaled_kernel(getattr(self, f"S_down_{layer}"), self.hyper_down(c)) * (1.0 / math.sqrt(d))
        U = scaled_kernel(getattr(self, f"S_up_{layer}"), self.hyper_up(c)) * (1.0 / math.sqrt(k))
        return D, U

    def adapt(self, h, t: int, layer: int):
        """h + U σ(D h) for a batch h (N, d_ℓ)."""
        D, U = self.weights(t, layer)
        return h + ops.matmul(F.gelu(ops.matmul(h, D.T)), U.T)

    def num_trainable(self) -> int:
        e2 = 2 * self.e
        return int(
            (self.n_tasks + len(self.widths)) * self.e
            + hypernet_param_count(e2, self.k0, self.d0, self.rho)
            + hypernet_param_count(e2, self.d0, self.k0, self.rho)
            + 2 * sum(s * s for s in self.scales)
        )


class PolyhistorAdapter(Module):
    """One task's adapter at one block, h ↦ h + U σ(D h), its weights generated by a (shared) `Polyhistor`
    bank.  `num_trainable()` counts the block's own parameters (its scaling kernels and layer embedding);
    the shared hypernetworks and task embeddings are counted once by the caller."""

    def __init__(self, bank: Polyhistor, t: int = 0, layer: int = 0):
        super().__init__()
        bank.condition(t, layer)  # validates t, layer
        self.bank, self.t, self.layer = bank, int(t), int(layer)

    def forward(self, h):
        return self.bank.adapt(h, self.t, self.layer)

    def num_trainable(self) -> int:
        return 2 * self.bank.scales[self.layer] ** 2 + self.bank.e


ACTIVATION_ADAPTER_FACTORIES = {
    # name → (d, rng) → zero-initialised activation adapter (the up projection's B-hypernetwork is zero)
    "polyhistor-d0-half": lambda d, rng: PolyhistorAdapter(
        Polyhistor([d], n_tasks=2, d0=max(d // 2, 1), k0=2, rho=2, emb_dim=3, rng=rng), t=1
    ),
}
