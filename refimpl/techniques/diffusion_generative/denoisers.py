r"""A small time-conditioned MLP — the denoiser (ε-prediction) or velocity field of the family's experiments — and
the two regression losses it is trained with.

The network sees :math:`[x,\ \mathrm{emb}(t)]` (and, when class-conditional, a learned class embedding with one extra
"null" class for classifier-free guidance) and outputs a vector of x's size.  The time embedding is the sinusoidal
one of the Transformer, as in DDPM's network (Ho et al., arXiv 2006.11239, Appendix B):
:math:`\mathrm{emb}(t)_{2i} = \sin(t\,\omega_i)`, :math:`\mathrm{emb}(t)_{2i+1} = \cos(t\,\omega_i)`,
:math:`\omega_i = 10000^{-i/(h-1)}` for :math:`i < h`, h = dim/2.

Losses (each returns a scalar Tensor):

* `eps_loss` — :math:`\mathbb E_{t, x_0, \varepsilon}\, \lambda(t)\,\lVert\varepsilon -
  \hat\varepsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon, t)\rVert^2` with t uniform over
  the T steps and an optional per-step weight λ (DDPM's L_simple has λ = 1, Ho et al. Eq. 14);
* `velocity_loss` — :math:`\mathbb E\, w\,\lVert v_\theta(x_t, t) - (x_1 - x_0)\rVert^2` over given pairs and times,
  with optional per-pair weights w (conditional flow matching; see `flow.py`).
"""

from __future__ import annotations

import numpy as np

from ... import cat, nn
from ...autograd.tensor import Tensor
from .flow import interpolate
from .schedules import q_sample

__all__ = ["sinusoidal_embedding", "TimeMLP", "eps_loss", "velocity_loss"]


def sinusoidal_embedding(t, dim: int) -> np.ndarray:
    """(n, dim) sines and cosines of t at `dim`/2 geometric frequencies from 1 to 10⁻⁴ (dim even)."""
    if dim < 2 or dim % 2:
        raise ValueError(f"`dim` must be an even number ≥ 2, got {dim}")
    half = dim // 2
    freqs = 10000.0 ** (-np.arange(half) / max(half - 1, 1))
    angle = np.asarray(t, dtype=np.float64).reshape(-1, 1) * freqs
    out = np.empty((angle.shape[0], dim), dtype=np.float32)
    out[:, 0::2], out[:, 1::2] = np.sin(angle), np.cos(angle)
    return out


class TimeMLP(nn.Module):
    """MLP on [x, emb(t) (, class embedding)] with SiLU activations; output of x's size.

    `time_scale` multiplies t before the embedding (use T for 0-based integer steps over T, or ~1000 for t in
    [0, 1]).  With `n_classes`, the class embedding has n_classes + 1 rows; label `n_classes` is the null class."""

    def __init__(
        self, dim: int, hidden: int = 128, depth: int = 3, *, emb_dim: int = 32, n_classes=None, rng=None
    ):
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"need dim, hidden, depth ≥ 1, got {dim}, {hidden}, {depth}")
        rng = np.random.default_rng(rng)
        self.dim, self.emb_dim, self.n_classes = dim, emb_dim, n_classes
        width_in = dim + emb_dim + (emb_dim if n_classes else 0)
        self.label_embedding = nn.Embedding(n_classes + 1, emb_dim, rng=rng) if n_classes else None
        layers, width = [], width_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden, rng=rng), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim, rng=rng))
        self.net = nn.Sequential(*layers)

    def forward(self, x, t, labels=None):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        parts = [x, Tensor(sinusoidal_embedding(t, self.emb_dim))]
        if self.label_embedding is not None:
            if labels is None:
                raise ValueError(
                    "this TimeMLP is class-conditional: pass `labels` (n_classes = the null class)"
                )
            parts.append(self.label_embedding(np.asarray(labels)))
        return self.net(cat(parts, axis=1))


def eps_loss(model, x0, alpha_bar, rng, *, weight=None, labels=None) -> Tensor:
    """Mean of λ(t)‖ε − ε̂(x_t, t)‖² over the batch, t uniform over the steps, x_t by `q_sample`."""
    rng = np.random.default_rng(rng)
    x0 = np.asarray(x0, dtype=np.float32)
    T = len(alpha_bar)
    t = rng.integers(0, T, size=len(x0))
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    xt = q_sample(x0, t, eps, alpha_bar).astype(np.float32)
    pred = model(xt, t / T, labels) if labels is not None else model(xt, t / T)
    per_row = ((pred - Tensor(eps)) ** 2).sum(axis=1)
    if weight is not None:
        per_row = per_row * Tensor(np.asarray(weight, dtype=np.float32)[t])
    return per_row.mean()


def velocity_loss(model, x0, x1, t, *, weights=None, labels=None) -> Tensor:
    """Mean of w‖v(x_t, t) − (x_1 − x_0)‖² over the pairs (weights w, if given, are used as they are)."""
    xt, u = interpolate(np.asarray(x0, dtype=np.float32), np.asarray(x1, dtype=np.float32), t)
    pred = model(xt, np.asarray(t), labels) if labels is not None else model(xt, np.asarray(t))
    per_row = ((pred - Tensor(u.astype(np.float32))) ** 2).sum(axis=1)
    if weights is not None:
        per_row = per_row * Tensor(np.asarray(weights, dtype=np.float32))
    return per_row.mean()
