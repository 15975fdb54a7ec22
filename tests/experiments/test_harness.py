"""The fair-comparison harness: intervals against t-table values, verdicts, selection on validation only,
the result's JSON round trip, the experiment wrapper, and the shared tasks' splits."""

import math

import numpy as np
import pytest

from refimpl.experiments import (
    Claim,
    Method,
    Premise,
    Result,
    compare,
    experiment,
    finish,
    mean_interval,
    paired_interval,
    tasks,
)
from refimpl.experiments.claims import judge_claim, judge_premise

T_2 = 4.302652729911275  # Student t, 2 degrees of freedom, 97.5 % quantile (printed tables: 4.303)
T_1 = 12.706204736174698  # 1 degree of freedom (tables: 12.706)


def test_mean_interval_matches_the_t_table():
    iv = mean_interval([1.0, 2.0, 3.0])  # mean 2, sample std 1
    assert iv.mean == 2.0 and iv.std == 1.0 and iv.n == 3
    assert iv.low == pytest.approx(2 - T_2 / math.sqrt(3)) and iv.high == pytest.approx(
        2 + T_2 / math.sqrt(3)
    )
    two = mean_interval([0.0, 2.0])  # std √2, half width t₁·√2/√2 = t₁
    assert two.low == pytest.approx(1 - T_1) and two.high == pytest.approx(1 + T_1)
    one = mean_interval([5.0])
    assert one.low == -math.inf and one.high == math.inf


def test_paired_interval_is_the_interval_of_differences_and_checks_lengths():
    iv = paired_interval([3.0, 5.0, 7.0], [2.0, 3.0, 4.0])  # differences 1, 2, 3
    assert iv.mean == 2.0 and iv.low == pytest.approx(2 - T_2 / math.sqrt(3))
    with pytest.raises(ValueError, match="one value per seed"):
        paired_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])


@pytest.mark.parametrize(
    "values, direction, margin, verdict",
    [
        ([1.0, 1.1, 0.9], "greater", 0.0, "holds"),  # interval ≈ [0.75, 1.25]
        ([1.0, 1.1, 0.9], "greater", 2.0, "fails"),
        ([1.0, 1.1, 0.9], "greater", 1.0, "inconclusive"),
        ([1.0, 1.1, 0.9], "less", 2.0, "holds"),
        ([1.0, 1.1, 0.9], "less", 0.0, "fails"),
    ],
)
def test_claim_verdicts_come_from_the_interval(values, direction, margin, verdict):
    c = Claim("x", metric="m", method="a", direction=direction, margin=margin)
    assert judge_claim(c, values)["verdict"] == verdict
    assert judge_claim(c, values, premises_met=False)["verdict"] == "premise absent"


def test_paired_claim_and_premise():
    c = Claim("a beats b", metric="m", method="a", baseline="b")
    # a − b = 0.1 ± tiny on every seed: holds although a's own spread is large
    assert judge_claim(c, [0.5, 0.9, 0.2], [0.4, 0.8, 0.1])["verdict"] == "holds"
    p = Premise("b is bad", metric="m", method="b", threshold=0.5, direction="less")
    assert judge_premise(p, [0.4, 0.8, 0.1])["present"]  # mean 0.433 < 0.5
    assert not judge_premise(Premise("strict", "m", "b", 0.5, "less", strict=True), [0.4, 0.8, 0.1])[
        "present"
    ]
    with pytest.raises(ValueError, match="direction"):
        Claim("x", metric="m", method="a", direction="up")


def test_compare_selects_on_validation_never_on_test_and_reuses_runs():
    calls = []

    def run(seed, lr):
        calls.append((seed, lr))
        # validation prefers lr = 2; test would prefer the largest lr (a leak would pick 3)
        return {"val_score": -((lr - 2) ** 2) + 0.01 * seed, "test_score": lr + seed}

    m = Method("m", run, grid={"lr": [1, 2, 3]}, quick_grid={"lr": [1]})
    fixed = Method("base", lambda seed: {"val_score": 0.0, "test_score": float(seed)})
    comp = compare([m, fixed], seeds=[0, 1, 2], select="val_score", progress=False)
    assert comp.selected == {"m": {"lr": 2}, "base": {}}
    assert comp.values("m", "test_score") == [2.0, 3.0, 4.0]
    assert sorted(calls) == [(0, 1), (0, 2), (0, 3), (1, 2), (2, 2)]  # seed 0 at lr 2 was not re-run
    assert [r["score"] for r in comp.selection] == [-1.0, 0.0, -1.0]
    quick = compare([m], seeds=[0], select="val_score", quick=True, progress=False)
    assert quick.selected == {"m": {"lr": 1}}
    with pytest.raises(ValueError, match="validation"):
        compare([m], seeds=[0], select="test_score", progress=False)
    with pytest.raises(ValueError, match="finite"):
        compare(
            [Method("bad", lambda seed: {"val_score": float("nan")})],
            seeds=[0],
            select="val_score",
            progress=False,
        )


def _tiny_result(quick=False):
    comp = compare(
        [
            Method("a", lambda seed: {"val_x": 1.0, "test_x": 1.0 + 0.1 * seed}),
            Method("b", lambda seed: {"val_x": 0.0, "test_x": 0.5 + 0.05 * seed}),
        ],
        seeds=[0, 1, 2],
        select="val_x",
        progress=False,
    )
    return finish(
        "tiny",
        comp,
        claims=[Claim("a beats b", "test_x", "a", "b", margin=0.1)],
        premises=[Premise("b is below one", "test_x", "b", 1.0, "less")],
        quick=quick,
        smoke=quick,
        arrays={"curve": np.arange(6.0).reshape(2, 3)},
    )


def test_finish_judges_and_the_result_survives_json():
    r = _tiny_result()
    assert r.claims[0]["verdict"] == "holds"  # a − b = 0.5 + 0.05·seed: interval ≈ [0.43, 0.67] > 0.1
    back = Result.from_json(r.to_json())
    assert back.table == r.table and back.claims == r.claims and back.selected == r.selected
    np.testing.assert_array_equal(back.arrays["curve"], r.arrays["curve"])
    assert "HOLDS: a beats b" in back.markdown()
    bad = Result.from_json(r.to_json())
    bad.table[0]["test_x"] = float("inf")
    with pytest.raises(ValueError, match="test_x"):
        bad.validate()


def test_a_record_says_where_it_was_made():
    """store.environment(): versions, BLAS kernel, CPU; kept through JSON; a record written before the
    field existed loads with an empty one."""
    import json

    from refimpl.experiments.store import environment

    env = environment()
    assert env["numpy"] == np.__version__ and {"python", "scipy", "numba", "cpu", "machine"} <= set(env)
    r = _tiny_result()
    r.environment = env
    assert Result.from_json(r.to_json()).environment == env
    old = json.loads(r.to_json())
    del old["environment"]
    assert Result.from_json(json.dumps(old)).environment == {}


def test_experiment_wrapper_sets_seeds_and_the_smoke_label(monkeypatch):
    import refimpl.experiments.store as store

    monkeypatch.setattr(store, "source_hash", lambda slug: "h")
    seen = []

    @experiment("tiny", seeds=(0, 1, 2), quick_seeds=(7,))
    def run(quick, seeds, progress):
        seen.append(seeds)
        return _tiny_result(quick)

    full = run(progress=False)
    quick = run(quick=True, progress=False)
    assert seen == [[0, 1, 2], [7]]
    assert not full.smoke and quick.smoke and full.source_hash == "h"
    with pytest.raises(ValueError, match="≥ 3 seeds"):
        experiment("tiny", seeds=(0, 1))


def test_digits_task_splits_are_fixed_disjoint_and_stratified():
    t = tasks.digits()
    n = len(t.y_train) + len(t.y_val) + len(t.y_test)
    assert n == 1797
    assert len(t.y_test) == pytest.approx(0.3 * n, abs=10) and len(t.y_val) == pytest.approx(0.2 * n, abs=10)
    rows = {split: {r.tobytes() for r in getattr(t, f"x_{split}")} for split in ("train", "val", "test")}
    # the digits hold a few duplicate images, so compare index-free: no split shares more than those
    assert len(rows["train"] & rows["test"]) < 10 and len(rows["val"] & rows["test"]) < 10
    assert tasks.digits() is t  # fixed (cached), whatever the experiment's seed
    assert np.bincount(t.y_test).min() >= 50


def test_digits_variants_corrupt_train_and_validation_only():
    plain, noisy = tasks.digits(), tasks.digits("label_noise", noise_rate=0.4)
    np.testing.assert_array_equal(plain.y_test, noisy.y_test)
    assert np.mean(plain.y_train != noisy.y_train) == pytest.approx(0.4, abs=0.002)
    assert np.mean(plain.y_val != noisy.y_val) == pytest.approx(0.4, abs=0.005)
    lt = tasks.digits("long_tail", imbalance=50)
    counts = np.bincount(lt.y_train, minlength=10)
    assert counts[0] / counts[9] >= 40 and np.all(np.diff(counts) <= 0)
    np.testing.assert_array_equal(lt.y_test, plain.y_test)


def test_weight_generators_have_the_shape_they_claim():
    assert tasks.kurtosis(tasks.weight_matrix((400, 400), "gaussian")) == pytest.approx(3.0, abs=0.1)
    assert tasks.kurtosis(tasks.weight_matrix((400, 400), "laplace")) == pytest.approx(6.0, abs=0.3)
    w = tasks.weight_matrix((64, 64), "outlier_channels", outlier_channels=2, outlier_scale=20)
    assert tasks.outlier_ratio(w) > 8 > tasks.outlier_ratio(tasks.weight_matrix((64, 64)))
    assert tasks.weight_matrix((64, 64)).std() == pytest.approx(1 / 8, rel=0.05)
    with pytest.raises(ValueError, match="kind"):
        tasks.weight_matrix(kind="cauchy")


def test_paired_premise_judges_the_difference():
    p = Premise("dense beats the ablation", "m", "dense", threshold=0.01, baseline="ablation")
    judged = judge_premise(p, [0.9, 0.8, 0.95], [0.85, 0.78, 0.9])  # differences 0.05, 0.02, 0.05
    assert judged["interval"]["mean"] == pytest.approx(0.04) and judged["present"]
    with pytest.raises(ValueError, match="baseline"):
        judge_premise(p, [0.9, 0.8, 0.95])


def test_train_with_a_ready_optimizer_and_linear_warmup_takes_the_hand_computed_steps():
    """loss = w·1 has gradient 1, so plain SGD at rate 1 moves w by −(step+1)/4 for 4 warm-up steps,
    then by −1: after 6 steps w = −(0.25 + 0.5 + 0.75 + 1 + 1 + 1) = −4.5."""
    from refimpl import nn, optim
    from refimpl.experiments import train

    model = nn.Linear(1, 1, bias=False)
    model.weight.data[...] = 0.0
    opt = optim.SGD(model.parameters(), lr=1.0)
    x, y = np.ones((1, 1)), np.zeros(1)
    train(
        model,
        None,
        optimizer=opt,
        epochs=6,
        seed=0,
        batch_size=1,
        x=x,
        y=y,
        loss_fn=lambda out, t: out.sum(),
        warmup_steps=4,
    )
    assert model.weight.data.item() == pytest.approx(-4.5, abs=1e-12)
    assert opt.param_groups[0]["lr"] == 1.0
    with pytest.raises(ValueError, match="lr"):
        train(model, None, optimizer=opt, lr=0.1, epochs=1, seed=0, x=x, y=y)
    with pytest.raises(ValueError, match="lr"):
        train(model, None, optimizer="sgd", epochs=1, seed=0, x=x, y=y)
    with pytest.raises(ValueError, match="warmup_steps"):
        train(model, None, lr=0.1, epochs=1, seed=0, x=x, y=y, warmup_steps=-1)


def test_experiments_run_with_one_blas_thread_whoever_calls_them(monkeypatch):
    """A notebook calls `run` with BLAS at its default thread count; the harness limits it to one inside the
    run (toy matrices are slower threaded) and gives the caller's setting back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import refimpl.experiments.store as store

    def blas_threads():  # {library file: threads}
        return {
            i["filepath"]: i["num_threads"]
            for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"
        }

    if not blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    monkeypatch.setattr(store, "source_hash", lambda slug: "h")
    seen = []

    @experiment("tiny", seeds=(0, 1, 2), quick_seeds=(7,))
    def run(quick, seeds, progress):
        seen.append(set(blas_threads().values()))
        return _tiny_result(quick)

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # as a Jupyter kernel on 2 cores
        before = blas_threads()
        run(quick=True, progress=False)
        after = blas_threads()
        assert {lib: after[lib] for lib in before} == before  # the caller's setting is given back
    assert seen == [{1}]


def _result_with(selected, selection, grid_limits=None):
    from refimpl.experiments.result import Result

    r = Result.__new__(Result)
    r.selected, r.selection, r.grid_limits = selected, selection, grid_limits or {}
    return r


def test_grid_edges_flag_a_choice_at_either_end_of_three_or_more_values():
    rows = [{"method": "a", "lr": lr, "wd": wd, "score": 0.0} for lr in (1e-3, 3e-3, 1e-2) for wd in (0, 1)]
    rows += [{"method": "b", "lr": lr, "score": 0.0} for lr in (1e-3, 3e-3, 1e-2)]
    r = _result_with({"a": {"lr": 1e-2, "wd": 1}, "b": {"lr": 3e-3}, "c": {"kind": "x"}}, rows)
    # a's lr is the highest of three; its wd has only two values (no verdict); b is inside; c has no grid
    assert r.grid_edges() == ["a: lr = 0.01 is the highest of the 3 values tried"]
    r.selected["b"] = {"lr": 1e-3}
    assert r.grid_edges()[1] == "b: lr = 0.001 is the lowest of the 3 values tried"
    assert r.declared_limits() == []


def test_a_declared_natural_limit_is_reported_apart_only_on_its_own_side():
    rows = [{"method": "a", "r": r_, "score": 0.0} for r_ in (1, 2, 4, 8)]
    limits = {"a": {"r": ["lower", "no rank below 1"]}}
    r = _result_with({"a": {"r": 1}}, rows, limits)
    assert r.grid_edges() == []
    assert r.declared_limits() == [
        "a: r = 1 is the lowest of the 4 values tried, a declared limit: no rank below 1"
    ]
    r.selected["a"] = {"r": 8}  # the other end is not declared: still a grid to widen
    assert r.grid_edges() == ["a: r = 8 is the highest of the 4 values tried"] and r.declared_limits() == []


def test_method_limits_are_checked_and_carried_into_the_result():
    from refimpl.experiments import Claim, Method, compare, finish

    with pytest.raises(ValueError, match="not in the grid"):
        Method("m", lambda seed, lr: {}, grid={"lr": [1, 2]}, limits={"wd": ("lower", "x")})
    with pytest.raises(ValueError, match="lower"):
        Method("m", lambda seed, lr: {}, grid={"lr": [1, 2]}, limits={"lr": ("left", "x")})

    def run(seed, lam):
        return {"val_accuracy": -lam, "test_accuracy": -lam + 0.01 * seed}

    m = Method("m", run, grid={"lam": [0.0, 0.1, 1.0]}, limits={"lam": ("lower", "λ = 0 is no penalty")})
    base = Method("b", lambda seed: {"val_accuracy": 0.0, "test_accuracy": -1.0})
    res = finish(
        "t",
        compare([m, base], [0, 1, 2], progress=False),
        claims=[Claim("m beats b", metric="test_accuracy", method="m", baseline="b")],
        quick=False,
        smoke=False,
    )
    assert res.grid_edges() == [] and "λ = 0 is no penalty" in res.declared_limits()[0]
    from refimpl.experiments.result import Result

    again = Result.from_json(res.to_json())
    assert again.grid_limits == {"m": {"lam": ["lower", "λ = 0 is no penalty"]}}
    assert again.declared_limits() == res.declared_limits()
