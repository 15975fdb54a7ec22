r"""RECE: erase a concept from a text-to-image model by closed-form edits of its cross-attention key/value
projections (UCE's edit), then repeatedly derive — also in closed form — a new text embedding that still
regenerates the erased concept from the edited model, and erase that embedding too.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The edit (UCE, which RECE starts from)
--------------------------------------
Text enters a diffusion U-Net only through linear maps of the text embedding c ∈ R^d: the keys and values of
the cross-attention layers, v = W c (W stacks every K and V projection).  To erase a concept c_e, ask W' to
send c_e to the value of a harmless concept, v* = W c_0 (the empty prompt), to keep the values of concepts
c_p that must be preserved, and to stay near W otherwise:

.. math::

    \min_{W'}\ \lambda\lVert W' - W\rVert_F^2 + s_e\sum_{e}\lVert W'c_e - v^*_e\rVert^2
        + s_p\sum_{p}\lVert W'c_p - W c_p\rVert^2 ,

a ridge regression of the rows of W' whose normal equations give

.. math::

    W' = \Big(\lambda W + s_e\sum_e v^*_e c_e^\top + s_p\sum_p (W c_p) c_p^\top\Big)
         \Big(\lambda I + s_e\sum_e c_e c_e^\top + s_p\sum_p c_p c_p^\top\Big)^{-1}   \qquad (\text{UCE edit})

(`closed_form_edit`).  The edit is exact on the embeddings it saw, and only there: W' still maps most of R^d
as W did, so another embedding c' may satisfy W'c' ≈ W c_e and bring the concept back (the premise).

RECE's idea: derive the regenerating embedding, erase it, repeat
-----------------------------------------------------------------
Given the edited W' and the original W, the embedding that best reproduces the erased concept's *original*
values through the *edited* projections, with a ridge regulariser γ that keeps it of ordinary size, is

.. math::

    c' = \arg\min_{c}\ \lVert W'c - W c_e\rVert^2 + \gamma\lVert c\rVert^2
       = (W'^\top W' + \gamma I)^{-1} W'^\top W c_e                  \qquad (\text{derived embedding})

(`regenerating_embedding`).  RECE then applies the same closed-form edit with c' in place of c_e, mapping it to
the harmless value of the current model, v* = W' c_0, and preserving the current values W' c_p; one such
derive-and-erase round is an epoch (`rece_erase`).  Each round closes the cheapest remaining path back to the
concept, so the attacker's cheapest embedding grows while the preserved embeddings stay pinned by the s_p terms.

Sources and what is assumed
---------------------------
The paper's full text was not reachable here, so this module cites no equation numbers; its abstract (ECCV 2024
poster page) states the three parts used here: a closed form for new embeddings that regenerate the erased concept
on the edited model, their projection onto harmless concepts in the cross-attention layers, iterated, and a
regularisation term in the closed form to limit the impact on unrelated concepts.  The two closed forms
and the loop were checked against the authors' code (github.com/CharlesGong12/RECE):
``erase_methods/uce.py`` (``edit_model_adversarial``: the edit above, with λ as ``lamb``, s_e ``erase_scale``,
s_p ``preserve_scale``, target and preserved values taken from the *current* layers, "replace" technique),
``utils/embedding_calculation/close_form_emb.py`` (``close_form_emb_regzero``: the derived embedding with the
ridge regulariser towards 0, summed over all edited layers), and ``train.py`` (start from the UCE-edited model;
each epoch derives one embedding per concept and edits with it).  The code also offers a regulariser towards
the old target concept and a "surrogate" one; only the default ridge-to-zero form is implemented here.  One
embedding vector per concept (no token sequence), one stacked projection W instead of many layers, and the toy
are ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/diffusion-generative/rece-concept-erasure.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "rece-concept-erasure",
    "title": "Reliable and Efficient Concept Erasure of Text-to-Image Diffusion Models",
    "authors": "Chao Gong, Kai Chen, Zhipeng Wei, Jingjing Chen, Yu-Gang Jiang",
    "year": 2024,
    "arxiv": "2407.12383",
    "family": "diffusion-generative",
    "notebook": "notebooks/diffusion-generative/rece-concept-erasure.ipynb",
    "verified": "official-code",
    "verification_note": "The paper's text was not reachable; the closed-form K/V edit (erase_methods/uce.py, "
    "edit_model_adversarial), the ridge-regularised derived embedding (utils/embedding_calculation/"
    "close_form_emb.py, close_form_emb_regzero) and the epoch loop (train.py) were read in the authors' code.  "
    "No equation numbers are cited; the alternative regularisers of the code (towards the old target, "
    "'surrogate') are not implemented; one embedding vector per concept and one stacked projection are ours.",
    "summary": "Closed-form edit of cross-attention K/V projections, W' = (λW + Σ v* cᵀ + Σ W c_p c_pᵀ)(λI + "
    "Σ c cᵀ + Σ c_p c_pᵀ)⁻¹, maps the concept's embedding to a harmless value while preserving others; then, "
    "each epoch, derives in closed form the embedding c' = (W'ᵀW' + γI)⁻¹W'ᵀW c that still regenerates the "
    "concept from the edited model and erases it too.",
    "equations": [
        "W' = (λW + s_e Σ_e v*_e c_eᵀ + s_p Σ_p W c_p c_pᵀ)(λI + s_e Σ_e c_e c_eᵀ + s_p Σ_p c_p c_pᵀ)⁻¹   (UCE edit)",
        "c' = argmin ‖W'c − W c_e‖² + γ‖c‖² = (W'ᵀW' + γI)⁻¹ W'ᵀ W c_e   (derived embedding)",
        "epoch: c' from (W', W); W' ← edit(W'; c' → W' c_0, keep W' c_p)   (RECE loop)",
    ],
}

__all__ = ["CATALOG_ENTRY", "closed_form_edit", "edit_objective", "regenerating_embedding", "rece_erase"]


def _matrix(name, a, ndim=2):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != ndim or not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` must be a finite {ndim}-D array, got shape {a.shape}")
    return a


def _rows(name, a, d):
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    if a.ndim != 2 or (a.size and a.shape[1] != d):
        raise ValueError(f"`{name}` must be rows of length {d}, got shape {a.shape}")
    return a


def _positive(name, x, allow_zero=False):
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be {'≥' if allow_zero else '>'} 0, got {x}")


def closed_form_edit(
    W, c_erase, v_target, c_preserve=None, v_preserve=None, *, lam, erase_scale=1.0, preserve_scale=1.0
) -> np.ndarray:
    """The UCE/RECE edit: the minimiser of λ‖W' − W‖² + s_e Σ‖W'c_e − v*_e‖² + s_p Σ‖W'c_p − v_p‖².

    W: (m, d) projection; c_erase (n, d) and v_target (n, m) the embeddings to move and where to; c_preserve
    (k, d) and v_preserve (k, m) the embeddings to keep and their values (default: none)."""
    W = _matrix("W", W)
    m, d = W.shape
    _positive("lam", lam)
    _positive("erase_scale", erase_scale, allow_zero=True)
    _positive("preserve_scale", preserve_scale, allow_zero=True)
    C, V = _rows("c_erase", c_erase, d), _rows("v_target", v_target, m)
    if len(C) != len(V):
        raise ValueError(f"`c_erase` and `v_target` need one row each per concept, got {len(C)} and {len(V)}")
    Cp = np.zeros((0, d)) if c_preserve is None else _rows("c_preserve", c_preserve, d)
    Vp = np.zeros((0, m)) if v_preserve is None else _rows("v_preserve", v_preserve, m)
    if len(Cp) != len(Vp):
        raise ValueError(f"`c_preserve` and `v_preserve` need one row each, got {len(Cp)} and {len(Vp)}")
    lhs = lam * W + erase_scale * V.T @ C + preserve_scale * Vp.T @ Cp  # λW + Σ v cᵀ  (UCE edit)
    gram = lam * np.eye(d) + erase_scale * C.T @ C + preserve_scale * Cp.T @ Cp  # λI + Σ c cᵀ
    return np.linalg.solve(gram.T, lhs.T).T  # lhs · gram⁻¹ (gram is symmetric)


def edit_objective(
    W_new, W, c_erase, v_target, c_preserve, v_preserve, *, lam, erase_scale=1.0, preserve_scale=1.0
) -> float:
    """The edit's objective at W_new (for checking that `closed_form_edit` minimises it)."""
    C, V, Cp, Vp = (
        np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (c_erase, v_target, c_preserve, v_preserve)
    )
    return float(
        lam * np.sum((W_new - W) ** 2)
        + erase_scale * np.sum((C @ W_new.T - V) ** 2)
        + preserve_scale * np.sum((Cp @ W_new.T - Vp) ** 2)
    )


def regenerating_embedding(W_edit, W, c, *, gamma) -> np.ndarray:
    """c' = (W'ᵀW' + γI)⁻¹ W'ᵀ W c: the embedding whose edited values best match c's original values, with a
    ridge penalty γ‖c'‖² (rows of `c` are handled independently)."""
    W_edit, W = _matrix("W_edit", W_edit), _matrix("W", W)
    if W_edit.shape != W.shape:
        raise ValueError(f"`W_edit` and `W` must have one shape, got {W_edit.shape} and {W.shape}")
    _positive("gamma", gamma, allow_zero=True)
    c = np.asarray(c, dtype=np.float64)
    one = c.ndim == 1
    c = _rows("c", c, W.shape[1])
    gram = W_edit.T @ W_edit + gamma * np.eye(W.shape[1])  # W'ᵀW' + γI  (derived embedding)
    out = np.linalg.solve(gram, W_edit.T @ (W @ c.T)).T  # (W'ᵀW' + γI)⁻¹ W'ᵀ W c
    return out[0] if one else out


def rece_erase(
    W, c_erase, c_target, c_preserve=None, *, lam, gamma, epochs, erase_scale=1.0, preserve_scale=1.0
) -> tuple[np.ndarray, list]:
    """UCE's edit of `c_erase` towards the value of `c_target`, then `epochs` RECE rounds: derive the
    regenerating embedding of each erased concept against the original W, and erase it with the same edit,
    targets and preserved values taken from the current projection (as the authors' code does).

    Returns the final projection and the list of derived embeddings (one (n, d) array per epoch).
    `epochs=0` is UCE alone."""
    W = _matrix("W", W)
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
        raise ValueError(f"`epochs` must be an integer ≥ 0, got {epochs!r}")
    d = W.shape[1]
    C = _rows("c_erase", c_erase, d)
    c0 = _rows("c_target", c_target, d)
    if len(c0) == 1:
        c0 = np.repeat(c0, len(C), axis=0)
    if len(c0) != len(C):
        raise ValueError(f"`c_target` needs one row, or one per erased concept ({len(C)}), got {len(c0)}")
    Cp = np.zeros((0, d)) if c_preserve is None else _rows("c_preserve", c_preserve, d)
    kw = dict(lam=lam, erase_scale=erase_scale, preserve_scale=preserve_scale)
    W_cur = closed_form_edit(W, C, c0 @ W.T, Cp, Cp @ W.T, **kw)  # UCE: c_e → W c_0, keep W c_p
    derived = []
    for _ in range(epochs):
        c_new = regenerating_embedding(W_cur, W, C, gamma=gamma)  # derived embedding, against the original W
        derived.append(c_new)
        W_cur = closed_form_edit(W_cur, c_new, c0 @ W_cur.T, Cp, Cp @ W_cur.T, **kw)  # erase it too
    return W_cur, derived
