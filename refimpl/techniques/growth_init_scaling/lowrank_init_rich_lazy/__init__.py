r"""Low-rank initial connectivity and the rich vs lazy learning regime.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/Helena-Yuhan-Liu/BioRNN_RichLazy (`main.py`: the RNN experiments).

The idea
--------
A network is *lazy* when training barely moves its weights, representations and tangent kernel, and
*rich* when they move a lot.  The usual knob is the initial weight scale.  The paper holds the scale
(the Frobenius norm) fixed and varies the *structure*: the effective rank of the initial weight.  A
high-rank random initial weight tends to give lazier learning; a low-rank one richer learning —
unless its low-rank structure is aligned with the task, in which case learning is lazy again.

The theory (two-layer linear network, whitened inputs)
------------------------------------------------------
Student $f(x) = a^\top W x$ with $W \in \mathbb R^{h\times d}$ (singular values $\sigma_i$),
$a \in \mathbb R^h$; inputs whitened, $X^\top X = n I_d$; teacher $y = X\beta$.  The tangent kernel of
all parameters is

$$K = \underbrace{\lVert a\rVert^2 X X^\top}_{\partial f/\partial W} + \underbrace{X W^\top W X^\top}_{\partial f/\partial a}
 = X M X^\top,\qquad M = W^\top W + \lVert a\rVert^2 I_d .$$

Its alignment with the task, $\mathrm{KA}(K, yy^\top) = y^\top K y / (\lVert K\rVert_F \lVert y\rVert^2)$,
is then the Rayleigh quotient $\beta^\top M\beta / (\lVert\beta\rVert^2\lVert M\rVert_F)$, and averaged
over task directions $\beta$ uniform on the sphere

$$\mathbb E_\beta\,\mathrm{KA}(K_0, yy^\top) = \frac{\operatorname{tr} M}{d\,\lVert M\rVert_F}
 = \frac{\sum_i (\sigma_i^2 + \lVert a\rVert^2)}{d\,\sqrt{\sum_i (\sigma_i^2 + \lVert a\rVert^2)^2}}
 \;\xrightarrow{a\to 0}\; \frac{1}{d}\sqrt{\mathrm{PR}(\sigma^2)}, \qquad
 \mathrm{PR}(v) = \frac{(\sum_i v_i)^2}{\sum_i v_i^2}.$$

At fixed $\lVert W\rVert_F^2 = \sum_i\sigma_i^2$ this is largest for a flat spectrum of full rank
($1/\sqrt d$) and smallest for rank one ($1/d$): a high-rank initial kernel is, on average over tasks,
already more aligned with the task, so it has less to change — lazier learning.  For one given task an
initial weight whose row space is spanned by $\beta$ gives $\mathrm{KA} = 1$ (as $a\to 0$), the most
aligned kernel of all: the aligned low-rank exception.  For an exactly rank-$r$ weight with equal
singular values ($\sigma^2 = N^2/r$) and $a \to 0$ the prediction is $\sqrt r / d$.

What is implemented, and deviations
-----------------------------------
* `lowrank_init` builds the initial weight as the official code does (`main.py` lines 274–279): the
  truncated SVD (top r singular triplets) of a Gaussian matrix, rescaled to a target Frobenius norm.
  Its singular values are those of the Gaussian's top r, so "full" rank is not a flat spectrum;
  `effective_rank` (the participation ratio of the singular values, as in the catalogue) and the
  theory both use the actual spectrum.
* `aligned_lowrank_init` spans the row space by given task directions (here the teacher's β) with
  equal singular values — our reading of the aligned initialisation (the paper's Proposition 1 uses
  the task's input-output statistics; we could not read its exact construction).
* The measures follow the official code: weight change ‖W_T − W_0‖ (`main.py` line 376; we divide by
  ‖W_0‖, the same for every rank), representation alignment of the hidden Gram matrix (lines 392–394)
  and tangent-kernel alignment ⟨K_0, K_T⟩/(‖K_0‖‖K_T‖) (line 420).  The official kernel is taken
  over the recurrent weight only; for the two-layer linear network the kernel of W alone is
  ‖a‖²XXᵀ, blind to W's rank, so ours is over all parameters (`empirical_ntk`, with the engine's
  `refimpl.func.jacobian`; `linear_net_ntk` is its closed form).
* **Reconstructed theory.**  We could not read the paper's full text, only its abstract and summaries
  (a two-layer linear analysis, a theorem that higher effective rank gives lazier learning on average
  over tasks through the initial tangent kernel's alignment with the task, and a proposition for the
  aligned case).  `expected_task_alignment` is our derivation of that statement above, not a copy of
  the paper's equation; the notebook says so.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/growth-init-scaling/lowrank-init-rich-lazy.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "lowrank-init-rich-lazy",
    "title": "How connectivity structure shapes rich and lazy learning in neural circuits",
    "authors": "Yuhan Helena Liu, Aristide Baratin, Jonathan Cornford, Stefan Mihalas, Eric Shea-Brown, "
    "Guillaume Lajoie",
    "year": 2024,
    "arxiv": "2310.08513",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/lowrank-init-rich-lazy.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Initialiser and laziness measures checked against the official code "
        "(Helena-Yuhan-Liu/BioRNN_RichLazy main.py: truncated SVD of a Gaussian rescaled to its "
        "Frobenius norm, l. 274-279; ||W_T - W_0||, l. 376; representation and tangent-kernel "
        "alignment, l. 392-394 and 420; SGD with momentum 0.9, one learning rate for all ranks by "
        "default, l. 232 and 284). The paper's full text could not be read: the two-layer linear "
        "theory (expected initial kernel-task alignment vs effective rank) is our own derivation of "
        "the result the abstract states."
    ),
    "summary": (
        "At a fixed Frobenius norm, the effective rank of the initial weights sets the learning regime: "
        "high-rank random initial connectivity gives lazier learning (small relative change of weights, "
        "representations and tangent kernel), low-rank initial connectivity richer learning, except when "
        "the low-rank structure is aligned with the task, which is lazy again. In a two-layer linear "
        "network the initial tangent kernel's alignment with a random task grows with the effective rank."
    ),
    "equations": [
        "W_0 = N · U_r S_r V_rᵀ / ||S_r||_F   (top-r SVD of a Gaussian, fixed Frobenius norm N)   (code l. 274-279)",
        "PR(σ) = (Σ σ_i)² / Σ σ_i²   (effective rank, participation ratio)",
        "K = X M Xᵀ,  M = WᵀW + ||a||² I   (tangent kernel of f = aᵀWx)   (our derivation, docstring)",
        "E_β KA(K_0, yyᵀ) = tr M / (d ||M||_F) → sqrt(PR(σ²)) / d  as a → 0   (our derivation, docstring)",
        "laziness: ||W_T − W_0||/||W_0||,  1 − ⟨K_0, K_T⟩/(||K_0|| ||K_T||)   (code l. 376, 420)",
    ],
}

__all__ = [
    "participation_ratio",
    "effective_rank",
    "lowrank_init",
    "aligned_lowrank_init",
    "relative_weight_change",
    "kernel_alignment",
    "task_alignment",
    "linear_net_ntk",
    "empirical_ntk",
    "expected_task_alignment",
]


def _positive_int(value, name, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}: `{name}` must be an integer ≥ 1, got {value!r}")
    return int(value)


def _matrix(value, name, what):
    m = np.asarray(value, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"{what}: `{name}` must be a non-empty 2-D array, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{what}: `{name}` has non-finite entries")
    return m


# --- effective rank ---------------------------------------------------------------------------------------
def participation_ratio(values) -> float:
    """PR(v) = (Σ v_i)² / Σ v_i² of non-negative values: between 1 (one non-zero value) and len(v) (all
    equal).  Applied to singular values it is the catalogue's effective rank; applied to their squares
    (the eigenvalues of WᵀW) it is the quantity in the theory's prediction."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"participation_ratio: `values` must be finite, non-negative and non-empty, got {v}")
    s2 = float(np.sum(v**2))
    if s2 == 0.0:
        raise ValueError("participation_ratio: `values` are all zero (the ratio is undefined)")
    return float(np.sum(v)) ** 2 / s2


def effective_rank(weight) -> float:
    """The participation ratio of the singular values of `weight`: (Σσ)²/Σσ²."""
    return participation_ratio(np.linalg.svd(_matrix(weight, "weight", "effective_rank"), compute_uv=False))


# --- initial weights of controlled rank at a fixed norm ---------------------------------------------------
def lowrank_init(shape, rank: int, norm: float, rng=None) -> np.ndarray:
    """An exactly rank-`rank` matrix of `shape` (out, in) with Frobenius norm `norm`: the top-`rank`
    singular triplets of a standard Gaussian matrix, rescaled (official code, main.py l. 274-279).
    ``rank = min(shape)`` gives the (rescaled) Gaussian itself."""
    if len(tuple(shape)) != 2:
        raise ValueError(f"lowrank_init: `shape` must be (out, in), got {shape!r}")
    m, n = (_positive_int(s, "shape", "lowrank_init") for s in shape)
    r = _positive_int(rank, "rank", "lowrank_init")
    if r > min(m, n):
        raise ValueError(f"lowrank_init: `rank` must be ≤ min(shape) = {min(m, n)}, got {rank}")
    if not np.isfinite(norm) or norm <= 0:
        raise ValueError(f"lowrank_init: `norm` must be a finite number > 0, got {norm!r}")
    rng = np.random.default_rng(rng)
    g = rng.standard_normal((m, n))
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    w = (u[:, :r] * s[:r]) @ vt[:r]  # truncated SVD (code l. 276)
    return w * (float(norm) / np.linalg.norm(w))  # rescale to the target Frobenius norm (code l. 279)


def aligned_lowrank_init(shape, directions, norm: float, rng=None) -> np.ndarray:
    """A matrix of `shape` (out, in) whose row space is spanned by the input-space `directions` (k, in)
    — e.g. the teacher's β — with k equal singular values and Frobenius norm `norm`; the left singular
    vectors are a random orthonormal set.  Rank = rank of `directions`."""
    what = "aligned_lowrank_init"
    if len(tuple(shape)) != 2:
        raise ValueError(f"{what}: `shape` must be (out, in), got {shape!r}")
    m, n = (_positive_int(s, "shape", what) for s in shape)
    d = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    if d.ndim != 2 or d.shape[1] != n:
        raise ValueError(f"{what}: `directions` must have shape (k, {n}), got {d.shape}")
    if not np.isfinite(norm) or norm <= 0:
        raise ValueError(f"{what}: `norm` must be a finite number > 0, got {norm!r}")
    _, s, vt = np.linalg.svd(_matrix(d, "directions", what), full_matrices=False)
    k = int(np.sum(s > s[0] * 1e-10)) if s[0] > 0 else 0
    if k == 0:
        raise ValueError(f"{what}: `directions` are all zero")
    if k > m:
        raise ValueError(f"{what}: {k} independent directions do not fit in {m} output rows")
    rng = np.random.default_rng(rng)
    q, _ = np.linalg.qr(rng.standard_normal((m, k)))
    return float(norm) / np.sqrt(k) * q @ vt[:k]


# --- laziness measures -----------------------------------------------------------------------------------
def relative_weight_change(w0, wt) -> float:
    """‖W_T − W_0‖_F / ‖W_0‖_F (official code l. 376 reports the numerator)."""
    a, b = _matrix(w0, "w0", "relative_weight_change"), _matrix(wt, "wt", "relative_weight_change")
    if a.shape != b.shape:
        raise ValueError(f"relative_weight_change: shapes differ, w0 {a.shape} vs wt {b.shape}")
    n0 = np.linalg.norm(a)
    if n0 == 0:
        raise ValueError("relative_weight_change: `w0` is zero")
    return float(np.linalg.norm(b - a) / n0)


def kernel_alignment(k1, k2) -> float:
    """⟨K_1, K_2⟩_F / (‖K_1‖_F ‖K_2‖_F): 1 for proportional kernels (official code l. 394 and 420)."""
    a, b = _matrix(k1, "k1", "kernel_alignment"), _matrix(k2, "k2", "kernel_alignment")
    if a.shape != b.shape:
        raise ValueError(f"kernel_alignment: shapes differ, k1 {a.shape} vs k2 {b.shape}")
    den = np.linalg.norm(a) * np.linalg.norm(b)
    if den == 0:
        raise ValueError("kernel_alignment: a kernel is zero")
    return float(np.sum(a * b) / den)


def task_alignment(kernel, y) -> float:
    """KA(K, yyᵀ) = yᵀKy / (‖K‖_F ‖y‖²): the kernel's alignment with the task's label kernel.  `y` may
    be (n,) or (n, c) for c label vectors, then one alignment per column."""
    k = _matrix(kernel, "kernel", "task_alignment")
    yy = np.asarray(y, dtype=np.float64)
    cols = yy.reshape(len(yy), -1) if yy.ndim else yy
    if yy.ndim not in (1, 2) or cols.shape[0] != k.shape[0] or k.shape[0] != k.shape[1]:
        raise ValueError(
            f"task_alignment: need a square kernel (n, n) and y (n,) or (n, c), got {k.shape}, {yy.shape}"
        )
    num = np.einsum("ic,ij,jc->c", cols, k, cols)
    den = np.linalg.norm(k) * np.sum(cols**2, axis=0)
    if np.any(den == 0):
        raise ValueError("task_alignment: a zero kernel or a zero label vector")
    out = num / den
    return float(out[0]) if yy.ndim == 1 else out


# --- tangent kernels ---------------------------------------------------------------------------------------
def linear_net_ntk(w, a, x) -> np.ndarray:
    """Tangent kernel of f(x) = aᵀWx over all parameters (W: (h, d), a: (h,), x: (n, d)):
    K = ‖a‖² XXᵀ + X WᵀW Xᵀ (derivation in the module docstring)."""
    w = _matrix(w, "w", "linear_net_ntk")
    a = np.asarray(a, dtype=np.float64).ravel()
    x = _matrix(x, "x", "linear_net_ntk")
    if a.size != w.shape[0] or x.shape[1] != w.shape[1]:
        raise ValueError(f"linear_net_ntk: shapes W {w.shape}, a {a.shape}, x {x.shape} do not chain")
    h = x @ w.T
    return float(a @ a) * (x @ x.T) + h @ h.T


def empirical_ntk(model, x, params=None) -> np.ndarray:
    """The empirical tangent kernel K_ij = Σ_p ⟨∂f(x_i)/∂p, ∂f(x_j)/∂p⟩ of a scalar-output `model` over
    its parameters (or the named subset `params`), from the engine's reverse-mode Jacobian."""
    from ....func import jacobian
    from ....nn import functional_call

    named = dict(model.named_parameters())
    names = list(named) if params is None else list(params)
    unknown = [n for n in names if n not in named]
    if unknown or not names:
        raise ValueError(f"empirical_ntk: unknown or empty `params` {unknown or names}; have {list(named)}")
    xa = np.asarray(x)
    blocks = []
    for name in names:

        def f(p, name=name):
            out = functional_call(model, {**named, name: p}, xa)
            return out.reshape((-1,))

        j = np.asarray(jacobian(f, named[name].data.astype(np.float64)).data, dtype=np.float64)
        blocks.append(j.reshape(j.shape[0], -1))
    if blocks[0].shape[0] != len(xa):
        raise ValueError(
            f"empirical_ntk: the model must have one output per example, got {blocks[0].shape[0]}"
        )
    jj = np.concatenate(blocks, axis=1)
    return jj @ jj.T


# --- the theory's prediction ------------------------------------------------------------------------------
def expected_task_alignment(singular_values, d: int, readout_sq_norm: float = 0.0) -> float:
    """E_β KA(K_0, yyᵀ) for f = aᵀWx on whitened inputs and task directions β uniform on the sphere:
    tr M / (d ‖M‖_F) with M = WᵀW + ‖a‖² I_d (module docstring).  `singular_values` of W (at most d of
    them; missing ones are zero), `d` the input dimension, `readout_sq_norm` = ‖a‖²."""
    what = "expected_task_alignment"
    d = _positive_int(d, "d", what)
    s = np.asarray(singular_values, dtype=np.float64).ravel()
    if s.size > d or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError(f"{what}: `singular_values` must be ≤ d = {d} finite values ≥ 0, got {s}")
    if not np.isfinite(readout_sq_norm) or readout_sq_norm < 0:
        raise ValueError(f"{what}: `readout_sq_norm` must be finite and ≥ 0, got {readout_sq_norm!r}")
    lam = np.concatenate([s**2, np.zeros(d - s.size)]) + float(readout_sq_norm)  # eigenvalues of M
    if not np.any(lam > 0):
        raise ValueError(f"{what}: the kernel is zero (all singular values and the readout are zero)")
    return float(np.sum(lam) / (d * np.sqrt(np.sum(lam**2))))
