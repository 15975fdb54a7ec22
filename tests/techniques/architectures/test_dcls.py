"""DCLS: reference cases, the kernel against an independent loop, float64 gradient checks (kernel w.r.t. w and
p, layer w.r.t. its input), bad input, the quick run and the recorded full result."""

import numpy as np
import pytest

from refimpl import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import dcls as D
from refimpl.techniques.architectures.dcls.cases import reference_cases

SLUG = "dcls"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_kernel_matches_a_plain_loop_and_integer_positions_give_a_dilated_kernel():
    rng = np.random.default_rng(0)
    w, p = rng.standard_normal(4), rng.uniform(0, 10.99, 4)
    K = np.zeros(12)
    for wm, pm in zip(w, p):
        i = int(pm)
        K[i] += wm * (1 - (pm - i))
        K[i + 1] += wm * (pm - i)
    np.testing.assert_allclose(D.dcls_kernel(w, p, 12).data, K, atol=1e-12)
    dil = D.dcls_kernel(np.array([1.0, 2.0, 3.0]), np.array([0.0, 4.0, 8.0]), 12).data
    np.testing.assert_allclose(dil, np.eye(12)[[0, 4, 8]].T @ [1.0, 2.0, 3.0], atol=1e-12)


def test_kernel_gradchecks_in_float64_wrt_weights_and_positions():
    """Away from integer positions (the kink of the interpolation)."""
    rng = np.random.default_rng(1)
    w, p = rng.standard_normal(3), np.array([0.3, 4.6, 7.45])
    assert gradcheck(lambda a, b: D.dcls_kernel(a, b, 10), w, p)


def test_conv_matches_the_direct_sum_and_gradchecks_wrt_input():
    rng = np.random.default_rng(2)
    m = D.DCLSConv1d(6, 2, init_positions=[0.7, 3.2], rng=0)
    x = rng.standard_normal((2, 11))
    k = m.kernel().data
    np.testing.assert_allclose(m(x).data, D.causal_conv_direct(x, k), atol=1e-12)
    np.testing.assert_allclose(m(Tensor(x)).data, D.causal_conv_direct(x, k), atol=1e-12)
    assert gradcheck(lambda a: m(a), x)
    out = m(Tensor(x))
    out.backward(rng.standard_normal(out.shape))
    assert all(np.abs(q.grad).max() > 0 for q in m.parameters())


def test_fixed_mode_has_no_position_parameter_and_dense_has_size_weights():
    assert D.n_parameters(D.DCLSConv1d(32, 3, mode="dcls")) == 6
    assert D.n_parameters(D.DCLSConv1d(32, 3, mode="fixed")) == 3
    assert D.n_parameters(D.DCLSConv1d(32, 3, mode="dense")) == 32


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`p`"):
        D.dcls_kernel(np.ones(1), np.array([3.0]), 4)
    with pytest.raises(ValueError, match="`size`"):
        D.dcls_kernel(np.ones(1), np.array([0.5]), 1)
    with pytest.raises(ValueError, match="same shape"):
        D.dcls_kernel(np.ones(2), np.array([0.5]), 4)
    with pytest.raises(ValueError, match="`mode`"):
        D.DCLSConv1d(8, 2, mode="gauss")
    with pytest.raises(ValueError, match="input"):
        D.DCLSConv1d(8, 2)(np.ones((1, 5)))


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"DCLS", "fixed-dilation", "dense"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, method, baseline):
    (c,) = [c for c in r.claims if c["method"] == method and c["baseline"] == baseline]
    return c["interval"]


def test_full_run_has_five_seeds():
    r = full()
    assert len(r.seeds) == 5 and all(c["interval"]["n"] == 5 for c in r.claims)


def test_full_run_dcls_beats_fixed_dilation_and_the_dense_kernel():
    """The paper's claim on its premise: learned spacings beat the same elements at fixed positions and a
    dense kernel with 5× the parameters (test MSE, the whole paired interval below 0)."""
    r = full()
    assert _claim(r, "DCLS", "fixed-dilation")["high"] < 0.0
    assert _claim(r, "DCLS", "dense")["high"] < 0.0


def test_full_run_dcls_positions_recover_the_true_lags():
    assert _claim(full(), "DCLS", None)["high"] < 0.5
