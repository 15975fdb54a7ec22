"""Reference cases of FDConv: the Fourier disjoint kernels of a length-4 kernel by hand, their orthogonality and
disjoint spectra on a 4×6 weight (Parseval, checked with np.fft), the per-sample mixed convolution by hand, and
the kernel attention by hand (math.exp)."""

from __future__ import annotations

import math

import numpy as np

from ....catalog import ReferenceCase
from . import dynamic_conv1d, fourier_disjoint_weights, frequency_groups, kernel_attention, real_fourier_basis

_P = "refimpl.techniques.architectures.fdconv."


def _fdw(M, N, K, theta):
    phi, _, atom = real_fourier_basis(M, N)
    return fourier_disjoint_weights(theta, phi, frequency_groups(atom, K), K).data


def _spectral_checks(M, N, K, theta):
    W = _fdw(M, N, K, theta)
    flat = W.reshape(K, -1)
    G = flat @ flat.T
    spec = np.abs(np.fft.fft2(W)) > 1e-9  # (K, M, N) support of each kernel's spectrum
    return {
        "offdiag_max": np.array(np.abs(G - np.diag(np.diag(G))).max()),
        "energy": np.array(np.trace(G)),
        "shared_bins": np.array(float((spec.sum(axis=0) > 1).sum())),
    }


def reference_cases() -> list:
    conv = {
        "basis": "real orthonormal Fourier modes of the (c_out, c_in·k) weight matrix, sorted by radius "
        "√(f_u²+f_v²) (np.fft.fftfreq), ties in row-major enumeration order, cos before sin",
        "groups": "conjugate pairs (one rfft2 coefficient) cut into K contiguous runs by np.array_split",
        "attention": "π = 2σ(A·mean_L(x) + a)",
        "convolution": "cross-correlation (no kernel flip), as torch.nn.functional.conv1d",
    }
    theta = np.random.default_rng(7).standard_normal(24)
    return [
        ReferenceCase(
            "fdw_length4_kernel_two_groups",
            {"M": 1, "N": 4, "K": 2, "theta": np.array([2.0, math.sqrt(2.0), math.sqrt(2.0), 2.0])},
            {"W": np.array([[[2.0, 2.0, 0.0, 0.0]], [[1.0, -1.0, 1.0, -1.0]]])},
            lambda M, N, K, theta: {"W": _fdw(M, N, K, theta)},
            function=_P + "fourier_disjoint_weights",
            note="by hand: modes DC [1,1,1,1]/2, cos [1,0,-1,0]/√2, sin [0,1,0,-1]/√2 (one atom), Nyquist "
            "[1,-1,1,-1]/2; atoms {DC, f=1/4} → group 1, {f=1/2} → group 2; W₁ = [1,1,1,1] + [1,0,-1,0] + "
            "[0,1,0,-1], W₂ = [1,-1,1,-1]; ⟨W₁, W₂⟩ = 0",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "fdw_4x6_three_groups_orthogonal_disjoint_spectra",
            {"M": 4, "N": 6, "K": 3, "theta": theta},
            {
                "offdiag_max": np.array(0.0),
                "energy": np.array(float(theta @ theta)),
                "shared_bins": np.array(0.0),
            },
            _spectral_checks,
            function=_P + "fourier_disjoint_weights",
            note="Parseval: disjoint spectral supports (counted with np.fft.fft2) give ⟨W_i, W_j⟩ = 0 for i ≠ j, "
            "and an orthonormal basis gives Σ‖W_i‖² = ‖θ‖²",
            atol=1e-10,
            conventions=conv,
        ),
        ReferenceCase(
            "dynamic_conv1d_two_kernels_by_hand",
            {
                "x": np.array([[[1.0, 2.0, 3.0]]]),
                "kernels": np.array([[[[1.0, 0.0]]], [[[0.0, 1.0]]]]),
                "pi": np.array([[2.0, 0.5]]),
            },
            {"y": np.array([[[3.0, 5.5]]])},
            lambda x, kernels, pi: {"y": dynamic_conv1d(x, kernels, pi).data},
            function=_P + "dynamic_conv1d",
            note="mixed kernel 2·[1,0] + 0.5·[0,1] = [2, 0.5]; y_t = 2x_t + 0.5x_{t+1} = [2+1, 4+1.5]",
            atol=1e-12,
            conventions=conv,
        ),
        ReferenceCase(
            "kernel_attention_by_hand",
            {"x": np.array([[[0.5, 1.5]]]), "A": np.array([[1.0], [-1.0]]), "a": np.array([0.0, 0.0])},
            {"pi": np.array([[2 / (1 + math.exp(-1.0)), 2 / (1 + math.exp(1.0))]])},
            lambda x, A, a: {"pi": kernel_attention(x, A, a).data},
            function=_P + "kernel_attention",
            note="mean_L(x) = 1, z = [1, −1], π = 2σ(z) = [1.462117, 0.537883]",
            atol=1e-12,
            conventions=conv,
        ),
    ]
