"""AdaMerging (Yang et al., 2023; arXiv 2310.02575)."""

from collections import OrderedDict

import numpy as np
import pytest

import refimpl
from refimpl.autograd.tensor import Tensor
from refimpl.techniques.merging_averaging import adamerging as am


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    enc = OrderedDict([("0.weight", rng.standard_normal((5, 4))), ("0.bias", rng.standard_normal(5))])
    tvs = [OrderedDict((k, 0.5 * rng.standard_normal(v.shape)) for k, v in enc.items()) for _ in range(2)]
    heads = [
        OrderedDict([("2.weight", rng.standard_normal((3, 5))), ("2.bias", rng.standard_normal(3))])
        for _ in range(2)
    ]
    xs = [rng.standard_normal((16, 4)) for _ in range(2)]
    return enc, tvs, heads, xs


def test_reference_cases():
    for case in am.reference_cases():
        case.check()


def test_entropy_matches_loop_and_gradcheck():
    z = np.random.default_rng(0).standard_normal((4, 3))
    expect = []
    for row in z:
        p = np.exp(row) / np.exp(row).sum()
        expect.append(-sum(pi * np.log(pi) for pi in p))
    np.testing.assert_allclose(am.entropy(z), expect, atol=1e-12)
    np.testing.assert_allclose(am.entropy(Tensor(z)).data, expect, atol=1e-12)
    refimpl.gradcheck(lambda t: am.entropy(t).sum(), Tensor(z, requires_grad=True))


def test_forward_normalises_features_by_hand():
    sd = OrderedDict(
        [
            ("0.weight", np.array([[3.0, 0.0], [0.0, 4.0]])),
            ("0.bias", np.zeros(2)),
            ("1.weight", np.eye(2)),
            ("1.bias", np.array([1.0, 0.0])),
        ]
    )
    # relu([3, 4]) = [3, 4], normalised [0.6, 0.8], head I·f̂ + [1, 0] = [1.6, 0.8]
    np.testing.assert_allclose(am.forward(sd, np.array([[1.0, 1.0]])), [[1.6, 0.8]], atol=1e-9)
    tsd = OrderedDict((k, Tensor(v)) for k, v in sd.items())
    np.testing.assert_allclose(am.forward(tsd, np.array([[1.0, 1.0]])).data, [[1.6, 0.8]], atol=1e-9)


@pytest.mark.parametrize("granularity", ["task", "layer"])
def test_objective_gradient_wrt_coefficients(granularity):
    enc, tvs, heads, xs = _toy(1)
    shape = (2,) if granularity == "task" else (2, 2)
    lam0 = np.random.default_rng(2).uniform(0.2, 0.8, shape)  # inside (0, 1): away from the clamp's kinks

    def objective(lam):
        merged = am.merged_encoder(enc, tvs, lam, granularity)
        total = None
        for h, x in zip(heads, xs):
            sd = OrderedDict(merged)
            sd.update(h)
            e = am.entropy(am.forward(sd, x)).mean()
            total = e if total is None else total + e
        return total

    refimpl.gradcheck(objective, Tensor(lam0, requires_grad=True))


def test_layer_wise_merge_by_hand_and_clamp():
    enc = {"a": np.array([1.0]), "b": np.array([2.0])}
    tvs = [{"a": np.array([1.0]), "b": np.array([1.0])}, {"a": np.array([10.0]), "b": np.array([-1.0])}]
    lam = np.array([[0.5, 2.0], [-1.0, 0.25]])  # rows: tensors a, b; columns: tasks; clamped to [0, 1]
    out = am.merged_encoder(enc, tvs, lam, "layer")
    np.testing.assert_allclose(out["a"], [1.0 + 0.5 * 1 + 1.0 * 10])
    np.testing.assert_allclose(out["b"], [2.0 + 0.0 * 1 + 0.25 * -1])


def test_task_vectors_by_hand():
    a = {"w": np.array([0.0, 0.0])}
    b = {"w": np.array([2.0, 4.0])}
    # catalogue case: θ0 = [0,0], τ1 = [1,0], τ2 = [0,2], λ = [0.3, 0.5] → [0.3, 1.0]
    t1, t2 = {"w": np.array([1.0, 0.0])}, {"w": np.array([0.0, 2.0])}
    np.testing.assert_allclose(am.add_task_vectors(a, [t1, t2], [0.3, 0.5])["w"], [0.3, 1.0])
    np.testing.assert_allclose(am.add_task_vectors(a, [t1, t2], [{"w": 1.0}, {}])["w"], [1.0, 0.0])
    np.testing.assert_allclose(am.task_vector(b, a)["w"], [2.0, 4.0])
    zero = am.add_task_vectors(b, [am.task_vector(a, b)], [0.0])
    np.testing.assert_array_equal(zero["w"], b["w"])  # zero coefficient → base


def test_add_task_vectors_gradcheck_through_coefficients():
    rng = np.random.default_rng(0)
    base = OrderedDict([("0.weight", rng.standard_normal((4, 3))), ("0.bias", rng.standard_normal(4))])
    tau = OrderedDict((k, rng.standard_normal(v.shape)) for k, v in base.items())

    def f(lam):
        sd = am.add_task_vectors(base, [tau], [lam])
        return (sd["0.weight"] * sd["0.weight"]).sum() + sd["0.bias"].sum()

    refimpl.gradcheck(f, Tensor(np.array(0.3), requires_grad=True))


def test_family_contract_zero_coefficients_return_the_base():
    enc, tvs, _, _ = _toy(3)
    for g, shape in (("task", (2,)), ("layer", (2, 2))):
        out = am.merged_encoder(enc, tvs, np.zeros(shape), g)
        for k in enc:
            np.testing.assert_array_equal(out[k], enc[k])
    one = am.task_arithmetic(enc, [tvs[0]], 1.0)  # one fine-tune at λ = 1 → itself
    for k in enc:
        np.testing.assert_allclose(one[k], enc[k] + tvs[0][k])


def test_adamerging_lowers_the_entropy_and_stays_in_range():
    enc, tvs, heads, xs = _toy(4)
    r = am.adamerging(enc, tvs, heads, xs, granularity="layer", steps=30, lr=0.05, batch_size=16)
    assert r["loss"][-1] < r["loss"][0]
    assert r["lambdas"].shape == (2, 2) and r["lambdas"].min() >= 0 and r["lambdas"].max() <= 1
    with pytest.raises(ValueError, match="granularity"):
        am.adamerging(enc, tvs, heads, xs, granularity="neuron", steps=1)
    with pytest.raises(ValueError, match="head"):
        am.adamerging(enc, tvs, heads[:1], xs, steps=1)


def test_demo_reports_honestly(demo_result):
    """At toy scale the entropy falls but AdaMerging does not beat task arithmetic reliably; we check the
    mechanics and that the claim flag is what the numbers say."""
    r = demo_result("adamerging", 0)
    m = r["metrics"]
    assert m["entropy_end_layer"] < m["entropy_start_layer"]
    assert m["individual_avg_acc"] > m["task_arithmetic_0.3_avg_acc"] > m["pretrained_avg_acc"]
    assert r["claim"]["holds"] == (
        m["adamerging_layer_avg_acc"] >= m["adamerging_task_avg_acc"] >= m["task_arithmetic_0.3_avg_acc"]
        and m["adamerging_layer_avg_acc"] > m["task_arithmetic_0.3_avg_acc"]
    )


def test_single_task_mechanism_on_the_demo_setup(demo_result):
    """With one task the entropy objective works as intended: λ grows from 0.3 and the accuracy improves.
    (The toy's multi-task failure is interference between tasks, not the mechanics.)"""
    demo_result("adamerging", 0)  # trains (and caches) the setup
    th0, tasks = am._setup(0, True)
    t = tasks[0]
    tau = am.task_vector(t["encoder"], th0)
    r = am.adamerging(th0, [tau], [t["head"]], [t["x_test"]], granularity="task", steps=30)
    assert r["lambdas"][0] > 0.5
    before = am._accuracies(am.task_arithmetic(th0, [tau], 0.3), [t])[0]
    assert am._accuracies(r["state"], [t])[0] > before
