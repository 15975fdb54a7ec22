"""Tunable convolutions: reference cases, the tunable convolution against a brute-force NumPy loop, its
affinity in ω, float64 gradient checks, simplex sampling, the multi-loss, bad input, the quick run and the
recorded result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import tunable_convolutions as T
from refimpl.techniques.architectures.tunable_convolutions.cases import reference_cases

SLUG = "tunable-convolutions"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def brute_conv1d(x, K, b, pad):
    """Cross-correlation by explicit loops (the independent oracle)."""
    N, C, L = x.shape
    O, _, k = K.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    y = np.zeros((N, O, L + 2 * pad - k + 1))
    for n in range(N):
        for o in range(O):
            for i in range(y.shape[2]):
                y[n, o, i] = np.sum(xp[n, :, i : i + k] * K[o]) + b[o]
    return y


def test_tunable_conv_matches_brute_force_mixture():
    rng = np.random.default_rng(0)
    x, K, b = rng.normal(size=(2, 3, 9)), rng.normal(size=(3, 4, 3, 5)), rng.normal(size=(3, 4))
    w = np.array([0.2, 0.5, 0.3])
    Kw, bw = np.tensordot(w, K, axes=1), w @ b
    np.testing.assert_allclose(
        T.tunable_conv1d(x, K, b, w, padding=2).data, brute_conv1d(x, Kw, bw, 2), atol=1e-12
    )
    # the same as mixing the P outputs (linearity in the kernel): one convolution instead of P
    per = sum(w[p] * brute_conv1d(x, K[p], b[p], 2) for p in range(3))
    np.testing.assert_allclose(T.tunable_conv1d(x, K, b, w, padding=2).data, per, atol=1e-12)


def test_vertex_uses_only_its_kernel_set():
    rng = np.random.default_rng(1)
    x, K, b = rng.normal(size=(1, 2, 7)), rng.normal(size=(2, 3, 2, 3)), rng.normal(size=(2, 3))
    y = T.tunable_conv1d(x, Tensor(K, requires_grad=True), b, [0.0, 1.0], padding=1)
    np.testing.assert_allclose(y.data, brute_conv1d(x, K[1], b[1], 1), atol=1e-12)
    Kt = Tensor(K, requires_grad=True)
    T.tunable_conv1d(x, Kt, b, [0.0, 1.0], padding=1).sum().backward()
    assert np.all(Kt.grad[0] == 0) and np.abs(Kt.grad[1]).max() > 0


def test_tunable_conv_gradcheck_float64():
    rng = np.random.default_rng(2)
    x, K, b = (Tensor(rng.normal(size=s), requires_grad=True) for s in [(2, 2, 6), (2, 3, 2, 3), (2, 3)])
    assert gradcheck(lambda x, K, b: T.tunable_conv1d(x, K, b, [0.3, 0.7], padding=1), x, K, b)


def test_denoiser_gradcheck_float64_and_p1_is_an_ordinary_net():
    m = T.TunableDenoiser(3, 3, 2, rng=0, dtype=np.float64)
    x = np.random.default_rng(3).normal(size=(2, 8))
    assert gradcheck(lambda t: m(t, [0.4, 0.6]), x, mode="random", n_directions=6)
    one = T.TunableDenoiser(3, 3, 1, rng=0, dtype=np.float64)
    h = np.maximum(brute_conv1d(x[:, None], one.c1.kernels.data[0], one.c1.biases.data[0], 1), 0)
    h = np.maximum(brute_conv1d(h, one.c2.kernels.data[0], one.c2.biases.data[0], 1), 0)
    expect = x + brute_conv1d(h, one.c3.kernels.data[0], one.c3.biases.data[0], 1)[:, 0]
    np.testing.assert_allclose(one(x).data, expect, atol=1e-12)


def test_sample_simplex_is_uniform_on_the_simplex():
    w = T.sample_simplex(0, 3, size=20000)
    assert w.shape == (20000, 3) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    # flat Dirichlet(1, 1, 1): mean 1/3, variance (1/3)(2/3)/4 = 1/18, P(w₁ > ½) = (1 − ½)² = ¼
    np.testing.assert_allclose(w.mean(0), 1 / 3, atol=0.01)
    np.testing.assert_allclose(w.var(0), 1 / 18, atol=0.003)
    assert abs(np.mean(w[:, 0] > 0.5) - 0.25) < 0.015


def test_multi_loss_gradient_is_the_weights():
    ls = [Tensor(np.array(v), requires_grad=True) for v in (1.0, 4.0)]
    T.multi_loss(ls, [0.25, 0.75]).backward()
    assert [float(v.grad) for v in ls] == [0.25, 0.75]


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`omega`.*simplex"):
        T.mix(np.ones((2, 3)), [0.6, 0.6])
    with pytest.raises(ValueError, match="`omega` must have P = 2"):
        T.mix(np.ones((2, 3)), [1.0])
    with pytest.raises(ValueError, match="`kernels`"):
        T.tunable_conv1d(np.ones((1, 1, 4)), np.ones((2, 1, 3)), np.ones((2, 1)), [0.5, 0.5])
    with pytest.raises(ValueError, match="`k`"):
        T.TunableConv1d(1, 1, 4, 2)
    with pytest.raises(ValueError, match="`P`"):
        T.sample_simplex(0, 0)
    with pytest.raises(ValueError, match="`x`"):
        T.TunableDenoiser(rng=0)(np.ones((2, 3, 4)))


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"tunable", "separate", "single-1/2", "input-cond"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _interval(r, baseline):
    (c,) = [c for c in r.claims if c["method"] == "tunable" and c["baseline"] == baseline]
    return c["interval"]


def _col(r, method, metric):
    return np.array([row[metric] for row in r.table if row["method"] == method])


def test_full_run_premise_objectives_conflict():
    r = full()
    assert len(r.seeds) == 5
    assert all(p["present"] for p in r.premises)


def test_full_run_tunable_falls_short_of_separate_networks_by_more_than_5_percent():
    """Measured contradiction with the paper's 'on par' claim on this toy and budget (300 steps per network):
    the interval of tunable − separate lies wholly above the 5 % margin."""
    assert _interval(full(), "separate")["low"] > 0.05


def test_full_run_tunable_does_not_beat_input_conditioning_or_the_single_network():
    """Measured contradiction: on this toy the tunable network's mean log-objective over the controls is
    higher (worse) than both input conditioning's and the untunable network's."""
    r = full()
    assert _interval(r, "input-cond")["low"] > 0.0
    assert _interval(r, "single-1/2")["low"] > 0.0


def test_full_run_omega_controls_the_trade_off():
    """What the tunable network does deliver: moving ω from the fidelity vertex to the smoothness vertex lowers
    the smoothness objective and raises the fidelity loss, on every seed."""
    r = full()
    assert np.all(_col(r, "tunable", "test_L2_a0") < _col(r, "tunable", "test_L2_a1"))
    assert np.all(_col(r, "tunable", "test_L1_a1") < _col(r, "tunable", "test_L1_a0"))
