"""The experiment: Bayesian mixtures over uniform grids of N = 10², 10³ and 10⁵ Bernoulli sources, their regret
on sequences from several truths, against −log N and against the KL-ball weight bound.

Setup.  Sequences of length n = `N_SYMBOLS` from Bernoulli(θ*) for θ* in `TRUTHS`; `N_SEQUENCES` per truth and seed
(the regret depends on a sequence only through its count of ones, so counts are drawn from the binomial).  The
same sequences are scored by the three mixtures (uniform prior over the grid).  Nothing is tuned; `SEEDS` seeds.
Premise.  Truths differ in simplicity: the prior weight of the KL ball of radius 0.01 around θ* = ½ is more than
three times that around θ* = 0.01.
Claims (margins fixed before the first full run).  (1–2) The class size does not matter: the regret at θ* = 0.2
changes by less than 0.1 nats from N = 10² to N = 10⁵.  (3) The regret stays below the weight bound
min_ε[−log w(B_ε) + nε] at every truth.  (4) It is far below the naive log N: at least 5 nats under it for
N = 10⁵ (θ* = 0.2).  (5) Simpler truths cost less: the regret at θ* = 0.01 exceeds that at θ* = ½ by more than 1 nat.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import ball_weight, expected_regret, mixture_regret, weight_bound

SLUG = "universality-lens"
N_SYMBOLS = 200
TRUTHS = (0.5, 0.2, 0.05, 0.01)
SIZES = (100, 1000, 100_000)
N_SEQUENCES, QUICK_SEQUENCES = 4000, 400
SIZE_MARGIN, LOGN_MARGIN, SIMPLE_MARGIN, PREMISE_RATIO = 0.1, 5.0, 1.0, 3.0


def grid(size: int):
    return (np.arange(size) + 0.5) / size, np.ones(size)


def _key(theta):
    return f"{theta:g}".replace(".", "p")


def _mixture(size: int, n_sequences: int, keep: dict):
    thetas, w = grid(size)

    def run(seed):
        out = {}
        for t in TRUTHS:
            k = np.random.default_rng([seed, int(t * 1000), 101]).binomial(N_SYMBOLS, t, n_sequences)
            sim = float(np.mean(mixture_regret(k, N_SYMBOLS, thetas, w, t)))
            bound = weight_bound(t, N_SYMBOLS, thetas, w)
            out[f"regret_{_key(t)}"] = sim
            out[f"bound_gap_{_key(t)}"] = sim - bound
            keep[(size, seed, t)] = (sim, expected_regret(t, N_SYMBOLS, thetas, w), bound)
        out["val_regret_mean"] = float(np.mean([out[f"regret_{_key(t)}"] for t in TRUTHS]))
        out["max_bound_gap"] = max(out[f"bound_gap_{_key(t)}"] for t in TRUTHS)
        out["logN_minus_regret"] = float(np.log(size) - out["regret_0p2"])
        out["complex_minus_simple"] = out["regret_0p01"] - out["regret_0p5"]
        out["ball_weight_ratio"] = ball_weight(0.5, 0.01, thetas, w) / ball_weight(0.01, 0.01, thetas, w)
        return out

    return run


@experiment(SLUG, seeds=tuple(range(6)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    n_seq = QUICK_SEQUENCES if quick else N_SEQUENCES
    keep: dict = {}
    names = {s: f"uniform prior over N = {s:,}" for s in SIZES}
    methods = [Method(names[s], _mixture(s, n_seq, keep)) for s in SIZES]
    comparison = compare(
        methods, seeds, select="val_regret_mean", maximize=False, quick=quick, progress=progress
    )
    big, small = names[SIZES[-1]], names[SIZES[0]]
    premise = Premise(
        f"truths differ in simplicity: the KL-ball (ε = 0.01) weight at θ* = ½ is more than {PREMISE_RATIO:g}× that at θ* = 0.01",
        "ball_weight_ratio",
        big,
        threshold=PREMISE_RATIO,
    )
    claims = [
        Claim(
            f"the class size does not matter: the regret at θ* = 0.2 moves by more than −{SIZE_MARGIN:g} nats from N = 10² to 10⁵",
            "regret_0p2",
            big,
            small,
            margin=-SIZE_MARGIN,
            premises=(),
        ),
        Claim(
            f"the class size does not matter: the regret at θ* = 0.2 moves by less than +{SIZE_MARGIN:g} nats from N = 10² to 10⁵",
            "regret_0p2",
            big,
            small,
            direction="less",
            margin=SIZE_MARGIN,
            premises=(),
        ),
        Claim(
            "the regret stays below the weight bound min_ε[−log w(B_ε) + nε] at every truth",
            "max_bound_gap",
            big,
            direction="less",
            premises=(),
        ),
        Claim(
            f"it is far below the naive log N: at least {LOGN_MARGIN:g} nats under it for N = 10⁵ (θ* = 0.2)",
            "logN_minus_regret",
            big,
            margin=LOGN_MARGIN,
            premises=(),
        ),
        Claim(
            f"simpler truths cost less: the regret at θ* = 0.01 exceeds that at θ* = ½ by more than {SIMPLE_MARGIN:g} nat",
            "complex_minus_simple",
            big,
            margin=SIMPLE_MARGIN,
        ),
    ]
    s = comparison.seeds
    arrays = {"truths": np.array(TRUTHS), "sizes": np.array(SIZES, dtype=np.float64)}
    for j, name in enumerate(("simulated", "expected", "bound")):
        arrays[name] = np.array([[[keep[(size, k, t)][j] for t in TRUTHS] for size in SIZES] for k in s])
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"n": N_SYMBOLS},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    truths, sizes = a["truths"], a["sizes"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    x = np.arange(len(truths))
    for i, size in enumerate(sizes):
        ax.plot(
            x + 0.08 * (i - 1),
            a["simulated"][:, i].mean(0),
            "o",
            color=f"C{i}",
            label=f"N = {int(size):,}: simulated regret",
        )
        ax.axhline(np.log(size), color=f"C{i}", ls=":", lw=1, label=f"log N = {np.log(size):.1f}")
    ax.plot(x, a["expected"][:, -1].mean(0), "k_", ms=18, mew=2, label="exact expected regret (N = 10⁵)")
    ax.plot(x, a["bound"][:, -1].mean(0), "kv", label="weight bound min_ε[−log w(B_ε) + nε]")
    ax.set_xticks(x, [f"θ* = {t:g}" for t in truths])
    ax.set_ylabel(f"regret after n = {result.notes['n']} symbols (nats)")
    ax.set_title("a Bayesian mixture's regret: set by the weight near the truth, not by N", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return {SLUG: fig}
