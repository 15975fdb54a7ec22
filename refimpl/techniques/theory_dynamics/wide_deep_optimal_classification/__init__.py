r"""Infinitely wide *and* deep networks as classifiers: the neural tangent kernel (NTK) of a fully connected
network on the unit sphere, iterated to infinite depth, turns into one of three classical rules, fixed by
the activation alone — 1-nearest neighbour, majority vote, or a *singular kernel* classifier
:math:`\operatorname{sign}\sum_i y_i\,g(x^\top x_i)` with :math:`g` blowing up like
:math:`\lVert x - x_i\rVert^{-\alpha}`; with :math:`\alpha = d` (the sphere's dimension) the latter is
Devroye's Hilbert-kernel rule, which is Bayes-consistent.

The paper card is `CATALOG_ENTRY` below: the one copy.

The kernels (dual activation; official code `models.py`: `dual_act`, `nngp_kernel`, `ntk_kernel`)
------------------------------------------------------------------------------------------------
For unit-norm inputs and an activation φ normalised so that :math:`\mathbb E\,\phi(z)^2 = 1`, the dual
activation :math:`\check\phi(\rho) = \mathbb E\,\phi(u)\phi(v)` (u, v standard normals with correlation ρ)
maps [−1, 1] to itself with :math:`\check\phi(1) = 1`.  Writing it in its Hermite form
:math:`\check\phi(\rho) = \sum_k c_k\rho^k`, :math:`c_k \ge 0`, :math:`\sum_k c_k = 1` (`DualActivation`),
the NNGP and NTK of depth L are

.. math::

    \Sigma_0 = \rho,\qquad \Sigma_l = \check\phi(\Sigma_{l-1}),\qquad
    \Theta_0 = \rho,\qquad \Theta_l = \Sigma_l + \Theta_{l-1}\,\check\phi'(\Sigma_{l-1})

(`kernels`, exactly the official `nngp_kernel` / `ntk_kernel` loops).  The activations the code calls
"2d_opt", "3d_opt", "5d_opt", "9d_opt" have :math:`\check\phi = \rho^7/2 + \rho/2`,
:math:`\rho^3/2 + \rho/2`, :math:`\rho^3/4 + \rho^2/2 + \rho/4`, :math:`\rho^3/16 + 7\rho^2/8 + \rho/16`
(`OPTIMAL`); ReLU's dual is the arc-cosine kernel of degree 1 (normalised, `relu_dual`).

The infinite-depth limit (derived here — see "What is reconstructed")
--------------------------------------------------------------------
Let :math:`a = \check\phi'(1)` and :math:`b = \check\phi'(0)`, with :math:`\check\phi(0) = 0` (no
constant Hermite term, :math:`c_0 = 0`) and :math:`0 < b < 1 < a`.  Then 0 is an attracting fixed point and
1 a repelling one.  Start at :math:`\rho = 1 - \varepsilon`: near 1, :math:`1 - \Sigma_l \approx a^l
\varepsilon`, so the orbit leaves the neighbourhood of 1 after :math:`L_0 = \log(1/\varepsilon)/\log a`
layers and then contracts to 0 by a factor b per layer.  The Koenigs limit

.. math::

    g(\rho) = \lim_{l\to\infty} b^{-l}\,\Sigma_l(\rho)\qquad\text{(D1)}

exists (`limit_kernel`) and :math:`g(1-\varepsilon) \asymp b^{-L_0} = \varepsilon^{-\log(1/b)/\log a}`,
i.e. with :math:`\lVert x - z\rVert^2 = 2\varepsilon`,

.. math::

    g(x^\top z) \asymp \lVert x - z\rVert^{-\alpha},\qquad \alpha = \frac{2\log(1/b)}{\log a}
    \qquad\text{(D2, `singular_exponent`)}

(up to a bounded log-periodic factor).  Unrolling the NTK recursion,
:math:`\Theta_L = \sum_{l=0}^{L}\Sigma_l\prod_{k=l}^{L-1}\check\phi'(\Sigma_k)`; once the orbit is near 0
every term is :math:`\approx b^L g(\rho)`, so

.. math::

    \Theta_L(\rho) = L\,b^L\big(g(\rho) + O(a^{L_0}/L)\big),\qquad
    \Theta_L(1) = \textstyle\sum_{k=0}^{L} a^k\qquad\text{(D3)}

— the normalised NTK converges to the same g as the NNGP, but only where :math:`L \gg a^{L_0} =
1/\varepsilon`; at fixed depth and :math:`\varepsilon \to 0` the first term dominates and the local
exponent is :math:`\alpha + 2` instead.  Because the diagonal :math:`\Theta_L(1)` grows like :math:`a^L`
while the off-diagonal entries shrink like :math:`L b^L`, the Gram matrix is :math:`\Theta_L(1)\,(I + o(1))`
and NTK regression :math:`\Theta(x, X)\Theta(X, X)^{-1}y` has the sign of :math:`\sum_i y_i\Theta_L(x^\top
x_i)` (`ntk_regression`, `kernel_sum_classifier`).  At infinite depth that is the singular-kernel
classifier with kernel g, whose singularity is :math:`\lVert x - x_i\rVert^{-\alpha}` (D2).  The four
optimal activations give α = 1, 2, 4, 8: the dimension of the sphere their names refer to (circle in
R², S² in R³, …), matching the official `devroye_classifier`, whose kernel is
:math:`(2 - 2x^\top z)^{-d/2} = \lVert x - z\rVert^{-d}` with d = input dimension − 1 (`hilbert_classifier`).
The other regimes (`regime`): :math:`b = 0` (e.g. :math:`\check\phi = \rho^2`) makes g decay faster than
any power — 1-nearest neighbour; :math:`c_0 > 0` moves the attracting fixed point to
:math:`\rho^* > 0` and adds a constant :math:`\rho^*/(1-b)` to the limit kernel that swamps
:math:`\sum_i y_i g` — majority vote; ReLU (a = 1, only fixed point 1) drifts to a constant kernel too.

Numerics.  :math:`\Theta_L(1) \sim a^L` overflows and :math:`b^L` underflows at the depths that matter.
`deep_ntk_log` iterates the exact recursion for `burn` layers (all orbits below :math:`10^{-8}` by then,
for the data here), and continues analytically: with :math:`\check\phi'(\Sigma) = b` on the tail,
:math:`\Theta_L = b^{L-l_1}\big(\Theta_{l_1} + (L - l_1)\Sigma_{l_1}\big)`, returned as a (sign, log) pair.

What is reconstructed
---------------------
The paper's full text could not be read here (only its abstract); the kernels, the optimal activations
and the Hilbert-kernel rule are checked against the authors' code (uhlerlab/inf_depth_ntks, `models.py`,
`main.py`).  The limit g (D1), the exponent formula (D2) and the depth bound (D3) are our derivation, not
the paper's theorem text: that α equals the sphere's dimension for each of the code's four activations
is the check connecting them.  The data (`dirichlet_arc`) are the code's two-class Dirichlet(1, 2) /
Dirichlet(2, 1) toy on the quarter circle with class prior 0.4.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/wide-deep-optimal-classification.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "wide-deep-optimal-classification",
    "title": "Wide and Deep Neural Networks Achieve Consistency for Classification",
    "authors": "Adityanarayanan Radhakrishnan, Mikhail Belkin, Caroline Uhler",
    "year": 2023,
    "arxiv": "2204.14126",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/wide-deep-optimal-classification.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2204.14126, first titled 'Wide and Deep Neural Networks "
    "Achieve Optimality for Classification'; PNAS 120(14) e2208779120, 2023) from its abstract only; the "
    "full text was not readable here.  The NNGP/NTK dual-activation recursions, the four 'optimal' "
    "activations (dual ρ^7/2+ρ/2, ρ^3/2+ρ/2, ρ^3/4+ρ^2/2+ρ/4, ρ^3/16+7ρ^2/8+ρ/16), the Hilbert-kernel "
    "(Devroye) rule ‖x−z‖^(−d) and the Dirichlet toy were checked against the authors' code "
    "(uhlerlab/inf_depth_ntks, models.py, main.py).  The infinite-depth limit kernel (Koenigs function of "
    "the dual activation), the exponent α = 2 log(1/φ̌'(0)) / log φ̌'(1) and the depth needed by the NTK "
    "were derived here, not read; no equation numbers of the paper are cited.",
    "summary": "As depth → ∞, the NTK classifier of an infinitely wide network becomes 1-nearest neighbour, "
    "majority vote or a singular-kernel classifier depending on the activation's dual; activations whose "
    "dual has φ̌(0) = 0 and 2 log(1/φ̌'(0)) / log φ̌'(1) = d give the Bayes-consistent Hilbert kernel "
    "‖x − z‖^(−d) on the d-sphere.",
    "equations": [
        "Σ_l = φ̌(Σ_{l−1}),  Θ_l = Σ_l + Θ_{l−1} φ̌'(Σ_{l−1}),  Σ_0 = Θ_0 = xᵀz   (official ntk_kernel)",
        "g(ρ) = lim_l φ̌'(0)^{−l} Σ_l(ρ);  Θ_L(ρ) ≈ L φ̌'(0)^L g(ρ) for L ≫ 1/(1 − ρ)   (derived)",
        "g(xᵀz) ≍ ‖x − z‖^{−α},  α = 2 log(1/φ̌'(0)) / log φ̌'(1)   (derived)",
        "Hilbert rule: sign Σ_i y_i ‖x − x_i‖^{−d} on the d-sphere   (official devroye_classifier)",
        "φ̌'(0) = 0: 1-NN;  φ̌(0) > 0 or ReLU: majority vote;  else singular kernel",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "DualActivation",
    "OPTIMAL",
    "relu_dual",
    "kernels",
    "deep_ntk_log",
    "limit_kernel",
    "singular_exponent",
    "regime",
    "monomial_ntk_log",
    "kernel_sum_classifier",
    "ntk_regression",
    "hilbert_classifier",
    "nearest_neighbour",
    "majority_vote",
    "dirichlet_arc",
    "local_exponent",
]


class DualActivation:
    """φ̌(ρ) = Σ_k c_k ρ^k with c_k ≥ 0 and Σ c_k = 1 (the dual of a normalised activation in its Hermite
    form; `coeffs[k]` = c_k)."""

    def __init__(self, coeffs):
        c = np.asarray(coeffs, dtype=np.float64)
        if c.ndim != 1 or len(c) < 2:
            raise ValueError(f"`coeffs` must be a 1-D list of ≥ 2 Hermite weights, got shape {c.shape}")
        if np.any(c < 0) or not np.isclose(c.sum(), 1.0):
            raise ValueError(f"`coeffs` must be ≥ 0 and sum to 1 (so that φ̌(1) = 1), got {c.tolist()}")
        self.c = c
        self.dc = c[1:] * np.arange(1, len(c))

    def __call__(self, rho):
        return np.polynomial.polynomial.polyval(rho, self.c)

    def deriv(self, rho):
        return np.polynomial.polynomial.polyval(rho, self.dc)

    @property
    def a(self) -> float:
        """φ̌'(1): the growth of 1 − Σ near ρ = 1."""
        return float(self.dc.sum())

    @property
    def b(self) -> float:
        """φ̌'(0): the contraction per layer near the fixed point 0."""
        return float(self.c[1])


OPTIMAL = {  # official models.py, dual_act: "2d_opt", "3d_opt", "5d_opt", "9d_opt"
    "2d_opt": DualActivation([0, 0.5, 0, 0, 0, 0, 0, 0.5]),
    "3d_opt": DualActivation([0, 0.5, 0, 0.5]),
    "5d_opt": DualActivation([0, 0.25, 0.5, 0.25]),
    "9d_opt": DualActivation([0, 1 / 16, 7 / 8, 1 / 16]),
}


class _ReLUDual:
    """Normalised ReLU dual (arc-cosine kernel of degree 1): φ̌(ρ) = (√(1 − ρ²) + ρ(π − arccos ρ))/π,
    φ̌'(ρ) = (π − arccos ρ)/π; a = φ̌'(1) = 1 (official `dual_act('relu')`)."""

    a, b = 1.0, 0.5

    def __call__(self, rho):
        r = np.clip(rho, -1.0, 1.0)
        return (np.sqrt(1 - r * r) + r * (np.pi - np.arccos(r))) / np.pi

    def deriv(self, rho):
        return (np.pi - np.arccos(np.clip(rho, -1.0, 1.0))) / np.pi


relu_dual = _ReLUDual()


def _check_rho(rho):
    r = np.asarray(rho, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(np.abs(r) > 1 + 1e-12):
        raise ValueError("`rho` must be cosines in [−1, 1], got values outside")
    return np.clip(r, -1.0, 1.0)


def kernels(rho, dual, depth: int) -> tuple:
    """(Σ_L, Θ_L) by the plain recursion (official `nngp_kernel`, `ntk_kernel`), in float64: fine for
    moderate depth; overflows (Θ_L(1) ~ a^L) and underflows (b^L) at large depth — see `deep_ntk_log`."""
    if int(depth) < 0:
        raise ValueError(f"`depth` must be ≥ 0, got {depth}")
    s = _check_rho(rho)
    t = s.copy()
    for _ in range(int(depth)):
        s, t = dual(s), dual(s) + t * dual.deriv(s)  # Σ_l = φ̌(Σ_{l−1}); Θ_l = Σ_l + Θ_{l−1} φ̌'(Σ_{l−1})
    return s, t


def singular_exponent(dual) -> float:
    """α = 2 log(1/b) / log a with a = φ̌'(1), b = φ̌'(0)  (D2)."""
    a, b = dual.a, dual.b
    if not (0 < b < 1 < a):
        raise ValueError(f"`dual`: the singular regime needs 0 < φ̌'(0) < 1 < φ̌'(1), got b = {b}, a = {a}")
    return 2 * np.log(1 / b) / np.log(a)


def regime(dual) -> str:
    """The infinite-depth classifier the activation gives: "1-NN", "majority vote" or "singular kernel"."""
    if not isinstance(dual, _ReLUDual) and dual.c[1] == 1.0:
        raise ValueError(
            "`dual`: the identity dual φ̌(ρ) = ρ (a linear network) keeps the kernel ρ at every depth"
        )
    if isinstance(dual, _ReLUDual) or dual.a <= 1 or dual.c[0] > 0:
        return "majority vote"
    return "1-NN" if dual.b == 0 else "singular kernel"


def _burn_in(rho, dual, burn: int):
    s = _check_rho(rho)
    off = s < 1.0
    s_b, t_b = kernels(s[off], dual, burn)
    if np.any(np.abs(s_b) > 1e-8):
        raise ValueError(f"`burn` = {burn} layers leave an orbit at |Σ| = {np.abs(s_b).max():.1e} > 1e-8")
    return s, off, s_b, t_b


def deep_ntk_log(rho, dual, depth: int, *, burn: int = 200) -> tuple:
    """(sign, log|Θ_L|) for depth ≥ `burn`, singular regime only: `burn` exact layers, then the exact
    linear tail Θ_L = b^{L−l₁}(Θ_{l₁} + (L − l₁)Σ_{l₁})  (D3); the diagonal ρ = 1 is Σ_{k≤L} a^k."""
    singular_exponent(dual)
    if int(depth) < int(burn):
        raise ValueError(f"`depth` must be ≥ `burn` = {burn}, got {depth}")
    s, off, s_b, t_b = _burn_in(rho, dual, burn)
    tail = int(depth) - int(burn)
    v = t_b + tail * s_b
    sign = np.ones_like(s)
    logk = np.empty_like(s)
    sign[off] = np.sign(v)
    with np.errstate(divide="ignore"):  # Θ = 0 exactly (ρ = 0 with an odd dual) → log 0 = −inf
        logk[off] = tail * np.log(dual.b) + np.log(np.abs(v))
    a, L = dual.a, int(depth)
    logk[~off] = (L + 1) * np.log(a) + np.log1p(-(a ** -(L + 1))) - np.log(a - 1)  # Σ_{k=0}^{L} a^k
    return sign, logk


def limit_kernel(rho, dual, *, burn: int = 200) -> np.ndarray:
    """g(ρ) = lim b^{−l} Σ_l(ρ) (D1), for ρ < 1: b^{−burn} Σ_burn (exact once |Σ| < 1e-8 up to 1e-8)."""
    singular_exponent(dual)
    s, off, s_b, _ = _burn_in(rho, dual, burn)
    if not np.all(off):
        raise ValueError("`rho`: g is singular at ρ = 1 (x = z); pass distinct points")
    return (s_b * np.exp(-burn * np.log(dual.b))).reshape(s.shape)


def monomial_ntk_log(rho, k: int, depth: int) -> tuple:
    """(sign, log|Θ_L|) for the monomial dual φ̌(ρ) = ρ^k (b = 0: the 1-NN regime), in closed form:
    Σ_l = ρ^{k^l} and Π_{j=l}^{L−1} φ̌'(Σ_j) = k^{L−l} ρ^{k^L − k^l}, so
    Θ_L = ρ^{k^L} Σ_{l=0}^{L} k^{L−l} = ρ^{k^L} (k^{L+1} − 1)/(k − 1)  (derived)."""
    if int(k) < 2 or int(depth) < 0:
        raise ValueError(f"`k` must be ≥ 2 and `depth` ≥ 0, got {k}, {depth}")
    r = _check_rho(rho)
    k, L = int(k), int(depth)
    power = float(k) ** L
    sign = np.where((r < 0) & (L == 0 or k % 2 == 1), -1.0, 1.0)  # ρ^{k^L}: k^L odd iff k odd or L = 0
    with np.errstate(divide="ignore"):
        logk = power * np.log(np.abs(r)) + np.log((float(k) ** (L + 1) - 1) / (k - 1))
    return sign, logk


def kernel_sum_classifier(sign, logk, y) -> np.ndarray:
    """sign Σ_i y_i K(x, x_i) for a kernel given as (sign, log|K|) of shape (n_test, n_train), y ∈ {±1}:
    a signed log-sum-exp, so kernels far below the float range still classify."""
    y = np.asarray(y, dtype=np.float64)
    if logk.shape[-1] != len(y):
        raise ValueError(f"`y` must have {logk.shape[-1]} labels (one per training point), got {len(y)}")
    m = np.max(logk, axis=1, keepdims=True)
    out = np.sign(np.sum(sign * y * np.exp(logk - m), axis=1))
    return np.where(out == 0, 1.0, out)


def ntk_regression(rho_test, rho_train, y, dual, depth: int) -> np.ndarray:
    """sign of NTK interpolation Θ(x, X) Θ(X, X)^{-1} y at a depth the plain recursion represents
    (official `solve_kr`)."""
    _, k_train = kernels(rho_train, dual, depth)
    _, k_test = kernels(rho_test, dual, depth)
    return np.sign(k_test @ np.linalg.solve(k_train, np.asarray(y, dtype=np.float64)))


def hilbert_classifier(X_test, X_train, y, alpha: float) -> np.ndarray:
    """sign Σ_i y_i ‖x − x_i‖^{−α} (Devroye's Hilbert rule; official `devroye_classifier` with α = d)."""
    if not alpha > 0:
        raise ValueError(f"`alpha` must be > 0, got {alpha}")
    d2 = np.sum((np.asarray(X_test)[:, None, :] - np.asarray(X_train)[None]) ** 2, axis=-1)
    logk = -0.5 * alpha * np.log(np.maximum(d2, 1e-300))
    return kernel_sum_classifier(np.ones_like(logk), logk, y)


def nearest_neighbour(X_test, X_train, y) -> np.ndarray:
    """The label of the nearest training point."""
    d2 = np.sum((np.asarray(X_test)[:, None, :] - np.asarray(X_train)[None]) ** 2, axis=-1)
    return np.asarray(y, dtype=np.float64)[np.argmin(d2, axis=1)]


def majority_vote(n_test: int, y) -> np.ndarray:
    """The majority training label for every test point (ties → +1)."""
    return np.full(int(n_test), 1.0 if np.sum(y) >= 0 else -1.0)


def dirichlet_arc(n: int, *, prior: float = 0.4, rng=None) -> tuple:
    """The official toy (`main.py`, `dataset.py`): class +1 w.p. `prior` from Dirichlet(1, 2), class −1
    from Dirichlet(2, 1), each point p scaled to the unit circle, x = p / ‖p‖ (a quarter arc).  Returns
    X (n, 2), y (n,) in {±1} and the Bayes rule's labels."""
    if int(n) < 1 or not 0 < prior < 1:
        raise ValueError(f"`n` must be ≥ 1 and `prior` in (0, 1), got {n}, {prior}")
    rng = np.random.default_rng(rng)
    y = np.where(rng.random(int(n)) < prior, 1.0, -1.0)
    p1 = rng.dirichlet([1.0, 2.0], size=int(n))
    p2 = rng.dirichlet([2.0, 1.0], size=int(n))
    P = np.where(y[:, None] > 0, p1, p2)
    # Dirichlet(1,2) density on the segment: 2(1 − u) in u = p[0]; Dirichlet(2,1): 2u
    bayes = np.where(prior * 2 * (1 - P[:, 0]) > (1 - prior) * 2 * P[:, 0], 1.0, -1.0)
    return P / np.linalg.norm(P, axis=1, keepdims=True), y, bayes


def local_exponent(rho, logk) -> float:
    """The least-squares slope of log K against −log‖x − z‖ = −½ log(2(1 − ρ)): the fitted α."""
    u = -0.5 * np.log(2 * (1 - np.asarray(rho, dtype=np.float64)))
    A = np.stack([u, np.ones_like(u)], axis=1)
    return float(np.linalg.lstsq(A, np.asarray(logk, dtype=np.float64), rcond=None)[0][0])
