"""Generated toy problems, each fixed by ``seed``: 2-D classification, regression from a teacher,
modular arithmetic (grokking) and sparse parity.

Inputs are float arrays of ``dtype`` (float32 by default), class labels int64, regression targets
float.  Rows of the classification sets are shuffled.
"""

from __future__ import annotations

import numpy as np

from .loader import Split

__all__ = [
    "make_moons",
    "make_spirals",
    "make_blobs",
    "make_teacher_student",
    "make_modular_arithmetic",
    "make_sparse_parity",
]


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _non_negative(name: str, value) -> float:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _balanced_labels(n: int, k: int) -> np.ndarray:
    """n labels in 0..k-1, class sizes differing by at most one (the first n % k classes get the extra)."""
    return np.repeat(np.arange(k, dtype=np.int64), n // k + (np.arange(k) < n % k))


def _shuffled(x, y, rng, dtype):
    order = rng.permutation(len(y))
    return x[order].astype(dtype), y[order]


def make_moons(n: int = 200, *, noise: float = 0.1, seed: int = 0, dtype=np.float32):
    """Two interleaved half circles in 2-D: ``(x (n, 2), y (n,))``.

    Class 0: (cos t, sin t); class 1: (1 - cos t, 1/2 - sin t); t ~ U[0, pi]; plus N(0, noise^2) on
    each coordinate.  Class 0 has ceil(n / 2) points, class 1 floor(n / 2).
    """
    n, noise = _int_at_least("n", n, 2), _non_negative("noise", noise)
    rng = np.random.default_rng(seed)
    y = _balanced_labels(n, 2)
    t = rng.uniform(0, np.pi, n)
    x = np.where(
        y[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    )
    return _shuffled(x + noise * rng.standard_normal((n, 2)), y, rng, dtype)


def make_spirals(
    n: int = 300,
    *,
    n_classes: int = 2,
    noise: float = 0.1,
    turns: float = 1.0,
    seed: int = 0,
    dtype=np.float32,
):
    """``n_classes`` interleaved arms of an Archimedean spiral in 2-D: ``(x (n, 2), y (n,))``.

    Arm k: radius r evenly spaced in [0, 1], angle 2*pi*(k / n_classes + turns * r), point
    r * (cos, sin) plus N(0, noise^2) on each coordinate.  Class sizes differ by at most one.
    """
    n, noise = _int_at_least("n", n, 1), _non_negative("noise", noise)
    k = _int_at_least("n_classes", n_classes, 2)
    if n < k:
        raise ValueError(f"n must be >= n_classes ({k}), got {n}")
    rng = np.random.default_rng(seed)
    y = _balanced_labels(n, k)
    r = np.concatenate([np.linspace(0, 1, m) for m in np.bincount(y, minlength=k)])
    angle = 2 * np.pi * (y / k + turns * r)
    x = r[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return _shuffled(x + noise * rng.standard_normal((n, 2)), y, rng, dtype)


def make_blobs(
    n: int = 300,
    *,
    centers=3,
    dim: int | None = None,
    std: float = 1.0,
    box: float = 10.0,
    seed: int = 0,
    dtype=np.float32,
):
    """Isotropic Gaussian clusters: ``(x (n, dim), y (n,))``.

    ``centers`` is a count k (centres drawn uniformly from [-box, box]^dim, dim defaulting to 2) or a
    (k, dim) array of centres.  Point i is centers[y_i] + N(0, std^2 I); class sizes differ by at most
    one.
    """
    n, std = _int_at_least("n", n, 1), _non_negative("std", std)
    rng = np.random.default_rng(seed)
    if np.ndim(centers) == 0:
        k, dim = _int_at_least("centers", centers, 1), _int_at_least("dim", 2 if dim is None else dim, 1)
        centers = rng.uniform(-box, box, size=(k, dim))
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or len(centers) == 0:
            raise ValueError(f"centers must be an int or a (k, dim) array, got shape {centers.shape}")
        if dim is not None and dim != centers.shape[1]:
            raise ValueError(f"dim must match centers.shape[1] = {centers.shape[1]}, got {dim!r}")
    y = _balanced_labels(n, len(centers))
    x = centers[y] + std * rng.standard_normal((n, centers.shape[1]))
    return _shuffled(x, y, rng, dtype)


def make_teacher_student(
    n: int,
    d_in: int,
    d_out: int = 1,
    *,
    teacher: str = "linear",
    hidden: int = 32,
    noise: float = 0.0,
    seed: int = 0,
    dtype=np.float32,
):
    """Regression data labelled by a random teacher network: ``(x (n, d_in), y (n, d_out), params)``.

    x ~ N(0, I).  ``teacher="linear"``: y = x W + b, params ``{"W", "b"}``.  ``teacher="mlp"``:
    y = tanh(x W1 + b1) W2 + b2, params ``{"W1", "b1", "W2", "b2"}``.  Weights are N(0, 1/fan_in),
    biases N(0, 0.1^2); then N(0, noise^2) is added to y.  All arrays have ``dtype``; y is computed in
    float64 before the cast.
    """
    n, d_in, d_out = (_int_at_least(name, v, 1) for name, v in (("n", n), ("d_in", d_in), ("d_out", d_out)))
    noise = _non_negative("noise", noise)
    rng = np.random.default_rng(seed)

    def layer(fan_in, fan_out):
        return rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in), 0.1 * rng.standard_normal(fan_out)

    x = rng.standard_normal((n, d_in))
    if teacher == "linear":
        w, b = layer(d_in, d_out)
        params, y = {"W": w, "b": b}, x @ w + b
    elif teacher == "mlp":
        hidden = _int_at_least("hidden", hidden, 1)
        (w1, b1), (w2, b2) = layer(d_in, hidden), layer(hidden, d_out)
        params, y = {"W1": w1, "b1": b1, "W2": w2, "b2": b2}, np.tanh(x @ w1 + b1) @ w2 + b2
    else:
        raise ValueError(f"teacher must be 'linear' or 'mlp', got {teacher!r}")
    y = y + noise * rng.standard_normal(y.shape)
    return x.astype(dtype), y.astype(dtype), {k: v.astype(dtype) for k, v in params.items()}


_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply}


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def make_modular_arithmetic(
    p: int = 97, *, op: str = "+", train_fraction: float = 0.5, seed: int = 0
) -> Split:
    """Every equation a op b = c (mod p), split at random into train and test (Power et al., 2022).

    x is int64 (m, 2) holding (a, b), y int64 (m,) holding c, with a, b in 0..p-1; for ``op="/"``
    b != 0, c = a * b^(-1) mod p via the modular inverse, and p must be prime.  The p^2 (or p(p-1))
    pairs are shuffled and the first round(train_fraction * total) go to train; both parts are
    non-empty.
    """
    p = _int_at_least("p", p, 2)
    if op not in ("+", "-", "*", "/"):
        raise ValueError(f"op must be one of '+', '-', '*', '/', got {op!r}")
    if op == "/" and not _is_prime(p):
        raise ValueError(f"p must be prime for op='/', got {p}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    a, b = (g.ravel() for g in np.meshgrid(np.arange(p), np.arange(1 if op == "/" else 0, p), indexing="ij"))
    if op == "/":
        inverse = np.array([0] + [pow(int(v), -1, p) for v in range(1, p)], dtype=np.int64)
        c = a * inverse[b] % p
    else:
        c = _OPS[op](a, b) % p
    x, c = np.stack([a, b], 1).astype(np.int64), c.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(c))
    n_train = min(max(int(round(train_fraction * len(c))), 1), len(c) - 1)
    tr, te = order[:n_train], order[n_train:]
    return Split(x[tr], c[tr], x[te], c[te])


def make_sparse_parity(n: int = 1000, n_bits: int = 20, k: int = 3, *, seed: int = 0, dtype=np.float32):
    """(n_bits, k)-sparse parity (Barak et al., 2022): ``(x (n, n_bits), y (n,), subset (k,))``.

    Bits b ~ U{0, 1} are given as x = 1 - 2b in {+1, -1}; ``subset`` is a fixed random sorted set of
    k bit positions and y = XOR of b over the subset (= (1 - prod_{i in subset} x_i) / 2), int64.
    """
    n, n_bits = _int_at_least("n", n, 1), _int_at_least("n_bits", n_bits, 1)
    k = _int_at_least("k", k, 1)
    if k > n_bits:
        raise ValueError(f"k must be <= n_bits ({n_bits}), got {k}")
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(n_bits, size=k, replace=False)).astype(np.int64)
    bits = rng.integers(0, 2, size=(n, n_bits))
    y = (bits[:, subset].sum(1) % 2).astype(np.int64)
    return (1 - 2 * bits).astype(dtype), y, subset
