"""TAS: CWI and the cost/KD losses by hand (reference cases), float64 gradient checks of the search
forward and the KD loss, Gumbel two-width sampling, the quick run's code path, and the paper's claims on the
recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.sparsity_pruning import tas_pruning as tas
from refimpl.techniques.sparsity_pruning.tas_pruning.cases import reference_cases

SLUG = "tas-pruning"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _fd_check(f, x0, analytic, eps=1e-6, rtol=1e-5, atol=1e-8):
    num = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (f(xp) - f(xm)) / (2 * eps)
    np.testing.assert_allclose(analytic, num, rtol=rtol, atol=atol)


def test_cwi_gradient_float64_finite_differences():
    x0 = np.random.default_rng(0).normal(size=(2, 3))
    g = np.random.default_rng(1).normal(size=(2, 5))
    x = Tensor(x0.copy(), requires_grad=True)
    (tas.channel_wise_interpolation(x, 5) * Tensor(g)).sum().backward()
    _fd_check(lambda v: float(np.sum(v @ tas.cwi_matrix(3, 5) * g)), x0, x.grad)


def test_kd_loss_gradient_float64_finite_differences():
    rng = np.random.default_rng(2)
    s0, t, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), np.array([0, 2, 3])
    s = Tensor(s0.copy(), requires_grad=True)
    tas.kd_loss(s, t, y, 3.0, 0.7).backward()
    _fd_check(lambda v: float(tas.kd_loss(Tensor(v), t, y, 3.0, 0.7).data), s0, s.grad)


def test_expected_cost_gradient_float64_finite_differences():
    a0 = np.random.default_rng(3).normal(size=(2, 3))
    choices = [(2, 4, 8), (1, 3, 5)]
    a = Tensor(a0.copy(), requires_grad=True)
    tas.expected_params(a, choices, 6, 3).log().backward()
    f = lambda v: float(np.log(tas.expected_params(Tensor(v), choices, 6, 3).data))  # noqa: E731
    _fd_check(f, a0, a.grad)


def test_gumbel_select2_draws_two_distinct_widths_and_weights_sum_to_one():
    alpha = Tensor(np.random.default_rng(0).normal(size=(3, 5)), requires_grad=True)
    idx, w = tas.gumbel_select2(alpha, 1.0, np.random.default_rng(0))
    assert idx.shape == (3, 2) and np.all(idx[:, 0] != idx[:, 1])
    np.testing.assert_allclose(w.data.sum(-1), 1.0, rtol=1e-12)
    w[:, 0].sum().backward()  # the mixing weights are differentiable in α
    assert np.abs(alpha.grad).sum() > 0


def test_gumbel_frequency_follows_the_distribution():
    # at τ = 1 the first draw is a Gumbel-max-like sample: its frequency follows softmax(α) roughly
    alpha = np.log(np.array([[0.7, 0.2, 0.1]]))
    rng = np.random.default_rng(0)
    first = [tas.gumbel_select2(alpha, 1.0, rng)[0][0, 0] for _ in range(3000)]
    freq = np.bincount(first, minlength=3) / 3000
    assert freq[0] > freq[1] > freq[2], freq


def test_search_mlp_fixed_widths_equal_a_truncated_dense_net():
    net = tas.SearchMLP([6, 10, 8, 3], fractions=(0.5, 1.0), rng=0)
    net.search = False
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    w = [lin.weight.data for lin in net.layers]
    b = [lin.bias.data for lin in net.layers]
    h = np.maximum(x @ w[0][:5].T + b[0][:5], 0)
    h = np.maximum(h @ w[1][:4, :5].T + b[1][:4], 0)
    out = h @ w[2][:, :4].T + b[2]
    np.testing.assert_allclose(net(x, fixed=[5, 4]).data, out, rtol=1e-5, atol=1e-6)


def test_uniform_width_for_budget_is_the_largest_within():
    h = tas.uniform_width_for_budget(3705, 64, 10, 2)
    assert tas.mlp_params([64, h, h, 10]) <= 3705 < tas.mlp_params([64, h + 1, h + 1, 10])


def test_quick_run_keeps_the_budget_equal_and_measures_the_premises(quick_result):
    r = quick_result(SLUG)
    for seed in r.seeds:
        p_tas = r.values("TAS+KD", "params")[list(r.seeds).index(seed)]
        p_uni = r.values("uniform+KD", "params")[list(r.seeds).index(seed)]
        assert p_uni <= p_tas  # uniform gets at most the searched net's parameters
    assert {p["metric"] for p in r.premises} == {"teacher_gap", "width_spread"}
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_uniform_arm_never_exceeds_the_searched_budget():
    r = full()
    assert all(u <= t for u, t in zip(r.values("uniform+KD", "params"), r.values("TAS+KD", "params")))
    assert len(r.seeds) >= 3
