"""FDConv: reference cases, the real Fourier basis against np.fft, exact orthogonality of the Fourier disjoint
kernels, the per-sample mixed convolution against a plain loop, float64 gradient checks, bad input, the quick
run and the recorded result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import fdconv as T
from refimpl.techniques.architectures.fdconv.cases import reference_cases

SLUG = "fdconv"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("M, N", [(1, 4), (3, 5), (4, 6), (8, 18)])
def test_basis_is_orthonormal_and_each_mode_sits_on_one_conjugate_pair(M, N):
    phi, radius, atom = T.real_fourier_basis(M, N)
    P = phi.reshape(M * N, -1)
    np.testing.assert_allclose(P @ P.T, np.eye(M * N), atol=1e-12)
    assert np.all(np.diff(radius) >= 0)
    fu, fv = np.meshgrid(np.fft.fftfreq(M), np.fft.fftfreq(N), indexing="ij")
    for mode, r in zip(phi, radius):
        spec = np.abs(np.fft.fft2(mode)) > 1e-9
        assert 1 <= spec.sum() <= 2  # one frequency and its conjugate
        np.testing.assert_allclose(np.hypot(fu, fv)[spec], r, atol=1e-12)


def test_groups_are_disjoint_contiguous_in_radius_and_keep_cos_sin_pairs_together():
    phi, radius, atom = T.real_fourier_basis(8, 18)
    g = T.frequency_groups(atom, 4)
    assert np.all(np.diff(g) >= 0) and set(g) == {0, 1, 2, 3}
    for a in np.unique(atom):
        assert len(set(g[atom == a])) == 1
    for i in range(3):  # every frequency of a lower group is at most every frequency of the next
        assert radius[g == i].max() <= radius[g == i + 1].min()


def test_fdw_kernels_are_orthogonal_sum_to_theta_and_have_disjoint_spectra():
    phi, _, atom = T.real_fourier_basis(8, 18)
    g = T.frequency_groups(atom, 4)
    theta = np.random.default_rng(0).standard_normal(phi.shape[0])
    W = T.fourier_disjoint_weights(theta, phi, g, 4).data
    flat = W.reshape(4, -1)
    G = flat @ flat.T
    assert np.abs(G - np.diag(np.diag(G))).max() < 1e-12
    np.testing.assert_allclose(W.sum(0), np.tensordot(theta, phi, 1), atol=1e-12)
    support = np.abs(np.fft.fft2(W)) > 1e-9
    assert support.sum(axis=0).max() == 1
    assert T.mean_pairwise_cosine(W) == pytest.approx(0.0, abs=1e-12)


def test_dynamic_conv1d_matches_a_per_sample_loop():
    rng = np.random.default_rng(1)
    x, ker, pi, b = (
        rng.normal(size=(3, 2, 7)),
        rng.normal(size=(4, 5, 2, 3)),
        rng.random((3, 4)),
        rng.normal(size=5),
    )
    y = T.dynamic_conv1d(x, ker, pi, b, padding=1).data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    for s in range(3):
        W = np.tensordot(pi[s], ker, 1)  # (O, C, k)
        ref = (
            np.array([[np.sum(W[o] * xp[s, :, t : t + 3]) for t in range(7)] for o in range(5)]) + b[:, None]
        )
        np.testing.assert_allclose(y[s], ref, atol=1e-12)


def test_fdw_and_dynamic_conv_gradcheck_float64():
    rng = np.random.default_rng(2)
    phi, _, atom = T.real_fourier_basis(3, 4)
    g = T.frequency_groups(atom, 2)
    theta = Tensor(rng.normal(size=12), requires_grad=True)
    assert gradcheck(lambda t: T.fourier_disjoint_weights(t, phi, g, 2), theta)
    x = Tensor(rng.normal(size=(2, 2, 6)), requires_grad=True)
    ker = Tensor(rng.normal(size=(2, 3, 2, 3)), requires_grad=True)
    A = Tensor(rng.normal(size=(2, 2)), requires_grad=True)
    a = Tensor(rng.normal(size=2), requires_grad=True)
    assert gradcheck(
        lambda x, k, A, a: T.dynamic_conv1d(x, k, T.kernel_attention(x, A, a), padding=1), x, ker, A, a
    )


@pytest.mark.parametrize("conv", ["fdconv", "dyconv", "static"])
def test_classifier_gradcheck_and_every_parameter_learns(conv):
    m = T.SignalClassifier(conv, 2, 4, 3, 2, 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(3).normal(size=(3, 2, 8))
    assert gradcheck(lambda t: m(t), x, mode="random", n_directions=4)
    y = m(Tensor(x))
    y.backward(np.random.default_rng(4).standard_normal(y.shape))
    assert all(np.any(p.grad) for p in m.parameters())


def test_fdconv_has_one_kernels_budget_and_dyconv_K_times():
    fd = T.FDConv1d(2, 8, 9, 4, rng=0)
    dy = T.DynamicConv1d(2, 8, 9, 4, rng=0)
    assert fd.theta.data.size == 8 * 2 * 9 and dy.weight.data.size == 4 * 8 * 2 * 9


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`K`"):
        T.frequency_groups(T.real_fourier_basis(1, 4)[2], 4)  # only 3 frequency atoms
    with pytest.raises(ValueError, match="`theta`"):
        T.fourier_disjoint_weights(np.ones(3), *T.real_fourier_basis(1, 4)[:1], np.zeros(4, int), 1)
    with pytest.raises(ValueError, match="`pi`"):
        T.dynamic_conv1d(np.ones((2, 1, 4)), np.ones((3, 1, 1, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="`x`"):
        T.dynamic_conv1d(np.ones((1, 4)), np.ones((3, 1, 1, 2)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="`conv`"):
        T.SignalClassifier("odconv", 2, 4, 3, 2, 3)
    with pytest.raises(ValueError, match="`T`"):
        T.kernel_attention(np.ones((1, 1, 2)), np.ones((2, 1)), np.zeros(2), T=0.0)
    with pytest.raises(ValueError, match="`M`"):
        T.real_fourier_basis(0, 3)


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"fdconv", "dyconv", "static"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, baseline, metric="test_accuracy"):
    (c,) = [
        c for c in r.claims if c["method"] == "fdconv" and c["baseline"] == baseline and c["metric"] == metric
    ]
    return c["interval"]


def _col(r, method, metric):
    return np.array([row[metric] for row in r.table if row["method"] == method])


def test_full_run_fdconv_beats_the_static_conv_of_the_same_budget():
    r = full()
    assert len(r.seeds) == 5
    assert _claim(r, "static")["low"] > 0.0


def test_full_run_fdconv_is_not_clearly_worse_than_dyconv_with_a_quarter_of_its_kernel_parameters():
    """The paper claims FDConv ≥ DY-Conv; at a 1-point non-inferiority margin this was inconclusive here.
    What was measured: the interval's low end is above −2 points, with 144 vs 576 kernel weights."""
    r = full()
    assert _claim(r, "dyconv")["low"] > -0.02
    assert _col(r, "fdconv", "n_params")[0] < _col(r, "dyconv", "n_params")[0] / 3


def test_full_run_fdconv_kernels_are_orthogonal_while_dyconv_kernels_are_only_mildly_similar():
    """FDConv's kernels stay exactly orthogonal after training (by construction); the paper's premise that
    DY-Conv's kernels become highly similar (> 0.5 here; > 0.88 for ODConv in the paper) was absent on this
    toy: their mean pairwise cosine stayed between 0.1 and 0.5."""
    r = full()
    assert np.abs(_col(r, "fdconv", "kernel_cos")).max() < 1e-6  # float32 training: zero up to rounding
    dy = _col(r, "dyconv", "kernel_cos")
    assert 0.1 < dy.mean() < 0.5
