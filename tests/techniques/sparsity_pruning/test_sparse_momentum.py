"""Sparse momentum: redistribution, pruning and growth by hand and by brute force, fixed density,
masked weights stay zero while the dense momentum keeps flowing; the quick experiment (code path,
determinism), and the claims on the recorded full result (judged at convergence)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import experiments
from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import paired_interval, tasks
from refimpl.nn import MLP
from refimpl.nn import functional as F
from refimpl.optim import SGD, Adam
from refimpl.techniques.sparsity_pruning import masks as B
from refimpl.techniques.sparsity_pruning import sparse_momentum as sm
from refimpl.techniques.sparsity_pruning.sparse_momentum import cases, experiment

SLUG = "sparse-momentum"


@pytest.mark.parametrize("case", cases.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@settings(deadline=None, max_examples=30)
@given(st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5), st.integers(0, 10**6))
def test_redistribution_is_exact_and_respects_the_cap(means, seed):
    rng = np.random.default_rng(seed)
    free = rng.integers(5, 200, size=len(means))
    total = int(rng.integers(0, int(np.floor(0.99 * free).sum()) + 1))  # what fits in whole weights
    p = np.array(means) / np.sum(means)
    out = sm.redistribute(p, total, free)
    assert out.sum() == total
    assert np.all(out >= 0) and np.all(out <= np.floor(0.99 * free))


def test_redistribution_matches_the_proportional_rule_when_no_cap_binds():
    p = np.array([0.5, 0.3, 0.2])
    out = sm.redistribute(p, 100, [1000, 1000, 1000])
    np.testing.assert_array_equal(out, [50, 30, 20])
    with pytest.raises(ValueError, match="free slots"):
        sm.redistribute(p, 100, [10, 10, 10])
    # 54 ≤ 0.99·55, but layer caps are whole weights: ⌊0.99·12⌋ + ⌊0.99·43⌋ = 11 + 42 = 53 < 54
    with pytest.raises(ValueError, match="at most 53 whole weights"):
        sm.redistribute([0.5, 0.5], 54, [12, 43])


def test_prune_and_regrow_against_brute_force():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 7))
    mask = (rng.random((6, 7)) < 0.5).astype(float)
    mom = rng.normal(size=(6, 7))
    n_active = int(mask.sum())
    k = n_active // 3
    pruned = sm.prune_smallest(w, mask, k)
    # brute force: sort the active entries by |w| and remove the first k
    active = [(abs(w.flat[i]), i) for i in range(w.size) if mask.flat[i]]
    gone = {i for _, i in sorted(active)[:k]}
    want = mask.copy().ravel()
    want[list(gone)] = 0
    np.testing.assert_array_equal(pruned.ravel(), want)
    zeros = [(-abs(mom.flat[i]), i) for i in range(w.size) if pruned.flat[i] == 0]
    grown = sm.regrow_by_momentum(pruned, mom, 5)
    want2 = pruned.copy().ravel()
    want2[[i for _, i in sorted(zeros)[:5]]] = 1
    np.testing.assert_array_equal(grown.ravel(), want2)
    with pytest.raises(ValueError, match="n"):
        sm.prune_smallest(w, mask, n_active + 1)


def test_momentum_of_sgd_and_adam():
    from refimpl.nn.module import Parameter

    w = Parameter(np.array([1.0, -1.0]))
    w.grad = np.array([0.5, -2.0])
    sgd = SGD([w], lr=0.1, momentum=0.9)
    sgd.step()
    np.testing.assert_allclose(sm.momentum_of(sgd, w), [0.5, -2.0])  # first buffer = gradient
    w2 = Parameter(np.array([1.0, -1.0]))
    w2.grad = np.array([0.5, -2.0])
    adam = Adam([w2], lr=0.1)
    adam.step()
    # m = 0.1 g, v = 0.001 g² → m/(√v + 1e-8) = 0.1 g /(√0.001 |g| + 1e-8)
    g = np.array([0.5, -2.0])
    np.testing.assert_allclose(
        sm.momentum_of(adam, w2), 0.1 * g / (np.sqrt(0.001) * np.abs(g) + 1e-8), rtol=1e-6
    )
    with pytest.raises(ValueError, match="momentum"):
        sm.momentum_of(SGD([Parameter(np.ones(2))], lr=0.1), w)


def test_cosine_prune_rate():
    assert sm.cosine_prune_rate(0, 100) == pytest.approx(0.5)
    assert sm.cosine_prune_rate(50, 100) == pytest.approx(0.005 + 0.495 * 0.5)
    assert sm.cosine_prune_rate(100, 100) == pytest.approx(0.005)


def test_density_is_constant_and_pruned_weights_stay_zero_with_dense_momentum():
    rng = np.random.default_rng(1)
    model = MLP([8, 32, 4], rng=rng)
    opt = SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    cb = sm.SparseMomentum(model, opt, density=0.2, total_steps=20, seed=0)
    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 4, size=32)
    counts0 = {n: int(m.sum()) for n, m in B.current_masks(model).items()}
    total0 = sum(counts0.values())
    assert total0 == round(0.2 * 256) + round(0.2 * 128)
    for _epoch in range(4):
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(Tensor(x)), y).backward()
            opt.step()
            cb.on_step_end(None)
            masks = B.current_masks(model)
            for name, mod in B.prunable_layers(model).items():
                with no_grad():
                    assert np.all(mod.weight.data[masks[name] == 0] == 0)
                assert np.all(B.latent_weight(mod).data[masks[name] == 0] == 0)
                # the dense gradient reaches pruned entries: their momentum is not all zero
                assert np.any(opt.state[B.latent_weight(mod)]["momentum_buffer"][masks[name] == 0] != 0)
        info = cb.update(0.3)
        assert info["removed"] == info["regrown"]
        assert sum(int(m.sum()) for m in B.current_masks(model).values()) == total0


def test_callback_takes_the_optimizer_from_fit_and_keeps_the_density():
    task = tasks.digits()
    model = MLP([64, 32, 10], rng=np.random.default_rng(0))
    cb = sm.SparseMomentum(model, None, density=0.1, total_steps=3 * 15, seed=0)  # before the optimizer
    with pytest.raises(RuntimeError, match="optimizer"):
        cb.update(0.5)
    experiments.train(model, task, lr=0.1, epochs=3, seed=0, optimizer="sgd", cosine=True, callbacks=[cb])
    assert cb.optimizer is not None and len(cb.history) == 3
    assert cb.density() == pytest.approx((round(0.1 * 64 * 32) + round(0.1 * 32 * 10)) / (64 * 32 + 32 * 10))
    assert all(h["removed"] == h["regrown"] > 0 for h in cb.history)
    assert cb.history[0]["rate"] > cb.history[-1]["rate"]  # the prune rate decays
    with pytest.raises(ValueError, match="density"):
        sm.SparseMomentum(MLP([4, 4]), None, density=0.0, total_steps=1)


# --- the experiment -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick():
    return experiment.run(quick=True, progress=False)


def test_quick_run_is_deterministic_and_well_formed(quick):
    quick.validate()
    assert quick.smoke and quick.quick and quick.slug == SLUG
    again = experiment.run(quick=True, progress=False)
    assert again.table == quick.table
    assert again.selected == quick.selected
    methods = set(quick.methods)
    for d in experiment.DENSITIES:
        for kind in experiment.KINDS:
            assert experiment.name_of(kind, d) in methods
        assert {
            experiment.name_of("SET", d, "half"),
            experiment.name_of("sparse-momentum", d, "short"),
        } <= methods
    for row in quick.table:  # every sparse arm trains at exactly its density
        if row["method"] != "dense":
            d = float(row["method"].split("@")[1].split("/")[0])
            assert row["achieved_density"] == pytest.approx(d, abs=1e-3)
    plots = experiment.plot(quick)
    assert set(plots) == {SLUG}


def test_quick_run_measures_the_premises(quick):
    assert len(quick.premises) == 2 * len(experiment.DENSITIES)
    for p in quick.premises:
        assert len(p["values"]) == len(quick.seeds) and all(np.isfinite(p["values"]))
        assert isinstance(p["present"], bool)
    # gap_to_dense is dense minus static, paired by seed
    d = experiment.DENSITIES[0]
    gap = np.array(quick.values("dense", "test_accuracy")) - quick.values(f"static@{d:g}", "test_accuracy")
    np.testing.assert_allclose(quick.values(f"static@{d:g}", "gap_to_dense"), gap, atol=1e-12)


# --- the recorded full result -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full():
    assert experiments.freshness(SLUG) == "fresh", "record again: refimpl record sparse-momentum"
    r = experiments.recorded(SLUG)
    assert not r.quick and not r.smoke and len(r.seeds) >= 8
    return r


def _diff(r, a, b):
    return paired_interval(r.values(a, "test_accuracy"), r.values(b, "test_accuracy"))


def test_recorded_premises_hold_sparse_training_is_hard_and_set_has_converged(full):
    for d in experiment.DENSITIES:
        assert np.mean(full.values(f"static@{d:g}", "gap_to_dense")) > 0.01
        # doubling SET's epochs gains less than one point: the comparison is at convergence
        assert np.mean(full.values(f"SET@{d:g}", "gain_from_doubling")) < 0.01
    for row in full.table:
        if row["method"] != "dense":
            assert row["achieved_density"] == pytest.approx(float(row["method"].split("@")[1].split("/")[0]))
        assert row["diverged"] == 0


def test_recorded_at_convergence_sparse_momentum_is_within_one_point_of_set(full):
    """The paper's distinguishing claim (beats SET) is not resolved at convergence on the toy: the 95 %
    interval of sparse momentum − SET lies within ±1 point at both densities, and at 10 % it contains 0.
    This fails if sparse momentum pulls ahead (or falls behind) by a point, or wins clearly at 10 %."""
    for d in experiment.DENSITIES:
        iv = _diff(full, f"sparse-momentum@{d:g}", f"SET@{d:g}")
        assert -0.01 < iv.low and iv.high < 0.01, (d, iv)
    iv10 = _diff(full, "sparse-momentum@0.1", "SET@0.1")
    assert iv10.low < 0 < iv10.high, iv10


def test_recorded_short_budget_advantage_is_large_and_shrinks_at_convergence(full):
    """Where the first toy judged the method (a tenth of the epochs) sparse momentum is far ahead of SET;
    trained to convergence the advantage shrinks to below a tenth of that."""
    short = _diff(full, "sparse-momentum@0.05/short", "SET@0.05/short")
    assert short.low > 0.1, short
    converged = _diff(full, "sparse-momentum@0.05", "SET@0.05")
    assert converged.mean < short.mean / 10, (converged, short)
    assert _diff(full, "sparse-momentum@0.1/short", "SET@0.1/short").low > 0


def test_recorded_redistribution_helps_and_sparse_momentum_stays_near_dense(full):
    # the paper's ablation: momentum redistribution adds to momentum growth (5 % density)
    assert _diff(full, "sparse-momentum@0.05", "growth-only@0.05").low > 0
    # "without losing performance": within one point of dense at 10 % density
    assert _diff(full, "sparse-momentum@0.1", "dense").low > -0.01
