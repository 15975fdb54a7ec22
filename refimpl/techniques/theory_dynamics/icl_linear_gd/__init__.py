r"""In-context learning of linear regression: a linear self-attention layer can *be* one step of gradient
descent on the examples in its context, and trained attention models behave like gradient descent or ridge
regression depending on their depth.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The task
--------
Each prompt is a new regression problem: :math:`w \sim \mathcal N(0, I_d)`, context examples
:math:`(x_i, y_i)_{i\le n}` with :math:`x_i \sim \mathcal N(0, I_d)`, :math:`y_i = w^\top x_i + \varepsilon_i`,
and a query :math:`x_q` whose label the model must predict from the context alone (`sample_tasks`).  No
weight of the model knows :math:`w`; whatever it predicts well, it learned *in context*.

Learning algorithms the model could be running
----------------------------------------------
From :math:`w_0 = 0`, one gradient step of size :math:`\eta` on :math:`\tfrac12\sum_i (y_i - w^\top x_i)^2` gives
:math:`w_1 = \eta\sum_i y_i x_i` and the prediction (`gd_prediction`, k steps in general)

.. math::

    \hat y^{\,\mathrm{GD}}_q = \eta \sum_i y_i\, x_i^\top x_q .

Ridge regression predicts :math:`\hat y_q = x_q^\top (X^\top X + \lambda I)^{-1} X^\top y` (`ridge_prediction`;
λ = σ² is the Bayes posterior mean for this prior), and least squares is its λ → 0 limit.

Attention that is a gradient step
---------------------------------
Put each example in a token :math:`z_i = (x_i, y_i) \in \mathbb R^{d+1}` and the query in
:math:`z_q = (x_q, 0)`.  A *linear* self-attention layer (no softmax) with value map V and key–query map Q
adds to every token

.. math::

    z_j \leftarrow z_j + \sum_{i \le n} (V z_i)\,(z_i^\top Q\, z_j)

(the context tokens are the keys and values; `LinearSelfAttention`).  With
:math:`V = e_{d+1}e_{d+1}^\top` (copy the label into the label slot) and
:math:`Q = \eta\begin{pmatrix} I_d & 0\\ 0 & 0\end{pmatrix}` (compare inputs), the query's label slot becomes
exactly :math:`\eta\sum_i y_i x_i^\top x_q`: the GD prediction (`constructed_gd_layer`; Akyürek et al. prove
such constructions for full transformers, and von Oswald et al. 2022 give this one for linear attention).
Stacking layers lets the context tokens be updated too, which is how deeper models can run more steps, or
precondition them, and move towards ridge regression.

What is reconstructed
---------------------
The paper trains full transformers (softmax attention, MLPs, layer norm) and measures how close their
predictions are to each algorithm (squared prediction difference).  Here the learner is the linear
self-attention stack above — the smallest model in which the construction is exact — trained by Adam on
fresh tasks.  The measurement (mean squared difference of predictions on test prompts, over the mean
squared label) follows the paper's; the architecture is the simplification.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/icl-linear-gd.ipynb
"""

from __future__ import annotations

import numpy as np

from ....nn import Module, Parameter

CATALOG_ENTRY = {
    "slug": "icl-linear-gd",
    "title": "What learning algorithm is in-context learning? Investigations with linear models",
    "authors": "Ekin Akyürek, Dale Schuurmans, Jacob Andreas, Tengyu Ma, Denny Zhou",
    "year": 2022,
    "arxiv": "2211.15661",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/icl-linear-gd.ipynb",
    "verified": "reconstructed",
    "verification_note": "Paper confirmed (arXiv 2211.15661, ICLR 2023) from its abstract and summaries: "
    "transformers can implement GD and ridge regression in context, and trained in-context learners match "
    "GD, ridge or least squares depending on depth and noise, measured by squared prediction difference. "
    "The full text and the official code (google-research/incontext) were not read here.  The learner is "
    "simplified to a stack of linear self-attention layers, in which the one-step-GD construction (von "
    "Oswald et al., arXiv 2212.07677) is exact; the catalogue's hand case (prediction 0.5) is reproduced.",
    "summary": "A linear self-attention layer with the right weights outputs exactly the prediction of one "
    "gradient-descent step on its context examples; attention models trained on random linear-regression "
    "prompts predict like one GD step when shallow and move towards ridge regression when deeper.",
    "equations": [
        "w ~ N(0, I_d),  x_i ~ N(0, I_d),  y_i = wᵀx_i + ε_i,  query x_q   (one prompt = one task)",
        "ŷ_q^GD = η Σ_i y_i x_iᵀ x_q   (one GD step from w₀ = 0 on ½ Σ_i (y_i − wᵀx_i)²)",
        "ŷ_q^ridge = x_qᵀ (XᵀX + λI)⁻¹ Xᵀy   (λ → 0: least squares)",
        "z_j ← z_j + Σ_{i≤n} (V z_i)(z_iᵀ Q z_j),  z_i = (x_i, y_i),  z_q = (x_q, 0)   (linear self-attention)",
        "V = e_{d+1} e_{d+1}ᵀ,  Q = η [[I_d, 0], [0, 0]]  ⇒  label slot of z_q = ŷ_q^GD   (the construction)",
        "SPD(A, B) = E[(ŷ_A − ŷ_B)²] / E[y_q²]   (squared prediction difference, normalised)",
        "η* = 1/(n + d + 1 + σ²)   (the best single GD step for this prior; derived here)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "sample_tasks",
    "tokens",
    "gd_prediction",
    "ridge_prediction",
    "LinearSelfAttention",
    "constructed_gd_layer",
    "optimal_gd_step",
    "spd",
]


def sample_tasks(n_tasks: int, n_context: int, dim: int, *, noise: float = 0.0, rng=None) -> dict:
    """Random linear-regression prompts: X (B, n, d), y (B, n), x_q (B, d), y_q (B,), w (B, d)."""
    if min(int(n_tasks), int(n_context), int(dim)) < 1:
        raise ValueError(f"`n_tasks`, `n_context`, `dim` must be ≥ 1, got {n_tasks}, {n_context}, {dim}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"`noise` must be ≥ 0, got {noise}")
    rng = np.random.default_rng(rng)
    w = rng.normal(size=(n_tasks, dim))
    X = rng.normal(size=(n_tasks, n_context, dim))
    xq = rng.normal(size=(n_tasks, dim))
    y = np.einsum("bnd,bd->bn", X, w) + noise * rng.normal(size=(n_tasks, n_context))
    yq = np.einsum("bd,bd->b", xq, w) + noise * rng.normal(size=n_tasks)
    return {"X": X, "y": y, "xq": xq, "yq": yq, "w": w}


def tokens(X, y, xq) -> np.ndarray:
    """Z (B, n + 1, d + 1): the context tokens (x_i, y_i), then the query token (x_q, 0)."""
    X, y, xq = (np.asarray(a, dtype=np.float64) for a in (X, y, xq))
    ctx = np.concatenate([X, y[..., None]], axis=-1)
    query = np.concatenate([xq, np.zeros(xq.shape[:-1] + (1,))], axis=-1)[:, None, :]
    return np.concatenate([ctx, query], axis=1)


def gd_prediction(X, y, xq, lr: float, steps: int = 1) -> np.ndarray:
    """The prediction at x_q after `steps` full-batch GD steps of size `lr` from w₀ = 0 on
    ½ Σ_i (y_i − wᵀx_i)² (one step: lr Σ_i y_i x_iᵀ x_q)."""
    X, y, xq = (np.asarray(a, dtype=np.float64) for a in (X, y, xq))
    w = np.zeros(xq.shape)
    for _ in range(int(steps)):
        resid = y - np.einsum("bnd,bd->bn", X, w)
        w = w + lr * np.einsum("bnd,bn->bd", X, resid)
    return np.einsum("bd,bd->b", w, xq)


def ridge_prediction(X, y, xq, lam: float) -> np.ndarray:
    """x_qᵀ (XᵀX + λI)⁻¹ Xᵀy per task; λ = 0 gives the minimum-norm least-squares prediction."""
    X, y, xq = (np.asarray(a, dtype=np.float64) for a in (X, y, xq))
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"`lam` must be ≥ 0, got {lam}")
    if lam == 0:
        w = np.stack([np.linalg.pinv(Xb) @ yb for Xb, yb in zip(X, y)])
    else:
        d = X.shape[-1]
        A = np.einsum("bnd,bne->bde", X, X) + lam * np.eye(d)
        w = np.linalg.solve(A, np.einsum("bnd,bn->bd", X, y)[..., None])[..., 0]
    return np.einsum("bd,bd->b", w, xq)


class LinearSelfAttention(Module):
    """`n_layers` residual linear self-attention layers over tokens (x, y) ∈ R^{d+1}; the prediction is the
    query token's label slot after the last layer.  Every token attends to the n context tokens."""

    def __init__(self, dim: int, n_layers: int = 1, *, init_scale: float = 0.01, rng=None):
        if int(dim) < 1 or int(n_layers) < 1:
            raise ValueError(f"`dim` and `n_layers` must be ≥ 1, got {dim} and {n_layers}")
        super().__init__()
        rng = np.random.default_rng(rng)
        k = int(dim) + 1
        self.dim, self.n_layers = int(dim), int(n_layers)
        for layer in range(self.n_layers):
            setattr(self, f"V{layer}", Parameter(init_scale * rng.normal(size=(k, k))))
            setattr(self, f"Q{layer}", Parameter(init_scale * rng.normal(size=(k, k))))

    def layers(self) -> list:
        return [(getattr(self, f"V{i}"), getattr(self, f"Q{i}")) for i in range(self.n_layers)]

    def forward(self, Z):
        """Z: a Tensor (B, n + 1, d + 1) from `tokens`; returns the predictions (B,)."""
        n = Z.shape[1] - 1
        for V, Q in self.layers():
            ctx = Z[:, :n, :]
            scores = (Z @ Q.T) @ ctx.transpose(1, 2)  # s_{ji} = z_iᵀ Q z_j, shape (B, n + 1, n)
            Z = Z + scores @ (ctx @ V.T)  # Σ_i s_{ji} V z_i
        return Z[:, n, self.dim]


def constructed_gd_layer(dim: int, lr: float) -> LinearSelfAttention:
    """The one-layer model whose output is exactly one GD step of size `lr` (module docstring)."""
    model = LinearSelfAttention(dim, 1, init_scale=0.0)
    k = dim + 1
    V = np.zeros((k, k))
    V[dim, dim] = 1.0
    Q = np.zeros((k, k))
    Q[:dim, :dim] = lr * np.eye(dim)
    model.V0.data[...], model.Q0.data[...] = V, Q
    return model


def optimal_gd_step(n_context: int, dim: int, noise: float = 0.0) -> dict:
    """The best single GD step for this task distribution, in closed form.  With a = Σ_i y_i x_iᵀx_q and
    b = y_q, the prediction is ηa, so η* = E[ab]/E[a²]; E[ab] = n d and E[a²] = E‖Xᵀy‖² = n d (n + d + 1 + σ²)
    (the Wishart moment E[(XᵀX)²] = n(n + d + 1) I), hence η* = 1/(n + d + 1 + σ²) and the normalised error
    1 − E[ab]²/(E[a²] E[b²]) = 1 − n d/((n + d + 1 + σ²)(d + σ²))."""
    n, d, s2 = int(n_context), int(dim), float(noise) ** 2
    eta = 1.0 / (n + d + 1 + s2)
    return {"eta": eta, "mse": 1.0 - n * d * eta / (d + s2)}


def spd(a, b, yq) -> float:
    """Squared prediction difference E[(a − b)²] over E[y_q²]: 0 for the same predictor, ~1 for unrelated."""
    a, b, yq = (np.asarray(v, dtype=np.float64) for v in (a, b, yq))
    return float(np.mean((a - b) ** 2) / np.mean(yq**2))
