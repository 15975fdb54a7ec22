"""LOST (reconstructed): exact decomposition at init, complementarity, the channel choice against brute
force, parameter counts, the layer's forward and gradients (both variants), the quick run's code path,
and the measured verdicts on the recorded full result."""

import itertools

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear
from refimpl.techniques.sparsity_pruning import lost_lowrank_sparse as lost
from refimpl.techniques.sparsity_pruning.lost_lowrank_sparse import experiment as ex
from refimpl.techniques.sparsity_pruning.lost_lowrank_sparse.cases import reference_cases

SLUG = "lost-lowrank-sparse"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_all_channels_or_full_rank_reproduce_the_weight_exactly():
    W = np.random.default_rng(0).normal(size=(6, 5))
    for rank, c in ((2, 5), (5, 0), (0, 5)):
        A, B, ch, S = lost.lost_decompose(W, rank, c)
        full = A @ B
        full[:, ch] += S
        np.testing.assert_allclose(full, W, atol=1e-12)


def test_parts_are_complementary_and_low_rank_is_the_best_rank_r():
    W = np.random.default_rng(1).normal(size=(7, 6))
    A, B, ch, S = lost.lost_decompose(W, 3, 2)
    U, s, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(A @ B, (U[:, :3] * s[:3]) @ Vt[:3], atol=1e-12)  # Eckart–Young truncation
    np.testing.assert_allclose(A.T @ A, B @ B.T, atol=1e-12)  # the balanced √Σ split: both equal Σ_r
    E = W - A @ B
    np.testing.assert_allclose(U[:, :3].T @ E, 0, atol=1e-12)  # residual ⟂ the kept left singular vectors
    np.testing.assert_allclose(S, E[:, ch])


def test_lost_channels_hold_the_most_residual_energy_brute_force():
    """The kept channels maximise ‖E_{:,C}‖² over all C of size c (checked over every subset)."""
    W = np.random.default_rng(2).normal(size=(5, 6))
    rank, c = 1, 2
    _, _, ch, _ = lost.lost_decompose(W, rank, c)
    best = max(lost.residual_capture(W, rank, list(C)) for C in itertools.combinations(range(6), c))
    assert lost.residual_capture(W, rank, ch) == pytest.approx(best, rel=1e-12)
    assert lost.residual_capture(W, rank, range(6)) == pytest.approx(1.0)


def test_random_selection_is_seeded_and_needs_an_rng():
    W = np.random.default_rng(3).normal(size=(6, 8))
    a = lost.lost_decompose(W, 2, 3, select="random", values="weight", rng=np.random.default_rng(5))
    b = lost.lost_decompose(W, 2, 3, select="random", values="weight", rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_allclose(a[3], W[:, a[2]])  # values="weight": the weight's own columns
    with pytest.raises(ValueError, match="rng"):
        lost.lost_decompose(W, 2, 3, select="random")
    with pytest.raises(ValueError, match="select"):
        lost.lost_decompose(W, 2, 3, select="gradient")
    with pytest.raises(ValueError, match="values"):
        lost.lost_decompose(W, 2, 3, values="zeros")


def test_layer_forward_equals_dense_weight_and_counts():
    rng = np.random.default_rng(2)
    W0 = rng.normal(size=(5, 4))
    layer = lost.LOSTLinear(4, 5, rank=2, n_channels=4, dtype=np.float64, init_weight=W0, rng=rng)
    ref = Linear(4, 5, dtype=np.float64, rng=rng)
    ref.weight.data[:] = W0
    ref.bias.data[:] = layer.bias.data
    x = Tensor(rng.normal(size=(3, 4)))
    with no_grad():
        np.testing.assert_allclose(layer(x).data, ref(x).data, atol=1e-12)  # all channels kept → exact
    assert lost.lost_params(5, 4, 2, 4) == 2 * 9 + 20
    small = lost.LOSTLinear(4, 5, rank=1, n_channels=2, dtype=np.float64, rng=rng)
    assert sum(p.data.size for p in (small.A, small.B, small.S)) == lost.lost_params(5, 4, 1, 2)
    with pytest.raises(ValueError, match="rank"):
        lost.lost_decompose(W0, 9, 1)
    with pytest.raises(ValueError, match="n_channels"):
        lost.lost_decompose(W0, 1, 9)
    with pytest.raises(ValueError, match="gamma"):
        lost.LOSTLinear(4, 5, 1, 1, gamma=1.5)


@pytest.mark.parametrize("gamma, values", [(None, "residual"), (0.5, "weight"), (0.2, "residual")])
def test_forward_matches_its_dense_weight_for_every_variant(gamma, values):
    rng = np.random.default_rng(4)
    layer = lost.LOSTLinear(6, 5, 2, 3, dtype=np.float64, rng=rng, gamma=gamma, values=values)
    x = rng.normal(size=(4, 6))
    with no_grad():
        y = layer(Tensor(x)).data
    np.testing.assert_allclose(y, x @ layer.dense_weight().T + layer.bias.data, atol=1e-12)


@pytest.mark.parametrize("gamma", [None, 0.5])
def test_gradcheck_layer(gamma):
    rng = np.random.default_rng(3)
    layer = lost.LOSTLinear(4, 3, rank=2, n_channels=2, dtype=np.float64, rng=rng, gamma=gamma)
    ch, b = layer.channels, layer.bias.data
    g_low, g_sp = (1.0, 1.0) if gamma is None else (gamma, 1 - gamma)

    def f(x, A, B, S):
        return (((x @ B.T) @ A.T) * g_low + (x[:, ch] @ S.T) * g_sp + b).tanh().sum()

    x = rng.normal(size=(5, 4))
    rf.gradcheck(f, x, layer.A.data, layer.B.data, layer.S.data)
    # the layer's own backward gives the gradients of the same function
    A, B, S = (Tensor(p.data.copy(), requires_grad=True) for p in (layer.A, layer.B, layer.S))
    f(Tensor(x), A, B, S).backward()
    layer(Tensor(x)).tanh().sum().backward()
    for p, q in ((layer.A, A), (layer.B, B), (layer.S, S)):
        np.testing.assert_allclose(p.grad, q.grad, atol=1e-12)


def test_equal_budget_by_construction():
    """Every compressed arm of a budget has the same hidden-layer weights; low-rank-only at most that
    (its rank is the largest that fits), and within one rank step of it."""
    for d in ex.BUDGETS.values():
        counts = {arm: ex.build(arm, 0, d)[1]["hidden_weights"] for arm in ex.ARMS}
        lost_w = counts["LOST"]
        assert counts["random-channels"] == counts["LOST-dev-variant"] == lost_w
        steps = sum(m + n for n, m in zip(ex.SIZES[:-2], ex.SIZES[1:-1]))
        assert lost_w - steps < counts["low-rank"] <= lost_w


def test_quick_run_code_path_deterministic_and_premise_measured(quick_result):
    r = quick_result(SLUG)
    r.validate()
    again = ex.run(quick=True, progress=False)
    assert again.table == r.table  # two quick runs agree to the bit
    assert r.smoke and r.seeds == [0, 1]
    assert {p["method"] for p in r.premises} == {ex.name_of("low-rank", b) for b in ex.BUDGETS}
    for p in r.premises:
        assert p["metric"] == "test_gap_to_dense" and len(p["values"]) == len(r.seeds)
        # the derived gap is dense − low-rank on the same seed
        dense = r.values("dense", "test_accuracy")
        own = r.values(p["method"], "test_accuracy")
        np.testing.assert_allclose(p["values"], np.subtract(dense, own), atol=1e-12)
    assert len(r.claims) == 2 * len(ex.BUDGETS) + 1


# --- the recorded full result ------------------------------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 5
    return r


def test_full_run_premise_low_rank_is_a_bottleneck_only_at_the_tight_budget():
    r = full()
    gap = {p["method"]: p["interval"] for p in r.premises}
    # paper-ratio: rank a quarter of the width costs the digits MLP less than one point against dense
    assert gap["low-rank@paper-ratio"]["mean"] < 0.01, gap
    # tight: a clear bottleneck, the whole interval past one point
    assert gap["low-rank@tight"]["low"] > 0.01, gap


def test_full_run_contradiction_lost_loses_to_low_rank_only_where_low_rank_is_a_bottleneck():
    """The paper's distinguishing claim (a complementary sparse part beats low rank alone at the same
    budget), measured where its premise holds: the whole interval is below zero, by more than one point."""
    c = full().claim("LOST beats low-rank-only layers at the same parameter budget (tight)")
    assert c["interval"]["high"] < -0.01, c["interval"]


def test_full_run_contradiction_lost_does_not_beat_random_channels_at_the_tight_budget():
    c = full().claim("LOST's complementary sparse part beats random channels at an identical layout (tight)")
    assert c["interval"]["high"] < 0.0, c["interval"]


def test_full_run_no_measurable_difference_at_the_paper_ratio():
    """Where low rank is no bottleneck, LOST and low-rank-only are indistinguishable (within a point)."""
    c = full().claim("LOST beats low-rank-only layers at the same parameter budget (paper-ratio)")
    iv = c["interval"]
    assert iv["low"] < 0.0 < iv["high"] and iv["high"] - iv["low"] < 0.02, iv


def test_full_run_lost_close_to_dense_at_the_paper_ratio():
    """Competitive with full rank: within two points of dense over the whole interval, yet measurably
    below it (the one-point claim is not established)."""
    iv = full().claim("LOST is competitive with full-rank training")["interval"]
    assert -0.02 < iv["low"] and iv["high"] < 0.0, iv


def test_full_run_the_verdict_does_not_hinge_on_the_unverified_variant():
    """The development code's variant (S from W₀'s columns, γ = 0.5) also loses to low-rank-only at the
    tight budget: the negative result is not an artefact of choosing our reading of the sparse values."""
    from refimpl.experiments import paired_interval

    r = full()
    iv = paired_interval(
        r.values("LOST-dev-variant@tight", "test_accuracy"), r.values("low-rank@tight", "test_accuracy")
    )
    assert iv.high < 0.0, iv
