r"""Reversible Model Merging (RMM): keep a basis of R weight sets and per-task coefficients, not one merge.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
No official code was found (searched the stored code index by title, method name and authors); the full
text of the method section could not be read here either — only the abstract and a third-party summary of
the method.  What follows is therefore **reconstructed** from those, and the assumptions are listed below
and in the notebook.  No formula line carries a paper equation number, because none could be confirmed;
each cites what it rests on (the abstract's "closed form", Eckart–Young).

The idea
--------
n task models share a pretrained θ_pre and differ by low-rank deltas (LoRA: ΔW_i = B_i A_i per layer).
A single merge (task arithmetic, TIES) collapses them into one set of weights and, for low-rank deltas,
loses much of each task's accuracy.  RMM instead stores a small basis of R "basis models" and, for each
task, R coefficients, so that each task's weights are *reconstructed* by a linear combination — the merge
can be reverted to any task.  The basis and coefficients are chosen in closed form, without data, to
minimise the reconstruction error of the task weights.

For one weight tensor (a LoRA factor of one layer), flatten the n task versions into the columns of

$$ X = [\,\mathrm{vec}(x_1)\;\cdots\;\mathrm{vec}(x_n)\,] \in \mathbb{R}^{p\times n}. $$

RMM seeks a basis V ∈ R^{p×R} and coefficients C ∈ R^{R×n} minimising ‖X − V C‖_F.  With the SVD
X = U Σ Wᵀ (σ_1 ≥ σ_2 ≥ …), the minimiser (Eckart–Young–Mirsky) is

$$ V = U_{:,1:R}, \qquad C = V^\top X, \qquad \hat X = V C = U_R U_R^\top X, \qquad
   \|X - \hat X\|_F^2 = \sum_{j>R} \sigma_j^2 . $$

Task i is reconstructed as x̂_i = Σ_k C_{k i} v_k; R = n (or R ≥ rank X) reconstructs every task exactly,
R = 1 is a single direction with a per-task scale.  Storage for one tensor: R·p numbers for the basis plus
R·n coefficients, against n·p for keeping every task and p for a single merge.

Assumptions (reconstructed, stated in the notebook)
---------------------------------------------------
* **Per tensor, per factor.**  The summary says RMM works layer by layer and on the low-rank factors (rows
  of A / columns of B, "task vector positions"), not on the product B A; we apply the closed form to each
  factor tensor of each layer separately, each with its own basis and coefficients, so a basis model is
  itself a low-rank adapter and storage stays at the adapter's size.  Reconstructed ΔŴ_i = B̂_i Â_i.
* **Uncentred.**  X is not mean-centred (no mean model is stored); the first basis direction then carries
  what the tasks share.
* **Shared adapter initialisation.**  Linear combinations of factors only make sense when the tasks' factors
  live in one gauge (B A = (B M)(M⁻¹ A) for any invertible M); the experiment trains every task's LoRA from
  the same initial A.
* The functions below take any list of task "delta" state dicts (name → array), so the same closed form
  applies to full task vectors θ_i − θ_pre as well (the family contract uses that form).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/merging-averaging/reversible-model-merging.ipynb
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..state import check_compatible

CATALOG_ENTRY = {
    "slug": "reversible-model-merging",
    "title": "Towards Reversible Model Merging For Low-rank Weights",
    "authors": "Mohammadsajad Alipour, Mohammad Mohammadi Amiri",
    "year": 2025,
    "arxiv": "2510.14163",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/reversible-model-merging.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract (arXiv 2510.14163v1) and a third-party summary of the method section "
        "(per layer, per LoRA factor, the n tasks' vectors stacked and a closed-form basis + coefficients); "
        "the method section and any official code could not be read, so no equation numbers are cited. The "
        "closed form used is the truncated SVD of the stacked, uncentred factor tensors (Eckart–Young), "
        "applied to each factor of each layer separately; the reconstruction error equals the tail singular "
        "values (checked on hand examples and by brute force over random bases)."
    ),
    "summary": (
        "Instead of collapsing n low-rank task models into one merged model, store a basis of R weight sets "
        "and R coefficients per task, chosen in closed form (truncated SVD of the stacked task weights) to "
        "minimise the reconstruction error, so every task model can be recovered — exactly when R = n — by "
        "a linear combination; compared with task arithmetic and TIES single merges."
    ),
    "equations": [
        "X = [vec(x_1) … vec(x_n)] ∈ R^{p×n}   (one factor tensor of one layer, n tasks)",
        "X = U Σ Wᵀ;   V = U_{:,1:R},   C = Vᵀ X   (basis and per-task coefficients, closed form)",
        "x̂_i = Σ_{k≤R} C_{ki} v_k,   ‖X − V C‖_F² = Σ_{j>R} σ_j²   (Eckart–Young)",
        "ΔŴ_i = B̂_i Â_i   (each LoRA factor reconstructed with its own basis)",
    ],
}

__all__ = [
    "stack_tasks",
    "rmm_basis",
    "reversible_merge",
    "reconstruct",
    "reconstruct_all",
    "storage",
    "reconstruction_error",
]


def stack_tasks(deltas, key: str) -> np.ndarray:
    """X = [vec(x_1) … vec(x_n)] (p × n, float64): the n tasks' versions of tensor `key` as columns."""
    return np.stack([np.asarray(d[key], dtype=np.float64).ravel() for d in deltas], axis=1)


def rmm_basis(X, R: int) -> dict:
    """Closed-form basis and coefficients of one stacked tensor X (p × n) with R basis vectors.

    Returns {"V": (p, R) orthonormal basis, "C": (R, n) coefficients, "sigma": all singular values}.
    If rank X < R the extra basis columns are zero (they add nothing)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"rmm_basis: `X` must be 2-d (p, n), got shape {X.shape}")
    n = X.shape[1]
    R = int(R)
    if not 1 <= R <= n:
        raise ValueError(f"rmm_basis: `R` must be in 1..n = 1..{n}, got {R}")
    U, s, _ = np.linalg.svd(X, full_matrices=False)  # X = U Σ Wᵀ
    k = min(R, U.shape[1])
    V = np.zeros((X.shape[0], R))
    V[:, :k] = U[:, :k]  # V = U_{:,1:R} (Eckart–Young)
    C = V.T @ X  # C = Vᵀ X: each task's coefficients, the projection onto span V
    return {"V": V, "C": C, "sigma": s}


def reversible_merge(deltas, R: int) -> dict:
    """RMM of n task deltas (state dicts name → array of equal shapes) with R basis models per tensor.

    Returns {"basis": [R state dicts], "coef": name → (R, n), "sigma": name → singular values,
    "n_tasks": n, "R": R}.  Each tensor gets its own basis and coefficients (per layer, per factor)."""
    sds = check_compatible(list(deltas), "deltas")
    if not sds:
        raise ValueError("reversible_merge: `deltas` must hold at least one task")
    basis = [OrderedDict() for _ in range(int(R))]
    coef, sigma = OrderedDict(), OrderedDict()
    for key in sds[0]:
        shape = np.shape(sds[0][key])
        r = rmm_basis(stack_tasks(sds, key), R)
        for k in range(int(R)):
            basis[k][key] = r["V"][:, k].reshape(shape)  # basis model k, tensor `key`
        coef[key], sigma[key] = r["C"], r["sigma"]
    return {"basis": basis, "coef": coef, "sigma": sigma, "n_tasks": len(sds), "R": int(R)}


def reconstruct(merged: dict, i: int) -> OrderedDict:
    """Task i's weights from the basis: x̂_i = Σ_k C_{k i} v_k for every tensor."""
    n = merged["n_tasks"]
    if not 0 <= int(i) < n:
        raise ValueError(f"reconstruct: task index must be in 0..{n - 1}, got {i}")
    out = OrderedDict()
    for key, C in merged["coef"].items():
        out[key] = sum(C[k, i] * merged["basis"][k][key] for k in range(merged["R"]))  # x̂_i = V C_{:,i}
    return out


def reconstruct_all(merged: dict) -> list:
    """[x̂_1, …, x̂_n]: every task reconstructed."""
    return [reconstruct(merged, i) for i in range(merged["n_tasks"])]


def storage(merged: dict) -> int:
    """Numbers stored: R·p per tensor for the basis plus R·n coefficients per tensor."""
    R, n = merged["R"], merged["n_tasks"]
    return int(sum(R * np.size(v) + R * n for v in merged["basis"][0].values()))


def reconstruction_error(deltas, merged: dict) -> float:
    """Relative error ‖X − X̂‖_F / ‖X‖_F over all tensors and tasks (0 = reverted exactly)."""
    sds = check_compatible(list(deltas), "deltas")
    num = den = 0.0
    for i, sd in enumerate(sds):
        rec = reconstruct(merged, i)
        for key in sd:
            x = np.asarray(sd[key], dtype=np.float64)
            num += float(np.sum((x - rec[key]) ** 2))
            den += float(np.sum(x**2))
    return float(np.sqrt(num / den)) if den > 0 else 0.0
