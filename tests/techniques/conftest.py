"""Shared fixtures for technique tests: one cached quick demo run per (slug, seed) per session, so a
technique's own claim test and the registry's determinism test do not train the same thing twice."""

import pytest

from refimpl import catalog

_CACHE = {}


def run_demo(slug: str, seed: int = 0):
    key = (slug, seed)
    if key not in _CACHE:
        _CACHE[key] = catalog.get(slug).demo(seed=seed, quick=True, progress=False)
    return _CACHE[key]


@pytest.fixture
def demo_result():
    """demo_result(slug, seed=0) → the quick demo's result dict (cached for the session)."""
    return run_demo


_QUICK = {}


def run_quick(slug: str):
    if slug not in _QUICK:
        _QUICK[slug] = catalog.get(slug).experiment.run(quick=True, progress=False)
    return _QUICK[slug]


@pytest.fixture
def quick_result():
    """quick_result(slug) → the quick harness run's Result (cached for the session)."""
    return run_quick
