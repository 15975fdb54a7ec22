"""The library's random number generator (used by dropout and initialisers when none is given)."""

from __future__ import annotations

import numpy as np

_GENERATOR = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (as torch.manual_seed does) and return it."""
    global _GENERATOR
    _GENERATOR = np.random.default_rng(seed)
    return _GENERATOR


def default_generator() -> np.random.Generator:
    return _GENERATOR


def as_generator(seed_or_rng=None) -> np.random.Generator:
    """None → the default generator; an int → a fresh generator seeded with it; a Generator → itself."""
    if seed_or_rng is None:
        return _GENERATOR
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)
