r"""Li₂: grokking in a two-layer network as lazy → independent → interactive feature learning.  In the
independent stage the gradient that reaches the hidden layer is :math:`G_F \propto \tilde Y\tilde Y^\top F`, so
every hidden node climbs its own energy :math:`\mathcal E(w) = \tfrac12\lVert\tilde Y^\top\sigma(Xw)\rVert^2`;
for modular addition with a quadratic activation the maximisers of :math:`\mathcal E` are single-frequency
Fourier features.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The setting
-----------
Modular addition mod M: inputs :math:`x = [e_a; e_b] \in \{0,1\}^{2M}` for all :math:`n = M^2` pairs, targets
the one-hot of :math:`(a+b) \bmod M`, centred over the samples, :math:`\tilde Y = (I - \tfrac1n 11^\top)Y`.
Network :math:`\hat Y = FV`, :math:`F = \sigma(XW^\top) \in \mathbb R^{n\times K}` (K hidden nodes, rows
:math:`w_j` of W), :math:`\sigma(h) = h^2`; loss with weight decay η on the top layer

.. math::

    L(W, V) = \tfrac12\lVert\tilde Y - FV\rVert_F^2 + \tfrac\eta2\lVert V\rVert_F^2.

Stage I (lazy): V settles at the ridge solution on the random features, :math:`V^* = (F^\top F + \eta I)^{-1}
F^\top\tilde Y` (`ridge_top_layer`); with η → 0 and K ≥ n it interpolates (memorises).

Stage II (independent): the backpropagated gradient :math:`G_F = -\partial L/\partial F = (\tilde Y - FV^*)V^{*\top}`
(`backpropagated_gradient`) is, exactly (push-through identity),

.. math::

    G_F = \eta\,(FF^\top + \eta I)^{-1}\,\tilde Y\tilde Y^\top F\,(F^\top F + \eta I)^{-1}
        \;\xrightarrow{\ \eta \gg \lVert F\rVert^2\ }\; \tfrac1\eta\,\tilde Y\tilde Y^\top F,

so column j of :math:`G_F` depends on node j alone (`independent_gradient`), and the update of :math:`w_j`,
:math:`X^\top(\sigma'(Xw_j)\odot G_F[:, j])`, is :math:`\tfrac1\eta\nabla\mathcal E(w_j)` (`energy`,
`energy_gradient`): gradient *ascent* on the energy.  Weight decay is what makes :math:`G_F` carry the labels.

The energy of modular addition (derived here)
---------------------------------------------
For :math:`w = [u; v]`, :math:`\sigma(Xw)_{(a,b)} = u_a^2 + v_b^2 + 2u_av_b`; summed over the pairs of class c and
centred, only the cross term survives: :math:`\tilde Y^\top\sigma(Xw) = 2\,P_\perp(u \circledast v)` (circular
convolution, DC removed).  By Parseval (:math:`\hat u` the DFT of u)

.. math::

    \mathcal E(u, v) = \frac2M\sum_{k\ne 0}|\hat u_k|^2|\hat v_k|^2 .

On the unit sphere :math:`\lVert u\rVert^2 + \lVert v\rVert^2 = 1` (Σ_k |û_k|² + |v̂_k|² = M), writing
:math:`s_j` for the power of the conjugate pair ±j, :math:`\mathcal E \le \tfrac2M\sum_j s_j^2/4 \le M/4`, with
equality iff all the power sits on one pair ±k, split equally between u and v: :math:`u, v \propto
\cos(2\pi k\,\cdot/M + \varphi)`, :math:`\lVert u\rVert = \lVert v\rVert`.  Every frequency k ≠ 0 gives the same
maximum :math:`\mathcal E^* = M/4` (`max_energy`), and the energy is convex in the pair powers, so a mixture of
frequencies is not a maximum: the emergent features are the Fourier (irreducible-representation) features.
For i.i.d. :math:`w \sim \mathcal N(0, I/(2M))`, :math:`\mathbb E|\hat u_k|^2 = 1/2` and
:math:`\mathbb E\,\mathcal E = (M-1)/(2M)` (`random_energy`), the energy a node starts from.

What is reconstructed, and what was checked against the authors' code
----------------------------------------------------------------------
The paper's full text was not read (only the abstract and summaries), so no equation numbers are cited.  The
setting was checked against the official code, yuandong-tian/understanding,
``ssl/real-dataset/cogo/modular_addition_simple2.py``: ``ModularAdditionNN`` concatenates the operands' one-hot
embeddings, applies ``x.pow(2)`` ("sqr") and, with ``set_weight_reg`` = η, overwrites the top layer at every
forward pass with the ridge solution (its SVD form :math:`V = V_s\,\mathrm{diag}(s/(s^2+\eta))\,U_s^\top Y`, equal
to `ridge_top_layer`); targets are ``one_hot − 1/M`` (for the full M² table the same as centring over samples);
the loss is the squared error of zero-mean outputs; ``main`` sets the training fraction from the critical ratio
:math:`\propto \log M / M` (the paper's M log M sample scaling, not tested here).  Derived here, not checked: the
push-through form of :math:`G_F`, the energy's normalisation (½), the closed form of :math:`\mathcal E` for modular
addition and its maximum M/4.  Ours: the hidden rows are projected to unit norm after every step and the step is
normalised (`train_hidden`), where the code uses SGD/Adam with weight decay and an optional de-meaning of W.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-dynamics/li2-grokking.ipynb
"""

from __future__ import annotations

import numpy as np

CATALOG_ENTRY = {
    "slug": "li2-grokking",
    "title": "Provable Scaling Laws of Feature Emergence from Learning Dynamics of Grokking",
    "authors": "Yuandong Tian",
    "year": 2025,
    "arxiv": "2509.21519",
    "family": "theory-dynamics",
    "notebook": "notebooks/theory-dynamics/li2-grokking.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (v1 titled 'Li₂: A Framework on Dynamics of Feature Emergence and "
    "Delayed Generalization').  From the abstract: three stages (lazy, independent, interactive), G_F carrying "
    "label information thanks to weight decay, independent dynamics = gradient ascent of an energy whose local "
    "maxima are the features.  The setting (one-hot pairs, x² activation, ridge top layer set_weight_reg, targets "
    "one_hot − 1/M) was checked against the official code (yuandong-tian/understanding, "
    "ssl/real-dataset/cogo/modular_addition_simple2.py); the full text was not read: the form of G_F, the energy's "
    "normalisation and the modular-addition closed form (max M/4 at single Fourier frequencies) are derived here.",
    "summary": "Grokking in 2-layer nets proceeds lazy → independent → interactive feature learning; with weight "
    "decay the backpropagated gradient becomes G_F ∝ ỸỸᵀF, so each hidden node performs gradient ascent on an "
    "energy whose maxima (Fourier features for modular addition) are the emerging features.",
    "equations": [
        "V* = (FᵀF + ηI)⁻¹ Fᵀ Ỹ   (lazy stage: ridge top layer on the hidden features F = σ(XWᵀ))",
        "G_F = (Ỹ − FV*)V*ᵀ = η (FFᵀ + ηI)⁻¹ ỸỸᵀF (FᵀF + ηI)⁻¹ → ỸỸᵀF / η   (η ≫ ‖F‖²)",
        "E(w) = ½ ‖Ỹᵀ σ(Xw)‖²,  ẇ_j ∝ ∇E(w_j)   (independent feature learning)",
        "modular addition, σ = x²: E(u, v) = (2/M) Σ_{k≠0} |û_k|² |v̂_k|² ≤ M/4 on ‖w‖ = 1 (derived here)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "modular_addition",
    "energy",
    "energy_gradient",
    "fourier_energy",
    "max_energy",
    "random_energy",
    "fourier_feature",
    "frequency_share",
    "ridge_top_layer",
    "backpropagated_gradient",
    "independent_gradient",
    "hidden_gradient",
    "gradient_alignment",
    "energy_ascent",
    "train_hidden",
]


def _check_modulus(M) -> int:
    if not isinstance(M, (int, np.integer)) or M < 3:
        raise ValueError(f"`M` (the modulus) must be an integer ≥ 3, got {M!r}")
    return int(M)


def modular_addition(M: int) -> tuple[np.ndarray, np.ndarray]:
    """All M² pairs: inputs X = [e_a; e_b] (n × 2M) and centred one-hot targets Ỹ of (a + b) mod M (n × M)."""
    M = _check_modulus(M)
    a, b = np.divmod(np.arange(M * M), M)
    X = np.zeros((M * M, 2 * M))
    X[np.arange(M * M), a] = 1.0
    X[np.arange(M * M), M + b] = 1.0
    Y = np.zeros((M * M, M))
    Y[np.arange(M * M), (a + b) % M] = 1.0
    return X, Y - Y.mean(0)  # Ỹ = (I − 11ᵀ/n) Y


def _check_xy(X, Yt):
    X, Yt = np.asarray(X, dtype=np.float64), np.asarray(Yt, dtype=np.float64)
    if X.ndim != 2 or Yt.ndim != 2 or X.shape[0] != Yt.shape[0]:
        raise ValueError(f"`X` and `Yt` must be 2-D with the same rows, got {X.shape} and {Yt.shape}")
    return X, Yt


def energy(w, X, Yt) -> np.ndarray:
    """E(w) = ½‖Ỹᵀσ(Xw)‖², σ(h) = h²; w is one node (d,) or a stack of nodes (K, d) → (K,)."""
    X, Yt = _check_xy(X, Yt)
    W = np.atleast_2d(np.asarray(w, dtype=np.float64))
    if W.shape[1] != X.shape[1]:
        raise ValueError(f"`w` must have {X.shape[1]} entries per node, got shape {np.shape(w)}")
    S = Yt.T @ (X @ W.T) ** 2  # Ỹᵀσ(Xw), one column per node
    return 0.5 * np.sum(S**2, axis=0)


def energy_gradient(W, X, Yt) -> np.ndarray:
    """∇E(w_j) = Xᵀ(σ'(Xw_j) ⊙ ỸỸᵀσ(Xw_j)) for each row w_j of W (the independent-stage update direction)."""
    X, Yt = _check_xy(X, Yt)
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    H = X @ W.T
    return ((2 * H) * (Yt @ (Yt.T @ H**2))).T @ X


def fourier_energy(u, v) -> float:
    """The closed form for modular addition: E = (2/M) Σ_{k≠0} |û_k|²|v̂_k|² (derived in the docstring)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if u.shape != v.shape or u.ndim != 1:
        raise ValueError(f"`u` and `v` must be 1-D of the same length M, got {u.shape} and {v.shape}")
    pu, pv = np.abs(np.fft.fft(u)) ** 2, np.abs(np.fft.fft(v)) ** 2
    return float(2 / u.size * np.sum(pu[1:] * pv[1:]))


def max_energy(M: int) -> float:
    """E* = M/4: the maximum of E on the unit sphere, reached by single-frequency features."""
    return _check_modulus(M) / 4


def random_energy(M: int) -> float:
    """E[E(w)] for w ~ N(0, I/(2M)) (so E‖w‖² = 1): (M − 1)/(2M)."""
    M = _check_modulus(M)
    return (M - 1) / (2 * M)


def fourier_feature(M: int, k: int, phases=(0.0, 0.0)) -> np.ndarray:
    """The unit-norm maximiser [u; v], u, v ∝ cos(2πk·/M + φ), ‖u‖ = ‖v‖ = 1/√2."""
    M = _check_modulus(M)
    if not 0 < k % M:
        raise ValueError(f"`k` must be a nonzero frequency mod M = {M}, got {k}")
    x = np.arange(M)
    u, v = (np.cos(2 * np.pi * k * x / M + p) for p in phases)
    return np.concatenate([u / np.linalg.norm(u), v / np.linalg.norm(v)]) / np.sqrt(2)


def frequency_share(W, M: int) -> np.ndarray:
    """Per node: the share of its non-DC Fourier power (u and v together) at its strongest frequency pair ±k."""
    M = _check_modulus(M)
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    if W.shape[1] != 2 * M:
        raise ValueError(f"`W` must have 2M = {2 * M} columns, got {W.shape}")
    P = np.abs(np.fft.fft(W[:, :M], axis=1)) ** 2 + np.abs(np.fft.fft(W[:, M:], axis=1)) ** 2
    pairs = P[:, 1 : M // 2 + 1] + P[:, M - 1 : M - M // 2 - 1 : -1]  # k and −k (odd M)
    if M % 2 == 0:
        pairs[:, -1] = P[:, M // 2]  # the Nyquist bin is its own conjugate
    return pairs.max(1) / pairs.sum(1)


def ridge_top_layer(F, Yt, eta: float) -> np.ndarray:
    """V* = (FᵀF + ηI)⁻¹FᵀỸ: the lazy stage's top layer under weight decay η."""
    if not eta > 0:
        raise ValueError(f"`eta` (weight decay) must be > 0, got {eta}")
    return np.linalg.solve(F.T @ F + eta * np.eye(F.shape[1]), F.T @ Yt)


def backpropagated_gradient(F, Yt, eta: float) -> np.ndarray:
    """G_F = −∂L/∂F = (Ỹ − FV*)V*ᵀ at the ridge top layer."""
    V = ridge_top_layer(F, Yt, eta)
    return (Yt - F @ V) @ V.T


def independent_gradient(F, Yt) -> np.ndarray:
    """ỸỸᵀF: the η → ∞ form of η·G_F, column j depending on node j alone."""
    return Yt @ (Yt.T @ F)


def hidden_gradient(W, X, Yt, eta: float) -> np.ndarray:
    """−∂L/∂W at V = V*: row j is Xᵀ(σ'(Xw_j) ⊙ G_F[:, j]) (the envelope theorem makes V*'s own change drop out)."""
    X, Yt = _check_xy(X, Yt)
    H = X @ np.asarray(W, dtype=np.float64).T
    return ((2 * H) * backpropagated_gradient(H**2, Yt, eta)).T @ X


def gradient_alignment(A, B) -> float:
    """Cosine ⟨A, B⟩ / (‖A‖‖B‖) of two gradient matrices."""
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    return float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))


def _unit_rows(W):
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def energy_ascent(W0, X, Yt, lr: float, steps: int, record=()) -> tuple[np.ndarray, dict]:
    """Projected gradient ascent of E for each node on the unit sphere (the independent dynamics alone)."""
    if not lr > 0 or steps < 0:
        raise ValueError(f"`lr` must be > 0 and `steps` ≥ 0, got {lr}, {steps}")
    W, trace = _unit_rows(np.asarray(W0, dtype=np.float64)), {}
    for t in range(steps + 1):
        if t in record:
            trace[t] = W.copy()
        if t < steps:
            W = _unit_rows(W + lr * energy_gradient(W, X, Yt))
    return W, trace


def train_hidden(W0, X, Yt, eta: float, lr: float, steps: int, record=()) -> tuple[np.ndarray, dict]:
    """The two-layer network: V at its ridge optimum every step, W moved along −∂L/∂W, rows kept at unit norm.

    The step is normalised, W ← unit_rows(W + lr·√K · G / ‖G‖_F), so that cells of very different η (whose
    gradients differ by orders of magnitude, G ∝ 1/η) move at one speed and differ only in direction."""
    if not lr > 0 or steps < 0:
        raise ValueError(f"`lr` must be > 0 and `steps` ≥ 0, got {lr}, {steps}")
    W, trace = _unit_rows(np.asarray(W0, dtype=np.float64)), {}
    scale = np.sqrt(W.shape[0])
    for t in range(steps + 1):
        if t in record:
            trace[t] = W.copy()
        if t < steps:
            G = hidden_gradient(W, X, Yt, eta)
            W = _unit_rows(W + lr * scale * G / np.linalg.norm(G))
    if not np.all(np.isfinite(W)):
        raise FloatingPointError(f"train_hidden diverged (eta = {eta}, lr = {lr})")
    return W, trace
