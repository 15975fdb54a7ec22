r"""Transformers as support vector machines: trained by gradient descent, the key–query matrix of a
one-layer softmax attention grows without bound, and its direction converges to the max-margin solution of
an SVM that separates each sequence's optimal token from the others (Att-SVM).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The model
---------
Sequence i has tokens :math:`x_{i,1},\dots,x_{i,T}\in\mathbb R^d` (rows of :math:`X_i`), a query token
:math:`z_i`, and a label :math:`y_i\in\{\pm1\}`.  One attention layer with combined key–query matrix
:math:`W = KQ^\top` and a fixed linear head v reads

.. math::

    f(X_i) = v^\top X_i^\top\,\mathrm{softmax}(X_i W z_i),

and W is trained by gradient descent on the logistic loss :math:`\frac1n\sum_i\log(1+e^{-y_if(X_i)})`
(`attention_output`, `loss_and_grad`, `train_attention`).

The SVM
-------
Each token has a score :math:`\gamma_{i,t} = y_i v^\top x_{i,t}`; the *optimal* token :math:`\mathrm{opt}_i` has the
largest.  The loss falls by putting all attention on the optimal tokens, which needs
:math:`(x_{i,\mathrm{opt}_i} - x_{i,t})^\top W z_i \to \infty`.  Among all W that separate every optimal token from
the rest of its sequence by a margin, the Att-SVM picks the smallest:

.. math::

    W^{\mathrm{mm}} = \arg\min_W \lVert W\rVert_F\quad\text{s.t.}\quad
    (x_{i,\mathrm{opt}_i} - x_{i,t})^\top W z_i \ge 1\quad\forall i,\ t\ne\mathrm{opt}_i

(`att_svm`, solved as a small quadratic program).  The paper's theorem (as the catalogue summarises it):
when gradient descent's attention converges to the optimal tokens, :math:`W_t/\lVert W_t\rVert \to
W^{\mathrm{mm}}/\lVert W^{\mathrm{mm}}\rVert` — the implicit bias of attention is a max-margin token selector,
much as logistic regression's is the hard-margin SVM.  (With the factorized :math:`W=KQ^\top` the limit is the
nuclear-norm SVM instead; not run here.)

With one sequence and two tokens the SVM is solved by hand: the constraint
:math:`(x_1-x_2)^\top W z\ge1` is one hyperplane in W-space and the least-norm point on it is
:math:`W = (x_1-x_2)z^\top/(\lVert x_1-x_2\rVert^2\lVert z\rVert^2)`.

What is reconstructed
---------------------
The model, the SVM and the convergence statement are the paper's as the catalogue summarises them; the full
text was not read (no theorem numbers).  Our runs use plain gradient descent with a step size that grows with
‖W‖ only through the normalized step (`normalized=True`: W ← W − η ∇/‖∇‖), which the paper also analyses; the
data model is ours.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/transformers-as-svm.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

CATALOG_ENTRY = {
    "slug": "transformers-as-svm",
    "title": "Transformers as Support Vector Machines",
    "authors": "Davoud Ataee Tarzanagh, Yingcong Li, Christos Thrampoulidis, Samet Oymak",
    "year": 2023,
    "arxiv": "2308.16898",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/transformers-as-svm.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id marked unconfirmed in the catalogue; confirmed here from the title and "
    "abstract (Tarzanagh, Li, Thrampoulidis, Oymak 2023).  The full text was not read: no theorem numbers; the "
    "model f = vᵀXᵀsoftmax(XWz), the Att-SVM and the directional-convergence statement follow the catalogue's "
    "summary.  Normalized gradient steps, the data model and the two-token hand case (derived here) are ours.",
    "summary": "Gradient descent on the key–query matrix W of one softmax attention layer drives ‖W‖ → ∞ "
    "while its direction converges to the max-margin Att-SVM that separates each sequence's optimal token "
    "from the others — attention's implicit bias is a token-selecting SVM.",
    "equations": [
        "f(X_i) = vᵀ X_iᵀ softmax(X_i W z_i)   (one attention layer, W = KQᵀ, fixed head v)",
        "L(W) = (1/n) Σ_i log(1 + exp(−y_i f(X_i)))   (logistic loss)",
        "opt_i = argmax_t y_i vᵀ x_{i,t}   (the optimal token of sequence i)",
        "W^mm = argmin ‖W‖_F  s.t. (x_{i,opt_i} − x_{i,t})ᵀ W z_i ≥ 1  ∀ i, t ≠ opt_i   (Att-SVM)",
        "W_t/‖W_t‖ → W^mm/‖W^mm‖   (directional convergence of GD)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "attention_output",
    "loss_and_grad",
    "optimal_tokens",
    "att_svm",
    "train_attention",
    "equal_margin_solution",
    "cosine",
]


def _check(X, z, y, v):
    X, z, y, v = (np.asarray(a, dtype=np.float64) for a in (X, z, y, v))
    if (
        X.ndim != 3
        or z.shape != (X.shape[0], X.shape[2])
        or y.shape != (X.shape[0],)
        or v.shape != (X.shape[2],)
    ):
        raise ValueError(
            f"shapes: X (n, T, d), z (n, d), y (n,), v (d,); got {X.shape}, {z.shape}, {y.shape}, {v.shape}"
        )
    return X, z, y, v


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention_output(W, X, z, v) -> tuple:
    """(f, attention): f_i = vᵀX_iᵀ softmax(X_i W z_i) and the attention weights (n, T)."""
    a = _softmax(np.einsum("ntd,de,ne->nt", X, W, z))
    return np.einsum("nt,ntd,d->n", a, X, v), a


def loss_and_grad(W, X, z, y, v) -> tuple:
    """The mean logistic loss and its gradient in W (the softmax Jacobian written out)."""
    X, z, y, v = _check(X, z, y, v)
    f, a = attention_output(W, X, z, v)
    margin = y * f
    loss = float(np.mean(np.logaddexp(0.0, -margin)))
    dl_df = -y * 0.5 * (1 - np.tanh(margin / 2)) / len(y)  # −y σ(−yf) / n, computed stably
    h = X @ v  # token values vᵀx_{i,t}
    # ∂f/∂s_t = a_t (h_t − f) = a_t Σ_u a_u (h_t − h_u): the second form keeps its accuracy when the attention
    # saturates (h_t − f would cancel to 0 for the selected token while the others still count)
    ds = a * np.einsum("ntu,nu->nt", h[:, :, None] - h[:, None, :], a)
    G = np.einsum("n,nt,ntd,ne->de", dl_df, ds, X, z)  # s_t = x_tᵀ W z
    return loss, G


def optimal_tokens(X, y, v) -> np.ndarray:
    """opt_i = argmax_t y_i vᵀx_{i,t}."""
    return np.argmax(np.asarray(y)[:, None] * (np.asarray(X) @ np.asarray(v)), axis=1)


def att_svm(X, z, opt) -> np.ndarray:
    """W^mm: the least-Frobenius-norm W with (x_{i,opt} − x_{i,t})ᵀ W z_i ≥ 1 for all t ≠ opt_i (a quadratic
    program, solved by SLSQP); raises if it is infeasible."""
    X, z = np.asarray(X, dtype=np.float64), np.asarray(z, dtype=np.float64)
    d = X.shape[2]
    C = _constraint_rows(X, z, opt)
    w0 = np.linalg.lstsq(C, np.full(len(C), 2.0), rcond=None)[0]  # a feasible-ish start
    res = minimize(
        lambda w: 0.5 * w @ w,
        w0,
        jac=lambda w: w,
        constraints=[{"type": "ineq", "fun": lambda w: C @ w - 1.0, "jac": lambda w: C}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    if not res.success or np.min(C @ res.x) < 1 - 1e-6:
        raise ValueError(f"att_svm: the Att-SVM is infeasible or unsolved ({res.message})")
    return res.x.reshape(d, d)


def _constraint_rows(X, z, opt):
    n, T, _ = X.shape
    return np.array(
        [np.outer(X[i, opt[i]] - X[i, t], z[i]).ravel() for i in range(n) for t in range(T) if t != opt[i]]
    )


def equal_margin_solution(X, z, opt) -> np.ndarray:
    """The least-norm W with every margin (x_{i,opt} − x_{i,t})ᵀ W z_i exactly 1: a separator of the same
    tokens that is not max-margin (the comparison point for the SVM direction)."""
    X, z = np.asarray(X, dtype=np.float64), np.asarray(z, dtype=np.float64)
    C = _constraint_rows(X, z, opt)
    return (np.linalg.pinv(C) @ np.ones(len(C))).reshape(X.shape[2], X.shape[2])


def train_attention(X, z, y, v, *, lr: float, steps: int, normalized: bool = True, init=None, record=()):
    """Gradient descent on W from `init` (default 0): W ← W − η ∇ (or η ∇/‖∇‖ when `normalized`).  Returns W
    and the iterates at the step counts in `record`."""
    X, z, y, v = _check(X, z, y, v)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"`lr` must be > 0, got {lr}")
    d = X.shape[2]
    W = np.zeros((d, d)) if init is None else np.array(init, dtype=np.float64)
    record, kept = set(int(r) for r in record), {}
    for t in range(1, int(steps) + 1):
        _, G = loss_and_grad(W, X, z, y, v)
        norm = np.linalg.norm(G)
        if norm == 0:
            break
        W = W - lr * (G / norm if normalized else G)
        if t in record:
            kept[t] = W.copy()
    return W, kept


def cosine(A, B) -> float:
    """⟨A, B⟩_F / (‖A‖_F ‖B‖_F)."""
    return float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))
