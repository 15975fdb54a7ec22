"""Reference cases of the LOST decomposition, worked by hand on a diagonal matrix, and a medium-size random
case computed from the eigendecomposition of WᵀW (no SVD)."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....catalog import ReferenceCase
from . import LOSTLinear, lost_decompose


def _lost_by_eigh(W, rank, n_channels):
    """AB, the kept channels and AB + S from the eigenvectors of WᵀW (independent of `lost_decompose`'s
    SVD): AB = W V_r V_rᵀ is the best rank-r approximation; E = W − AB; the c columns of E of largest
    norm, found by a plain sort of (norm, index) pairs."""
    evals, V = np.linalg.eigh(W.T @ W)
    Vr = V[:, np.argsort(evals)[::-1][:rank]]
    AB = W @ Vr @ Vr.T
    E = W - AB
    norms = [float(np.sqrt(sum(E[i, j] ** 2 for i in range(W.shape[0])))) for j in range(W.shape[1])]
    channels = np.array(sorted(j for _, j in sorted(((-n, j) for j, n in enumerate(norms)))[:n_channels]))
    full = AB.copy()
    full[:, channels] += E[:, channels]
    return {"AB": AB, "channels": channels, "reconstruction": full}


def reference_cases() -> list:
    def decomp(W, rank, n_channels, values="residual"):
        A, B, ch, S = lost_decompose(np.asarray(W), int(rank), int(n_channels), values=str(values))
        full = A @ B
        full[:, ch] += S
        return {"AB": A @ B, "channels": ch, "reconstruction": full}

    def layer(W, x, rank, n_channels, gamma):
        W = np.asarray(W, dtype=np.float64)
        mod = LOSTLinear(
            W.shape[1],
            W.shape[0],
            int(rank),
            int(n_channels),
            bias=False,
            dtype=np.float64,
            init_weight=W,
            gamma=float(gamma),
            values="weight",
        )
        with no_grad():
            return {"y": mod(Tensor(np.asarray(x, dtype=np.float64))).data}

    W = np.diag([3.0, 2.0, 1.0])
    W2 = np.array([[3.0, 4.0, 0.0], [0.8, -0.6, 0.0]])
    AB2 = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    Wr = np.random.default_rng(2202).normal(0.0, 1.0, size=(12, 16))
    random_case = ReferenceCase(
        "random_12x16_rank3_five_channels",
        {"W": Wr, "rank": 3, "n_channels": 5, "values": "residual"},
        _lost_by_eigh(Wr, 3, 5),
        decomp,
        function="refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.lost_decompose",
        note="eigendecomposition, not SVD: AB = W V₃V₃ᵀ with V₃ the top-3 eigenvectors of WᵀW (Eckart–Young); "
        "E = W − AB; channels = the 5 columns of E of largest norm (explicit sums, a plain sort), and "
        "reconstruction = AB + E on those columns (random normal W, seed 2202; the selected channels are "
        "the same in float32)",
        atol=1e-10,
        rtol=1e-10,
        atol32=2e-5,
        rtol32=1e-4,
    )
    return [
        ReferenceCase(
            "diag_rank1_two_channels",
            {"W": W, "rank": 1, "n_channels": 2},
            {"AB": np.diag([3.0, 0.0, 0.0]), "channels": np.array([1, 2]), "reconstruction": W},
            decomp,
            function="refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.lost_decompose",
            note="by hand: SVD of diag(3,2,1) keeps σ=3 → AB = diag(3,0,0); residual diag(0,2,1) has "
            "column norms [0,2,1] → channels 1, 2, so AB + S reproduces W exactly",
            atol=1e-12,
        ),
        ReferenceCase(
            "diag_rank1_one_channel",
            {"W": W, "rank": 1, "n_channels": 1},
            {
                "AB": np.diag([3.0, 0.0, 0.0]),
                "channels": np.array([1]),
                "reconstruction": np.diag([3.0, 2.0, 0.0]),
            },
            decomp,
            function="refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.lost_decompose",
            note="by hand: only the largest residual column (σ=2) is kept",
            atol=1e-12,
        ),
        ReferenceCase(
            "residual_vs_weight_values",
            {"W": W2, "rank": 1, "n_channels": 1, "values": "residual"},
            {"AB": AB2, "channels": np.array([0]), "reconstruction": np.array([[3.0, 4.0, 0], [0.8, 0, 0]])},
            decomp,
            function="refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.lost_decompose",
            note="by hand: W = 5·e₁(0.6, 0.8, 0) + 1·e₂(0.8, −0.6, 0) (orthonormal rows and v's), so AB is "
            "the first row; E = [[0,0,0],[0.8,−0.6,0]] has column norms 0.8, 0.6, 0 → channel 0, S = E[:,0]",
            atol=1e-12,
        ),
        ReferenceCase(
            "weight_values_double_count",
            {"W": W2, "rank": 1, "n_channels": 1, "values": "weight"},
            {"AB": AB2, "channels": np.array([0]), "reconstruction": np.array([[6.0, 4.0, 0], [0.8, 0, 0]])},
            decomp,
            function="refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.lost_decompose",
            note="by hand: as above but S = W[:,0] = (3, 0.8): the kept channel's low-rank share (3) is "
            "counted twice at init (the development code's variant)",
            atol=1e-12,
        ),
        ReferenceCase(
            "dev_variant_gamma_half",
            {"W": W, "x": np.array([[1.0, 1.0, 1.0]]), "rank": 1, "n_channels": 1, "gamma": 0.5},
            {"y": np.array([[1.5, 1.0, 0.0]])},
            layer,
            function="refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.LOSTLinear",
            note="by hand: AB = diag(3,0,0), channel 1 kept with the weight's column W[:,1] = (0,2,0); "
            "y = 0.5·x(AB)ᵀ + 0.5·x₁·(0,2,0) = (1.5, 0, 0) + (0, 1, 0)",
            atol=1e-12,
        ),
    ] + [random_case]
