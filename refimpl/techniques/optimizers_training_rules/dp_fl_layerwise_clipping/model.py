r"""The clients' model for the experiment: a one-hidden-layer tanh MLP trained by full-batch gradient descent,
written in NumPy with its backward pass by hand so that a whole cohort trains at once (a leading client axis
on every array).  Four layers (tensors): W1 (h, d), b1 (h,), W2 (c, h), b2 (c,).

.. math::

    H = \tanh(X W_1^\top + b_1),\quad Z = H W_2^\top + b_2,\quad
    \mathcal L = \sum_n a_n\,\mathrm{CE}(Z_n, y_n)

with per-example weights :math:`a_n` (1/n_i on a client's own examples, 0 on padding), so each client minimises
its mean cross-entropy.  Backward: :math:`G_Z = a \odot (\mathrm{softmax}(Z) - Y)`,
:math:`\partial W_2 = G_Z^\top H`, :math:`G_H = G_Z W_2`, :math:`G_U = G_H \odot (1 - H^2)`,
:math:`\partial W_1 = G_U^\top X`; biases sum the rows.  The tests check it against float64 central
differences and against `refimpl`'s autograd."""

from __future__ import annotations

import numpy as np


def init_params(d: int, h: int, c: int, rng) -> list:
    """[W1, b1, W2, b2] with W ~ U(−1/√fan_in, 1/√fan_in) and zero biases (float64)."""
    b1, b2 = 1 / np.sqrt(d), 1 / np.sqrt(h)
    return [rng.uniform(-b1, b1, (h, d)), np.zeros(h), rng.uniform(-b2, b2, (c, h)), np.zeros(c)]


def logits(params, X):
    """Z for one model (X (n, d)) or a cohort (params with a leading client axis, X (m, n, d))."""
    W1, b1, W2, b2 = params
    if W1.ndim == 2:
        return np.tanh(X @ W1.T + b1) @ W2.T + b2
    H = np.tanh(np.einsum("mnd,mhd->mnh", X, W1) + b1[:, None, :])
    return np.einsum("mnh,mch->mnc", H, W2) + b2[:, None, :]


def loss_and_grads(params, X, Y, a):
    """(per-client loss (m,), [∂W1, ∂b1, ∂W2, ∂b2]) for a cohort: params with leading axis m, X (m, n, d),
    Y (m, n) integer labels, a (m, n) example weights."""
    W1, b1, W2, b2 = params
    H = np.tanh(np.einsum("mnd,mhd->mnh", X, W1) + b1[:, None, :])
    Z = np.einsum("mnh,mch->mnc", H, W2) + b2[:, None, :]
    Z = Z - Z.max(-1, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(-1, keepdims=True))
    onehot = np.zeros_like(Z)
    np.put_along_axis(onehot, Y[..., None], 1.0, axis=-1)
    loss = -(a * (onehot * logp).sum(-1)).sum(-1)
    GZ = a[..., None] * (np.exp(logp) - onehot)
    gW2 = np.einsum("mnc,mnh->mch", GZ, H)
    gb2 = GZ.sum(1)
    GU = np.einsum("mnc,mch->mnh", GZ, W2) * (1 - H * H)
    gW1 = np.einsum("mnh,mnd->mhd", GU, X)
    gb1 = GU.sum(1)
    return loss, [gW1, gb1, gW2, gb2]


def local_updates(params, X, Y, a, steps: int, lr: float) -> list:
    """Every client of the cohort starts from the server's `params`, takes `steps` full-batch gradient steps
    of rate `lr` on its own data, and returns its update Δ_i = w − w_i (old − new), stacked on axis 0."""
    if int(steps) < 1 or not lr > 0:
        raise ValueError(f"steps must be ≥ 1 and lr > 0, got steps={steps}, lr={lr}")
    m = X.shape[0]
    local = [np.broadcast_to(p, (m, *p.shape)).copy() for p in params]
    for _ in range(int(steps)):
        _, grads = loss_and_grads(local, X, Y, a)
        for p, g in zip(local, grads):
            p -= lr * g
    return [p[None] - q for p, q in zip(params, local)]
