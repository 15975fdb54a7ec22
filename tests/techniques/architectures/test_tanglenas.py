"""TangleNAS: reference cases, superposition = output mixture of the sliced candidates (brute force), float64
gradient checks of both supernets, parameter counts, the bilevel search's α update, bad input, the quick run and
the recorded result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import tanglenas as T
from refimpl.techniques.architectures.tanglenas.cases import reference_cases

SLUG = "tanglenas"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def softmax(a):
    e = np.exp(a - a.max())
    return e / e.sum()


def test_superposed_layer_equals_the_mixture_of_sliced_candidates_brute_force():
    rng = np.random.default_rng(0)
    widths = (2, 3, 5, 8)
    W, b, x, a = rng.normal(size=(8, 6)), rng.normal(size=8), rng.normal(size=(7, 6)), rng.normal(size=4)
    p = softmax(a)
    expect = np.zeros((7, 8))
    for pi, w in zip(p, widths):  # one forward pass per candidate, each zero-padded to 8 units
        expect[:, :w] += pi * np.maximum(x @ W[:w].T + b[:w], 0.0)
    np.testing.assert_allclose(T.entangled_layer(x, W, b, widths, a).data, expect, rtol=1e-12, atol=1e-12)
    # and it is the separate-candidate DARTS op whose candidates happen to be the slices
    sep = T.mixed_outputs(x, [W[:w] for w in widths], [b[:w] for w in widths], a).data
    np.testing.assert_allclose(sep, expect, rtol=1e-12, atol=1e-12)


def test_superposed_weight_scales_row_j_by_the_mass_of_candidates_containing_it():
    rng = np.random.default_rng(1)
    W, a = rng.normal(size=(5, 3)), rng.normal(size=3)
    p = softmax(a)
    m = np.array([p[[w > j for w in (1, 3, 5)]].sum() for j in range(5)])
    np.testing.assert_allclose(T.superpose(W, (1, 3, 5), a).data, m[:, None] * W, rtol=1e-12)


@pytest.mark.parametrize("mode", T.MODES)
def test_supernet_gradcheck_float64_input_weights_and_alpha(mode):
    m = T.SuperMLP(4, (1, 2, 3), 2, 2, mode=mode, rng=0, dtype=np.float64)
    x = Tensor(np.random.default_rng(2).normal(size=(3, 4)), requires_grad=True)
    assert gradcheck(lambda x: m(x), x)
    c = m.choice0
    if mode == "entangled":
        assert gradcheck(lambda W, a: T.entangled_layer(x.data, W, c.bias, c.widths, a), c.weight, c.alpha)
    else:
        assert gradcheck(lambda a: c(x.data), c.alpha)


def test_parameter_counts_entangled_hold_only_the_widest_candidate():
    e = T.SuperMLP(64, (4, 8, 16, 32), 10, 2, mode="entangled", rng=0)
    s = T.SuperMLP(64, (4, 8, 16, 32), 10, 2, mode="separate", rng=0)
    widest = 32 * 64 + 32 + 32 * 32 + 32 + 32 * 10 + 10  # = the (32, 32) MLP
    assert e.num_weights() == widest == T.MLP(64, (32, 32), 10).num_parameters()
    assert s.num_weights() == 60 * 64 + 60 + 60 * 32 + 60 + 32 * 10 + 10  # Σ widths = 60 per layer


def test_alpha_step_moves_towards_the_better_candidate_and_discretize_reads_argmax():
    m = T.SuperMLP(3, (1, 2), 2, 1, rng=0, dtype=np.float64)
    m.choice0.alpha.data[:] = [0.0, 2.0]
    assert T.discretize(m) == (2,)
    with pytest.raises(TypeError, match="model"):
        T.discretize(object())


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="widths"):
        T.superpose(np.ones((3, 2)), (2, 1), np.zeros(2))
    with pytest.raises(ValueError, match="widths"):
        T.superpose(np.ones((3, 2)), (1, 4), np.zeros(2))
    with pytest.raises(ValueError, match="alpha"):
        T.superpose(np.ones((3, 2)), (1, 3), np.zeros(3))
    with pytest.raises(ValueError, match="`w`"):
        T.pad_slice(np.ones((3, 2)), 4)
    with pytest.raises(ValueError, match="mode"):
        T.WidthChoice(2, (1, 2), mode="both")
    with pytest.raises(ValueError, match="depth"):
        T.SuperMLP(2, (1, 2), 2, 0)
    with pytest.raises(ValueError, match="`Ws`"):
        T.mixed_outputs(np.ones((1, 2)), [np.ones((1, 2))], [], np.zeros(1))


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == set(
        ["tanglenas", "darts-separate", "random-search", "fixed-smallest", "fixed-largest"]
    )


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _interval(r, baseline):
    (c,) = [c for c in r.claims if c["method"] == "tanglenas" and c["baseline"] == baseline]
    return c["interval"]


def _col(r, method, metric):
    return np.array([row[metric] for row in r.table if row["method"] == method])


def test_full_run_entangled_supernet_holds_fewer_weights():
    r = full()
    assert len(r.seeds) == 5
    assert np.all(
        _col(r, "tanglenas", "supernet_weights") < 0.6 * _col(r, "darts-separate", "supernet_weights")
    )


def test_full_run_tanglenas_is_within_one_point_of_separate_darts():
    assert _interval(full(), "darts-separate")["low"] > -0.01
