"""The experiment: lookup-table learners that do or do not fit the examples seen once, on a long-tailed (Zipf)
and a short-tailed mixture of subpopulations, with clean and noisy training labels, against the closed-form cost
of not memorizing.

Setup.  k = `N_CLASSES` classes; each subpopulation has one uniformly drawn label.  Long tail: N = `N_LONG`
subpopulations with Zipf frequencies ψ_j ∝ 1/j in random order (the list prior); short tail: N = `N_SHORT` equally
frequent subpopulations.  n = `N_TRAIN` training draws; noisy variant: each training label replaced by a uniform
one with probability η = `NOISE`.  Test error on `N_TEST` fresh draws (clean labels); the harness's validation score
is the error on a separate `N_TEST` draws.  Nothing is tuned.  Ten seeds.
Methods (the same samples, labels and test draws per seed):
  memorize          predicts the majority training label of every subpopulation seen at least once;
  skip singletons   the same, but only for subpopulations seen at least twice (guesses elsewhere) — the ablation:
                    everything but the fitting of the tail.
Per-seed theory metric: the measured excess error of `skip singletons` over `memorize` divided by the closed form
(1 − η)(1 − 1/k) E[M₁], minus 1; and Good–Turing's 2N₂/n against the sample's true singleton mass.
Premise.  The long tail is long: the singletons' total frequency M₁ in the training sample exceeds 0.05.
Claims (margins fixed before the first full run).  (1) On the long tail, memorizing beats skipping singletons.
(2) With η = 0.3 noisy labels too.  (3) On the short tail, skipping singletons costs under 0.5 points.
(4–5) The measured cost is within ±10 % of the closed form (long tail, clean labels).  (6) Good–Turing estimates
the singleton mass within 20 %.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import (
    good_turing_singleton_mass,
    lookup_predict,
    memorization_cost,
    singleton_mass,
    zipf_frequencies,
)

SLUG = "memorization-long-tail"
N_CLASSES = 10
N_LONG, N_SHORT = 5000, 50
N_TRAIN = 2000
N_TEST, QUICK_TEST = 40_000, 10_000
NOISE = 0.3
PREMISE_MASS, SHORT_MARGIN, THEORY_MARGIN, GT_MARGIN = 0.05, 0.005, 0.10, 0.20
METHODS = {"memorize": 1, "skip singletons": 2}


def _draw(seed: int, psi: np.ndarray, n_test: int, tag: int):
    """One seed's world and samples: frequencies in random order, labels, training draws (clean and noisy), and
    validation and test draws."""
    rng = np.random.default_rng([seed, tag, 1906])
    n_sub = psi.size
    freqs = psi[rng.permutation(n_sub)]
    truth = rng.integers(0, N_CLASSES, n_sub)
    train = rng.choice(n_sub, N_TRAIN, p=freqs)
    flip = rng.uniform(size=N_TRAIN) < NOISE
    noisy = np.where(flip, rng.integers(0, N_CLASSES, N_TRAIN), truth[train])
    val, test = rng.choice(n_sub, n_test, p=freqs), rng.choice(n_sub, n_test, p=freqs)
    return freqs, truth, train, noisy, val, test


def _errors(seed, psi, tag, n_test, min_count):
    """(val error, test error, test error with noisy training labels, counts, freqs) of one learner."""
    freqs, truth, train, noisy, val, test = _draw(seed, psi, n_test, tag)
    guess = [seed, tag, 7]  # the same guesses for both learners: the comparison is paired
    pred = lookup_predict(train, truth[train], psi.size, N_CLASSES, min_count, guess)
    pred_noisy = lookup_predict(train, noisy, psi.size, N_CLASSES, min_count, guess)
    counts = np.bincount(train, minlength=psi.size)
    return (
        float(np.mean(pred[val] != truth[val])),
        float(np.mean(pred[test] != truth[test])),
        float(np.mean(pred_noisy[test] != truth[test])),
        counts,
        freqs,
    )


def _learner(n_test: int):
    long_psi, short_psi = zipf_frequencies(N_LONG), np.full(N_SHORT, 1 / N_SHORT)

    def run(seed, min_count):
        val, err, err_noisy, counts, freqs = _errors(seed, long_psi, 1, n_test, min_count)
        _, err_short, _, _, _ = _errors(seed, short_psi, 2, n_test, min_count)
        out = {
            "val_error": val,
            "test_error": err,
            "test_error_noisy": err_noisy,
            "test_error_short": err_short,
            "singleton_mass": singleton_mass(freqs, counts),
            "good_turing_rel_err": good_turing_singleton_mass(counts) / singleton_mass(freqs, counts) - 1,
        }
        if min_count > 1:  # the cost of skipping, measured on the same draws, against the closed form
            _, err_mem, _, _, _ = _errors(seed, long_psi, 1, n_test, 1)
            out["cost_vs_theory"] = (err - err_mem) / memorization_cost(long_psi, N_TRAIN, N_CLASSES) - 1
        else:
            out["cost_vs_theory"] = 0.0
        return out

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    n_test = QUICK_TEST if quick else N_TEST
    comparison = compare(
        [Method(name, _learner(n_test), fixed={"min_count": m}) for name, m in METHODS.items()],
        seeds,
        select="val_error",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        f"the long tail is long: the singletons' total frequency M₁ in the training sample exceeds {PREMISE_MASS}",
        "singleton_mass",
        "memorize",
        threshold=PREMISE_MASS,
    )
    claims = [
        Claim(
            "on the long tail, memorizing every example beats skipping the singletons",
            "test_error",
            "memorize",
            baseline="skip singletons",
            direction="less",
        ),
        Claim(
            f"with {NOISE:.0%} noisy training labels, memorizing still beats skipping the singletons",
            "test_error_noisy",
            "memorize",
            baseline="skip singletons",
            direction="less",
        ),
        Claim(
            f"on the short tail (N = {N_SHORT} equal subpopulations), skipping singletons costs under "
            f"{SHORT_MARGIN * 100:g} points",
            "test_error_short",
            "skip singletons",
            baseline="memorize",
            direction="less",
            margin=SHORT_MARGIN,
            premises=(),
        ),
        Claim(
            f"theory: the measured cost of skipping singletons is at least {1 - THEORY_MARGIN:.0%} of "
            "(1 − 1/k)·E[M₁]",
            "cost_vs_theory",
            "skip singletons",
            margin=-THEORY_MARGIN,
        ),
        Claim(
            f"theory: the measured cost of skipping singletons is at most {1 + THEORY_MARGIN:.0%} of "
            "(1 − 1/k)·E[M₁]",
            "cost_vs_theory",
            "skip singletons",
            direction="less",
            margin=THEORY_MARGIN,
        ),
        Claim(
            f"Good–Turing's 2N₂/n is within {GT_MARGIN:.0%} of the sample's true singleton mass (low side)",
            "good_turing_rel_err",
            "memorize",
            margin=-GT_MARGIN,
        ),
        Claim(
            f"Good–Turing's 2N₂/n is within {GT_MARGIN:.0%} of the sample's true singleton mass (high side)",
            "good_turing_rel_err",
            "memorize",
            direction="less",
            margin=GT_MARGIN,
        ),
    ]
    psi = zipf_frequencies(N_LONG)
    predicted = {
        "clean": memorization_cost(psi, N_TRAIN, N_CLASSES),
        "noisy": memorization_cost(psi, N_TRAIN, N_CLASSES, NOISE),
    }
    arrays = {
        "measured_cost": np.array(
            [
                np.subtract(comparison.values("skip singletons", key), comparison.values("memorize", key))
                for key in ("test_error", "test_error_noisy")
            ]
        ),
        "predicted_cost": np.array([predicted["clean"], predicted["noisy"]]),
        "rank_frequency": psi,
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"n": N_TRAIN, "k": N_CLASSES, "noise": NOISE, "n_long": N_LONG, "n_short": N_SHORT},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, nt = result.arrays, result.notes
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    psi = a["rank_frequency"]
    j = np.arange(1, psi.size + 1)
    ax.loglog(j, psi, "k-", label="Zipf frequencies ψ_j ∝ 1/j")
    ax.loglog(
        j,
        nt["n"] * psi**2 * (1 - psi) ** (nt["n"] - 1),
        "C1-",
        label="contribution to E[M₁]: nψ²(1 − ψ)^(n−1)",
    )
    ax.set_xlabel("subpopulation rank j")
    ax.set_title(f"the long tail (N = {nt['n_long']}, n = {nt['n']})", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    for i, c in enumerate(("C0", "C3")):
        v = a["measured_cost"][i]
        ax.plot(np.full(v.size, i) + np.linspace(-0.1, 0.1, v.size), v, "o", color=c, alpha=0.6)
        ax.hlines(a["predicted_cost"][i], i - 0.25, i + 0.25, color="k", lw=2)
    ax.set_xticks([0, 1], ["clean labels", f"{nt['noise']:.0%} noisy labels"])
    ax.set_ylabel("test error: skip singletons − memorize")
    ax.set_title("cost of not memorizing: seeds (dots) and (1 − η)(1 − 1/k)E[M₁] (bar)", fontsize=9)
    fig.tight_layout()
    return {SLUG: fig}
