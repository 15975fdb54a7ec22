"""Discrete Key-Value Bottleneck: reference cases, the lookup against brute force, the value gradient against
float64 finite differences (and its exact zeros), frozen keys under training, bad input, the quick run and the
recorded full result."""

import numpy as np
import pytest

from refimpl import gradcheck, optim
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.techniques.architectures import dkvb as D
from refimpl.techniques.architectures.dkvb.cases import reference_cases
from refimpl.techniques.architectures.dkvb.experiment import METHODS

SLUG = "dkvb"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _layer(seed=0, C=3, M=5, d_key=2, m=4, dv=6):
    rng = np.random.default_rng(seed)
    P = D.random_projections(C, d_key, m, [seed, 1])
    keys = rng.standard_normal((C, M, d_key))
    return D.DiscreteKeyValueBottleneck(P, keys, dv, value_scale=1.0, rng=[seed, 2], dtype=np.float64)


def test_nearest_keys_match_a_brute_force_loop():
    rng = np.random.default_rng(1)
    h, keys = rng.standard_normal((7, 3, 2)), rng.standard_normal((3, 4, 2))
    j = D.nearest_keys(h, keys)
    for n in range(7):
        for c in range(3):
            d = [float(np.dot(h[n, c] - k, h[n, c] - k)) for k in keys[c]]
            assert j[n, c] == d.index(min(d))


def test_output_is_the_mean_of_the_selected_values():
    layer = _layer()
    z = np.random.default_rng(2).standard_normal((5, 4))
    j = layer.select(z)
    expected = np.mean([[layer.values.data[c, j[n, c]] for c in range(3)] for n in range(5)], axis=1)
    np.testing.assert_allclose(layer(Tensor(z)).data, expected, rtol=1e-12)


def test_value_gradient_matches_finite_differences_and_is_zero_off_the_selection():
    """float64 central differences of a cross-entropy loss w.r.t. the values (the only parameters)."""
    layer = _layer(seed=3)
    z, y = np.random.default_rng(4).standard_normal((6, 4)), np.array([0, 1, 2, 3, 4, 5])
    v0 = layer.values.data.copy()

    def fn(v):
        layer.values.data[...] = v.data
        S = D.selection(layer.select(z), 3, 5)
        return F.cross_entropy(D.retrieve(S, v), y)

    assert gradcheck(fn, Tensor(v0.copy(), requires_grad=True), mode="full")
    layer.values.data[...] = v0
    layer.values.grad = None
    F.cross_entropy(layer(Tensor(z)), y).backward()
    used = np.zeros((3, 5), bool)
    used[np.arange(3)[None, :].repeat(6, 0), layer.select(z)] = True
    g = np.abs(layer.values.grad).sum(-1)
    assert np.all(g[~used] == 0.0) and np.all(g[used] > 0)


def test_sgd_training_moves_only_selected_values_and_never_the_keys():
    layer = _layer(seed=7)
    keys0, v0 = layer.keys.copy(), layer.values.data.copy()
    z, y = np.random.default_rng(8).standard_normal((2, 4)), np.array([1, 4])
    opt = optim.SGD(layer.parameters(), lr=0.5, momentum=0.0)
    F.cross_entropy(layer(Tensor(z)), y).backward()
    opt.step()
    moved = np.abs(layer.values.data - v0).sum(-1) > 0
    used = np.zeros((3, 5), bool)
    used[np.arange(3)[None, :].repeat(2, 0), layer.select(z)] = True
    np.testing.assert_array_equal(moved, used)
    np.testing.assert_array_equal(layer.keys, keys0)


def test_fit_keys_puts_every_key_on_its_clusters_mean():
    rng = np.random.default_rng(9)
    z = rng.standard_normal((60, 5))
    P = D.random_projections(2, 3, 5, 0)
    keys = D.fit_keys(z, P, 4, seed=0)
    h = D.project(z, P)
    j = D.nearest_keys(h, keys)
    for c in range(2):
        for k in np.unique(j[:, c]):
            np.testing.assert_allclose(keys[c, k], h[j[:, c] == k, c].mean(0), atol=1e-10)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`keys`"):
        D.nearest_keys(np.zeros((2, 3, 2)), np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="`P`"):
        D.project(np.zeros((2, 4)), np.zeros((3, 2, 5)))
    with pytest.raises(ValueError, match="`M`"):
        D.kmeans(np.zeros((3, 2)), 5)
    with pytest.raises(ValueError, match="`decay`"):
        D.ema_key_update(np.zeros((1, 2, 2)), np.zeros((1, 1, 2)), np.zeros((1, 1), int), 1.0)
    with pytest.raises(ValueError, match="`d_value`"):
        D.DiscreteKeyValueBottleneck(np.zeros((1, 2, 3)), np.zeros((1, 4, 2)), 0)
    with pytest.raises(ValueError, match="`C`"):
        D.random_projections(0, 2, 3, 0)


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == set(METHODS)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, method, baseline, metric="test_accuracy"):
    (c,) = [
        c for c in r.claims if c["method"] == method and c["baseline"] == baseline and c["metric"] == metric
    ]
    return c["interval"]


def test_full_run_has_five_seeds():
    r = full()
    assert len(r.seeds) == 5 and all(c["interval"]["n"] == 5 for c in r.claims)


def test_full_run_the_linear_probe_forgets_on_every_seed():
    """The premise on the recorded numbers: sequential fine-tuning without replay loses most of each old task."""
    r = full()
    forgetting = [row["test_forgetting"] for row in r.table if row["method"] == "linear probe"]
    assert len(forgetting) == 5 and min(forgetting) > 0.5


def test_full_run_dkvb_beats_sequential_heads_and_forgets_less():
    """The paper's claim (Sec. 4, class-incremental without replay): higher final average accuracy than the
    sequentially trained heads and much less forgetting, by the margins fixed before the run."""
    r = full()
    assert _claim(r, "DKVB", "linear probe")["low"] > 0.10
    assert _claim(r, "DKVB", "MLP head")["low"] > 0.10
    assert _claim(r, "DKVB", "linear probe", "test_forgetting")["high"] < -0.20


def test_full_run_frozen_keys_beat_keys_that_keep_learning():
    r = full()
    assert _claim(r, "DKVB", "DKVB keys learned")["low"] > 0.0
    drift = [row["key_drift"] for row in r.table if row["method"] == "DKVB keys learned"]
    assert min(drift) > 0  # the ablation's keys really moved (the frozen ones cannot: key_drift is 0)
