"""Test-suite configuration shared by every tests/ subfolder.

Hypothesis profile "ci" (loaded by default): no per-example deadline, because the first call of a
Numba kernel compiles or loads its cache and a shared 2-core machine has noisy timings, and a modest
number of examples so the whole suite stays fast.  Pick another profile with HYPOTHESIS_PROFILE=...
(e.g. "thorough" for a longer local run).

BLAS runs single-threaded in the tests (set before NumPy is imported, and inherited by the notebook
kernels): the toy matrices are small, and with two pytest workers on two cores, threaded BLAS spins
against itself and runs an order of magnitude slower.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from hypothesis import settings

# "ci" (the default) draws the same examples on every run, so a red CI is reproducible and never a
# coin toss; "thorough" (HYPOTHESIS_PROFILE=thorough) draws fresh ones and many more: run it to hunt.
settings.register_profile("ci", deadline=None, max_examples=20, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
