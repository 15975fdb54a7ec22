"""SNNK: reference cases, the feature maps against plain NumPy, the random-feature identity by Gauss–Hermite
quadrature, the closed-form variance against simulation, Monte Carlo convergence to the exact layer, float64
gradient checks, bad input, the quick run and the recorded result."""

import math

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import snnk as S
from refimpl.techniques.architectures.snnk.cases import reference_cases

SLUG = "snnk"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_features_match_numpy():
    rng = np.random.default_rng(0)
    X, G = rng.normal(size=(2, 3, 5)), rng.normal(size=(7, 5))
    P = X @ G.T
    np.testing.assert_allclose(
        S.features(X, G, "exp").data, np.exp(P - 0.5 * (X**2).sum(-1, keepdims=True)) / np.sqrt(7), rtol=1e-12
    )
    np.testing.assert_allclose(S.features(X, G, "relu").data, np.maximum(P, 0) / np.sqrt(7), rtol=1e-12)


def test_prf_identity_by_gauss_hermite_quadrature():
    """E_ω[φ(x,ω) ψ(w,ω)] = exp(xw) in d = 1: put the quadrature nodes in G (ω = √2 t_k, weight w_k/√π) and undo
    the 1/m scale — the sum is exact to quadrature precision, an independent check of the feature map."""
    t, wk = np.polynomial.hermite.hermgauss(80)
    G = (np.sqrt(2) * t)[:, None]
    m = len(t)
    for x, w in [(0.7, -0.4), (1.2, 0.9), (-1.0, -0.5)]:
        prod = S.features([[x]], G).data[0] * S.features([[w]], G).data[0] * m
        assert np.sum(wk / np.sqrt(np.pi) * prod) == pytest.approx(math.exp(x * w), rel=1e-10)


def test_single_feature_variance_matches_closed_form():
    """Var[φψ] = e^{2xᵀw}(e^{‖x+w‖²} − 1): the reason the error falls as 1/√m."""
    x, w = np.array([[0.5, -0.3, 0.2]]), np.array([[0.1, 0.4, -0.2]])
    G = S.draw_omegas(400_000, 3, 0)
    est = (S.features(x, G).data * S.features(w, G).data)[0] * len(G)  # one-sample estimates
    xw = (x @ w.T).item()
    pred = math.exp(2 * xw) * (math.exp(float(np.sum((x + w) ** 2))) - 1)
    assert est.mean() == pytest.approx(math.exp(xw), rel=5e-3)
    assert est.var() == pytest.approx(pred, rel=3e-2)


@pytest.mark.parametrize("kind", S.KINDS)
def test_monte_carlo_estimate_converges_to_the_exact_layer(kind):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.normal(size=(3, 4)) / 4  # ‖x + w‖ moderate: the PRF variance grows like exp(‖x + w‖²)
    exact = S.exact_layer(X, W, kind)
    errs = [np.abs(S.snnk(X, W, S.draw_omegas(m, 4, 2), kind).data - exact).max() for m in (100, 100_000)]
    assert errs[1] < 0.03 * np.abs(exact).max() and errs[1] < errs[0]


def test_snnk_layer_at_init_estimates_the_exp_layer_with_the_same_weights():
    lay = S.SNNKLayer(5, 3, 200_000, rng=0, dtype=np.float64)
    ref = S.ExpLayer(5, 3, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(lay.W0, ref.weight.data)
    x = np.random.default_rng(3).normal(size=(4, 5))
    np.testing.assert_allclose(lay(x).data, ref(x).data, rtol=0.05)


@pytest.mark.parametrize("kind", S.KINDS)
def test_features_gradcheck_float64(kind):
    rng = np.random.default_rng(4)
    G = rng.normal(size=(6, 3))
    X = rng.normal(size=(4, 3)) + (0.5 if kind == "relu" else 0.0)
    assert gradcheck(lambda x: S.features(x, G, kind), X, mode="random", n_directions=6)


def test_layer_and_net_gradcheck_float64():
    lay = S.SNNKLayer(4, 3, 5, rng=1, dtype=np.float64)
    assert gradcheck(lambda x: lay(x), np.random.default_rng(5).normal(size=(3, 4)))
    net = S.Net(4, 5, 3, rng=2, dtype=np.float64)
    assert gradcheck(lambda x: net(x), np.random.default_rng(6).normal(size=(3, 4)))
    rng = np.random.default_rng(7)
    X, W = (Tensor(rng.normal(size=s), requires_grad=True) for s in [(3, 4), (2, 4)])
    G = rng.normal(size=(5, 4))
    assert gradcheck(lambda x, w: S.snnk(x, w, G), X, W)


def test_every_parameter_gets_a_gradient_and_params_are_fewer_than_the_layer_it_replaces():
    snet, mnet = S.Net(16, 32, 8, rng=0), S.Net(16, 32, None, rng=0)
    y = snet(np.random.default_rng(8).normal(size=(5, 16)).astype(np.float32))
    y.backward(np.random.default_rng(9).normal(size=y.shape))
    assert all(np.any(p.grad) for p in snet.parameters())
    assert snet.mid.psi.data.size == 32 * 8 and mnet.mid.weight.data.size == 32 * 32


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="kind"):
        S.features(np.ones((1, 2)), np.eye(2), "tanh")
    with pytest.raises(ValueError, match="`X`"):
        S.features(np.ones((1, 3)), np.eye(2))
    with pytest.raises(ValueError, match="`W`"):
        S.snnk(np.ones((1, 2)), np.ones(2), np.eye(2))
    with pytest.raises(ValueError, match="`m`"):
        S.SNNKLayer(2, 2, 0)
    with pytest.raises(ValueError, match="`d`"):
        S.draw_omegas(3, 0)


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {
        "prf-m16",
        "prf-m256",
        "mlp",
        "snnk-m8",
        "mlp-small",
        "ridge",
    }


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claims(r, method, baseline):
    return [c for c in r.claims if c["method"] == method and c["baseline"] == baseline]


def test_full_run_error_falls_at_the_monte_carlo_rate():
    """Measured: log error(256) − log error(16) is within 0.3 of −log 4 on average (the lower one-sided claim holds,
    the upper one was inconclusive over 5 seeds)."""
    r = full()
    assert len(r.seeds) == 5
    lower, upper = (c["interval"] for c in _claims(r, "prf-m256", "prf-m16"))
    assert lower["low"] > -math.log(4) - 0.3
    assert abs(upper["mean"] + math.log(4)) < 0.3


def test_full_run_snnk_network_is_close_to_the_original_with_about_half_the_parameters():
    """The paper's 'competitive with fewer parameters' at a 0.05 margin was inconclusive here; what was measured:
    the SNNK network's test NMSE is not worse than the original's by more than 0.1 (interval high end), with
    ≤ 55 % of its trainable parameters."""
    r = full()
    (c,) = _claims(r, "snnk-m8", "mlp")
    assert c["interval"]["high"] < 0.1
    n = {row["method"]: row["n_params"] for row in r.table if "n_params" in row}
    assert n["snnk-m8"] <= 0.55 * n["mlp"]


def test_full_run_snnk_and_the_narrower_mlp_are_not_separated():
    """Measured: at about equal parameter count, the paired interval of snnk-m8 − mlp-small contains 0."""
    (c,) = _claims(full(), "snnk-m8", "mlp-small")
    assert c["interval"]["low"] < 0.0 < c["interval"]["high"]
