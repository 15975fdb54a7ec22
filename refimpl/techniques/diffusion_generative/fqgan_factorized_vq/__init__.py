r"""Factorized Visual Tokenization (FQGAN, Bai et al., arXiv 2411.16681): factorised vector quantisation.

The paper card is `CATALOG_ENTRY` below.

The mechanism (reconstructed: arXiv id and abstract confirmed; the method section/code not read in the time box)
-------------------------------------------------------------------------------------------------------
A VQ auto-encoder (van den Oord et al. 2017) maps x to z = E(x), replaces z by its nearest code
q = e_{k*}, k* = argmin_k ‖z − e_k‖² (VQ-VAE eq. 1–2), and decodes x̂ = D(q) with the straight-through
estimator ∂L/∂z := ∂L/∂q.  The loss is (VQ-VAE eq. 3)

.. math::

    L = \lVert x - \hat x\rVert^2 + \lVert \mathrm{sg}[z] - q\rVert^2 + \beta\,\lVert z - \mathrm{sg}[q]\rVert^2 .

Factorised quantisation: K sub-encoders z_i = E_i(x) each quantised by its own sub-codebook C_i of size N/K;
the decoder reads the concatenation [q_1, …, q_K].  The disentanglement regulariser (as we reconstruct it)
penalises the squared cosine between the sub-codebooks' quantised vectors,

.. math::

    L_{dis} = \frac{2}{K(K-1)} \sum_{i<j} \big(\hat q_i^\top \hat q_j\big)^2,\qquad \hat q = q/\lVert q\rVert ,

applied (in our version; the paper's exact form and equation number are unverified) to the pre-quantisation z_i, through which it reaches the encoder.  The CLIP/DINO
representation-alignment term of the paper is omitted at toy scale.  Encoder and decoder here are linear
(affine); everything is NumPy with explicit gradients (`vq_loss_and_grads`), checked by finite differences.
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "fqgan-factorized-vq",
    "title": "Factorized Visual Tokenization and Generation",
    "authors": "Zechen Bai, Jianxiong Gao, Ziteng Gao, Pichao Wang, Zheng Zhang, Tong He, Mike Zheng Shou",
    "year": 2024,
    "arxiv": "2411.16681",
    "family": "diffusion-generative",
    "notebook": "notebooks/diffusion-generative/fqgan-factorized-vq.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (abstract, arXiv HTML and project page showlab.github.io/FQGAN); the "
    "method section and official code were not read within the time box.  VQ "
    "losses follow VQ-VAE (van den Oord et al. 2017); the disentanglement regulariser is reconstructed as the mean "
    "squared cosine between sub-codebook vectors; CLIP/DINO alignment omitted; linear encoder/decoder are ours.",
    "summary": "Split one large VQ codebook into K small sub-codebooks, each quantising its own projection, and "
    "concatenate the codes; a regulariser pushes the sub-codebooks to encode different things.",
    "equations": [
        "k* = argmin_k ‖z − e_k‖²,  q = e_{k*},  ∂L/∂z := ∂L/∂q   (VQ-VAE, straight-through)",
        "L = ‖x − D(q)‖² + ‖sg[z] − q‖² + β‖z − sg[q]‖²   (VQ-VAE eq. 3)",
        "q = [q_1, …, q_K],  q_i = VQ(E_i(x); C_i),  |C_i| = N/K   (factorised quantisation)",
        "L_dis = mean_{i<j} (ẑ_iᵀ ẑ_j)²,  ẑ = z/‖z‖   (disentanglement, reconstructed)",
    ],
}

__all__ = ["CATALOG_ENTRY", "quantize", "perplexity", "disentangle_loss", "init_params", "vq_loss_and_grads"]


def quantize(z, codebook):
    """Nearest-code assignment: indices k* = argmin_k ‖z − e_k‖² (ties to the lowest index) and q = e_{k*}."""
    z, codebook = np.asarray(z, dtype=np.float64), np.asarray(codebook, dtype=np.float64)
    d = np.sum(z**2, 1)[:, None] - 2 * z @ codebook.T + np.sum(codebook**2, 1)[None, :]
    idx = np.argmin(d, axis=1)
    return idx, codebook[idx]


def perplexity(idx, n_codes: int) -> float:
    """exp(−Σ_k p_k log p_k) of the empirical code-usage distribution p (= n_codes when usage is uniform)."""
    if n_codes < 1:
        raise ValueError(f"`n_codes` must be ≥ 1, got {n_codes}")
    p = np.bincount(np.asarray(idx).ravel(), minlength=n_codes) / max(np.size(idx), 1)
    nz = p[p > 0]
    return float(np.exp(-np.sum(nz * np.log(nz))))


def disentangle_loss(zs):
    """Mean over pairs i<j and rows of (ẑ_iᵀ ẑ_j)², ẑ = z/‖z‖, and its gradient with respect to each z_i."""
    K = len(zs)
    if K < 2:
        return 0.0, [np.zeros_like(z) for z in zs]
    norms = [np.linalg.norm(z, axis=1, keepdims=True) + 1e-12 for z in zs]
    units = [z / n for z, n in zip(zs, norms)]
    n_pairs, rows = K * (K - 1) / 2, zs[0].shape[0]
    loss, grads = 0.0, [np.zeros_like(z) for z in zs]
    for i in range(K):
        for j in range(i + 1, K):
            c = np.sum(units[i] * units[j], 1, keepdims=True)
            loss += float(np.sum(c**2)) / (n_pairs * rows)
            dc = 2 * c / (n_pairs * rows)
            for a, b in ((i, j), (j, i)):  # ∂c/∂z_a = (u_b − c u_a)/‖z_a‖
                grads[a] += dc * (units[b] - c * units[a]) / norms[a]
    return loss, grads


def init_params(dim: int, n_codes: int, k: int, code_dim: int, rng) -> dict:
    """Linear encoders E_i (dim → code_dim), K codebooks of n_codes/k entries, a linear decoder (k·code_dim → dim)."""
    if n_codes % k:
        raise ValueError(f"`n_codes` {n_codes} must be divisible by k {k}")
    rng = np.random.default_rng(rng)
    return {
        "enc": [rng.standard_normal((dim, code_dim)) / np.sqrt(dim) for _ in range(k)],
        "books": [rng.standard_normal((n_codes // k, code_dim)) * 0.5 for _ in range(k)],
        "dec": rng.standard_normal((k * code_dim, dim)) / np.sqrt(k * code_dim),
        "bias": np.zeros(dim),
    }


def vq_loss_and_grads(params, x, beta: float = 0.25, lam: float = 0.0):
    """The total loss (recon + codebook + β·commit + λ·L_dis) and gradients by straight-through; returns
    (loss, grads, info) with info = {"recon", "idx"}."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    zs = [x @ w for w in params["enc"]]
    qs, idxs = [], []
    for z, book in zip(zs, params["books"]):
        i, q = quantize(z, book)
        idxs.append(i)
        qs.append(q)
    qcat = np.concatenate(qs, 1)
    xhat = qcat @ params["dec"] + params["bias"]
    r = xhat - x
    recon = float(np.sum(r**2)) / n
    g_xhat = 2 * r / n
    g_dec, g_bias = qcat.T @ g_xhat, g_xhat.sum(0)
    g_q = np.split(g_xhat @ params["dec"].T, len(zs), axis=1)
    dis, g_dis = disentangle_loss(zs)
    loss, g_enc, g_books = recon + lam * dis, [], []
    for z, q, gq, gd, book, idx in zip(zs, qs, g_q, g_dis, params["books"], idxs):
        diff = z - q
        loss += (1 + beta) * float(np.sum(diff**2)) / n
        g_z = gq + 2 * beta * diff / n + lam * gd  # straight-through: ∂L/∂z gets ∂L/∂q
        g_enc.append(x.T @ g_z)
        gb = np.zeros_like(book)
        np.add.at(gb, idx, -2 * diff / n)  # codebook term ‖sg[z] − e‖² moves the chosen codes
        g_books.append(gb)
    grads = {"enc": g_enc, "books": g_books, "dec": g_dec, "bias": g_bias}
    return loss, grads, {"recon": recon, "idx": idxs, "dis": dis}
