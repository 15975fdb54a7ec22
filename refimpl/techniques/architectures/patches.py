"""The 8×8 digits as token sequences for a tiny vision transformer: non-overlapping p×p patches, flattened."""

from __future__ import annotations

import numpy as np

__all__ = ["to_patches", "from_patches", "digit_patches"]


def to_patches(images, patch: int) -> np.ndarray:
    """(n, H, W) or (n, H·W) square images → (n, (H/p)·(W/p), p·p) patches in row-major order."""
    x = np.asarray(images)
    n = x.shape[0]
    if x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"to_patches: flat images must be square, got {x.shape[1]} pixels")
        x = x.reshape(n, side, side)
    H, W = x.shape[1:]
    if patch < 1 or H % patch or W % patch:
        raise ValueError(f"to_patches: `patch` must divide the image size {H}×{W}, got {patch}")
    x = x.reshape(n, H // patch, patch, W // patch, patch).transpose(0, 1, 3, 2, 4)
    return x.reshape(n, (H // patch) * (W // patch), patch * patch)


def from_patches(tokens, side: int) -> np.ndarray:
    """The inverse of `to_patches`: (n, T, p·p) → (n, side, side)."""
    t = np.asarray(tokens)
    n, T, pp = t.shape
    p, g = int(round(np.sqrt(pp))), side // int(round(np.sqrt(pp)))
    if p * p != pp or g * g != T:
        raise ValueError(f"from_patches: {T} tokens of {pp} pixels do not tile a {side}×{side} image")
    return t.reshape(n, g, g, p, p).transpose(0, 1, 3, 2, 4).reshape(n, side, side)


def digit_patches(patch: int = 2, **digits_kwargs):
    """The experiments' digits task with every split's x as (n, tokens, patch²) patches: a dict of arrays
    {"x_train", "y_train", "x_val", …} plus "num_classes"."""
    from ...experiments import tasks

    task = tasks.digits(**digits_kwargs)
    out = {"num_classes": task.num_classes}
    for split in ("train", "val", "test"):
        out[f"x_{split}"] = to_patches(getattr(task, f"x_{split}"), patch)
        out[f"y_{split}"] = getattr(task, f"y_{split}")
    return out
