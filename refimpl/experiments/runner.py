"""`@experiment`: the one wrapper every technique's experiment goes through.

    @experiment("global-magnitude-pruning", seeds=range(5), quick_seeds=(0, 1))
    def run(quick, seeds, progress):
        ...                                   # build methods, compare, judge
        return finish(...)                    # a Result

gives ``run(quick=False, seeds=None, progress=True) -> Result``: default seeds for the mode, BLAS on
one thread (toy-sized matrices), the smoke label for quick runs that do not reach the claim's regime,
the wall time, and the source hash that ties a recorded result to its code.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

from ..threads import blas_single_thread
from .result import Result
from .training import COMPILE_STEPS

__all__ = ["experiment"]


def experiment(
    slug: str,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    quick_seeds: Sequence[int] = (0, 1),
    quick_reaches_claim: bool = False,
):
    """Wrap `fn(quick, seeds, progress) -> Result` (see the module docstring).  `quick_reaches_claim`
    says the quick run is long enough to reach the regime the claim is about; otherwise its verdicts are
    labelled a smoke run."""
    full_seeds, small_seeds = [int(s) for s in seeds], [int(s) for s in quick_seeds]
    if len(full_seeds) < 3:
        raise ValueError(f"experiment {slug!r}: a full run needs ≥ 3 seeds, got {full_seeds}")

    def wrap(fn):
        @functools.wraps(fn)
        def run(quick: bool = False, seeds: Sequence[int] | None = None, progress: bool = True) -> Result:
            chosen = list(seeds) if seeds is not None else (small_seeds if quick else full_seeds)
            start = time.perf_counter()
            token = COMPILE_STEPS.set(bool(quick))  # quick runs replay recorded training steps
            try:
                with blas_single_thread():
                    result = fn(quick=bool(quick), seeds=chosen, progress=progress)
            finally:
                COMPILE_STEPS.reset(token)
            if not isinstance(result, Result):
                raise TypeError(f"experiment {slug!r} must return a Result, got {type(result).__name__}")
            if result.slug != slug:
                raise ValueError(f"experiment {slug!r} returned a result for {result.slug!r}")
            result.quick = bool(quick)
            result.smoke = bool(quick) and not quick_reaches_claim
            result.seconds = round(time.perf_counter() - start, 1)
            from .store import source_hash

            result.source_hash = source_hash(slug)
            return result

        run.slug, run.seeds, run.quick_seeds = slug, full_seeds, small_seeds
        return run

    return wrap
