"""The experiment: exhaustive prompt search over boolean rules of up to six tokens, its training and test error,
and the PAC-Bayes bound with the grammar prior against the bound with a uniform prior over a 20-token context.

Setup.  d = `N_VARS` binary inputs, uniform; the task's rule is ``AND NOT x4 OR x1 x7`` with `NOISE` of the labels
flipped (Bayes error 0.1).  n = `N_TRAIN` training examples (also `SWEEP_N` for the plot), `N_TEST` test and as many
validation examples (quick mode: five-token prompts, `QUICK_TEST` test examples); the search space: every prompt of up to `MAX_TOKENS` tokens (≈ 2·10⁵).  Prompt engineering
(ERM) keeps the prompt with the lowest training error (ties: the first in the table, i.e. the shortest); the
structural-risk variant (SRM) the one with the lowest bound under the method's prior.  δ = `DELTA`; the kl-inverse
bound.  Random labels: the same inputs with labels drawn uniformly.  Nothing is tuned; the validation error of the
ERM prompt is the harness's selection score.  Ten seeds.
Methods, which differ only in the prior the bound charges (the ablation is the prior without the language model):
  grammar prior           log 1/P(θ) from the generative grammar (the paper's language-model prior);
  uniform prior (T = 20)  log 1/P = 20 log |V| for every prompt: uniform over token strings of a 20-token context
                          (the authors' comparison: context length × log vocabulary).
Premise.  The search space can fit noise: at n = `SMALL_N` the ERM prompt's training error on random labels is below
0.35 (so the good test error at n = 1000 is not guaranteed by the space being small).
Claims (margins fixed before the first full run).  At n = 1000: (1) the bound holds: it is above the ERM prompt's
test error; (2) it is tight: within 0.1 of it; (3) the grammar prior's bound is lower than the uniform prior's;
(4) on random labels the bound certifies nothing: it stays above 0.45; (5) choosing by the bound (SRM) costs at most
one point of test error against choosing by training error.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from . import enumerate_prompts, evaluate, kl_bound, uniform_log_prior

SLUG = "prompt-pac-bayes"
N_VARS, MAX_TOKENS, CONTEXT = 16, 6, 20
QUICK_MAX_TOKENS = 5
TARGET = "AND NOT x4 OR x1 x7"
NOISE, DELTA = 0.1, 0.05
N_TRAIN, SMALL_N, N_TEST, QUICK_TEST = 1000, 100, 20_000, 5000
SWEEP_N = (100, 300, 1000)
SMALL_PREMISE, TIGHT_MARGIN, RANDOM_MARGIN, SRM_MARGIN = 0.35, 0.10, 0.45, 0.01
METHODS = ("grammar prior", f"uniform prior (T = {CONTEXT})")


def task(seed: int, n: int, tag: int):
    """n examples of the task (noisy labels) and the same inputs with random labels."""
    rng = np.random.default_rng([seed, n, tag, 2310])
    X = rng.integers(0, 2, (n, N_VARS)).astype(bool)
    y = evaluate(TARGET, X) ^ (rng.uniform(size=n) < NOISE)
    return X, y, rng.integers(0, 2, n).astype(bool)


def _study(method: str, max_tokens: int, n_test: int, keep: dict):
    uniform = uniform_log_prior(CONTEXT, N_VARS)

    def best_bound(table, errors, n):
        """SRM: the prompt with the lowest bound (only prompts whose training error is below the ERM prompt's bound
        can beat it, since the bound exceeds the error)."""
        logp = table.log_prior if method == "grammar prior" else np.full(len(table), uniform)
        first = kl_bound(errors.min(), logp[np.argmin(errors)], n, DELTA)
        cand = np.flatnonzero(errors < first)
        b = kl_bound(errors[cand], logp[cand], n, DELTA)
        i = int(np.argmin(b))
        return int(cand[i]), float(b[i])

    def run(seed):
        Xv, yv, _ = task(seed, n_test, 1)
        Xt, yt, yt_random = task(seed, n_test, 2)
        out, curve = {}, []
        for n in SWEEP_N:
            X, y, y_random = task(seed, n, 0)
            table = enumerate_prompts(X, max_tokens)
            err, err_random = table.errors(y), table.errors(y_random)
            erm, erm_random = int(np.argmin(err)), int(np.argmin(err_random))
            logp = table.log_prior[erm] if method == "grammar prior" else uniform
            bound = kl_bound(err[erm], logp, n, DELTA)
            test = float(np.mean(evaluate(table.prompt(erm), Xt) != yt))
            srm, srm_bound = best_bound(table, err, n)
            srm_test = float(np.mean(evaluate(table.prompt(srm), Xt) != yt))
            lp_r = table.log_prior[erm_random] if method == "grammar prior" else uniform
            random_bound = kl_bound(err_random[erm_random], lp_r, n, DELTA)
            random_test = float(np.mean(evaluate(table.prompt(erm_random), Xt) != yt_random))
            curve.append(
                [
                    err[erm],
                    test,
                    bound,
                    srm_test,
                    srm_bound,
                    err_random[erm_random],
                    random_test,
                    random_bound,
                ]
            )
            if n == SMALL_N:
                out["small_n_random_train_error"] = float(err_random[erm_random])
            if n == N_TRAIN:
                out.update(
                    {
                        "val_error": float(np.mean(evaluate(table.prompt(erm), Xv) != yv)),
                        "train_error": float(err[erm]),
                        "test_error": test,
                        "bound": bound,
                        "bound_minus_test": bound - test,
                        "random_bound": random_bound,
                        "srm_minus_erm_test": srm_test - test,
                        "erm_tokens": float(table.n_tokens[erm]),
                    }
                )
                keep[(method, seed, "prompt")] = (table.prompt(erm), table.prompt(srm))
        keep[(method, seed)] = np.array(curve)
        return out

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1, 2))
def run(quick, seeds, progress):
    max_tokens, n_test = (QUICK_MAX_TOKENS, QUICK_TEST) if quick else (MAX_TOKENS, N_TEST)
    keep: dict = {}
    comparison = compare(
        [Method(m, _study(m, max_tokens, n_test, keep)) for m in METHODS],
        seeds,
        select="val_error",
        maximize=False,
        quick=quick,
        progress=progress,
    )
    premise = Premise(
        f"the search space can fit noise: at n = {SMALL_N} the ERM prompt's training error on random labels is below "
        f"{SMALL_PREMISE}",
        "small_n_random_train_error",
        "grammar prior",
        threshold=SMALL_PREMISE,
        direction="less",
    )
    lm = "grammar prior"
    claims = [
        Claim(
            f"at n = {N_TRAIN} the grammar-prior bound holds: it is above the ERM prompt's test error",
            "bound_minus_test",
            lm,
            premises=(),
        ),
        Claim(
            f"at n = {N_TRAIN} the grammar-prior bound is within {TIGHT_MARGIN} of the test error",
            "bound_minus_test",
            lm,
            direction="less",
            margin=TIGHT_MARGIN,
            premises=(),
        ),
        Claim(
            "the grammar prior gives a lower bound than a uniform prior over the 20-token context",
            "bound",
            lm,
            baseline=METHODS[1],
            direction="less",
            premises=(),
        ),
        Claim(
            f"on random labels the grammar-prior bound certifies nothing: it stays above {RANDOM_MARGIN}",
            "random_bound",
            lm,
            margin=RANDOM_MARGIN,
        ),
        Claim(
            f"choosing the prompt by its bound (SRM) costs at most {SRM_MARGIN * 100:g} point of test error against "
            "choosing by training error",
            "srm_minus_erm_test",
            lm,
            direction="less",
            margin=SRM_MARGIN,
            premises=(),
        ),
    ]
    s = comparison.seeds
    arrays = {"sweep_n": np.array(SWEEP_N, dtype=np.float64)}
    for m, tag in zip(METHODS, ("grammar", "uniform")):
        arrays[f"{tag}_curve"] = np.array([keep[(m, k)] for k in s])
    notes = {
        "target": TARGET,
        "max_tokens": max_tokens,
        "context": CONTEXT,
        "delta": DELTA,
        "curve_columns": [
            "train",
            "test",
            "bound",
            "srm_test",
            "srm_bound",
            "random_train",
            "random_test",
            "random_bound",
        ],
        "erm_prompts": {str(k): keep[(lm, k, "prompt")][0] for k in s},
        "srm_prompts": {str(k): keep[(lm, k, "prompt")][1] for k in s},
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes=notes,
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a, cols = result.arrays, result.notes["curve_columns"]
    n = a["sweep_n"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, labels, title in (
        (axes[0], ("train", "test", "bound"), "the task (10 % label noise)"),
        (axes[1], ("random_train", "random_test", "random_bound"), "random labels"),
    ):
        g, u = a["grammar_curve"].mean(0), a["uniform_curve"].mean(0)
        ax.plot(n, g[:, cols.index(labels[0])], "o-", label="ERM prompt: training error")
        ax.plot(n, g[:, cols.index(labels[1])], "s-", label="ERM prompt: test error")
        ax.plot(n, g[:, cols.index(labels[2])], "^-", label="bound, grammar prior")
        ax.plot(
            n,
            u[:, cols.index(labels[2])],
            "v--",
            label=f"bound, uniform prior (T = {result.notes['context']})",
        )
        ax.set_xscale("log")
        ax.set_xlabel("training examples n")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("error (mean over seeds)")
    fig.tight_layout()
    return {SLUG: fig}
