"""The family base: partition selection == stable-sort definition == brute force, exact sparsity targets, schedules,
the Mask parametrization (gradients, stacking, dense mask = identity), optimizer state masking."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn import Linear, parametrize
from refimpl.optim import SGD, Adam
from refimpl.techniques.sparsity_pruning import global_magnitude_pruning as gmp
from refimpl.techniques.sparsity_pruning import masks as B

ROOT = Path(__file__).resolve().parents[3]


def brute_bottom_k(scores, k):
    """Oracle: sort (score, index) pairs with Python's sort and take the first k."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    out = np.zeros(len(scores), dtype=bool)
    out[order[:k]] = True
    return out


scores_st = st.lists(
    st.sampled_from([0.0, 0.5, 1.0, 1.5, -2.0, 3.25, 7.0]) | st.floats(-5, 5, allow_nan=False),
    min_size=0,
    max_size=60,
)


@settings(deadline=None, max_examples=60)
@given(scores_st, st.data())
def test_bottom_k_selection_equals_the_sort_definition_equals_brute_force(values, data):
    x = np.array(values, dtype=np.float64)
    k = data.draw(st.integers(0, x.size))
    want = brute_bottom_k(list(x), k)
    np.testing.assert_array_equal(B.bottom_k_mask_by_sort(x, k), want)
    np.testing.assert_array_equal(B.bottom_k_mask(x, k), want)


def test_partition_selection_equals_the_sort_definition_on_large_tied_input():
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=20000), 1)  # many ties
    x[:50] = -0.0  # signed zeros tie with 0.0, as in the sort
    for k in (0, 1, 137, 10000, 19999, 20000):
        np.testing.assert_array_equal(B.bottom_k_mask(x, k), B.bottom_k_mask_by_sort(x, k))
    ints = rng.integers(0, 5, 1000)
    np.testing.assert_array_equal(B.bottom_k_mask(ints, 333), B.bottom_k_mask_by_sort(ints, 333))


def test_selection_does_not_import_numba():
    code = textwrap.dedent("""
        import sys, numpy as np
        import refimpl
        from refimpl.techniques.sparsity_pruning import masks as B
        B.bottom_k_mask(np.array([3.0, 1.0, 2.0]), 1)
        print("numba" in sys.modules)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_selection_errors_name_the_argument():
    with pytest.raises(ValueError, match="k"):
        B.bottom_k_mask(np.ones(3), 4)
    with pytest.raises(ValueError, match="scores"):
        B.bottom_k_mask(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="NaN"):
        B.bottom_k_mask(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match="sparsity"):
        B.magnitude_mask(np.ones(4), 1.5)
    with pytest.raises(ValueError, match="min_keep"):
        gmp.global_magnitude_masks([np.ones(3)], 0.5, min_keep=-1)
    with pytest.raises(ValueError, match="min_keep"):
        gmp.global_magnitude_masks([np.ones(3), np.ones(2)], 0.8, min_keep=2)  # 4 to prune, only 1 prunable


@settings(deadline=None, max_examples=25)
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=4),
    st.floats(0, 1),
    st.integers(0, 5),
    st.integers(0, 10**6),
)
def test_sparsity_targets_are_met_exactly(sizes, s, min_keep, seed):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=n) for n in sizes]
    # layer-wise: every layer prunes round(s·n_l)
    for w, m in zip(ws, B.layerwise_magnitude_masks(ws, s)):
        assert int((m == 0).sum()) == int(round(s * w.size))
        if 0 < (m == 0).sum() < w.size:  # every pruned |w| ≤ every kept |w|
            assert np.abs(w)[m == 0].max() <= np.abs(w)[m == 1].min()
    total = sum(sizes)
    k = int(round(s * total))
    try:
        masks = gmp.global_magnitude_masks(ws, s, min_keep=min_keep)
    except ValueError:
        assert k > sum(n - min(min_keep, n) for n in sizes)
        return
    assert sum(int((m == 0).sum()) for m in masks) == k
    for w, m in zip(ws, masks):
        assert int(m.sum()) >= min(min_keep, w.size)
    if min_keep == 0 and 0 < k < total:  # plain global: a single threshold separates pruned and kept
        allw = np.concatenate([np.abs(w) for w in ws])
        allm = np.concatenate(masks)
        assert allw[allm == 0].max() <= allw[allm == 1].min()


def test_global_brute_force_with_floor():
    """Exhaustive search over all pruning sets of the hand case: MT=1 optimum = smallest total |w| pruned."""
    import itertools

    l1, l2 = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.3])
    best = None
    allw = np.concatenate([l1, l2])
    for pruned in itertools.combinations(range(5), 3):
        keep1 = 3 - sum(i < 3 for i in pruned)
        keep2 = 2 - sum(i >= 3 for i in pruned)
        if keep1 >= 1 and keep2 >= 1:
            cost = allw[list(pruned)].sum()
            if best is None or cost < best[0]:
                best = (cost, pruned)
    m = np.concatenate(gmp.global_magnitude_masks([l1, l2], 0.6, min_keep=1))
    assert set(np.flatnonzero(m == 0)) == set(best[1])


def test_cubic_schedule_by_hand():
    # Zhu & Gupta: s_f=0.9, t0=0, t1=10; at t=5: 0.9 + (0 − 0.9)(1 − 0.5)^3 = 0.9 − 0.1125 = 0.7875
    assert B.cubic_schedule(5, 0.9, 0, 10) == pytest.approx(0.7875)
    assert B.cubic_schedule(0, 0.9, 0, 10) == 0.0
    assert B.cubic_schedule(10, 0.9, 0, 10) == pytest.approx(0.9)
    assert B.cubic_schedule(20, 0.9, 0, 10) == pytest.approx(0.9)
    assert B.cubic_schedule(5, 0.9, 0, 10, initial_sparsity=0.5) == pytest.approx(0.9 - 0.4 * 0.125)
    with pytest.raises(ValueError, match="end_step"):
        B.cubic_schedule(1, 0.5, 3, 3)


def _layer(seed=0, dtype=np.float64):
    return Linear(5, 4, dtype=dtype, rng=np.random.default_rng(seed))


def test_dense_mask_changes_nothing():
    lin = _layer()
    x = Tensor(np.random.default_rng(2).normal(size=(3, 5)))
    y0 = lin(x).data.copy()
    w0 = lin.weight.data.copy()
    parametrize.register_parametrization(lin, "weight", B.Mask(np.ones((4, 5))))
    np.testing.assert_array_equal(lin(x).data, y0)
    np.testing.assert_array_equal(lin.weight.data, w0)
    # gradients equal those of the plain layer
    ref = _layer()
    g = np.random.default_rng(3).normal(size=(3, 4))
    lin(x).backward(g)
    ref(x).backward(g)
    np.testing.assert_allclose(lin.parametrizations.weight.original.grad, ref.weight.grad, rtol=0, atol=0)


@pytest.mark.parametrize("dense_grad", [False, True])
def test_mask_gradients_by_hand_and_gradcheck(dense_grad):
    theta = np.array([[1.0, -2.0], [3.0, 4.0]])
    m = np.array([[1.0, 0.0], [0.0, 1.0]])
    mk = B.Mask(m, dense_grad=dense_grad)
    t = Tensor(theta, requires_grad=True)
    (mk(t) * Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))).sum().backward()
    want = np.array([[1.0, 2.0], [3.0, 4.0]]) * (1.0 if dense_grad else m)  # ∂/∂θ Σ c ⊙ θ ⊙ m
    np.testing.assert_array_equal(t.grad, want)
    if not dense_grad:  # the STE variant is deliberately not the true gradient
        rf.gradcheck(lambda a: (mk(a) ** 2).sum(), np.random.default_rng(0).normal(size=(2, 2)))


@pytest.mark.parametrize("opt_name", ["sgd_momentum", "adam"])
@pytest.mark.parametrize("dense_grad", [False, True])
def test_masked_weights_stay_exactly_zero_after_steps(opt_name, dense_grad):
    """Train dense a few steps (so momentum/moments are non-zero everywhere), prune, keep training:
    the effective weights at pruned entries stay exactly 0 and (with enforce_masks_) θ and the state too."""
    rng = np.random.default_rng(0)
    lin = _layer()
    x, y = rng.normal(size=(16, 5)), rng.normal(size=(16, 4))
    make = {
        "sgd_momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
        "adam": lambda ps: Adam(ps, lr=0.05, weight_decay=1e-3),
    }[opt_name]
    opt = make([lin.weight, lin.bias])

    def step():
        opt.zero_grad()
        ((lin(Tensor(x)) - Tensor(y)) ** 2).mean().backward()
        opt.step()

    for _ in range(3):
        step()
    mask = B.magnitude_mask(lin.weight.data, 0.5)
    parametrize.register_parametrization(lin, "weight", B.Mask(mask, dense_grad=dense_grad))
    theta = B.latent_weight(lin)
    # the optimizer keeps updating the same θ object (right_inverse is not defined: θ is the old Parameter)
    assert theta is opt.param_groups[0]["params"][0]
    for _ in range(5):
        step()
        B.enforce_masks_(lin, opt)
        with no_grad():
            w = lin.weight.data
        assert np.all(w[mask == 0] == 0.0)
        assert np.all(theta.data[mask == 0] == 0.0)
        for v in opt.state[theta].values():
            if isinstance(v, np.ndarray) and v.shape == mask.shape:
                assert np.all(v[mask == 0] == 0.0)
    # without enforcement the effective weight is still exactly zero (the parametrization guarantees it)
    for _ in range(3):
        step()
        with no_grad():
            assert np.all(lin.weight.data[mask == 0] == 0.0)


def test_mask_stacks_with_another_parametrization():
    class Double(rf.nn.Module):
        def forward(self, w):
            return w * 2.0

    lin = _layer()
    w0 = lin.weight.data.copy()
    m = B.magnitude_mask(w0, 0.5)
    parametrize.register_parametrization(lin, "weight", Double())
    B.apply_masks(lin_container(lin), {"lin": m})
    with no_grad():
        np.testing.assert_array_equal(lin.weight.data, 2.0 * w0 * m)
    assert B.get_mask(lin) is not None
    B.remove_masks(lin_container(lin))
    assert not parametrize.is_parametrized(lin, "weight")
    np.testing.assert_array_equal(lin.weight.data, 2.0 * w0 * m)


def lin_container(lin):
    c = rf.nn.Module()
    c.lin = lin
    return c


def test_sparsity_report_counts_by_hand():
    model = lin_container(_layer())
    m = np.zeros((4, 5))
    m[0, :3] = 1  # 3 of 20 kept
    B.apply_masks(model, {"lin": m})
    rows = B.sparsity_report(model)
    assert rows[0] == {"layer": "lin", "shape": (4, 5), "weights": 20, "nonzero": 3, "sparsity": 17 / 20}
    assert rows[-1]["layer"] == "total" and rows[-1]["sparsity"] == pytest.approx(0.85)
    with pytest.raises(ValueError, match="only 0 and 1"):
        B.Mask(np.full((2, 2), 0.5))
    with pytest.raises(KeyError, match="nope"):
        B.apply_masks(model, {"nope": m})
