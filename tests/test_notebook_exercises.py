"""The solutions to the exercises at the end of the foundation notebooks (00-autograd, 01-training)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl import nn, optim
from refimpl.nn import functional as F


# --- 00-autograd -------------------------------------------------------------------------------------------
class Tanh(rf.Function):
    def forward(ctx, x):
        ctx.y = np.tanh(x)
        return ctx.y

    def backward(ctx, g):
        return (g * (1 - ctx.y * ctx.y),)


class WrongTanh(Tanh):
    def backward(ctx, g):
        return (g * (1 - ctx.y),)  # the square dropped


def test_00_exercise_1_your_own_tanh_and_a_broken_one():
    x = np.random.default_rng(0).normal(size=(3, 4))
    rf.gradcheck(lambda t: Tanh.apply(t), x)
    with pytest.raises(rf.GradcheckError):
        rf.gradcheck(lambda t: WrongTanh.apply(t), x)


def test_00_exercise_2_a_node_used_three_times():
    a = rf.tensor(np.array(3.0), requires_grad=True)
    c = (a * a) * a
    c.backward()
    assert float(a.grad) == 27.0  # dc/da = 3a² = 27: a reaches c along three paths


def test_00_exercise_3_softmax_vjp_is_the_jacobian_transpose_product():
    rng = np.random.default_rng(1)
    z, ybar = rng.normal(size=5), rng.normal(size=5)
    t = rf.tensor(z, requires_grad=True)
    y = F.softmax(t, -1)
    y.backward(ybar)
    s = y.data
    jacobian = np.diag(s) - np.outer(s, s)
    np.testing.assert_allclose(t.grad, jacobian.T @ ybar, rtol=1e-12, atol=1e-15)


# --- 01-training -------------------------------------------------------------------------------------------
def test_01_exercise_1_backward_twice_accumulates():
    rf.manual_seed(0)
    model = nn.MLP([4, 3, 2])
    x, y = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32), np.array([0, 1, 1, 0, 1])
    F.cross_entropy(model(rf.tensor(x)), y).backward()
    once = [p.grad.copy() for p in model.parameters()]
    F.cross_entropy(model(rf.tensor(x)), y).backward()  # no zero_grad in between
    for p, g in zip(model.parameters(), once):
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-6)  # the sum: a step twice as long


def test_01_exercise_2_parameter_count():
    model = nn.MLP([64, 128, 10])
    assert sum(p.size for p in model.parameters()) == 64 * 128 + 128 + 128 * 10 + 10 == 9610


def test_01_exercise_3_weight_norm_rows_stay_at_g_after_a_step():
    from refimpl.nn.parametrizations import weight_norm

    rf.manual_seed(1)
    model = nn.MLP([8, 6, 3])
    weight_norm(model[0])
    opt = optim.SGD(model.parameters(), lr=0.5)
    x, y = np.random.default_rng(2).normal(size=(16, 8)).astype(np.float32), np.arange(16) % 3
    F.cross_entropy(model(rf.tensor(x)), y).backward()
    opt.step()
    g = model[0].parametrizations.weight[0].g.data[:, 0]
    # W = g v/‖v‖: the division by ‖v‖ makes every row's length g, whatever the step did to v
    np.testing.assert_allclose(np.linalg.norm(model[0].weight.data, axis=1), g, rtol=1e-5)


# --- the notebooks themselves: exercises last, one solution test per exercise, the loop before `fit` -----------
def _cells(name):
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks" / name
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("name, prefix", [("00-autograd.ipynb", "00"), ("01-training.ipynb", "01")])
def test_foundation_notebook_ends_with_exercises_each_checked_here(name, prefix):
    import re

    last = _cells(name)[-1]
    text = "".join(last["source"])
    assert last["cell_type"] == "markdown" and text.startswith("## Exercises"), f"{name}: end with exercises"
    assert "tests/test_notebook_exercises.py" in text
    numbered = re.findall(r"^(\d+)\. ", text, flags=re.M)
    solutions = sorted(n for n in globals() if n.startswith(f"test_{prefix}_exercise_"))
    assert numbered == [str(i + 1) for i in range(len(numbered))] and len(numbered) >= 3
    assert [int(re.match(rf"test_{prefix}_exercise_(\d+)_", s).group(1)) for s in solutions] == [
        int(n) for n in numbered
    ], f"{name}: one solution test per exercise"


def test_01_training_writes_the_loop_out_before_fit():
    code = ["".join(c["source"]) for c in _cells("01-training.ipynb") if c["cell_type"] == "code"]
    first_fit = next(i for i, src in enumerate(code) if "fit(" in src and "def " not in src)
    loop = next((src for src in code[:first_fit] if "for " in src), "")
    for move in ("backward()", ".step()", "zero_grad()", "cross_entropy("):
        assert move in loop, f"the explicit loop before `fit` lacks {move}"
