"""The experiment: a small diffusion model conditioned on the mean of the k nearest neighbours retrieved from a
database of training points, against the same network without retrieval (the ablation), on the training
distribution and after swapping the database for one drawn from a different mixture with new modes.

Setup.  Training data: two concentric rings of radius 1 and 2 (`toys.rings`, std 0.08).  Database D: `N_DB`
points from the rings, drawn once per seed; training queries are fresh ring points every step (not in D), each
conditioned on the mean of its k nearest database points.  Swapped database D': `N_DB` points from eight
Gaussians on the circle of radius 1.5 (std 0.08) — modes that lie between the rings, 0.5 away from any training
mode.  Denoiser: an MLP (3 × 64, SiLU) on [x_t, emb(t), c]; the ablation is the same network with c = 0
(identical parameter count).  Cosine schedule, T = 100, ε-loss, `STEPS` Adam steps, batch `BATCH`, DDPM
ancestral sampling.  At sampling, each sample's pseudo-query is a random database element.  Hyperparameters
(lr; k for the retrieval model) are chosen on validation sliced Wasserstein to held-out ring points, with the
training database.  Test: `N_SAMPLE` samples against fresh points of the target mixture (rings with D, eight
Gaussians with D'); sliced Wasserstein, mode coverage (≥ `MIN_COUNT` samples within `RADIUS` of a mode) and mode
precision.  `SEEDS` seeds.
Premise.  The swap is a real shift: every new mode has no training database point within `RADIUS` (novelty,
measured per seed, above 0.9).
Claims (margins fixed before the first full run).  (1) After the swap, the retrieval model covers at least 75% of
the new modes.  (2) It covers more of them than the unconditional model.  (3) Its samples are closer (sliced
Wasserstein) to the new mixture than the unconditional model's.  (4) At least half its swapped samples lie on
a new mode (precision).  (5) On the training distribution (with D) its sliced Wasserstein is no worse than the
unconditional model's (lower).
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ..metrics import mode_coverage, mode_precision, sliced_wasserstein
from ..samplers import ddpm_sample
from ..schedules import alpha_bars, cosine_betas
from ..toys import eight_gaussians, rings
from ..training import fit_generative
from . import RetrievalDenoiser, rdm_eps_loss, retrieval_condition, sample_queries

SLUG = "retrieval-augmented-diffusion"
T = 50
LRS, QUICK_LRS = [1e-3, 3e-3], [3e-3]
KS, QUICK_KS = [4, 16], [4]
STEPS, QUICK_STEPS, BATCH = 2500, 300, 256
N_DB, N_POOL, N_VAL, N_SAMPLE = 1000, 6000, 500, 500
QUICK_SAMPLE = 200
RADIUS, MIN_COUNT = 0.25, 5
OVERLAP, COVERAGE_MARGIN, PRECISION_MARGIN = 0.02, 0.75, 0.5
RDM, UNCOND = "RDM (kNN retrieval)", "unconditional (same net, no retrieval)"


def train_mixture():
    return rings(radii=(1.0, 2.0), std=0.08)


def swap_mixture():
    return eight_gaussians(radius=1.5, std=0.08)


def generate(model, database, k, n, rng, betas):
    """x ~ p_θ(x | mean of M_D^(k)(ỹ)), ỹ a random database element (the pseudo-query)."""
    rng = np.random.default_rng(rng)
    c = retrieval_condition(sample_queries(database, n, rng), database, k).astype(np.float32)
    eps_fn = lambda x, t: model(x, np.full(len(x), t / T), c).data.astype(np.float64)  # noqa: E731
    return ddpm_sample(eps_fn, (n, 2), betas, rng)


def _cell(retrieval: bool, steps: int, n_sample: int, keep: dict):
    def run(seed, lr, k=4):
        old, new = train_mixture(), swap_mixture()
        rng = np.random.default_rng([seed, 2204])
        db_old, _ = old.sample(N_DB, rng)
        db_new, _ = new.sample(N_DB, rng)
        pool, _ = old.sample(N_POOL, rng)  # training queries (not in D), retrieved once
        pool_c = retrieval_condition(pool, db_old, k).astype(np.float32)
        x_val, _ = old.sample(N_VAL, rng)
        x_test_old, _ = old.sample(n_sample, rng)
        x_test_new, _ = new.sample(n_sample, rng)
        betas = cosine_betas(T)
        abar = alpha_bars(betas)
        model = RetrievalDenoiser(2, 64, 3, retrieval=retrieval, rng=[seed, 1])

        def loss(r):
            i = r.integers(0, N_POOL, size=BATCH)
            return rdm_eps_loss(model, pool[i], pool_c[i], abar, r)

        fit_generative(model, loss, steps=steps, lr=lr, seed=seed)
        s_val = generate(model, db_old, k, N_VAL, [seed, 3], betas)
        s_old = generate(model, db_old, k, n_sample, [seed, 4], betas)
        s_new = generate(model, db_new, k, n_sample, [seed, 5], betas)
        keep[(retrieval, seed, lr, k)] = {"old": s_old[:600], "new": s_new[:600]}
        return {
            "val_sw": sliced_wasserstein(s_val, x_val),
            "test_sw_train_db": sliced_wasserstein(s_old, x_test_old),
            "test_cov_train_db": mode_coverage(s_old, old.means, RADIUS, 1),
            "test_sw_swapped_db": sliced_wasserstein(s_new, x_test_new),
            "test_cov_new_modes": mode_coverage(s_new, new.means, RADIUS, MIN_COUNT),
            "test_prec_new_modes": mode_precision(s_new, new.means, RADIUS),
            # premise: the fraction of the training database lying within RADIUS of a new mode
            "train_mass_on_new_modes": mode_precision(db_old, new.means, RADIUS),
        }

    return run


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    steps, n_sample = (QUICK_STEPS, QUICK_SAMPLE) if quick else (STEPS, N_SAMPLE)
    keep: dict = {}
    methods = [
        Method(
            RDM,
            _cell(True, steps, n_sample, keep),
            grid={"lr": LRS, "k": KS},
            quick_grid={"lr": QUICK_LRS, "k": QUICK_KS},
        ),
        Method(UNCOND, _cell(False, steps, n_sample, keep), grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS}),
    ]
    comparison = compare(methods, seeds, select="val_sw", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        f"the swap is a real shift: below {OVERLAP:.0%} of the training database lies within {RADIUS} of a new mode",
        "train_mass_on_new_modes",
        RDM,
        threshold=OVERLAP,
        direction="less",
    )
    claims = [
        Claim(
            f"after swapping the database, the retrieval model covers at least {COVERAGE_MARGIN:.0%} of the new modes",
            "test_cov_new_modes",
            RDM,
            margin=COVERAGE_MARGIN,
        ),
        Claim(
            "after the swap it covers more new modes than the unconditional model (the ablation without retrieval)",
            "test_cov_new_modes",
            RDM,
            baseline=UNCOND,
        ),
        Claim(
            "after the swap its samples are closer to the new mixture (sliced Wasserstein) than the unconditional "
            "model's",
            "test_sw_swapped_db",
            RDM,
            baseline=UNCOND,
            direction="less",
        ),
        Claim(
            f"after the swap at least {PRECISION_MARGIN:.0%} of its samples lie on a new mode (precision)",
            "test_prec_new_modes",
            RDM,
            margin=PRECISION_MARGIN,
        ),
        Claim(
            "on the training distribution (original database) its sliced Wasserstein is lower than the "
            "unconditional model's at equal parameter count",
            "test_sw_train_db",
            RDM,
            baseline=UNCOND,
            direction="less",
        ),
    ]
    s0 = comparison.seeds[0]
    sel_r, sel_u = comparison.selected[RDM], comparison.selected[UNCOND]
    first_r = keep[(True, s0, sel_r["lr"], sel_r.get("k", 4))]
    first_u = keep[(False, s0, sel_u["lr"], 4)]
    rng = np.random.default_rng(0)
    arrays = {
        "rdm_old": first_r["old"],
        "rdm_new": first_r["new"],
        "uncond_old": first_u["old"],
        "uncond_new": first_u["new"],
        "data_old": train_mixture().sample(600, rng)[0],
        "data_new": swap_mixture().sample(600, rng)[0],
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"steps": steps, "batch": BATCH, "T": T, "plotted_seed": int(s0)},
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    a = result.arrays
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = [
        (
            "data: rings (D) and eight Gaussians (D')",
            [("data_old", "0.6", "rings"), ("data_new", "C3", "new")],
        ),
        ("RDM: database D, then swapped D'", [("rdm_old", "C0", "with D"), ("rdm_new", "C3", "with D'")]),
        ("unconditional (no retrieval)", [("uncond_old", "C0", "with D"), ("uncond_new", "C3", "with D'")]),
    ]
    for ax, (title, series) in zip(axes, panels):
        for key, color, label in series:
            ax.scatter(a[key][:, 0], a[key][:, 1], s=3, alpha=0.5, color=color, label=label)
        ax.set_title(f"{title} (seed {result.notes['plotted_seed']})", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlim(-2.6, 2.6)
        ax.set_ylim(-2.6, 2.6)
        ax.legend(fontsize=7, loc="lower right", markerscale=3)
    fig.tight_layout()
    return {SLUG: fig}
