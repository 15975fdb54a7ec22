"""The experiment: learning curves of ridgeless kernel regression with a local (wide-CNN) kernel and a global
(fully connected) kernel, on a teacher of local structure, in d = 4 and d = 8 input dimensions.

Setup.  Inputs uniform on [−1, 1]^d; the teacher is one draw of the Gaussian field with the local Laplace kernel
of patch size `PATCH` (a sum of functions of 2 adjacent coordinates), per seed.  Students: the local kernel of
the same patch size, and the global Laplace kernel.  Test MSE on 1000 fresh points for n in `NS`; β is the slope of
the log-log fit.  Reference exponents, from teacher–student kernel regression with Laplace kernels (ε ∝ n^(−1/D)
for a Laplace teacher and student in effective dimension D): 1/s = 0.5 for the local student, 1/d for the global
one.  Nothing is tuned (interpolation); `val_mse` is the error at the largest n on a validation set.  `SEEDS`
seeds (inputs and teacher).
Premises.  The learning curves at d = 8 are power laws: their log-log fits have R² above 0.95.
Claims (margins fixed before the first full run).  (1–2) The local student's exponent is within ±0.1 of 1/s = 0.5
(at d = 8).  (3) It is steeper than the global student's at d = 8.  (4) Doubling d from 4 to 8 lowers the global
student's exponent (the curse of dimensionality), (5) but changes the local student's by less than 0.1.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import krr_ridgeless, laplace_kernel, learning_curve, local_kernel, sample_local_teacher

SLUG = "wide-cnn-kernel"
PATCH = 2
NS, QUICK_NS = (64, 128, 256, 512, 1024), (32, 64, 128)
N_TEST, N_VAL = 1000, 500
BETA_MARGIN, LOCAL_SHIFT_MARGIN = 0.1, 0.1
PREMISE_R2 = 0.95


def curve(kind: str, d: int, seed: int, ns) -> dict:
    rng = np.random.default_rng([seed, d, 61])
    X = rng.uniform(-1, 1, size=(max(ns) + N_TEST + N_VAL, d))
    f = sample_local_teacher(X, patch=PATCH, rng=[seed, d, 62])
    n_max = max(ns)
    Xtr, ftr = X[:n_max], f[:n_max]
    Xte, fte = X[n_max : n_max + N_TEST], f[n_max : n_max + N_TEST]
    Xv, fv = X[n_max + N_TEST :], f[n_max + N_TEST :]

    def kern(A, B=None):
        return local_kernel(A, B, patch=PATCH) if kind == "local" else laplace_kernel(A, B)

    errors = []
    for n in ns:
        errors.append(float(np.mean((krr_ridgeless(kern(Xtr[:n]), kern(Xte, Xtr[:n]), ftr[:n]) - fte) ** 2)))
    val = float(np.mean((krr_ridgeless(kern(Xtr), kern(Xv, Xtr), ftr) - fv) ** 2))
    fit = learning_curve(ns, errors)
    return {"errors": errors, "val": val, **fit}


def _student(kind: str, d: int, ns, keep: dict):
    def run(seed):
        c = curve(kind, d, seed, ns)
        keep[(kind, d, seed)] = c["errors"]
        return {"val_mse": c["val"], "beta": c["beta"], "r2": c["r2"], "test_mse_largest_n": c["errors"][-1]}

    return run


@experiment(SLUG, seeds=tuple(range(6)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    ns = QUICK_NS if quick else NS
    keep: dict = {}
    names = {(k, d): f"{k} kernel, d = {d}" for k in ("local", "global") for d in (4, 8)}
    methods = [Method(name, _student(k, d, ns, keep)) for (k, d), name in names.items()]
    comparison = compare(methods, seeds, select="val_mse", maximize=False, quick=quick, progress=progress)
    loc8, glob8, loc4, glob4 = (
        names[("local", 8)],
        names[("global", 8)],
        names[("local", 4)],
        names[("global", 4)],
    )
    premises = [
        Premise(
            f"the {name}'s learning curve is a power law (log-log R² above {PREMISE_R2:g})",
            "r2",
            name,
            threshold=PREMISE_R2,
        )
        for name in (loc8, glob8)
    ]
    target = 1.0 / PATCH
    claims = [
        Claim(
            f"the local student's exponent is above 1/s − {BETA_MARGIN:g} = {target - BETA_MARGIN:g} (d = 8)",
            "beta",
            loc8,
            direction="greater",
            margin=target - BETA_MARGIN,
        ),
        Claim(
            f"the local student's exponent is below 1/s + {BETA_MARGIN:g} = {target + BETA_MARGIN:g} (d = 8)",
            "beta",
            loc8,
            direction="less",
            margin=target + BETA_MARGIN,
        ),
        Claim(
            "the local student learns faster than the global one at d = 8 (larger exponent)",
            "beta",
            loc8,
            glob8,
        ),
        Claim(
            "doubling d from 4 to 8 lowers the global student's exponent",
            "beta",
            glob8,
            glob4,
            direction="less",
        ),
        Claim(
            f"doubling d from 4 to 8 lowers the local student's exponent by less than {LOCAL_SHIFT_MARGIN:g}",
            "beta",
            loc8,
            loc4,
            direction="greater",
            margin=-LOCAL_SHIFT_MARGIN,
        ),
    ]
    arrays = {"ns": np.array(ns, dtype=np.float64)}
    for k, d in names:
        arrays[f"{k}_{d}"] = np.array([keep[(k, d, s)] for s in comparison.seeds])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"patch": PATCH},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    ns = a["ns"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, mk in (("local", "o"), ("global", "s")):
        for d, ls in ((4, "--"), (8, "-")):
            e = a[f"{k}_{d}"]
            beta = np.mean(result.values(f"{k} kernel, d = {d}", "beta"))
            ax.loglog(ns, e.mean(0), mk + ls, label=f"{k} kernel, d = {d} (β = {beta:.2f})")
    ref = a["local_8"].mean(0)[0]
    ax.loglog(ns, ref * (ns / ns[0]) ** -0.5, "k:", lw=1, label="n^(−1/2): 1/s for s = 2")
    ax.set_xlabel("training examples n")
    ax.set_ylabel("test MSE (mean over seeds)")
    ax.set_title(
        f"ridgeless kernel regression of a local teacher (patch {result.notes['patch']})", fontsize=9
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
