"""Shared fixtures for technique tests: one cached quick run per technique per session, so a technique's
own tests and the registry's determinism test do not train the same thing twice."""

import pytest

from refimpl import catalog

_QUICK = {}


def run_quick(slug: str):
    if slug not in _QUICK:
        _QUICK[slug] = catalog.get(slug).experiment.run(quick=True, progress=False)
    return _QUICK[slug]


@pytest.fixture
def quick_result():
    """quick_result(slug) → the quick harness run's Result (cached for the session)."""
    return run_quick
