"""Single-Path NAS: reference cases, the straight-through indicator (hard forward, sigmoid backward), the
superkernel against plain NumPy, the supernet with switched-off subsets equal to the small network, float64
gradient checks, the cost, bad input, the quick run and the recorded result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import single_path_nas as S
from refimpl.techniques.architectures.single_path_nas.cases import reference_cases

SLUG = "single-path-nas"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_indicator_is_hard_forward_and_sigmoid_backward():
    x = Tensor(np.array([-2.0, -0.0, 0.0, 0.7, 3.0]), requires_grad=True)
    d = S.indicator(x, tau=0.5)
    np.testing.assert_array_equal(d.data, [0.0, 1.0, 1.0, 1.0, 1.0])  # 1(x ≥ 0), -0.0 ≥ 0
    g = np.array([1.0, -2.0, 0.5, 3.0, 1.0])
    d.backward(g)
    s = 1 / (1 + np.exp(-x.data / 0.5))
    np.testing.assert_allclose(x.grad, g * s * (1 - s) / 0.5, rtol=1e-12)


def _numpy_superkernel(w, t_k, t_c):
    ring = w.copy()
    ring[..., 1:4] = 0
    d_k = float(np.linalg.norm(ring) - t_k >= 0)
    wk = w - ring + d_k * ring
    h = w.shape[0] // 2
    d_c = float(np.linalg.norm(wk[h:]) - t_c >= 0)
    return np.concatenate([wk[:h], d_c * wk[h:]]), d_k, d_c


@pytest.mark.parametrize("t", [(-1.0, -1.0), (1e3, -1.0), (-1.0, 1e3), (1e3, 1e3), (2.0, 2.5)])
def test_superkernel_matches_numpy(t):
    w = np.random.default_rng(0).normal(size=(6, 3, 5))
    out, d_k, d_c = S.superkernel(w, *t)
    ref, rk, rc = _numpy_superkernel(w, *t)
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    assert (float(d_k.data), float(d_c.data)) == (rk, rc)


@pytest.mark.parametrize("arch", S.architectures(2), ids=str)
def test_supernet_with_decisions_set_equals_the_chosen_network(arch):
    """Switching subsets off by the thresholds gives exactly the small network with the kept weights."""
    sup = S.SuperConvNet(2, 6, 3, 2, rng=0, dtype=np.float64)
    chosen = S.ChosenConvNet(arch, 2, 6, 3, rng=1, dtype=np.float64)
    for i, (k, full) in enumerate(arch):
        getattr(sup, f"t_k{i}").data[...] = -1.0 if k == 5 else 1e6
        getattr(sup, f"t_c{i}").data[...] = -1.0 if full else 1e6
        w = getattr(sup, f"w{i}").data
        cw = getattr(chosen, f"w{i}").data
        lo = 0 if k == 5 else 1
        cw[...] = w[: cw.shape[0], : cw.shape[1], lo : lo + k]
        getattr(chosen, f"b{i}").data[...] = getattr(sup, f"b{i}").data[: cw.shape[0]]
    c_last = chosen.head_w.shape[1]
    chosen.head_w.data[...] = sup.head_w.data[:, :c_last]
    chosen.head_b.data[...] = sup.head_b.data
    x = np.random.default_rng(2).normal(size=(4, 2, 11))
    assert sup.architecture() == tuple(arch)
    np.testing.assert_allclose(sup(x).data, chosen(x).data, rtol=1e-10, atol=1e-12)
    assert float(sup.cost().data) == S.arch_cost(arch, 6, 2)


def test_gradcheck_float64_inputs_and_weights():
    sup = S.SuperConvNet(2, 4, 3, 2, rng=3, dtype=np.float64)
    x = np.random.default_rng(4).normal(size=(3, 2, 9))
    assert gradcheck(lambda t: sup(t), x)
    w = Tensor(np.random.default_rng(5).normal(size=(4, 2, 5)), requires_grad=True)
    # away from the thresholds the decisions are constant, so the superkernel is linear in w
    assert gradcheck(lambda w_: S.superkernel(w_, -10.0, -10.0)[0], w)
    assert gradcheck(lambda w_: S.superkernel(w_, 1e3, 1e3)[0], w)


def test_every_parameter_including_thresholds_gets_a_gradient():
    sup = S.SuperConvNet(1, 4, 2, 2, rng=0, dtype=np.float64)
    loss = S.search_loss(sup, 0.5)(
        sup(np.random.default_rng(1).normal(size=(5, 1, 12))), np.array([0, 1, 1, 0, 1])
    )
    loss.backward()
    assert all(np.any(p.grad) for _, p in sup.named_parameters())


def test_cost_gradient_pushes_thresholds_up():
    """With λ log R alone, every threshold's gradient is negative (raising t lowers the cost)."""
    sup = S.SuperConvNet(1, 4, 2, 2, rng=0, dtype=np.float64)
    from refimpl.autograd import ops

    ops.log(sup.cost()).backward()
    for i in range(2):
        assert float(getattr(sup, f"t_k{i}").grad) < 0 and float(getattr(sup, f"t_c{i}").grad) < 0


def test_cost_by_hand_and_search_space():
    assert S.network_cost([(0, 0), (0, 0)], 8) == 1 * 4 * 3 + 4 * 4 * 3
    assert S.network_cost([(1, 1), (1, 1)], 8) == 1 * 8 * 5 + 8 * 8 * 5
    costs = sorted(S.arch_cost(a, 8) for a in S.architectures(2))
    assert len(costs) == 16 and costs[0] == 60 and costs[-1] == 360


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`w`"):
        S.superkernel(np.ones((2, 1, 3)), 0.0, 0.0)
    with pytest.raises(ValueError, match="`w`"):
        S.superkernel(np.ones((3, 1, 5)), 0.0, 0.0)
    with pytest.raises(ValueError, match="`tau`"):
        S.indicator(np.ones(2), tau=0.0)
    with pytest.raises(ValueError, match="`width`"):
        S.SuperConvNet(1, 5, 2)
    with pytest.raises(ValueError, match="`arch`"):
        S.arch_cost(((7, True),), 8)
    with pytest.raises(ValueError, match="`lam`"):
        S.search_loss(S.SuperConvNet(1, 4, 2), -1.0)


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"sp-nas", "all-5-wide", "all-3-narrow", "random-budget"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _interval(r, metric, method, baseline):
    (c,) = [
        c for c in r.claims if c["metric"] == metric and c["method"] == method and c["baseline"] == baseline
    ]
    return c["interval"]


def _col(r, method, metric):
    return np.array([row[metric] for row in r.table if row["method"] == method])


def test_full_run_search_finds_the_wide_kernels_in_every_seed():
    """The premise's structure: only 5-tap kernels in both layers reach the 9-tap receptive field."""
    r = full()
    assert len(r.seeds) == 5
    assert np.all(_col(r, "sp-nas", "n_large_kernels") == 2)
    assert np.all(_col(r, "sp-nas", "receptive_field") == 9)


def test_full_run_beats_random_architectures_under_the_budget():
    assert _interval(full(), "test_accuracy", "sp-nas", "random-budget")["low"] > 0.1


def test_full_run_cheaper_but_less_accurate_than_the_largest():
    """Measured (the paper's 'as accurate at a fraction of the cost' was inconclusive at our margins): the found
    networks cost less than the largest on average and are less accurate (interval entirely below 0)."""
    r = full()
    assert _interval(r, "cost", "sp-nas", "all-5-wide")["high"] < 0
    assert _interval(r, "test_accuracy", "sp-nas", "all-5-wide")["high"] < 0
