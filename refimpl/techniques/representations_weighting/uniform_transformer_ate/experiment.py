"""The experiment: the treatment effect on the treated in a confounded one-covariate study with a rough outcome.

X ~ U[0, 1]; treatment with probability e(x) = 0.1 + 0.8·|sin(3πx)| (non-monotone, so a logistic model linear
in x is misspecified); the control outcome m₀(x) = 2|x − 0.3|^{1/2} + 2|sin(3πx)| (Hölder-½ at 0.3 and kinked
where e is: low regularity, and confounded with the treatment) plus N(0, 0.5²) noise; the effect τ(x) = 1 + x.
The true ATT = ∫ τ e / ∫ e is computed by quadrature.  n = 1000 per data set.

Methods: difference in means; IPW with a linear logistic propensity; raw-space kernel density-ratio weights
(the ablation keeping kernel weights but not the transform); the uniform-transformer U-statistic.  The two kernel
methods choose their bandwidth from the same 10-value grid by the mean squared ATT error over 20 validation
replicates (data sets drawn from the same design with other seeds); each seed then draws its own test data set.
Metric: the squared error of the ATT estimate (×100).  Premise: confounding biases the difference in means (its
absolute error exceeds 0.1 on average).  Claims (margins 0): the uniform transformer's squared error is below
each baseline's.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import integrate

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import att_density_ratio, att_difference_in_means, att_ipw_logistic, att_uniform_transformer

SLUG = "uniform-transformer-ate"
N, NOISE, N_VAL = 1000, 0.5, 20
BANDWIDTHS = (0.00125, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
ARMS = ("difference in means", "IPW (logistic)", "density ratio (raw x)", "uniform transformer")


def propensity(x):
    return 0.1 + 0.8 * np.abs(np.sin(3 * np.pi * np.asarray(x)))


def m0(x):
    x = np.asarray(x)
    return 2 * np.sqrt(np.abs(x - 0.3)) + 2 * np.abs(np.sin(3 * np.pi * x))


def tau(x):
    return 1 + np.asarray(x)


@functools.cache
def true_att() -> float:
    """∫ τ e dx / ∫ e dx over [0, 1] (adaptive quadrature)."""
    num = integrate.quad(lambda x: tau(x) * propensity(x), 0, 1, points=[1 / 3, 2 / 3], limit=200)[0]
    den = integrate.quad(propensity, 0, 1, points=[1 / 3, 2 / 3], limit=200)[0]
    return num / den


def study(seed, n: int = N) -> tuple:
    """(x, t, y) of one observational data set."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    t = (rng.random(n) < propensity(x)).astype(int)
    y = m0(x) + t * tau(x) + NOISE * rng.standard_normal(n)
    return x, t, y


ESTIMATORS = {
    "difference in means": lambda x, t, y, h: att_difference_in_means(x, t, y),
    "IPW (logistic)": lambda x, t, y, h: att_ipw_logistic(x, t, y),
    "density ratio (raw x)": att_density_ratio,
    "uniform transformer": att_uniform_transformer,
}


def _arm(name: str):
    def run(seed, h=0.0):
        est = ESTIMATORS[name]
        val = [(est(*study([seed, 7, r]), h) - true_att()) ** 2 for r in range(N_VAL)]
        x, t, y = study([seed, 1])
        e = est(x, t, y, h) - true_att()
        return {
            "val_sq_error_x100": 100 * float(np.mean(val)),
            "sq_error_x100": 100 * e**2,
            "error": e,
            "abs_error": abs(e),
        }

    return run


@experiment(SLUG, seeds=tuple(range(20)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    grid, qgrid = {"h": list(BANDWIDTHS)}, {"h": [0.04]}
    methods = [
        Method(
            name,
            _arm(name),
            **(
                {"grid": grid, "quick_grid": qgrid}
                if name in ("density ratio (raw x)", "uniform transformer")
                else {}
            ),
        )
        for name in ARMS
    ]
    comparison = compare(
        methods, seeds, select="val_sq_error_x100", maximize=False, quick=quick, progress=progress
    )
    premise = Premise(
        "confounding biases the unadjusted contrast: the difference in means is off by more than 0.1",
        "abs_error",
        "difference in means",
        threshold=0.1,
        strict=True,
    )
    claims = [
        Claim(
            f"the uniform transformer's ATT error is smaller than that of {b}",
            "sq_error_x100",
            "uniform transformer",
            baseline=b,
            direction="less",
            premises=() if b != ARMS[0] else None,
        )
        for b in ARMS[:3]
    ]
    arrays = {"errors": np.array([comparison.values(a, "error") for a in ARMS])}
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(ARMS), "true_att": true_att(), "n": N},
        metrics=["sq_error_x100", "error", "abs_error"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms = result.notes["arms"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = np.linspace(0, 1, 400)
    axes[0].plot(xs, propensity(xs), label="propensity e(x)")
    axes[0].plot(xs, m0(xs) / 3, label="control outcome m₀(x) / 3")
    axes[0].set_xlabel("x")
    axes[0].legend(fontsize=8)
    axes[0].set_title("the design")
    err = result.arrays["errors"]
    axes[1].boxplot(list(err))
    axes[1].set_xticks(range(1, len(arms) + 1), [a.replace(" (", "\n(") for a in arms])
    axes[1].axhline(0, color="grey", ls=":")
    axes[1].set_ylabel("ATT estimate − truth (per seed)")
    fig.tight_layout()
    return {SLUG: fig}
