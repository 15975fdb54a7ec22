r"""The self-referential weight matrix (SRWM): one weight matrix that, at every time step, computes its own
output, its own key, query and learning rates, and rewrites itself with the delta rule — no separate slow
network programs it.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The method
----------
**The fast weight programmer it generalises (Sec. 2 of the paper).**  A slow matrix :math:`W^{\mathrm{slow}}`
maps the input :math:`x_t` to a key, a value, a query and a learning rate; a fast matrix, empty at the start
of a sequence, is written by the delta rule and read with the query:

.. math::

    k_t, v_t, q_t, \beta_t = W^{\mathrm{slow}} x_t, \qquad
    \bar v_t = W_{t-1}\,\phi(k_t), \qquad
    W_t = W_{t-1} + \sigma(\beta_t)\,(v_t - \bar v_t) \otimes \phi(k_t), \qquad
    y_t = W_t\,\phi(q_t),

with :math:`\phi` the softmax (`fast_weight_programmer`, the ablation without self-reference).  With the
retrieval :math:`\bar v_t` dropped (:math:`W_t = W_{t-1} + v_t \otimes \phi(k_t)`) it is linear attention,
the sum rule (`delta=False`).

**The SRWM (Sec. 3, Eqs. 5–8 as numbered in the arXiv version; official `self_ref_v0/__init__.py`, whose
pure-PyTorch loop is the reference we follow).**  There is no slow network: one matrix
:math:`W_{t-1} = [W^y; W^q; W^k; W^\beta]` (output, query, key and four learning-rate rows) maps the
softmax-normalised input to everything, and the values it writes are produced by the same matrix:

.. math::

    y_t, q_t, k_t, \beta_t &= W_{t-1}\,\phi(x_t)                                   && \text{(Eq. 5)} \\
    v_t &= W_{t-1}\,\phi(q_t)                                                       && \text{(Eq. 6)} \\
    \bar v_t &= W_{t-1}\,\phi(k_t)                                                  && \text{(Eq. 7)} \\
    W_t &= W_{t-1} + \sigma(\beta_t)\,(v_t - \bar v_t) \otimes \phi(k_t)            && \text{(Eq. 8)}

The matrix *predicts a new value for the key direction* :math:`\phi(k_t)` (what it would output for the
query :math:`\phi(q_t)`) and moves the stored value there at rate :math:`\sigma(\beta_t)`: the delta rule,
applied to all its own rows, including those that produce the next keys, queries and learning rates.
:math:`\beta_t \in \mathbb{R}^4` carries one rate per sub-matrix (y, q, k, β), as in the official code.  The
initial :math:`W_0` is the only learned parameter of the layer; training is backpropagation through the
whole unrolled sequence of self-updates.

In the row-vector convention of the code (used below), :math:`y = \phi(x) W` with W of shape
(d_in, 3·d_in + 4) and the update :math:`W \mathrel{+}= \phi(k)^\top \big(\sigma(\beta)\odot(v - \bar v)\big)`.

What is read and what is ours
-----------------------------
Checked against the official code (IDSIA/modern-srwm): `supervised_learning/self_ref_v0/__init__.py` (its
PyTorch reference loop: softmax on the input, on q and on k; four sigmoid rates, one per sub-matrix;
:math:`v = \phi(q)W`, :math:`\bar v = \phi(k)W`, the outer-product insertion; the output read with
:math:`W_{t-1}`, before the step's own update) and `supervised_learning/layer.py` (`SRWMlayer`:
:math:`W_0 \sim \mathcal{N}(0, 1/d)`, the rate rows centred at `beta_init` = −1, an output projection).  The
paper's full text was not available here: the equation numbers 5–8 are those we recall for Sec. 3 and were
not re-read.  Ours: one head, no layer norm, residual or dropout; a linear embedding of the one-hot input in
front and a linear read-out behind (`SRWMNet`); the layer keeps :math:`W_0` as a Tensor and unrolls the loop
with refimpl autograd (no custom backward, so none needs its own check; the unrolled update is still
gradient-checked in float64 in the tests).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/architectures/self-referential-weight-matrix.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn.module import Parameter

CATALOG_ENTRY = {
    "slug": "self-referential-weight-matrix",
    "title": "A Modern Self-Referential Weight Matrix That Learns to Modify Itself",
    "authors": "Kazuki Irie, Imanol Schlag, Róbert Csordás, Jürgen Schmidhuber",
    "year": 2022,
    "arxiv": "2202.05780",
    "family": "architectures",
    "notebook": "notebooks/architectures/self-referential-weight-matrix.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Checked against the official code (IDSIA/modern-srwm): supervised_learning/self_ref_v0/__init__.py "
        "(the PyTorch reference loop of the CUDA kernel: softmax on x, q, k; four sigmoid rates, one per "
        "sub-matrix; v = φ(q)W, v̄ = φ(k)W; W += φ(k)ᵀ σ(β)(v − v̄); y read before the update) and "
        "supervised_learning/layer.py (SRWMlayer init). The paper's abstract was read; its full text was not "
        "available, so the Sec. 3 equation numbers (5–8) are recalled, not re-read. Ours: one head, no layer "
        "norm/residual/dropout, a linear embedding and read-out, a synthetic few-shot associative-recall task."
    ),
    "summary": (
        "One weight matrix W maps φ(x_t) (softmax) to its output y_t, a key k_t, a query q_t and four learning "
        "rates β_t; it produces the value to write from itself, v_t = W φ(q_t), retrieves the stored one "
        "v̄_t = W φ(k_t), and rewrites all of its rows with the delta rule W ← W + σ(β_t)(v_t − v̄_t) ⊗ φ(k_t). "
        "Only W_0 is learned, by backpropagation through the unrolled self-updates. Compared with the "
        "fast weight programmer (a slow net writes a separate fast matrix, the ablation without "
        "self-reference) and linear attention (the sum rule)."
    ),
    "equations": [
        "y_t, q_t, k_t, β_t = W_{t−1} φ(x_t),  φ = softmax  (Eq. 5)",
        "v_t = W_{t−1} φ(q_t)  (Eq. 6)",
        "v̄_t = W_{t−1} φ(k_t)  (Eq. 7)",
        "W_t = W_{t−1} + σ(β_t)(v_t − v̄_t) ⊗ φ(k_t),  one rate per sub-matrix y, q, k, β  (Eq. 8)",
    ],
}

N_RATES = 4  # σ(β) has one entry per sub-matrix: y, q, k, β (official code)


def _as_tensor(x, name, fn, ndim):
    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))
    if t.ndim != ndim:
        raise ValueError(f"{fn}: `{name}` must have {ndim} dimensions, got shape {t.shape}")
    return t


def _block_indicator(d: int, dtype) -> np.ndarray:
    """(4, 3d + 4) matrix E with σ(β) E = the per-column rate: d columns each for y, q, k, then the 4 β columns."""
    E = np.zeros((N_RATES, 3 * d + N_RATES), dtype=dtype)
    for i in range(3):
        E[i, i * d : (i + 1) * d] = 1.0
    E[3, 3 * d :] = 1.0
    return E


def srwm_step(W, x):
    r"""One SRWM step on a batch: W (B, d, 3d+4) or (d, 3d+4) shared, x (B, d) (already embedded).

    Returns (y (B, d), W_new (B, d, 3d+4)).  y is read with W_{t−1}, before the step's own update."""
    d = x.shape[-1]
    D = 3 * d + N_RATES
    if W.shape[-2:] != (d, D):
        raise ValueError(f"srwm_step: `W` must end in shape ({d}, {D}) for d = {d}, got {W.shape}")
    phi_x = ops.unsqueeze(ops.softmax(x, -1), 1)  # (B, 1, d)
    out = ops.squeeze(phi_x @ W, 1)  # Eq. 5: [y, q, k, β] = W φ(x)
    y, q, k, beta = out[:, :d], out[:, d : 2 * d], out[:, 2 * d : 3 * d], out[:, 3 * d :]
    phi_q, phi_k = ops.softmax(q, -1), ops.softmax(k, -1)
    v = ops.squeeze(ops.unsqueeze(phi_q, 1) @ W, 1)  # Eq. 6: v = W φ(q)
    v_bar = ops.squeeze(ops.unsqueeze(phi_k, 1) @ W, 1)  # Eq. 7: v̄ = W φ(k)
    rate = ops.sigmoid(beta) @ Tensor(_block_indicator(d, x.dtype))  # σ(β) per column
    W_new = W + ops.unsqueeze(phi_k, 2) * ops.unsqueeze(rate * (v - v_bar), 1)  # Eq. 8: outer product
    return y, W_new


def srwm_sequence(W0, xs):
    """Run the SRWM over xs (B, L, d) from the shared initial W0 (d, 3d+4): the outputs (B, L, d)."""
    fn = "srwm_sequence"
    xs = _as_tensor(xs, "xs", fn, 3)
    W = _as_tensor(W0, "W0", fn, 2)
    ys = []
    for t in range(xs.shape[1]):
        y, W = srwm_step(W, xs[:, t, :])
        ys.append(y)
    return ops.stack(ys, axis=1)


def fast_weight_programmer(W_slow, xs, delta: bool = True):
    r"""The ablation: a slow matrix W_slow (d, 3·d_v + 1 or 3·d_v) gives k, v, q (and β) from x_t; a fast
    matrix (B, d_v, d_v), zero at the start, is written by the delta rule (or the sum rule, `delta=False`:
    linear attention) and read with φ(q_t) after the write.  Returns the outputs (B, L, d_v)."""
    fn = "fast_weight_programmer"
    xs, W_slow = _as_tensor(xs, "xs", fn, 3), _as_tensor(W_slow, "W_slow", fn, 2)
    extra = 1 if delta else 0
    if (W_slow.shape[1] - extra) % 3 or W_slow.shape[0] != xs.shape[2]:
        raise ValueError(
            f"{fn}: `W_slow` must have shape (d, 3·d_v + {extra}) with d = {xs.shape[2]}, got {W_slow.shape}"
        )
    dv = (W_slow.shape[1] - extra) // 3
    B = xs.shape[0]
    Wf = Tensor(np.zeros((B, dv, dv), dtype=xs.dtype))  # rows: key directions, columns: values
    ys = []
    for t in range(xs.shape[1]):
        out = xs[:, t, :] @ W_slow
        k, v, q = ops.softmax(out[:, :dv], -1), out[:, dv : 2 * dv], ops.softmax(out[:, 2 * dv : 3 * dv], -1)
        if delta:
            v_bar = ops.squeeze(ops.unsqueeze(k, 1) @ Wf, 1)  # retrieve the stored value
            v = ops.sigmoid(out[:, 3 * dv :]) * (v - v_bar)
        Wf = Wf + ops.unsqueeze(k, 2) * ops.unsqueeze(v, 1)
        ys.append(ops.squeeze(ops.unsqueeze(q, 1) @ Wf, 1))
    return ops.stack(ys, axis=1)


class SRWM(nn.Module):
    """The SRWM layer: W0 (d, 3d+4) initialised as the official layer (N(0, 1/d), rate columns centred at
    `beta_init`); forward maps (B, L, d) → (B, L, d)."""

    def __init__(self, d: int, beta_init: float = -1.0, rng=None, dtype=np.float32):
        super().__init__()
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"SRWM: `d` must be an integer ≥ 1, got {d!r}")
        g = np.random.default_rng(rng)
        W = g.normal(0.0, 1.0 / np.sqrt(d), (d, 3 * d + N_RATES))
        W[:, 3 * d :] += beta_init
        self.d = int(d)
        self.W0 = Parameter(W.astype(dtype))

    def forward(self, xs):
        return srwm_sequence(self.W0, xs)


class FastWeightProgrammer(nn.Module):
    """The ablation layer: a slow matrix (d, 3d + 1) (delta rule) or (d, 3d) (linear attention)."""

    def __init__(self, d: int, delta: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"FastWeightProgrammer: `d` must be an integer ≥ 1, got {d!r}")
        g = np.random.default_rng(rng)
        self.delta = bool(delta)
        W = g.normal(0.0, 1.0 / np.sqrt(d), (d, 3 * d + int(delta)))
        self.W_slow = Parameter(W.astype(dtype))

    def forward(self, xs):
        return fast_weight_programmer(self.W_slow, xs, delta=self.delta)


class SequenceClassifier(nn.Module):
    """(B, L, n_in) float inputs → a linear embedding to d → the memory layer → the last step's output →
    a linear read-out to `n_classes` logits."""

    def __init__(self, layer: str, n_in: int, d: int, n_classes: int, seed: int = 0, dtype=np.float32):
        super().__init__()
        if layer not in ("srwm", "fwp", "linear"):
            raise ValueError(f"SequenceClassifier: `layer` must be 'srwm', 'fwp' or 'linear', got {layer!r}")
        self.embed = nn.Linear(n_in, d, rng=[seed, 1], dtype=dtype)
        if layer == "srwm":
            self.memory = SRWM(d, rng=[seed, 2], dtype=dtype)
        else:
            self.memory = FastWeightProgrammer(d, delta=layer == "fwp", rng=[seed, 2], dtype=dtype)
        self.readout = nn.Linear(d, n_classes, rng=[seed, 3], dtype=dtype)

    def forward(self, xs):
        h = self.memory(self.embed(xs))
        return self.readout(h[:, -1, :])
