r"""The coordinate check (Tensor Programs V, arXiv 2203.03466, Sec. 6 "How to verify a correct
implementation"; microsoft/mup ``mup/coord_check.py``): the typical size of each layer's activation
coordinates, at initialization and after t training steps, plotted against width.  In a parametrization with
a width limit (μP) every curve is flat; a blow-up with width exposes a wrong multiplier, init or rate.

Sizes measured here, on a fixed batch x, for each layer ℓ, width n, step t = 0..steps, seed:

* ``rms``   — $\sqrt{\text{mean}(h^\ell_t{}^2)}$, the coordinate size of the activation (mup records the
  mean |h|, ``'l1'``, mup/coord_check.py:44; RMS scales the same way and relates directly to norms);
* ``delta`` — $\sqrt{\text{mean}((h^\ell_t - h^\ell_0)^2)}$, the coordinate size of the change since init
  (μP's "update size": Θ(1) in μP for every layer, Θ(n^{-1/2}) for NTK, growing for SP's output layer
  under a fixed SGD rate).

`slopes` fits log(size) against log(width) per layer: the exponent the theory predicts (0 for a flat curve).
Training steps go through `refimpl.train.fit` on the whole batch (one step per call, as in mup's
``_get_coord_data``, which trains on the same batches at every width).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["CoordCheck", "coord_check", "loglog_slope"]


def loglog_slope(widths, values) -> float:
    """Least-squares slope of log(values) against log(widths) (the width exponent)."""
    widths, values = np.asarray(widths, np.float64), np.asarray(values, np.float64)
    if widths.shape != values.shape or widths.size < 2:
        raise ValueError(
            f"loglog_slope: need ≥ 2 (width, value) pairs of equal length, got {widths.shape}, {values.shape}"
        )
    if np.any(values <= 0) or np.any(widths <= 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"loglog_slope: widths and values must be finite and > 0, got {values}")
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


@dataclasses.dataclass
class CoordCheck:
    """rms[s, w, t, l] and delta[s, w, t, l] for seeds s, widths w, steps t = 0..steps, layers l."""

    widths: list
    layers: list
    seeds: list
    rms: np.ndarray
    delta: np.ndarray

    def mean(self, stat: str = "rms") -> np.ndarray:
        """The seed mean, shape (widths, steps + 1, layers)."""
        return np.mean(self._stat(stat), axis=0)

    def _stat(self, stat):
        if stat not in ("rms", "delta"):
            raise ValueError(f"CoordCheck: `stat` must be 'rms' or 'delta', got {stat!r}")
        return self.rms if stat == "rms" else self.delta

    def slopes(self, stat: str = "rms", step: int = -1) -> dict:
        """{layer: width exponent of the seed-mean `stat` at `step`}."""
        m = self.mean(stat)[:, step, :]
        return {name: loglog_slope(self.widths, m[:, i]) for i, name in enumerate(self.layers)}


def coord_check(
    make_model: Callable,
    widths: Sequence[int],
    x,
    y,
    *,
    loss_fn: Callable,
    make_optimizer: Callable,
    steps: int = 3,
    seeds: Sequence[int] = (0, 1, 2),
    features: Callable | None = None,
) -> CoordCheck:
    """Run the coordinate check.

    `make_model(width, seed)` builds a model; `make_optimizer(model)` its optimizer; `features(model, x)`
    returns {layer name: activation array} (default: ``model.features(x)``, as `WidthMLP` provides);
    `loss_fn(output, y)` is the training loss.  Every width sees the same batch (x, y) at every step."""
    from ...train import fit

    widths = [int(w) for w in widths]
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise ValueError(f"coord_check: `widths` must hold ≥ 2 positive ints, got {widths}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"coord_check: `steps` must be an int ≥ 1, got {steps!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("coord_check: `seeds` must be non-empty")
    feats = features or (lambda model, data: model.features(data))
    x, y = np.asarray(x), np.asarray(y)
    names, rms, delta = None, [], []
    for s in seeds:
        rs, ds = [], []
        for w in widths:
            model = make_model(w, s)
            opt = make_optimizer(model)
            h0 = feats(model, x)
            names = names or list(h0)
            r_t, d_t = [], []
            for t in range(steps + 1):
                if t:
                    fit(model, loss_fn, (x, y), opt, epochs=1, batch_size=len(x), seed=s, progress=False)
                h = h0 if t == 0 else feats(model, x)
                r_t.append([float(np.sqrt(np.mean(h[k] ** 2))) for k in names])
                d_t.append([float(np.sqrt(np.mean((h[k] - h0[k]) ** 2))) for k in names])
            rs.append(r_t)
            ds.append(d_t)
        rms.append(rs)
        delta.append(ds)
    return CoordCheck(widths, names, seeds, np.array(rms), np.array(delta))
