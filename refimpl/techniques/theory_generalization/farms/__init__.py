r"""FARMS: the heavy-tail exponent α of a weight matrix's eigenvalue spectrum, measured on submatrices of one fixed
aspect ratio so that matrices of different shapes can be compared.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.  The estimator and
the sampling were read in the authors' code (HUST-AI-HYZ/FARMS @834612b: `LLM_Pruning/lib/sampling.py`
`fixed_sampling`, `LLM_Pruning/lib/esd_utils_farms.py` `net_esd_estimator_farms` and `analysis_esd`); the paper's
text was not reachable here (its abstract was), so equation numbers are not cited.

Heavy-tail metrics and their aspect-ratio bias
----------------------------------------------
The empirical spectral density (ESD) of a weight matrix :math:`W \in \mathbb R^{N\times M}` is the histogram of
the eigenvalues :math:`\lambda_i = s_i^2` of :math:`W^\top W` (its squared singular values).  Heavy-tailed
self-regularization fits a power law :math:`p(\lambda) \propto \lambda^{-\alpha}` to its upper part; a smaller α
(a heavier tail) is read as "better trained", and layer-wise schedules assign learning rates (TempBalance) or
pruning ratios (AlphaPruning) from the α of each layer.  The code's default fit (`analysis_esd`,
``fix_fingers='xmin_mid'``) puts :math:`\lambda_{\min}` at the median eigenvalue and takes the maximum-likelihood
(Hill) exponent of the :math:`n` eigenvalues above it (`hill_alpha`):

.. math::

    \hat\alpha = 1 + \frac{n}{\sum_{i:\lambda_i \ge \lambda_{\min}} \log(\lambda_i/\lambda_{\min})}.

On pure noise the ESD is no power law: for i.i.d. entries it is the Marchenko–Pastur law of the ratio
:math:`q = \min(N,M)/\max(N,M)` (`mp_density`, in units of :math:`\max(N, M)\,\sigma^2`),

.. math::

    \rho_q(x) = \frac{\sqrt{(b-x)(x-a)}}{2\pi q x},\qquad a, b = (1 \mp \sqrt q)^2,

whose support narrows as the matrix gets more rectangular.  So the fitted α of noise depends on the shape alone:
in the large-matrix limit (`mp_alpha`, derived here)

.. math::

    \alpha_{\mathrm{MP}}(q) = 1 + \Big(2\int_{m_q}^{b} \log(x/m_q)\,\rho_q(x)\,dx\Big)^{-1},
    \qquad m_q = \text{the median of } \rho_q,

which rises from 2.1 at q = 1 to 5.9 at q = 1/16: a square matrix looks heavy-tailed next to a wide one, whatever
either has learned.

FARMS (Fixed-Aspect-Ratio Matrix Subsampling)
---------------------------------------------
Take submatrices of one shape :math:`r \times \lfloor rQ\rfloor` on a grid of windows — ``ops`` start rows and
``ops`` start columns, evenly spaced and clipped to the matrix (`farms_windows`, the code's `fixed_sampling`) —
pool the eigenvalues of all of them into one averaged ESD (`farms_eigenvalues`) and fit α to it.  Every matrix is
then measured at the same ratio :math:`q = \min(1, Q)/\max(1, Q)`, and pure noise gives :math:`\alpha_{\mathrm{MP}}(q)`
whatever its shape.

What is ours
------------
NumPy in float64 instead of PyTorch; only the linear-layer path (the code's conv path slices kernels first) and
only the ``xmin_mid`` fit (the code also has a KS-distance search over :math:`\lambda_{\min}`).  The closed form
:math:`\alpha_{\mathrm{MP}}` is derived here, not taken from the paper.  The downstream uses (TempBalance learning
rates, AlphaPruning ratios) are not reproduced.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/farms.ipynb
"""

from __future__ import annotations

import numpy as np

from ..spectral import _matrix, eigenvalues, hill_alpha, mp_alpha, mp_density, mp_edges

CATALOG_ENTRY = {
    "slug": "farms",
    "title": "Eigenspectrum Analysis of Neural Networks without Aspect Ratio Bias",
    "authors": "Yuanzhe Hu, Kinshuk Goel, Vlad Killiakov, Yaoqing Yang",
    "year": 2025,
    "arxiv": "2506.06280",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/farms.ipynb",
    "verified": "official-code",
    "verification_note": "Checked against the authors' code (github.com/HUST-AI-HYZ/FARMS @834612b): the window grid "
    "of fixed-shape submatrices (LLM_Pruning/lib/sampling.py fixed_sampling: num_row_samples rows, "
    "int(num_row_samples·Q_ratio) columns, sampling_ops_per_dim evenly spaced starts per dimension, clipped to the "
    "matrix), the pooled squared singular values, and the 'xmin_mid' Hill fit with λ_min at index ⌊N/2⌋ "
    "(esd_utils_farms.py analysis_esd).  The paper's text was not reachable (abstract only), so no equation "
    "numbers; the Marchenko–Pastur prediction of the noise α is derived here.",
    "summary": "The power-law exponent α fitted to a weight matrix's eigenvalue spectrum depends on the matrix's "
    "aspect ratio even for pure noise; FARMS fits α to the pooled spectrum of many submatrices of one fixed "
    "aspect ratio, so that layers of different shapes are compared on equal terms.",
    "equations": [
        "λ_i = s_i(W)²;  α̂ = 1 + n / Σ_{λ_i ≥ λ_min} log(λ_i/λ_min),  λ_min = the median eigenvalue  (analysis_esd)",
        "FARMS: pool λ(W[r_i : r_i + r, c_j : c_j + ⌊rQ⌋]) over an ops × ops grid of windows, then fit α  "
        "(fixed_sampling)",
        "ρ_q(x) = √((b − x)(x − a)) / (2π q x),  a, b = (1 ∓ √q)²  (Marchenko–Pastur, q = min/max side)",
        "α_MP(q) = 1 + 1 / (2 ∫_{m_q}^{b} log(x/m_q) ρ_q(x) dx),  m_q the median of ρ_q  (derived here)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "eigenvalues",
    "hill_alpha",
    "farms_windows",
    "farms_eigenvalues",
    "mp_edges",
    "mp_density",
    "mp_alpha",
]


def farms_windows(shape, rows: int, q_ratio: float, ops: int) -> list[tuple[int, int, int, int]]:
    """The code's `fixed_sampling` window grid: (row start, column start, rows, columns) of every submatrix."""
    R, C = int(shape[0]), int(shape[1])
    cols = int(rows * q_ratio)
    if not 1 <= rows <= R:
        raise ValueError(f"`rows` must be in 1..{R} (the matrix's rows), got {rows}")
    if not 1 <= cols <= C:
        raise ValueError(f"`q_ratio`: rows·q_ratio = {cols} columns must be in 1..{C} (the matrix's columns)")
    if ops < 2:
        raise ValueError(f"`ops` must be ≥ 2 windows per dimension, got {ops}")
    row_step = max(1, (R - rows) // (ops - 1))
    col_step = max(1, (C - cols) // (ops - 1))
    n_r = min(ops, max(1, (R - rows) // row_step + 1))
    n_c = min(ops, max(1, (C - cols) // col_step + 1))
    return [
        (min(i * row_step, R - rows), min(j * col_step, C - cols), rows, cols)
        for i in range(n_r)
        for j in range(n_c)
    ]


def farms_eigenvalues(W, rows: int, q_ratio: float = 2.0, ops: int = 10) -> np.ndarray:
    """The averaged ESD: eigenvalues of every fixed-shape submatrix of the window grid, pooled and sorted."""
    W = _matrix(W)
    pooled = [
        eigenvalues(W[r : r + h, c : c + w]) for r, c, h, w in farms_windows(W.shape, rows, q_ratio, ops)
    ]
    return np.sort(np.concatenate(pooled))
