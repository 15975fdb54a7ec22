r"""Data pruning in the teacher–student perceptron: margin pruning, the max-margin student, and the
replica-symmetric prediction of its test error.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: none published for the perceptron theory.

What was read, and what is reconstructed
----------------------------------------
Only the abstract and introduction of arXiv 2206.14486 could be read here (its Sec. 2 and the appendix
with the saddle-point equations could not), so the theory below is **derived in this docstring**, not
transcribed, and formula lines cite that derivation ("(D1)" …), not the paper's equation numbers.
What was taken from the paper's abstract and figures as remembered: the setting (Gaussian inputs,
teacher labels, pruning by the margin along the teacher or along a probe student at angle θ, a new
student trained on the pruned set, α_tot = P/N and kept fraction f, α_prune = f α_tot), that the student
is the **maximum-margin** perceptron (the paper's order parameters include the student's margin κ), and
the qualitative results (keep easy examples when data are scarce, hard ones when abundant).  The
equations are the standard Gardner calculation at maximal stability (Gardner 1988; Opper, Kinzel,
Kleinz & Nehl 1990), with the pattern distribution replaced by the pruned one; they reproduce the
classic unpruned learning curve ε ≈ 0.50/α, and the tests check them against simulation.

The setting
-----------
A teacher T ∈ ℝᴺ (|T| = 1), inputs x ~ 𝒩(0, I_N), labels y = sign(T·x).  A pool of P = α_tot N
examples is pruned to a fraction f by a score: the margin |w·x| along a direction w — the teacher
itself (a perfect metric) or a probe J_p with J_p·T = cos θ (an imperfect one).  *Keep hard* keeps the
fP smallest margins, *keep easy* the fP largest, *random* a uniform subset.  A new student J is the
max-margin perceptron on the kept set,

$$ \hat J = \arg\max_{|J|=1}\ \kappa \quad\text{s.t.}\quad y_\mu\,J\cdot x_\mu \ge \kappa\ \ \forall\mu
   \text{ kept}, \tag{D1}$$

and for Gaussian test inputs its test error is the angle to the teacher over π,

$$ \varepsilon = \frac1\pi\arccos R,\qquad R = \hat J\cdot T. \tag{D2}$$

(Two unit vectors at angle φ disagree on the half-plane sectors of total angle 2φ out of 2π.)

The min-norm form of (D1), used for simulation
----------------------------------------------
With z_μ = y_μ x_μ and the data separable (they are, by the teacher), the max-margin direction is the
point of smallest norm in the convex hull of the z_μ: Ĵ = v/|v| and κ = |v|, v = argmin_{v ∈ conv z}|v|
(the hard-margin SVM dual without bias).  That point is an exact non-negative least-squares problem:

$$ \lambda^\star = \arg\min_{\lambda\ge 0}\Big\|\begin{bmatrix} Z^\top \\ \mathbf 1^\top\end{bmatrix}\lambda
   - \begin{bmatrix}0\\1\end{bmatrix}\Big\|^2,\qquad v = \frac{Z^\top\lambda^\star}{\mathbf 1^\top\lambda^\star}.
   \tag{D3}$$

(The NNLS optimality conditions give z_μ·p ≥ 1 − s with equality on the support, p = Zᵀλ*, s = 1ᵀλ*;
summed with weights λ*_μ they give |p|² = s(1 − s), so z_μ·v ≥ (1 − s)/s = |v|² with equality on the
support — exactly the optimality conditions of the min-norm point.)  Solved by Lawson–Hanson
(`scipy.optimize.nnls`), it is exact up to round-off — no learning rate, no epochs.

The replica-symmetric prediction
--------------------------------
Write the fields of an input on the teacher and the probe, t = T·x and u = J_p·x = t cos θ + v sin θ
with v ~ 𝒩(0,1) independent of t.  Pruning looks at |u| only: keep hard is |u| < γ with f = 1 − 2H(γ),
keep easy is |u| > γ with f = 2H(γ), H the Gaussian tail.  A student with |J| = 1 has overlaps R = J·T
and b (its component along the probe's direction orthogonal to T; its overlap with the probe is
ρ = R cos θ + b sin θ); on an input its field is λ = R t + b v + s z with s = √(1 − R² − b²) and z an
independent standard normal (the directions of J that the pruned distribution does not see).
The Gardner volume of students with margin ≥ κ on α_prune N kept patterns has, in replica symmetry,
the entropy

$$ \tfrac12\ln(1-q) + \frac{q - R^2 - b^2}{2(1-q)}
   + \alpha_{\rm prune}\Big\langle \ln H\Big(\frac{\kappa - y(Rt + bv) - \sqrt{q-R^2-b^2}\,z}{\sqrt{1-q}}\Big)
   \Big\rangle_{\rm kept} $$

(q the overlap of two solutions).  At the maximal margin the solution space shrinks to a point, q → 1;
with ln H(x/√ε) ≈ −x²/(2ε) for x > 0, the 1/(1 − q) terms must balance:

$$ \mathcal F(R, b, \kappa) \equiv 1 - R^2 - b^2 - \alpha_{\rm prune}\,
   \big\langle (\kappa - R|t| - b\,y v - s z)_+^2 \big\rangle_{{\rm kept},\,z} = 0, \tag{D4}$$

and the max-margin student is the (R, b) that allows the largest κ:

$$ \kappa^\star = \max_{R,b}\ \kappa(R, b),\qquad \mathcal F(R, b, \kappa(R,b)) = 0, \tag{D5}$$

i.e. ∂𝓕/∂R = ∂𝓕/∂b = 0 and 𝓕 = 0 at the solution: three equations for the three order parameters
(R, ρ, κ) of the paper (two, R and κ, for the teacher metric, where b = 0 by symmetry).  The z-average
is closed form, E(c − sz)₊² = (c² + s²)Φ(c/s) + c s φ(c/s) (D6); the average over the kept (t, v) is
done by Gauss–Legendre quadrature (1-D for θ = 0; 2-D in the rotated coordinates u and w =
(t sin θ − v cos θ), split at the kink t = 0, for θ > 0).  Checks: with no pruning, (D4) at R = b = 0,
κ = 0 is 1 − α/2, the Gardner capacity α_c = 2; and at large α the unpruned curve approaches the
known ε ≈ 0.50/α of the maximally stable perceptron.  Random pruning keeps the input distribution, so
its prediction is the unpruned one at α_prune (f drops out).

A property worth knowing (derived here, not quoted from the paper): pruning removes only patterns, and
removing non-support vectors leaves a max-margin solution unchanged.  So with the *teacher* metric,
once the kept hard set contains every support vector of the full pool, the pruned student *is* the
full-pool student: ε(α_tot, f) = ε_random(α_tot), ≈ f/(2α_prune) at large α_tot — keeping only the
hardest examples buys the whole pool's accuracy at a fraction of the patterns.

What is implemented
-------------------
* `teacher_student_data`, `probe_direction`: the data and an imperfect metric at angle θ.
* `margin_scores`, `keep_indices` (keep hard / easy, exactly round(fP) kept, stable ties),
  `random_indices`: the pruning; `keep_indices` is the selector this technique offers the family,
  (scores, fraction, keep) → indices.
* `max_margin_perceptron` (D1, D3), `generalization_error` (D2).
* `gardner_residual` (D4), `expected_hinge_sq` (D6), `margin_threshold`, `replica_prediction` (D5):
  the theory's R, ρ, κ and ε for (α_tot, f, keep, θ).

Deviations: the order parameters are solved numerically from (D4)–(D5), which are derived here; the
paper's own appendix could not be compared line by line.  No label noise, no finite-N corrections.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/data-weighting-selection/data-pruning-scaling.ipynb
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, special

from ....random import as_generator

CATALOG_ENTRY = {
    "slug": "data-pruning-scaling",
    "title": "Beyond neural scaling laws: beating power law scaling via data pruning",
    "authors": "Ben Sorscher, Robert Geirhos, Shashank Shekhar, Surya Ganguli, Ari S. Morcos",
    "year": 2022,
    "arxiv": "2206.14486",
    "family": "data-weighting-selection",
    "notebook": "notebooks/data-weighting-selection/data-pruning-scaling.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Only the abstract and introduction were readable (not Sec. 2 nor the appendix with the replica "
        "equations; no official code for the theory). The setting (Gaussian inputs, teacher labels, "
        "pruning by |margin| along the teacher or a probe at angle θ, max-margin student on the pruned "
        "set) follows the paper; the replica-symmetric equations at maximal stability are derived here "
        "(Gardner's calculation with the pruned pattern distribution), reproduce the unpruned "
        "ε ≈ 0.50/α, and are checked against exact max-margin simulation (NNLS)."
    ),
    "summary": (
        "Teacher–student perceptron theory of data pruning. From a pool of P = α_tot N Gaussian examples "
        "labelled by a teacher, keep a fraction f by the margin |w·x| along the teacher (or a probe "
        "student at angle θ): the hardest (smallest margin) or the easiest; train the max-margin "
        "student on the α_prune = f α_tot kept examples. Replica theory predicts the test error "
        "arccos(R)/π: keeping easy examples is better when data are scarce, keeping hard ones when "
        "data are abundant, and with a good metric the error falls far faster in α_prune than the "
        "power law of random pruning."
    ),
    "equations": [
        "y = sign(T·x), x ~ N(0, I_N);  keep hard: |w·x| < γ, f = 1 − 2H(γ);  keep easy: |w·x| > γ",
        "Ĵ = argmax_{|J|=1} κ  s.t.  y_μ J·x_μ ≥ κ on the kept set  (max-margin student)        (D1)",
        "ε = arccos(R)/π,  R = Ĵ·T                                                               (D2)",
        "1 − R² − b² = α_prune ⟨(κ − R|t| − b·y·v − s z)₊²⟩_kept,  s = √(1 − R² − b²)           (D4)",
        "κ* = max_{R,b} κ(R, b);  ρ = R cos θ + b sin θ  (student–probe overlap)                 (D5)",
    ],
}

__all__ = [
    "KEEP_RULES",
    "teacher_student_data",
    "probe_direction",
    "margin_scores",
    "keep_indices",
    "random_indices",
    "max_margin_perceptron",
    "generalization_error",
    "margin_threshold",
    "expected_hinge_sq",
    "gardner_residual",
    "replica_prediction",
]

KEEP_RULES = ("hard", "easy", "random")


def _check_fraction(f, what: str) -> float:
    try:
        f = float(f)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: `fraction` must be a number in (0, 1], got {f!r}") from None
    if not (0.0 < f <= 1.0):
        raise ValueError(f"{what}: `fraction` must be in (0, 1], got {f!r}")
    return f


def _check_keep(keep, what: str, allow_random: bool = True) -> str:
    rules = KEEP_RULES if allow_random else KEEP_RULES[:2]
    if keep not in rules:
        raise ValueError(f"{what}: `keep` must be one of {rules}, got {keep!r}")
    return keep


def _check_theta(theta, what: str) -> float:
    theta = float(theta)
    if not (0.0 <= theta < math.pi / 2):
        raise ValueError(f"{what}: `theta` must be in [0, π/2) radians, got {theta!r}")
    return theta


def _unit(w, name: str, what: str) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    norm = np.linalg.norm(w)
    if w.ndim != 1 or not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"{what}: `{name}` must be a non-zero finite vector, got shape {w.shape}")
    return w / norm


# --- data and pruning ---------------------------------------------------------------------------------
def teacher_student_data(n_samples: int, dim: int, rng=None, teacher=None):
    """(x, y, teacher): `n_samples` inputs x ~ N(0, I_dim), labels y = sign(teacher·x) in {−1, +1}, and the
    unit teacher (drawn uniformly on the sphere unless given).  float64."""
    if int(n_samples) < 1 or int(dim) < 1:
        raise ValueError(f"teacher_student_data: `n_samples` and `dim` must be ≥ 1, got {n_samples}, {dim}")
    rng = as_generator(rng)
    if teacher is None:
        teacher = rng.standard_normal(int(dim))
    teacher = _unit(teacher, "teacher", "teacher_student_data")
    if teacher.shape != (int(dim),):
        raise ValueError(f"teacher_student_data: `teacher` must have shape ({dim},), got {teacher.shape}")
    x = rng.standard_normal((int(n_samples), int(dim)))
    y = np.where(x @ teacher >= 0.0, 1.0, -1.0)
    return x, y, teacher


def probe_direction(teacher, theta: float, rng=None) -> np.ndarray:
    """A unit probe J_p with J_p·T = cos θ, rotated from the teacher towards a random orthogonal direction:
    the imperfect pruning metric of the theory (θ = 0 returns the teacher)."""
    teacher = _unit(teacher, "teacher", "probe_direction")
    theta = _check_theta(theta, "probe_direction")
    rng = as_generator(rng)
    g = rng.standard_normal(teacher.shape)
    g -= (g @ teacher) * teacher
    g /= np.linalg.norm(g)
    return math.cos(theta) * teacher + math.sin(theta) * g


def margin_scores(x, w) -> np.ndarray:
    """|w·x|/|w| for each row of `x`: the distance to w's decision boundary (small = hard)."""
    x = np.asarray(x, dtype=np.float64)
    w = _unit(w, "w", "margin_scores")
    if x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"margin_scores: `x` must be (n, {w.shape[0]}), got {x.shape}")
    return np.abs(x @ w)


def keep_indices(scores, fraction: float, keep: str = "hard") -> np.ndarray:
    """Indices of the round(fraction·n) examples to keep: the smallest scores ("hard", smallest margin) or
    the largest ("easy"); ties go to the lower index (a stable sort).  Sorted ascending.  At least one
    example is kept."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError(f"keep_indices: `scores` must be a non-empty finite 1-D array, got {scores.shape}")
    f = _check_fraction(fraction, "keep_indices")
    _check_keep(keep, "keep_indices", allow_random=False)
    k = max(1, int(round(f * scores.size)))
    order = np.argsort(scores if keep == "hard" else -scores, kind="stable")
    return np.sort(order[:k])


def random_indices(n: int, fraction: float, rng=None) -> np.ndarray:
    """A uniform random subset of round(fraction·n) of range(n) (the baseline), sorted ascending."""
    f = _check_fraction(fraction, "random_indices")
    if int(n) < 1:
        raise ValueError(f"random_indices: `n` must be ≥ 1, got {n}")
    k = max(1, int(round(f * int(n))))
    return np.sort(as_generator(rng).permutation(int(n))[:k])


# --- the student ---------------------------------------------------------------------------------------
def max_margin_perceptron(x, y):
    """The max-margin perceptron through the origin (D1): (Ĵ, κ) with |Ĵ| = 1 and κ = min_μ y_μ Ĵ·x_μ
    maximal, from the min-norm point of conv{y_μ x_μ} solved exactly as an NNLS problem (D3).
    Raises ValueError if the data are not linearly separable through the origin."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(
            f"max_margin_perceptron: `x` (n, d) and `y` (n,) must match, got {x.shape}, {y.shape}"
        )
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("max_margin_perceptron: `y` must hold labels ±1")
    z = x * y[:, None]
    a = np.vstack([z.T, np.ones(z.shape[0])])  # (D3): [Zᵀ; 1ᵀ]
    target = np.zeros(a.shape[0])
    target[-1] = 1.0
    lam, _ = optimize.nnls(a, target, maxiter=50 * a.shape[1])
    s = lam.sum()
    v = z.T @ lam / s  # the min-norm point of the hull
    kappa = float(np.linalg.norm(v))
    if not np.isfinite(kappa) or kappa < 1e-12 or s >= 1.0:
        raise ValueError("max_margin_perceptron: the data are not linearly separable through the origin")
    return v / kappa, kappa


def generalization_error(w, teacher) -> float:
    """ε = arccos(R)/π, R the cosine between `w` and `teacher` (D2): exact for Gaussian test inputs."""
    w = _unit(w, "w", "generalization_error")
    teacher = _unit(teacher, "teacher", "generalization_error")
    return float(np.arccos(np.clip(w @ teacher, -1.0, 1.0)) / math.pi)


# --- the replica-symmetric theory ---------------------------------------------------------------------
def margin_threshold(fraction: float, keep: str) -> float:
    """γ with P(|u| < γ) = f (keep hard) or P(|u| > γ) = f (keep easy), u ~ N(0, 1): γ = H⁻¹((1 − f)/2)
    and γ = H⁻¹(f/2), H(γ) = P(u > γ)."""
    f = _check_fraction(fraction, "margin_threshold")
    _check_keep(keep, "margin_threshold", allow_random=False)
    tail = (1.0 - f) / 2.0 if keep == "hard" else f / 2.0
    return float(-special.ndtri(tail)) if tail > 0 else 0.0


def expected_hinge_sq(c, s):
    """E_z[(c − s z)₊²] for z ~ N(0, 1) and s > 0: (c² + s²)Φ(c/s) + c s φ(c/s)  (D6)."""
    c = np.asarray(c, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    r = c / s
    return (c * c + s * s) * special.ndtr(r) + c * s * np.exp(-0.5 * r * r) / math.sqrt(2.0 * math.pi)


TAIL = 12.0  # Gaussian fields beyond 12 standard deviations carry < 1e-32 of the mass


def _legendre(lo: float, hi: float, n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


@functools.cache
def _kept_fields(keep: str, fraction: float, theta: float, n: int):
    """Quadrature of the kept pattern distribution: arrays (|t|, y·v, weight), weights summing to one.
    By the symmetry (t, v) → (−t, −v) only u ≥ 0 is integrated."""
    if keep == "random":
        lo, hi = 0.0, TAIL
    else:
        gamma = margin_threshold(fraction, keep)
        lo, hi = (0.0, gamma) if keep == "hard" else (gamma, gamma + TAIL)
    u, wu = _legendre(lo, hi, n)
    if theta == 0.0 or keep == "random":  # the kept law depends on t alone; v never enters
        wt = wu * np.exp(-0.5 * u * u)
        return u, np.zeros_like(u), wt / wt.sum()
    c, s = math.cos(theta), math.sin(theta)
    ts, yvs, wts = [], [], []
    for ui, wi in zip(u, wu):
        kink = -ui * c / s  # t = c u + s w changes sign here: split the w-integral
        for a, b in ((-TAIL, kink), (kink, TAIL)):
            w, ww = _legendre(a, b, n)
            t = c * ui + s * w
            v = s * ui - c * w
            ts.append(np.abs(t))
            yvs.append(np.sign(t) * v)
            wts.append(wi * math.exp(-0.5 * ui * ui) * ww * np.exp(-0.5 * w * w))
    t, yv, wt = map(np.concatenate, (ts, yvs, wts))
    return t, yv, wt / wt.sum()


def gardner_residual(R, b, kappa, alpha_prune, keep="random", fraction=1.0, theta=0.0, n=200) -> float:
    """𝓕(R, b, κ) = 1 − R² − b² − α_prune ⟨(κ − R|t| − b y v − s z)₊²⟩ over the kept patterns (D4);
    zero at the max-margin saddle point, positive while a margin κ is still achievable at (R, b)."""
    keep = _check_keep(keep, "gardner_residual")
    fraction = _check_fraction(fraction, "gardner_residual")
    theta = _check_theta(theta, "gardner_residual")
    q = R * R + b * b
    if q >= 1.0:
        raise ValueError(f"gardner_residual: R² + b² must be < 1, got {q!r}")
    t, yv, wt = _kept_fields(keep, fraction, theta, int(n))
    s = math.sqrt(1.0 - q)
    return float(1.0 - q - alpha_prune * np.sum(wt * expected_hinge_sq(kappa - R * t - b * yv, s)))


def _kappa_at(R, b, alpha_prune, keep, fraction, theta, n) -> float:
    """The largest κ with 𝓕(R, b, κ) ≥ 0 (𝓕 falls monotonically in κ)."""

    def res(k):
        return gardner_residual(R, b, k, alpha_prune, keep, fraction, theta, n)

    lo, hi = -1.0, 1.0
    while res(lo) <= 0.0:
        lo *= 2.0
    while res(hi) > 0.0:
        hi *= 2.0
    return optimize.brentq(res, lo, hi, xtol=1e-13)


@functools.cache
def _solve(alpha_prune, keep, fraction, theta, n):
    if theta == 0.0 or keep == "random":  # b = 0 by symmetry: a 1-D maximisation over R
        r = optimize.minimize_scalar(
            lambda R: -_kappa_at(R, 0.0, alpha_prune, keep, fraction, 0.0, n),
            bounds=(1e-9, 1.0 - 1e-12),
            method="bounded",
            options={"xatol": 1e-11},
        )
        return float(r.x), 0.0, float(-r.fun)

    def objective(p):
        R, b = p
        if R * R + b * b >= 1.0 - 1e-12:
            return 10.0
        return -_kappa_at(R, b, alpha_prune, keep, fraction, theta, n)

    R0, _, _ = _solve(alpha_prune, keep, fraction, 0.0, n)  # start from the perfect-metric solution
    r = optimize.minimize(
        objective, [0.95 * R0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12}
    )
    return float(r.x[0]), float(r.x[1]), float(-r.fun)


def replica_prediction(alpha_tot, fraction=1.0, keep="random", theta=0.0, n=None) -> dict:
    """The replica-symmetric prediction (D4–D5) for a pool α_tot = P/N pruned to `fraction` by `keep`
    ("hard", "easy" or "random") along a metric at angle `theta` (radians) to the teacher.  Returns
    {"alpha_prune", "R", "rho", "kappa", "error"} with error = arccos(R)/π (D2) and ρ the student–probe
    overlap.  `n` is the Gauss–Legendre order per dimension (default 200 in 1-D, 48 in 2-D)."""
    alpha_tot = float(alpha_tot)
    if not (alpha_tot > 0.0 and math.isfinite(alpha_tot)):
        raise ValueError(f"replica_prediction: `alpha_tot` must be finite and > 0, got {alpha_tot!r}")
    fraction = _check_fraction(fraction, "replica_prediction")
    keep = _check_keep(keep, "replica_prediction")
    theta = _check_theta(theta, "replica_prediction")
    if keep == "random":
        fraction_law, theta = 1.0, 0.0  # a random subset keeps the input law: only α_prune matters
    else:
        fraction_law = fraction
    if n is None:
        n = 200 if theta == 0.0 else 48
    alpha_prune = fraction * alpha_tot
    R, b, kappa = _solve(alpha_prune, keep, fraction_law, theta, int(n))
    return {
        "alpha_prune": alpha_prune,
        "R": R,
        "rho": R * math.cos(theta) + b * math.sin(theta),
        "kappa": kappa,
        "error": math.acos(min(1.0, R)) / math.pi,  # (D2)
    }
