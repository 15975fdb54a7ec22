"""Corrupted modular addition: the reference cases; the hand-written backward against finite differences (float64);
the IPR against a direct DFT sum; the random-weights IPR by simulation; pruning removes exactly the lowest-IPR
neurons; bad input; the recorded run."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.theory_dynamics import grok_corrupted_modular as GC
from refimpl.techniques.theory_dynamics.grok_corrupted_modular.cases import reference_cases

SLUG = "grok-corrupted-modular"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_backward_against_finite_differences():
    rng = np.random.default_rng(0)
    p, width = 5, 4
    params = GC.init_params(p, width, 1)
    X = GC.one_hot_pairs(rng.integers(0, p, 7), rng.integers(0, p, 7), p)
    y = rng.integers(0, p, 7)

    def loss(prm):
        logits, cache = GC.forward(prm, X)
        return GC.backward(prm, cache, logits, y)[0]

    logits, cache = GC.forward(params, X)
    _, grads = GC.backward(params, cache, logits, y)
    for k in ("W1", "W2"):
        num = np.zeros_like(params[k])
        for idx in np.ndindex(params[k].shape):
            up = {n: v.copy() for n, v in params.items()}
            dn = {n: v.copy() for n, v in params.items()}
            up[k][idx] += 1e-6
            dn[k][idx] -= 1e-6
            num[idx] = (loss(up) - loss(dn)) / 2e-6
        np.testing.assert_allclose(grads[k], num, rtol=1e-6, atol=1e-9)


def test_ipr_against_a_direct_dft():
    p = 7
    w = np.random.default_rng(2).normal(size=(3, 2 * p))
    ks = np.arange(1, p // 2 + 1)
    expected = []
    for row in w:
        vals = []
        for half in (row[:p], row[p:]):
            P = np.array([abs(np.sum(half * np.exp(-2j * np.pi * k * np.arange(p) / p))) ** 2 for k in ks])
            vals.append(np.sum(P**2) / np.sum(P) ** 2)
        expected.append(np.mean(vals))
    np.testing.assert_allclose(GC.ipr(w, p), expected, rtol=1e-12)


def test_random_weights_ipr_by_simulation():
    w = np.random.default_rng(3).normal(size=(20_000, 2 * 31))
    assert GC.ipr(w, 31).mean() == pytest.approx(GC.random_ipr(31), rel=0.01)


def test_pruning_removes_the_lowest_ipr_neurons():
    p = 7
    rng = np.random.default_rng(4)
    a = np.arange(p)
    periodic = np.concatenate([np.cos(2 * np.pi * a / p), np.cos(2 * np.pi * a / p)])
    W1 = np.vstack([periodic, rng.normal(size=2 * p), periodic * 2, rng.normal(size=2 * p)])
    keep = GC.prune_lowest_ipr({"W1": W1, "W2": np.ones((p, 4))}, p, 0.5)
    np.testing.assert_array_equal(keep, [1, 0, 1, 0])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`xi`"):
        GC.modular_addition_data(7, 0.5, 0.2, 1.0, 0)
    with pytest.raises(ValueError, match="`train_fraction`"):
        GC.modular_addition_data(7, 0.9, 0.2, 0.1, 0)
    with pytest.raises(ValueError, match="`W1`"):
        GC.ipr(np.ones((2, 5)), 7)
    with pytest.raises(ValueError, match="no power"):
        GC.ipr(np.ones((1, 14)), 7)
    with pytest.raises(ValueError, match="`p` must be odd"):
        GC.random_ipr(8)
    with pytest.raises(ValueError, match="`fraction`"):
        GC.prune_lowest_ipr({"W1": np.eye(2, 14), "W2": np.ones((7, 2))}, 7, 1.0)


def test_recorded_full_run():
    """On the recorded per-seed numbers: without weight decay every seed memorizes more than 90 % of the corrupted
    labels; with the selected weight decay every seed's test accuracy is above Adam's."""
    assert freshness(SLUG) == "fresh"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 3
    assert min(r.values("Adam", "corrupted_memorized")) > 0.9
    assert all(w > a for w, a in zip(r.values("AdamW", "test_accuracy"), r.values("Adam", "test_accuracy")))
