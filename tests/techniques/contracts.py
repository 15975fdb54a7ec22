"""One form for the family contract tests (`tests/techniques/<family>/test_<family>_contract.py`).

Each contract file declares, at module level,

    FAMILY = "quantization"                  # the catalogue's family name
    CONTRACTS = {key: adapter}               # what the family's properties need of one technique
    EXEMPT = {slug: "reason"}                # techniques the contract does not apply to, and why

and then writes each family property once, as one test function parametrized over
`params(FAMILY, CONTRACTS, EXEMPT)`.  A key of CONTRACTS is a technique's slug, or `slug:variant` when a
technique brings several adapters (several quantizers, optimizers or adapters), or `baseline:name` for a
shared baseline the family checks too (e.g. LoRA); the adapter is whatever the family's properties need (a
factory, a callable, a small dict).  `params` fails while a registered technique of the family has neither
an adapter nor a written exemption, so a new technique cannot slip past its family's contract, and while
a key or an exemption names no technique of the family (a typo, a renamed slug).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from refimpl import catalog

__all__ = [
    "BASELINE",
    "family_slugs",
    "slug_of",
    "check",
    "params",
    "check_prediction_is_deterministic",
    "check_simulation_is_random_but_reproducible",
    "check_simulations_agree_with_prediction",
]

BASELINE = "baseline"  # the key prefix of a shared baseline (not a catalogue entry)


def family_slugs(family: str) -> list:
    """The registered techniques of `family` (from `refimpl.catalog.entries()`), sorted."""
    return sorted(s for s, t in catalog.entries().items() if t.family == family)


def slug_of(key: str) -> str:
    """The technique a CONTRACTS key belongs to: "llm-fp4:e2m1" → "llm-fp4" ("baseline" for baselines)."""
    return key.split(":", 1)[0]


def check(family: str, contracts: dict, exempt: dict) -> None:
    """Raise AssertionError unless every technique of `family` has an adapter or a written exemption (and
    not both), and every key and exemption names a technique of the family."""
    slugs = family_slugs(family)
    assert slugs, f"no technique is registered for the family {family!r}"
    covered = {slug_of(k) for k in contracts} - {BASELINE}
    missing = [s for s in slugs if s not in covered and s not in exempt]
    assert not missing, (
        f"{family}: {missing} have no contract adapter; add one to CONTRACTS, or a reason to EXEMPT"
    )
    both = sorted(covered & set(exempt))
    assert not both, f"{family}: {both} have an adapter and an exemption; keep one"
    unknown = sorted((covered | set(exempt)) - set(slugs))
    assert not unknown, f"{family}: {unknown} are not techniques of the family (its slugs: {slugs})"
    for slug, reason in exempt.items():
        assert isinstance(reason, str) and reason.strip(), f"{family}: say why {slug} is exempt"


def params(family: str, contracts: dict, exempt: dict, where: Callable | None = None) -> list:
    """`check` the declaration, then return one `pytest.param(key, adapter, id=key)` per CONTRACTS entry
    (only those whose adapter satisfies `where`, for a property that applies to one kind of adapter)."""
    check(family, contracts, exempt)
    return [
        pytest.param(key, adapter, id=key)
        for key, adapter in sorted(contracts.items())
        if where is None or where(adapter)
    ]


# --- the theory families' properties (a prediction against a simulation) --------------------------------
# An adapter is {"predict": () → array, "simulate": seed → array (same shape), "rtol": float}: a small
# instance of the technique's own setting.  `theory-dynamics` and `theory-generalization` both check these.


def check_prediction_is_deterministic(key: str, adapter: dict) -> None:
    """A finite prediction, the same array twice."""
    import numpy as np

    a, b = adapter["predict"](), adapter["predict"]()
    assert np.all(np.isfinite(a)), key
    np.testing.assert_array_equal(a, b)


def check_simulation_is_random_but_reproducible(key: str, adapter: dict) -> None:
    """The simulation depends on its seed (it is not a copy of the formula) and repeats for a fixed one."""
    import numpy as np

    s0, s0_again, s1 = adapter["simulate"](0), adapter["simulate"](0), adapter["simulate"](1)
    np.testing.assert_array_equal(s0, s0_again)
    assert not np.allclose(s0, s1), f"{key}: the simulation does not depend on the seed"
    assert np.shape(s0) == np.shape(adapter["predict"]())


def check_simulations_agree_with_prediction(key: str, adapter: dict, n_draws: int = 12) -> None:
    """The mean of `n_draws` simulations is within `rtol` of the prediction, elementwise (relative to each
    entry, or to the prediction's largest entry for entries near zero)."""
    import numpy as np

    mean = np.mean([adapter["simulate"](s) for s in range(n_draws)], axis=0)
    predicted = adapter["predict"]()
    scale = np.max(np.abs(predicted))
    np.testing.assert_allclose(
        mean, predicted, rtol=adapter["rtol"], atol=adapter["rtol"] * scale, err_msg=key
    )
