"""The merging-averaging family's contract over the registry (the form: `tests/techniques/contracts.py`).

An adapter is {"merge": (states, anchor) → the merge of a list of MLP state dicts (with a pretrained
`anchor` for the methods that need one), and "predict": state → outputs} for a method that merges in output
space (an ensemble), without "predict" for one that merges weights.  Every merge must give

* one model → itself (its weights, or its outputs for an output-space merge);
* identical models → the same weights (or outputs).

The merge coefficients are the ones under which the method claims these limits: task arithmetic with
λ = 1/n, one EWA step with any β, any convex ensemble or aggregation weights.
"""

from collections import OrderedDict

import numpy as np
import pytest
from contracts import family_slugs, params

from refimpl import catalog
from refimpl.techniques.merging_averaging import adamerging as am
from refimpl.techniques.merging_averaging import concat_seed_representations as csr
from refimpl.techniques.merging_averaging import experts_weights_averaging as ewa
from refimpl.techniques.merging_averaging import model_soups as ms
from refimpl.techniques.merging_averaging import model_stock as mst
from refimpl.techniques.merging_averaging import optimal_ensemble_qp as oe
from refimpl.techniques.merging_averaging import quantile_aggregation as qa
from refimpl.techniques.merging_averaging import reversible_model_merging as rmm
from refimpl.techniques.merging_averaging import sn_netv2_stitching as sn
from refimpl.techniques.merging_averaging import weight_matching_lmc as wm
from refimpl.techniques.merging_averaging.state import average, evaluate_state, mlp_forward

FAMILY = "merging-averaging"
SIZES = [4, 6, 5, 3]
X = np.random.default_rng(10).standard_normal((9, SIZES[0]))
Y = np.arange(9) % SIZES[-1]


def _mlp_state(seed):
    rng = np.random.default_rng(seed)
    sd = OrderedDict()
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        sd[f"{2 * i}.weight"] = rng.standard_normal((b, a))
        sd[f"{2 * i}.bias"] = rng.standard_normal(b)
    return sd


MODEL, ANCHOR = _mlp_state(0), _mlp_state(1)


def _per_tensor(fn):
    """A merge of equally shaped arrays applied to every tensor of the state dicts."""
    return lambda states, anchor: OrderedDict((k, fn([s[k] for s in states])) for k in states[0])


def _weight_matching(states, anchor):
    """Permute every model's hidden units to match the first one, then average."""
    ref = states[0]
    return average([ref] + [wm.permute_state(s, wm.weight_matching(ref, s)) for s in states[1:]])


def _task_arithmetic(granularity):
    def merge(states, anchor):
        taus = [am.task_vector(s, anchor) for s in states]
        n = len(states)
        lam = np.full(n, 1.0 / n) if granularity == "task" else np.full((len(anchor), n), 1.0 / n)
        return am.merged_encoder(anchor, taus, lam, granularity)

    return merge


def _optimal_ensemble(states, anchor):
    P = np.column_stack([_regression(s) for s in states])
    w = oe.ensemble_weights(P, np.random.default_rng(3).standard_normal(len(X)))
    return P @ w


def _reversible_first_task(states, anchor):
    """RMM of the task vectors with one basis model, reverted to the first task."""
    taus = [OrderedDict((k, s[k] - anchor[k]) for k in anchor) for s in states]
    rec = rmm.reconstruct(rmm.reversible_merge(taus, 1), 0)
    return OrderedDict((k, anchor[k] + rec[k]) for k in anchor)


def _stitch_first_to_last(states, anchor):
    pair = (states[0], states[-1])
    stitches = sn.init_stitches(pair, X, len(SIZES) - 2, "ls")
    return sn.stitched_forward(pair, stitches, ((0, 0, 1), (1, 1, len(SIZES) - 2)), X)


def _regression(sd):
    return mlp_forward(sd, X)[:, 0]  # the first output as a regression model's prediction


def _quantile_aggregation(shape):
    def merge(states, anchor):
        Q = np.stack([mlp_forward(s, X) for s in states], axis=1)  # (n, K models, T "quantiles")
        k, t = len(states), SIZES[-1]
        dims = {"coarse": (k,), "medium": (k, t), "local": (len(X), k, t)}[shape]
        return qa.aggregate(Q, np.random.default_rng(4).standard_normal(dims))

    return merge


CONTRACTS = {
    "adamerging:task-wise": {"merge": _task_arithmetic("task")},
    "adamerging:layer-wise": {"merge": _task_arithmetic("layer")},
    # the concatenated representation read by the concatenated heads ([W_1..W_n]/n): an output-space merge
    "concat-seed-representations": {
        "merge": lambda states, anchor: csr.ensemble_logits(states, X),
        "predict": lambda sd: mlp_forward(sd, X),
    },
    "experts-weights-averaging:average": {"merge": _per_tensor(ewa.average_experts)},
    "experts-weights-averaging:ewa-step": {"merge": _per_tensor(lambda es: ewa.ewa_update(es, 0.3)[0])},
    "model-soups:uniform": {"merge": lambda states, anchor: ms.uniform_soup(states)},
    "model-soups:greedy": {
        "merge": lambda states, anchor: ms.greedy_soup(states, lambda s: evaluate_state(s, X, Y)["accuracy"])[
            "state"
        ]
    },
    "model-stock": {"merge": lambda states, anchor: mst.model_stock(anchor, states)["state"]},
    "optimal-ensemble-qp": {"merge": _optimal_ensemble, "predict": _regression},
    "quantile-aggregation:coarse": {
        "merge": _quantile_aggregation("coarse"),
        "predict": lambda sd: mlp_forward(sd, X),
    },
    "quantile-aggregation:medium": {
        "merge": _quantile_aggregation("medium"),
        "predict": lambda sd: mlp_forward(sd, X),
    },
    "quantile-aggregation:local": {
        "merge": _quantile_aggregation("local"),
        "predict": lambda sd: mlp_forward(sd, X),
    },
    "weight-matching-lmc": {"merge": _weight_matching},
    "reversible-model-merging": {"merge": _reversible_first_task},
    # the first model stitched to the last (S→L after block 1, least squares on X): an output-space merge
    "sn-netv2-stitching": {"merge": _stitch_first_to_last, "predict": lambda sd: mlp_forward(sd, X)},
}
EXEMPT = {}

MERGES = params(FAMILY, CONTRACTS, EXEMPT)


def _assert_is(merged, model, adapter, what):
    if "predict" in adapter:  # an output-space merge
        np.testing.assert_allclose(merged, adapter["predict"](model), rtol=0, atol=1e-12, err_msg=what)
        return
    assert list(merged) == list(model), f"{what}: keys {list(merged)}"
    for k in model:
        np.testing.assert_allclose(
            np.asarray(merged[k]), model[k], rtol=0, atol=1e-12, err_msg=f"{what}: {k}"
        )


@pytest.mark.parametrize("key, adapter", MERGES)
def test_one_model_merges_to_itself(key, adapter):
    _assert_is(adapter["merge"]([MODEL], ANCHOR), MODEL, adapter, "one model")


@pytest.mark.parametrize("key, adapter", MERGES)
def test_identical_models_merge_to_the_same_weights(key, adapter):
    _assert_is(adapter["merge"]([MODEL, MODEL, MODEL], ANCHOR), MODEL, adapter, "identical models")


def test_family_has_the_issue_techniques():
    expected = {
        "model-soups",
        "model-stock",
        "weight-matching-lmc",
        "adamerging",
        "optimal-ensemble-qp",
        "quantile-aggregation",
        "experts-weights-averaging",
    }
    assert expected <= set(family_slugs(FAMILY))


# Not a property of a merge, so not in the CONTRACTS form: it takes every technique's quick run (cached) and
# builds its plot (the registry's determinism tests check the result but never build the plot).
@pytest.mark.parametrize("slug", family_slugs(FAMILY))
def test_quick_run_plots(slug, quick_result):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    t = catalog.get(slug)
    figs = t.plot(quick_result(slug))
    assert figs and all(hasattr(f, "savefig") for f in figs.values())
    import matplotlib.pyplot as plt

    for f in figs.values():
        plt.close(f)
