"""TokenFormer: reference cases, Θ and Pattention against plain NumPy, float64 gradient checks, growth by
zero-key tokens (exact with τ frozen, τ-scaled otherwise), bad input, the quick run and the recorded result."""

import math

import numpy as np
import pytest
from scipy.special import erf

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import tokenformer as T
from refimpl.techniques.architectures.tokenformer.cases import reference_cases

SLUG = "tokenformer"


def gelu(z):
    return z * 0.5 * (1 + erf(z / np.sqrt(2)))


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("kind", T.KINDS)
def test_pattention_matches_numpy(kind):
    rng = np.random.default_rng(0)
    X, K, V = rng.normal(size=(2, 3, 5)), rng.normal(size=(7, 5)), rng.normal(size=(7, 4))
    A = X @ K.T
    if kind == "l2_norm_gelu":
        S = gelu(np.sqrt(7) * A / np.linalg.norm(A, axis=-1, keepdims=True))
    elif kind == "gelu_l2_norm":
        G = gelu(A)
        S = np.sqrt(7) * G / np.linalg.norm(G, axis=-1, keepdims=True)
    else:
        S = 7 * np.exp(A) / np.exp(A).sum(-1, keepdims=True)
    np.testing.assert_allclose(T.pattention(X, K, V, kind).data, S @ V, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind", T.KINDS)
def test_pattention_gradcheck_float64(kind):
    rng = np.random.default_rng(1)
    X, K, V = (Tensor(rng.normal(size=s), requires_grad=True) for s in [(3, 4), (5, 4), (5, 2)])
    assert gradcheck(lambda x, k, v: T.pattention(x, k, v, kind), X, K, V)


def test_l2_norm_gelu_ignores_the_scale_of_the_keys():
    rng = np.random.default_rng(2)
    X, K, V = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    np.testing.assert_allclose(T.pattention(X, 10 * K, V).data, T.pattention(X, K, V).data, rtol=1e-10)


def test_growth_with_frozen_tau_preserves_the_function_exactly_and_official_growth_scales_by_sqrt2():
    m = T.TokenMLP(6, 5, 3, 4, rng=0, dtype=np.float64)
    x = np.random.default_rng(3).normal(size=(8, 6))
    y = m(x).data
    kept = T.grow_model(m, 4, keep_tau=True)
    np.testing.assert_allclose(kept(x).data, y, atol=1e-13)
    assert kept.p1.n == 8 and np.all(kept.p1.key_tokens.data[4:] == 0)
    assert np.abs(kept.p1.value_tokens.data[4:]).max() > 0  # values drawn, so the new keys get a gradient
    grown = T.grow_model(m, 4)  # official: τ = √8, so first-layer scores are √2 times larger in the GeLU
    p1 = grown.p1(x).data
    A = x @ m.p1.key_tokens.data.T
    expect = gelu(np.sqrt(8) * A / np.linalg.norm(A, axis=1, keepdims=True)) @ m.p1.value_tokens.data
    np.testing.assert_allclose(p1, expect, rtol=1e-9)
    assert np.abs(grown(x).data - y).max() > 1e-3


def test_new_zero_keys_receive_a_gradient_after_growth():
    g = T.grow(T.Pattention(4, 3, 2, rng=0, dtype=np.float64), 2, rng=1)
    out = g(Tensor(np.random.default_rng(4).normal(size=(5, 4))))
    (out * Tensor(np.random.default_rng(5).normal(size=out.shape))).sum().backward()
    assert np.abs(g.key_tokens.grad[2:]).max() > 0


def test_by_hand_value_of_gelu_sqrt2():
    assert T.pattention([[1.0, 0.0]], np.eye(2), np.eye(2)).data[0, 0] == pytest.approx(
        math.sqrt(2) * 0.5 * (1 + math.erf(1.0)), abs=1e-12
    )


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="kind"):
        T.theta(np.ones((1, 2)), "relu")
    with pytest.raises(ValueError, match="`K_P` and `V_P`"):
        T.pattention(np.ones((1, 2)), np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="`X`"):
        T.pattention(np.ones((1, 3)), np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="`n`"):
        T.Pattention(2, 2, 0)
    with pytest.raises(ValueError, match="`m`"):
        T.grow(T.Pattention(2, 2, 2), 0)
    with pytest.raises(ValueError, match="tau"):
        T.theta(np.ones((1, 2)), tau=-1.0)


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"grown", "grown-keep-tau", "scratch-2n", "small-n"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, method, baseline):
    (c,) = [
        c
        for c in r.claims
        if c["method"] == method and c["baseline"] == baseline and c["metric"] != "resume_loss"
    ]
    return c["interval"]


def _col(r, method, metric):
    return np.array([row[metric] for row in r.table if row["method"] == method])


def test_full_run_growth_beats_not_growing():
    r = full()
    assert len(r.seeds) == 5
    assert _claim(r, "grown", "small-n")["low"] > 0.0


def test_full_run_grown_is_not_far_below_scratch():
    """The paper's 'comparable to scratch' at a 2-point margin was inconclusive here; what was measured: the
    grown model is within 5 points of the 2n model from scratch (interval low end)."""
    assert _claim(full(), "grown", "scratch-2n")["low"] > -0.05


def test_full_run_official_growth_moves_the_loss_but_frozen_tau_does_not():
    r = full()
    assert np.abs(_col(r, "grown-keep-tau", "loss_jump")).max() < 1e-5
    assert np.abs(_col(r, "grown", "loss_jump")).max() > 0.05
