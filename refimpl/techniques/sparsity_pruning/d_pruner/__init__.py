r"""D-Pruner: dual-pruning a pretrained model into a domain-specific one.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/compressionOrg/D-Pruner (`code/general.py`, `code/src/lomo.py`,
`code/src/lomo_trainer.py`).

The idea
--------
Pruning a general model for one domain should keep what the domain needs *and* what makes the model
general.  D-Pruner scores every weight twice.

1. **General importance** $G$ from open-domain calibration data: the error of removing one weight in the
   optimal-brain-surgeon sense, computed layer by layer from the inputs $X$ of the layer (Sec. 3.1).
2. **Domain importance** $S$ from a pass over domain data whose loss is regularised by $G$: weights that
   matter for the general model are penalised for moving, so the gradient that scores them carries that
   penalty (Sec. 3.2).  The weights are then pruned, unstructured, by $S$.

The formulas (taken from the official code; the paper's section numbers as we read them, the equation
numbers of the paper could not be confirmed and are not cited — the code lines are):

$$H = 2XX^\top + \delta\,\overline{\mathrm{diag}}\,I,\qquad
  G_{ij} = \frac{W_{ij}^2}{\big([H^{-1}]_{jj}\big)^2}
  \quad\text{(Sec. 3.1; general.py l. 288 — note the squared diagonal)}$$

$$\mathcal L = \mathcal L_{\text{dom}} + \lambda \sum_m G_m(\theta'_m-\theta_m)^2,\qquad
  \tilde g = g + 2\lambda\eta^2\,G\odot g^{2}
  \quad\text{(Sec. 3.2; lomo.py l. 136–142, there with an extra factor 1/1000 and λ = 0.1)}$$

The penalty is evaluated at the update $\theta'-\theta\approx-\eta g$ of the pass ($\lambda G\eta^2g^2$); the
code adds $2\lambda\eta^2 G\odot g^2$ to the gradient, which is the term we implement (a heuristic form, not
the exact derivative of the penalty in θ; the code's form is kept).

$$S = \sum_{\text{batches}}\Big|\,\tilde g\,w + c_2(\tilde g\,w)^2 + c_3\,w^3\Big|,
  \qquad c_2 = 1/2000,\ c_3 = 1
  \quad\text{(Sec. 3.2; lomo.py l. 172–173)}$$

The paper derives $S$ as the second-order Taylor estimate of the loss change on removing $w$ with the
Hessian replaced by the empirical Fisher, $|g w - \tfrac12 (g w)^2|$-like; the released code uses the
constants above (a plus sign, $c_2 = 1/2000$ and an added $w^3$ term).  We implement the code's formula
with the constants as arguments (`dpruner_scores(..., c2, c3)`); plain first-order Taylor $|g w|$ is
`taylor_scores`.  Pruning is unstructured, per layer (`unstructured_masks`).

What is implemented, and deviations
-----------------------------------
* `general_importance(W, X)` — $G$ for one Linear layer of weight W (out × in) with inputs X (N × in);
  δ = `percdamp` = 0.01 as in general.py.  The official code obtains $[H^{-1}]$ inside SparseGPT's
  blockwise solver (with updates of the remaining weights); we take the plain inverse, no updates.
* `regularised_gradient(g, G, lam, eta)` — $\tilde g$.  The official 1/1000 is folded into λ; in the
  experiment λ is further divided by mean(G)·mean(|g|) so that it is a relative weight (a toy-scale
  choice, chosen on validation).
* The official importance pass is a LOMO fine-tuning run (the weights move while $S$ accumulates); our
  toy accumulates $S$ over mini-batches at the pretrained weights (η enters only the regulariser) and
  prunes one-shot, without fine-tuning, so that the compared criteria differ in the score alone.
* Toy scale: an MLP on the 8×8 digits instead of LLaMA on legal/medical text.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/d-pruner.ipynb
"""

from __future__ import annotations

import numpy as np

from ..masks import apply_masks, bottom_k_mask, check_sparsity, n_pruned, prunable_layers

CATALOG_ENTRY = {
    "slug": "d-pruner",
    "title": "Pruning as a Domain-specific LLM Extractor",
    "authors": "Nan Zhang, Yanchi Liu, Xujiang Zhao, Wei Cheng, Runxue Bao, Rui Zhang, Prasenjit Mitra, "
    "Haifeng Chen",
    "year": 2024,
    "arxiv": "2405.06275",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/d-pruner.ipynb",
    "verified": "official-code",
    "verification_note": (
        "General importance W²/[H⁻¹]_jj² with H from calibration inputs and 1 % damping read in "
        "compressionOrg/D-Pruner code/general.py (l. 288); the regularised gradient g + 2λη²·G·g² (λ = 0.1, "
        "/1000) and the score |g̃w + (g̃w)²/2000 + w³| read in code/src/lomo.py (l. 136–142, 172–173). "
        "The paper text was not available here: its equation numbers are not cited; one-shot toy pass "
        "without LOMO weight updates."
    ),
    "summary": (
        "Dual pruning for a domain: a general importance (the removal error of each weight on open-domain "
        "calibration data) regularises the domain loss during an importance pass; the domain-specific "
        "importance from that regularised gradient decides unstructured pruning, so the pruned model keeps "
        "domain skill without losing its generality."
    ),
    "equations": [
        "H = 2XXᵀ + δ·mean(diag H)·I;  G_ij = W_ij² / ([H⁻¹]_jj)²                    (Sec. 3.1; general.py l. 288)",
        "L = L_dom + λ Σ G (θ' − θ)² at θ' − θ ≈ −ηg; code: g̃ = g + 2λη² G⊙g²     (Sec. 3.2; lomo.py l. 142)",
        "S = Σ_batches |g̃w + c₂(g̃w)² + c₃w³|,  c₂ = 1/2000, c₃ = 1; prune smallest S  (lomo.py l. 173)",
    ],
}

__all__ = [
    "general_importance",
    "regularised_gradient",
    "dpruner_scores",
    "taylor_scores",
    "unstructured_masks",
    "prune_model",
]


def general_importance(W, X, percdamp: float = 0.01) -> np.ndarray:
    """G = W² / ([H⁻¹]_jj)², H = 2XᵀX + percdamp·mean(diag)·I, for a layer y = X Wᵀ (W out × in)."""
    W = np.asarray(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if W.ndim != 2 or X.ndim != 2 or X.shape[1] != W.shape[1]:
        raise ValueError(f"general_importance: need W (out, in) and X (N, in), got {W.shape} and {X.shape}")
    if percdamp < 0:
        raise ValueError(f"general_importance: `percdamp` must be ≥ 0, got {percdamp}")
    H = 2.0 * X.T @ X  # (Sec. 3.1)
    dead = np.diag(H) == 0  # inputs never active: SparseGPT sets their diagonal to 1
    H[dead, dead] = 1.0
    H += percdamp * np.mean(np.diag(H)) * np.eye(H.shape[0])  # damping, general.py
    hinv_diag = np.diag(np.linalg.inv(H))
    return W**2 / hinv_diag[None, :] ** 2  # general.py l. 288


def regularised_gradient(g, G, lam: float, eta: float = 1.0) -> np.ndarray:
    """g̃ = g + 2λη²·G⊙g²: the domain gradient with the general-importance penalty term (lomo.py l. 142)."""
    if lam < 0:
        raise ValueError(f"regularised_gradient: `lam` must be ≥ 0, got {lam}")
    g = np.asarray(g, dtype=np.float64)
    return g + 2.0 * lam * eta**2 * np.asarray(G, dtype=np.float64) * g**2  # Sec. 3.2


def dpruner_scores(g, w, c2: float = 1 / 2000, c3: float = 1.0) -> np.ndarray:
    """One batch's domain importance |g̃w + c₂(g̃w)² + c₃w³| (lomo.py l. 172–173); sum it over batches."""
    gw = np.asarray(g, dtype=np.float64) * np.asarray(w, dtype=np.float64)
    return np.abs(gw + c2 * gw**2 + c3 * np.asarray(w, dtype=np.float64) ** 3)


def taylor_scores(g, w) -> np.ndarray:
    """First-order Taylor importance |g·w| (the baseline; Molchanov et al.)."""
    return np.abs(np.asarray(g, dtype=np.float64) * np.asarray(w, dtype=np.float64))


def unstructured_masks(scores: dict, sparsity: float) -> dict:
    """Per layer, prune the round(s·n) weights of smallest score (ties by position); name → 0/1 mask."""
    s = check_sparsity(sparsity, "unstructured_masks")
    out = {}
    for name, sc in scores.items():
        sc = np.asarray(sc, dtype=np.float64)
        out[name] = (~bottom_k_mask(sc.ravel(), n_pruned(sc.size, s))).reshape(sc.shape).astype(np.float32)
    return out


def prune_model(model, scores: dict, sparsity: float) -> dict:
    """Install the masks of `unstructured_masks(scores, sparsity)` on the prunable layers of `model`."""
    layers = prunable_layers(model)
    missing = set(layers) - set(scores)
    if missing:
        raise KeyError(f"prune_model: no scores for layers {sorted(missing)}")
    masks = unstructured_masks({n: scores[n] for n in layers}, sparsity)
    apply_masks(model, masks)
    return masks
