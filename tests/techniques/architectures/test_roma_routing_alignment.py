"""RoMA: reference cases, the k-NN neighbours against a brute-force loop, the regulariser's gradient in closed
form (2(r_i − r̄_i)/B) and its minimiser (the kNN-averaged target), float64 gradient checks of the MoE layer
and the regulariser, router-only post-training leaving the experts untouched, bad input, the quick run and
the recorded result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.optim import Adam
from refimpl.techniques.architectures import roma_routing_alignment as R
from refimpl.techniques.architectures.roma_routing_alignment.cases import reference_cases
from refimpl.techniques.architectures.roma_routing_alignment.experiment import routing_consistency

SLUG = "roma-routing-alignment"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_knn_matches_a_brute_force_loop():
    rng = np.random.default_rng(0)
    Q, P = rng.normal(size=(7, 3)), rng.normal(size=(12, 3))
    idx, sims = R.knn_neighbours(Q, P, 4)
    for i, q in enumerate(Q):
        cos = [float(q @ p / (np.linalg.norm(q) * np.linalg.norm(p))) for p in P]
        order = sorted(range(len(P)), key=lambda j: -cos[j])[:4]
        assert list(idx[i]) == order
        np.testing.assert_allclose(sims[i], [cos[j] for j in order], rtol=1e-12)


def test_regulariser_gradient_is_twice_the_gap_to_the_knn_target():
    rng = np.random.default_rng(1)
    B, k, E = 5, 3, 4
    r = Tensor(rng.dirichlet(np.ones(E), B), requires_grad=True)
    nb = rng.dirichlet(np.ones(E), (B, k))
    W = R.neighbour_weights(rng.uniform(0.2, 1.0, (B, k)), 0.4)
    R.manifold_regulariser(r, nb, W).backward()
    np.testing.assert_allclose(r.grad, 2 * (r.data - R.knn_target(nb, W)) / B, rtol=1e-12, atol=1e-14)
    # the kNN-averaged target minimises it: any move away raises the value
    best = R.manifold_regulariser(R.knn_target(nb, W), nb, W).data
    for _ in range(5):
        moved = R.knn_target(nb, W) + 1e-3 * rng.normal(size=(B, E))
        assert R.manifold_regulariser(moved, nb, W).data > best


def test_gradchecks_float64():
    rng = np.random.default_rng(2)
    m = R.SoftMoE(5, 4, 3, 3, rng=0, dtype=np.float64)
    x = Tensor(rng.normal(size=(6, 5)), requires_grad=True)
    assert gradcheck(lambda x: m(x), x)
    assert gradcheck(lambda w, b: R.SoftMoE.forward(_with_router(m, w, b), x), m.router, m.router_bias)
    nb, W = rng.dirichlet(np.ones(3), (6, 2)), R.neighbour_weights(rng.uniform(0, 1, (6, 2)), 0.4)
    assert gradcheck(lambda x: R.manifold_regulariser(m.routing(x), nb, W), x)


def _with_router(m, w, b):
    m.router, m.router_bias = w, b
    return m


def test_soft_moe_matches_numpy():
    rng = np.random.default_rng(3)
    m = R.SoftMoE(4, 5, 2, 3, rng=1, dtype=np.float64)
    x = rng.normal(size=(6, 4))
    logits = x @ m.router.data + m.router_bias.data
    r = np.exp(logits - logits.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)
    f = np.stack([np.tanh(x @ m.w1.data[e] + m.b1.data[e]) @ m.w2.data[e] + m.b2.data[e] for e in range(3)])
    y, rr = m.forward_with_routing(x)
    np.testing.assert_allclose(rr.data, r, rtol=1e-12)
    np.testing.assert_allclose(y.data, np.einsum("be,ebo->bo", r, f), rtol=1e-12)


def test_router_only_post_training_leaves_the_experts_untouched():
    rng = np.random.default_rng(4)
    m = R.SoftMoE(4, 5, 3, 3, rng=2, dtype=np.float64)
    x, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    before = {n: p.data.copy() for n, p in m.named_parameters()}
    nb, W = rng.dirichlet(np.ones(3), (20, 2)), np.full((20, 2), 0.5)
    opt = Adam(m.router_parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        out, r = m.forward_with_routing(x)
        R.roma_loss(F.cross_entropy(out, y), r, nb, W, 1.0).backward()
        opt.step()
    for n, p in m.named_parameters():
        changed = not np.array_equal(p.data, before[n])
        assert changed == n.startswith("router"), n


def test_routing_consistency_by_hand():
    r = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    assert (
        routing_consistency(r, np.array([0, 0, 0, 1])) == 0.75
    )  # task 0: 2 of 3 on expert 0; task 1: 1 of 1


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`k`"):
        R.knn_neighbours(np.eye(2), np.eye(2), 3)
    with pytest.raises(ValueError, match="same width"):
        R.knn_neighbours(np.eye(2), np.eye(3), 1)
    with pytest.raises(ValueError, match="`sigma`"):
        R.neighbour_weights(np.ones((1, 2)), 0.0)
    with pytest.raises(ValueError, match="`lam`"):
        R.roma_loss(Tensor(np.array(0.0)), np.ones((1, 2)), np.ones((1, 1, 2)), np.ones((1, 1)), -1.0)
    with pytest.raises(ValueError, match="r_neighbours"):
        R.manifold_regulariser(np.ones((2, 3)), np.ones((2, 1, 4)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="`x`"):
        R.SoftMoE(3, 2, 2, 2).routing(np.ones((1, 4)))
    with pytest.raises(ValueError, match="`n_experts`"):
        R.SoftMoE(3, 2, 2, 0)


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"roma", "task-only", "none"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, method, baseline, metric):
    (c,) = [c for c in r.claims if (c["method"], c["baseline"], c["metric"]) == (method, baseline, metric)]
    return c["interval"]


def test_full_run_roma_improves_the_pretrained_model():
    r = full()
    assert len(r.seeds) == 5
    assert _claim(r, "roma", "none", "test_accuracy")["low"] > 0.02


def test_full_run_roma_routes_more_consistently_than_task_only():
    assert _claim(full(), "roma", "task-only", "test_routing_consistency")["low"] > 0.0


def test_full_run_accuracy_edge_over_task_only_is_small():
    """The paper's accuracy gain over router fine-tuning without the regulariser was not resolved here; what was
    measured: the paired interval lies within (−3, +5) points."""
    iv = _claim(full(), "roma", "task-only", "test_accuracy")
    assert iv["low"] > -0.03 and iv["high"] < 0.05
