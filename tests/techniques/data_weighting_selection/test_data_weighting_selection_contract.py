"""The data-weighting-selection family's contract over the registry (the form: `tests/techniques/contracts.py`).

An adapter is a dict of one of three kinds:

* ``{"kind": "scorer", "score": (model, x, y) -> (N,) array}`` — scores every training example;
* ``{"kind": "selector", "select": (scores, y, size, seed) -> indices, "resamples": bool}`` — picks a
  subset (or a resample) of a pool of the given size;
* ``{"kind": "weights", "weights": (x, y, seed) -> (N,) array}`` — per-example loss weights for `fit`.

Properties: every scorer returns one finite score ≥ 0 per example and is deterministic; every selector
returns int indices into the pool of the requested size, sorted, without repeats unless it resamples,
the same for the same seed; weights are finite, ≥ 0, not all zero, and uniform weights train exactly as
plain ERM.  The family's shared selectors and uniform weighting are checked as ``baseline:`` keys.
"""

import numpy as np
import pytest
from contracts import params

from refimpl import nn
from refimpl.nn import functional as F
from refimpl.optim import SGD
from refimpl.techniques.data_weighting_selection import active_mtrl_lasso as AM
from refimpl.techniques.data_weighting_selection import concept_complexity_data_pruning as CCP
from refimpl.techniques.data_weighting_selection import coreset_reweighting as CR
from refimpl.techniques.data_weighting_selection import data_pruning_scaling as DPS
from refimpl.techniques.data_weighting_selection import dpp_weighted_least_squares as DPP
from refimpl.techniques.data_weighting_selection import dsir as DSIR
from refimpl.techniques.data_weighting_selection import el2n_grand as EG
from refimpl.techniques.data_weighting_selection import ipm_covariate_balancing as IPM
from refimpl.techniques.data_weighting_selection import kmeans_diversity_selection as KD
from refimpl.techniques.data_weighting_selection import loss_based_reweighting as LBR
from refimpl.techniques.data_weighting_selection import nlu_data_diets as ND
from refimpl.techniques.data_weighting_selection import pretrain_then_mix as PTM
from refimpl.techniques.data_weighting_selection import selection as sel
from refimpl.train import fit

FAMILY = "data-weighting-selection"


def _cw_erm_weights(x, y, seed):
    """CW-ERM's broadcast weights: the moderate coreset (30 %), Meta-Weight-Net on it with the pool itself as
    the meta set (the contract has no separate clean set), nearest-neighbour broadcasting (any label, the
    official default)."""
    core = CR.moderate_coreset(x, y, 0.3)
    tr = CR.MetaWeightTrainer(
        _model(seed), CR.weight_net(dtype=np.float64, rng=seed), x[core], y[core], x, y, lr=0.1, batch_size=4
    )
    tr.fit(2, seed)
    return CR.broadcast_nearest(x, y, core, tr.weights(x[core], y[core]))


def _dpp_select(s, y, size, seed):
    """dpp-weighted-least-squares' discrete projection DPP of rank `size` over the pool, the scores taken as
    1-d inputs rescaled to [−1, 1] (Legendre features, orthonormalised by QR)."""
    s = np.asarray(s, dtype=np.float64)
    x = 2 * (s - s.min()) / max(np.ptp(s), 1e-12) - 1
    q = np.linalg.qr(DPP.features(x, size))[0]
    return np.sort(
        np.asarray(DPP.sample_projection_dpp_discrete(q, np.random.default_rng(seed)), dtype=np.int64)
    )


def _temperature_weights(x, y, seed, T=5.0):
    """pretrain-then-mix's sampler as loss weights: each class a task, p ∝ n^(1/T) (T = 1: uniform)."""
    _, inv, cnt = np.unique(np.asarray(y).ravel(), return_inverse=True, return_counts=True)
    return (PTM.temperature_proportions(cnt, T) / cnt)[inv] * len(inv)


CONTRACTS = {
    "el2n-grand:el2n": {"kind": "scorer", "score": EG.el2n_scores},
    "el2n-grand:grand": {"kind": "scorer", "score": EG.grand_scores},
    "el2n-grand:prune-offset": {
        "kind": "selector",
        "select": lambda s, y, size, seed: EG.prune(s, size / len(s), 2 / len(s)),
        "resamples": False,
    },
    "data-pruning-scaling:keep-hard": {
        "kind": "selector",
        "select": lambda s, y, size, seed: DPS.keep_indices(s, size / len(s), "hard"),
        "resamples": False,
    },
    "data-pruning-scaling:random": {
        "kind": "selector",
        "select": lambda s, y, size, seed: DPS.random_indices(len(s), size / len(s), rng=seed),
        "resamples": False,
    },
    "loss-based-reweighting:linupper-weights": {"kind": "scorer", "score": LBR.example_weights},
    "nlu-data-diets:el2n": {"kind": "scorer", "score": ND.el2n_scores},
    "nlu-data-diets:keep-top": {
        "kind": "selector",
        "select": lambda s, y, size, seed: ND.keep_top(s, size / len(s)),
        "resamples": False,
    },
    "dsir:gumbel-top-k": {  # scores taken as importance weights: log w → Gumbel-top-k
        "kind": "selector",
        "select": lambda s, y, size, seed: DSIR.gumbel_top_k(np.log(np.maximum(s, 1e-300)), size, seed=seed),
        "resamples": False,
    },
    "ipm-covariate-balancing:weights": {  # class 0 taken as the treated group
        "kind": "weights",
        "weights": lambda x, y, seed: IPM.sample_weights(x, y == 0),
    },
    "concept-complexity-data-pruning:dbp": {  # scores taken as 2-d embeddings (s, 1)
        "kind": "selector",
        "select": lambda s, y, size, seed: CCP.dbp_select(
            np.c_[s, np.ones(len(s))], size, k=min(4, len(s)), seed=seed, num_neighbors=1, minimum=0
        )[0],
        "resamples": False,
    },
    "concept-complexity-data-pruning:ssp": {
        "kind": "selector",
        "select": lambda s, y, size, seed: CCP.ssp_select(
            np.c_[s, np.ones(len(s))], size, k=min(4, len(s)), seed=seed
        ),
        "resamples": False,
    },
    "pretrain-then-mix:temperature-weights": {"kind": "weights", "weights": _temperature_weights},
    "pretrain-then-mix:uniform-at-t1": {
        "kind": "weights",
        "weights": lambda x, y, seed: _temperature_weights(x, y, seed, T=1.0),
    },
    "dpp-weighted-least-squares:projection-dpp": {
        "kind": "selector",
        "select": _dpp_select,
        "resamples": False,
    },
    "active-mtrl-lasso:l1-allocation": {  # each class a task, |mean score| its relevance
        "kind": "selector",
        "select": lambda s, y, size, seed: AM.select_by_relevance(s, y, size, seed),
        "resamples": False,
    },
    "kmeans-diversity-selection:proportional": {  # k-means of the scores as 1-d embeddings, then quotas
        "kind": "selector",
        "select": lambda s, y, size, seed: KD.static_select(
            KD.kmeans(np.asarray(s)[:, None], min(4, len(s)), seed)[0], size, seed
        ),
        "resamples": False,
    },
    "baseline:random": {
        "kind": "selector",
        "select": lambda s, y, size, seed: sel.random_subset(len(s), size, seed),
        "resamples": False,
    },
    "baseline:weighted-resample": {
        "kind": "selector",
        "select": lambda s, y, size, seed: sel.weighted_resample(s + 0.1, size, seed, replace=True),
        "resamples": True,
    },
    "baseline:gumbel-top-k": {
        "kind": "selector",
        "select": lambda s, y, size, seed: sel.weighted_resample(s + 0.1, size, seed, replace=False),
        "resamples": False,
    },
    "coreset-reweighting:cw-erm-weights": {"kind": "weights", "weights": _cw_erm_weights},
    "baseline:uniform-weights": {"kind": "weights", "weights": lambda x, y, seed: np.full(len(y), 3.0)},
}
EXEMPT = {
    "pca-dataset-compression": "a storage format (2× downscaled images tiled four per slot, decoded at training "
    "time) around a fixed-count-per-class selection of the easiest examples; neither a score of a model, a "
    "selector of an arbitrary size nor loss weights (its selection is tested in its own file)",
}

N, D, C = 20, 4, 3
RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(N, D)), RNG.integers(0, C, size=N)


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(D, 6, dtype=np.float64, rng=rng), nn.ReLU(), nn.Linear(6, C, dtype=np.float64, rng=rng)
    )


def _kind(k):
    return lambda a: a["kind"] == k


@pytest.mark.parametrize("key,adapter", params(FAMILY, CONTRACTS, EXEMPT, where=_kind("scorer")))
def test_scorers_give_one_finite_nonnegative_score_per_example(key, adapter):
    model = _model()
    s = np.asarray(adapter["score"](model, X, Y))
    assert s.shape == (N,), key
    assert np.all(np.isfinite(s)) and np.all(s >= 0), key
    np.testing.assert_array_equal(s, adapter["score"](model, X, Y))


@pytest.mark.parametrize("key,adapter", params(FAMILY, CONTRACTS, EXEMPT, where=_kind("selector")))
@pytest.mark.parametrize("size", [1, 7, 15])  # (data-pruning-scaling keeps at least one)
def test_selectors_return_the_requested_size(key, adapter, size):
    s = np.random.default_rng(1).uniform(size=N)
    idx = np.asarray(adapter["select"](s, Y, size, 3))
    assert idx.shape == (size,) and idx.dtype.kind == "i", key
    assert np.all((idx >= 0) & (idx < N)) and np.all(np.diff(idx) >= 0), key
    if not adapter["resamples"]:
        assert len(set(idx.tolist())) == size, f"{key}: repeats without resampling"
    np.testing.assert_array_equal(idx, adapter["select"](s, Y, size, 3))


@pytest.mark.parametrize("key,adapter", params(FAMILY, CONTRACTS, EXEMPT, where=_kind("weights")))
def test_weights_are_valid_and_uniform_is_erm(key, adapter):
    w = np.asarray(adapter["weights"](X, Y, 0), dtype=float)
    assert w.shape == (N,) and np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0, key
    if np.all(w == w[0]):
        a, b = _model(), _model()
        fit(
            a,
            F.cross_entropy,
            (X, Y),
            SGD(a.parameters(), lr=0.2),
            3,
            batch_size=6,
            progress=False,
            sample_weight=w,
        )
        fit(b, F.cross_entropy, (X, Y), SGD(b.parameters(), lr=0.2), 3, batch_size=6, progress=False)
        for p, q in zip(a.parameters(), b.parameters()):
            np.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-14, err_msg=key)
