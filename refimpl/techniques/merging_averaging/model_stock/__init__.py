r"""Model Stock: two fine-tuned models and the pretrained anchor, interpolated layer by layer.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/naver-ai/model-stock.  The stored snapshot of that repository holds only its
README ("code is under internal review"); its tutorial notebook `notebooks/model_stock_example.ipynb`
(functions `compute_angle`, `compute_ratio`, `merge`) was read in a copy of the repository,
jukumio/Robust_FT `model-stock/notebooks/model_stock_example.ipynb`.

The idea
--------
Fine-tuned weights from one pretrained model w_0 lie, layer by layer, on a thin shell around a centre μ:
their distances to μ are almost equal and the angle θ between any two deltas w_i − w_0 is almost
constant.  Averaging many fine-tunes (a soup) approaches μ, which performs best.  Model Stock estimates
the point closest to μ from two fine-tunes and the anchor: on the plane through w_0, w_1, w_2 the best
point lies on the segment from w_0 to the average w_12 = (w_1 + w_2)/2, at

$$ w_H = t\, w_{12} + (1 - t)\, w_0, \qquad t = \frac{2\cos\theta}{1 + \cos\theta}, $$

and with N fine-tunes and w̄_N = (1/N) Σ w_i,

$$ w_H = t\,\bar w_N + (1 - t)\,w_0, \qquad t = \frac{N\cos\theta}{1 + (N-1)\cos\theta}. $$

θ is the angle between fine-tuned deltas, cos θ = ⟨w_1 − w_0, w_2 − w_0⟩ / (‖w_1 − w_0‖‖w_2 − w_0‖),
computed **per layer** (each weight tensor gets its own t).  cos θ = 1 gives t = 1 (the plain average),
cos θ = 0 gives t = 0 (back to w_0): the more the fine-tunes disagree, the more weight the anchor gets.
(The paper writes these in its Sec. 3, the N-model form with its proof in the appendix; we could not
read the full text here, so the formula lines cite the section and the official tutorial, not equation
numbers.)

Derivation (N = 2).  Write δ_i = w_i − w_0 and m = μ − w_0.  The thin-shell picture makes the deltas m
plus orthogonal noise of equal size: ‖δ_1‖ = ‖δ_2‖ = r and ⟨δ_i, m⟩ = ‖m‖², so
r² cos θ = ⟨δ_1, δ_2⟩ = ‖m‖².  The mean delta δ̄ = (δ_1 + δ_2)/2 has ‖δ̄‖² = r²(1 + cos θ)/2, and the
point of the line w_0 + t δ̄ closest to μ has t = ⟨m, δ̄⟩/‖δ̄‖² = r² cos θ / (r²(1 + cos θ)/2)
= 2 cos θ/(1 + cos θ).

Read against the official tutorial notebook
-------------------------------------------
* `compute_angle`: per tensor, the cosine of the two flattened deltas from the pretrained weights, with
  1e-8 added to the norm product, clamped to [−1, 1] (CLIP's text-tower tensors are skipped);
* `compute_ratio(angle, k=2)`: t = k cos θ / ((k − 1) cos θ + 1 + 1e-8);
* `merge`: w_12 = (w_1 + w_2)/2, then t·w_12 + (1 − t)·w_0 for every tensor that has a ratio; skipped
  tensors keep w_12.
Ours computes the same without the 1e-8 terms; a zero delta gives cos θ = 0 (t = 0, the anchor), as the
tutorial's 0/(0 + 1e-8) does.  Deviation: the tutorial does not clip a negative cosine (t < 0 would
step past w_0, away from the fine-tunes; t → ∞ as cos θ → −1); we clip cos θ to [0, 1].  For N > 2 the
paper states one angle; we use the mean pairwise cosine per tensor (mergekit's reading).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/merging-averaging/model-stock.ipynb
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import combinations

import numpy as np

from ..state import average, check_compatible

CATALOG_ENTRY = {
    "slug": "model-stock",
    "title": "Model Stock: All we need is just a few fine-tuned models",
    "authors": "Dong-Hwan Jang, Sangdoo Yun, Dongyoon Han",
    "year": 2024,
    "arxiv": "2403.19522",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/model-stock.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Per-tensor cosine of the fine-tuned deltas, t = k cosθ/((k−1)cosθ + 1) and w_H = t·w_12 + "
        "(1−t)·w_0 checked against the official tutorial notebook (compute_angle, compute_ratio, merge in "
        "notebooks/model_stock_example.ipynb), read in the copy jukumio/Robust_FT model-stock/ (the stored "
        "naver-ai/model-stock snapshot holds only the README). Paper equation numbers not confirmed (Sec. "
        "3 cited). Deviation: negative cosθ clipped to 0. Closed form checked against the projection of a "
        "synthetic thin-shell centre."
    ),
    "summary": (
        "From two fine-tuned models and the pretrained anchor, interpolate each layer between the anchor and "
        "the fine-tuned average with a ratio set by the angle between the fine-tuned deltas; approximates the"
        " centre of the fine-tuned weight distribution that a many-model soup reaches."
    ),
    "equations": [
        "cos θ_l = ⟨w_1^l − w_0^l, w_2^l − w_0^l⟩ / (‖w_1^l − w_0^l‖ ‖w_2^l − w_0^l‖)",
        "t_l = N cos θ_l / (1 + (N − 1) cos θ_l)   (N = 2: 2cos θ / (1 + cos θ))",
        "w_H^l = t_l · (1/N) Σ_i w_i^l + (1 − t_l) · w_0^l",
    ],
}

__all__ = ["interpolation_ratio", "layer_cosines", "layer_angles", "model_stock"]


def interpolation_ratio(cos_theta, n_models: int = 2):
    """t = N cos θ / (1 + (N − 1) cos θ) (elementwise; cos θ is clipped to [0, 1])."""
    n = int(n_models)
    if n < 1:
        raise ValueError(f"interpolation_ratio: `n_models` must be ≥ 1, got {n_models}")
    c = np.clip(np.asarray(cos_theta, dtype=np.float64), 0.0, 1.0)  # deviation: cos θ < 0 → 0
    return n * c / (1.0 + (n - 1) * c)  # t (Sec. 3; compute_ratio with k = N)


def layer_cosines(sd_a, sd_b, anchor=None) -> OrderedDict:
    """name → cos∠(θ_A − θ_anchor, θ_B − θ_anchor) per tensor (anchor = 0 if None).  A zero vector gives
    cos = 0 (no direction)."""
    if anchor is None:
        a, b = check_compatible([sd_a, sd_b], "[sd_a, sd_b]")
        anc = OrderedDict((k, np.zeros_like(v)) for k, v in a.items())
    else:
        a, b, anc = check_compatible([sd_a, sd_b, anchor], "[sd_a, sd_b, anchor]")
    out = OrderedDict()
    for k in a:
        da = (a[k] - anc[k]).astype(np.float64).ravel()
        db = (b[k] - anc[k]).astype(np.float64).ravel()
        den = np.linalg.norm(da) * np.linalg.norm(db)
        out[k] = float(da @ db / den) if den > 0 else 0.0  # cos θ per layer (Sec. 3; compute_angle)
    return out


def layer_angles(pretrained, finetuned) -> OrderedDict:
    """name → cos θ per tensor: the cosine between fine-tuned deltas w_i − w_0 (mean over pairs if N > 2)."""
    sds = check_compatible([pretrained] + list(finetuned), "[pretrained] + finetuned")
    w0, fts = sds[0], sds[1:]
    if len(fts) < 2:
        raise ValueError(
            f"layer_angles: `finetuned` needs at least 2 models to define an angle, got {len(fts)}"
        )
    per_pair = [layer_cosines(a, b, w0) for a, b in combinations(fts, 2)]  # N > 2: mean pairwise cos θ
    return OrderedDict((k, float(np.mean([p[k] for p in per_pair]))) for k in w0)


def model_stock(pretrained, finetuned) -> dict:
    """{"state": w_H, "t": name → t_l, "cos": name → cos θ_l} for N ≥ 2 fine-tunes of `pretrained`.
    One fine-tune returns it unchanged (t = 1 by convention: nothing to average)."""
    sds = check_compatible([pretrained] + list(finetuned), "[pretrained] + finetuned")
    w0, fts = sds[0], sds[1:]
    if len(fts) == 0:
        raise ValueError("model_stock: `finetuned` must hold at least one model")
    if len(fts) == 1:
        return {
            "state": OrderedDict((k, v.copy()) for k, v in fts[0].items()),
            "t": OrderedDict((k, 1.0) for k in w0),
            "cos": OrderedDict((k, 1.0) for k in w0),
        }
    cos = layer_angles(w0, fts)
    wbar = average(fts)  # w̄_N = (1/N) Σ w_i (w_12 for N = 2)
    t = OrderedDict((k, float(interpolation_ratio(c, len(fts)))) for k, c in cos.items())
    state = OrderedDict()
    for k in w0:
        if np.array_equal(wbar[k], w0[k]) and all(np.array_equal(f[k], w0[k]) for f in fts):
            state[k] = w0[k].copy()  # no delta at all: every choice of t gives w0
        else:
            state[k] = (t[k] * wbar[k] + (1.0 - t[k]) * w0[k]).astype(
                w0[k].dtype
            )  # w_H = t w̄ + (1 − t) w_0 (Sec. 3; merge)
    # identical fine-tunes: parallel deltas → cos = 1, t = 1, w_H = w̄ (the family contract)
    return {"state": state, "t": t, "cos": cos}
