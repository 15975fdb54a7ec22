"""`refimpl.compile`: a recorded-and-replayed step is bit-identical to the eager step (losses, gradients,
parameters, optimizer state, buffers) for an MLP, a CNN, a transformer block and every optimizer and
scheduler; what a recording cannot stand for is refused with a clear error, never replayed wrongly."""

import numpy as np
import pytest

import refimpl as rf
from refimpl import nn, optim
from refimpl.nn import functional as F
from refimpl.techniques.optimizers_training_rules.lamb import LAMB, LARS
from refimpl.techniques.optimizers_training_rules.lion_constrained import LionK

STEPS = 6


def _mlp():
    return nn.Sequential(
        nn.Linear(8, 16, rng=1),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.25, rng=5),
        nn.Linear(16, 3, rng=2),
    )


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, rng=2),
        nn.GELU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.1, rng=6),
        nn.Linear(6 * 2 * 2, 3, rng=3),
    )


class _Block(nn.Module):
    """Embedding → transformer block (attention, layer norm, GELU MLP) → mean over tokens → logits."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 8, rng=1)
        self.block = nn.TransformerBlock(8, 2, 16, rng=2)
        self.head = nn.Linear(8, 3, rng=3)

    def forward(self, idx):
        h = self.block(self.emb(idx))
        return self.head(h.mean(axis=1))


def _data(kind, n=STEPS, seed=0):
    g = np.random.default_rng(seed)
    if kind == "mlp":
        xs = g.normal(size=(n, 12, 8)).astype(np.float32)
    elif kind == "cnn":
        xs = g.normal(size=(n, 5, 1, 8, 8)).astype(np.float32)
    else:
        xs = g.integers(0, 11, size=(n, 4, 5))
    ys = g.integers(0, 3, size=(n, xs.shape[1]))
    return xs, ys


MODELS = {"mlp": _mlp, "cnn": _cnn, "block": _Block}

OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.05),
    "sgd-nesterov-wd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam-amsgrad": lambda p: optim.Adam(p, lr=1e-2, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "lamb": lambda p: LAMB(p, lr=1e-2),
    "lars": lambda p: LARS(p, lr=0.1),
    "lion-k": lambda p: LionK(p, lr=1e-3),
}


def _setup(model_kind, opt_kind, schedule=False, clip=False):
    rf.manual_seed(0)
    model = MODELS[model_kind]()
    opt = OPTIMIZERS[opt_kind](model.parameters())
    sched = optim.warmup_cosine(opt, warmup=2, total=STEPS + 2) if schedule else None

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(rf.tensor(x)), y)
        loss.backward()
        if clip:
            optim.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        if sched is not None:
            sched.step()
        return loss

    return model, opt, step


def _state(model, opt):
    params = [(p.data.copy(), None if p.grad is None else p.grad.copy()) for p in model.parameters()]
    buffers = [np.array(b) for _, b in model.named_buffers()] if hasattr(model, "named_buffers") else []
    return params, buffers, opt.state_dict()


def _assert_identical(a, b):
    (pa, ba, sa), (pb, bb, sb) = a, b
    for (da, ga), (db, gb) in zip(pa, pb):
        assert np.array_equal(da, db) and da.dtype == db.dtype
        assert (ga is None) == (gb is None) and (ga is None or np.array_equal(ga, gb))
    for x, y in zip(ba, bb):
        assert np.array_equal(x, y)
    assert sa["param_groups"] == sb["param_groups"]
    for k in sa["state"]:
        for name, v in sa["state"][k].items():
            assert np.array_equal(np.asarray(v), np.asarray(sb["state"][k][name])), name


@pytest.mark.parametrize("model_kind", sorted(MODELS))
@pytest.mark.parametrize("opt_kind", sorted(OPTIMIZERS))
def test_replayed_step_is_bit_identical_to_eager(model_kind, opt_kind):
    xs, ys = _data(model_kind)
    m_eager, o_eager, s_eager = _setup(model_kind, opt_kind, schedule=True, clip=True)
    m_comp, o_comp, s_comp = _setup(model_kind, opt_kind, schedule=True, clip=True)
    compiled = rf.compile(s_comp)
    for x, y in zip(xs, ys):
        le, lc = s_eager(x, y), compiled(x, y)
        assert np.array_equal(le.data, lc.data)
        _assert_identical(_state(m_eager, o_eager), _state(m_comp, o_comp))
    assert compiled.stats == {"recorded": 2, "checked": 1, "replayed": STEPS - 3, "eager": 0}


def test_running_statistics_move_at_every_replay():
    xs, ys = _data("mlp", n=8)
    model, opt, step = _setup("mlp", "sgd")
    compiled = rf.compile(step)
    seen = []
    for x, y in zip(xs, ys):
        before = model[1].running_mean.copy()
        compiled(x, y)
        seen.append(model[1].running_mean - before)
    assert int(model[1].num_batches_tracked) == 8
    assert all(np.abs(d).max() > 0 for d in seen)  # the replays moved the running statistics too


def test_eval_step_reads_the_current_running_statistics():
    """A compiled evaluation step replays batch norm with the running statistics as they are now, not
    as they were when it was recorded (training in between moves them)."""
    xs, ys = _data("mlp", n=6)
    model, opt, step = _setup("mlp", "sgd")

    @rf.compile
    def evaluate(x):
        with rf.no_grad():
            return model(rf.tensor(x))

    model.eval()
    for _ in range(3):
        evaluate(xs[0])
    model.train()
    for x, y in zip(xs, ys):
        step(x, y)
    model.eval()
    replayed = evaluate(xs[0]).data
    eager = model(rf.tensor(xs[0])).data
    assert np.array_equal(replayed, eager)
    assert evaluate.stats["replayed"] >= 1


def test_new_shape_records_again_or_raises():
    xs, ys = _data("mlp")
    _, _, step = _setup("mlp", "sgd")
    compiled = rf.compile(step)
    for x, y in zip(xs[:3], ys[:3]):
        compiled(x, y)
    compiled(xs[3][:5], ys[3][:5])  # a smaller last batch: its own recording
    assert compiled.stats["recorded"] == 3
    strict = rf.compile(_setup("mlp", "sgd")[2], on_new_shape="raise")
    strict(xs[0], ys[0])
    with pytest.raises(rf.TraceError, match="other argument shapes"):
        strict(xs[1][:5], ys[1][:5])


def test_constant_computed_outside_the_ops_is_refused():
    """A NumPy mask made from x.data would be frozen by a replay: the second recording sees it change."""
    model = nn.Linear(4, 2, rng=0)

    @rf.compile
    def step(x):
        h = model(rf.tensor(x))
        keep = (h.data > 0).astype(np.float32)  # computed outside the ops
        return (h * keep).sum()

    g = np.random.default_rng(1)
    step(g.normal(size=(3, 4)).astype(np.float32))
    with pytest.raises(rf.TraceError, match="constant computed outside the ops"):
        step(g.normal(size=(3, 4)).astype(np.float32))


def test_data_dependent_control_flow_is_refused():
    model = nn.Linear(4, 1, rng=0)

    @rf.compile
    def step(x):
        out = model(rf.tensor(x)).sum()
        return out.relu() if float(out.data) > 0 else out.exp()

    step(np.ones((2, 4), np.float32))
    with pytest.raises(rf.TraceError, match="different things|different place|changed"):
        step(-np.ones((2, 4), np.float32) * 10)


def test_untracked_parameter_update_is_caught_by_the_third_call_check():
    """`p.data *= mask` in NumPy inside the step is invisible to the tape: the third call, run both ways
    from the same state, must disagree and say so."""
    rf.manual_seed(0)
    model = nn.Linear(4, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    mask = np.array([[1, 0, 1, 1], [0, 1, 1, 1]], np.float32)

    @rf.compile
    def step(x):
        opt.zero_grad()
        loss = (model(rf.tensor(x)) ** 2).mean()
        loss.backward()
        opt.step()
        model.weight.data *= mask  # not an op, not an effect
        return loss

    g = np.random.default_rng(0)
    step(g.normal(size=(3, 4)).astype(np.float32))
    step(g.normal(size=(3, 4)).astype(np.float32))
    with pytest.raises(rf.TraceError, match="differs from the eager one"):
        step(g.normal(size=(3, 4)).astype(np.float32))


def test_the_same_mask_as_an_optimizer_hook_replays_exactly():
    """The supported way: the mask as an optimizer effect (`mask_` in a step post-hook)."""

    def run(compiled):
        rf.manual_seed(0)
        model = nn.Linear(4, 2, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        mask = np.array([[1, 0, 1, 1], [0, 1, 1, 1]], np.float32)
        opt.register_step_post_hook(lambda o: o.mask_(model.weight, mask))

        def step(x):
            opt.zero_grad()
            loss = (model(rf.tensor(x)) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = rf.compile(step) if compiled else step
        g = np.random.default_rng(0)
        losses = [float(fn(g.normal(size=(3, 4)).astype(np.float32)).data) for _ in range(6)]
        return losses, model.weight.data

    (le, we), (lc, wc) = run(False), run(True)
    assert le == lc and np.array_equal(we, wc)
    assert np.all(wc[[0, 1], [1, 0]] == 0)


def test_source_is_straight_line_code_with_one_call_per_op_vjp_and_effect():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    opt = optim.SGD(model.parameters(), lr=0.1)

    @rf.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(rf.tensor(x)), y)
        loss.backward()
        opt.step()
        return loss

    assert "nothing replayable" in step.source()
    x, y = np.ones((5, 3), np.float32), np.array([0, 1, 1, 0, 1])
    for _ in range(4):
        step(x, y)
    src = step.source()
    calls = [
        line.split("=", 1)[1].split("(")[0].strip()
        for line in src.splitlines()
        if " = " in line and "(" in line
    ]
    forwards = [
        c.rstrip("0123456789").rstrip("_") for c in calls if "_vjp" not in c and c.split("_")[0][:1].isupper()
    ]
    vjps = [c.split("_vjp")[0] for c in calls if "_vjp" in c]
    assert forwards == ["Linear", "ReLU", "Linear", "CrossEntropy"]
    assert vjps == ["CrossEntropy", "Linear", "ReLU", "Linear"]  # the backward walk, in reverse
    assert (
        src.count("effect") == 2 and "for " not in src.split("def replay", 1)[1]
    )  # zero_grad and step, no loop
    assert step.stats["replayed"] == 1


def test_arguments_and_refusals_are_explained():
    model = nn.Linear(2, 1, rng=0)
    with pytest.raises(TypeError, match="callable"):
        rf.compile(3)
    with pytest.raises(ValueError, match="on_new_shape"):
        rf.compile(lambda x: x, on_new_shape="sometimes")
    with pytest.raises(TypeError, match="data"):
        rf.compile(lambda w: w)(rf.tensor(np.ones(2, np.float32), requires_grad=True))

    @rf.compile
    def returns_float(x):
        return float(model(rf.tensor(x)).sum().data)

    with pytest.raises(rf.TraceError, match="must return a Tensor"):
        returns_float(np.ones((1, 2), np.float32))

    @rf.compile
    def second_order(x):
        w = model.weight
        (g,) = rf.grad((model(rf.tensor(x)) ** 2).sum(), [w], create_graph=True)
        return g.sum()

    with pytest.raises(RuntimeError, match="cannot be recorded"):
        second_order(np.ones((1, 2), np.float32))
    assert rf.Tensor._tape is None  # a failed recording leaves no tape behind


def test_decorator_with_arguments_and_check_off():
    model = nn.Linear(3, 1, rng=0)

    @rf.compile(check=False)
    def f(x):
        return model(rf.tensor(x)).sum()

    xs = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    out = [float(f(x).data) for x in xs]
    assert out == [float(model(rf.tensor(x)).sum().data) for x in xs]
    assert f.stats == {"recorded": 2, "checked": 0, "replayed": 3, "eager": 0}


def test_fallback_goes_back_to_eager_with_the_eager_results():
    """With fallback=True a step that cannot be replayed keeps running eagerly, and every call's result
    is the eager one (every TraceError comes after a complete eager call)."""

    def run(compiled):
        model = nn.Linear(4, 2, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            h = model(rf.tensor(x))
            keep = (h.data > 0).astype(np.float32)  # outside the ops: not replayable
            loss = (h * keep).sum()
            loss.backward()
            opt.step()
            return loss

        fn = rf.compile(step, fallback=True) if compiled else step
        g = np.random.default_rng(3)
        out = [float(fn(g.normal(size=(3, 4)).astype(np.float32)).data) for _ in range(5)]
        return out, model.weight.data, fn

    (le, we, _), (lc, wc, fn) = run(False), run(True)
    assert le == lc and np.array_equal(we, wc)
    assert "constant computed outside the ops" in fn.fallback_reason
    assert fn.stats["replayed"] == 0 and fn.stats["eager"] == 3


def test_watch_catches_a_python_attribute_the_step_changes():
    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1, rng=0)
            self.calls = 0

        def forward(self, x):
            self.calls += 1  # Python state: a replay would not count
            return self.lin(x)

    model = Counting()
    step = rf.compile(lambda x: model(rf.tensor(x)).sum(), watch=(model,))
    xs = np.ones((4, 2, 3), np.float32)
    step(xs[0])
    step(xs[1])
    with pytest.raises(rf.TraceError, match="state of Counting"):
        step(xs[2])
    assert model.calls == 3  # the check left the eager call's state


# --- fit and the experiment harness -------------------------------------------------------------------
def _fit(compile, callbacks=(), clip=None):
    from refimpl.train import fit

    rf.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8, rng=0), nn.ReLU(), nn.Dropout(0.2, rng=1), nn.Linear(8, 3, rng=2))
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    g = np.random.default_rng(0)
    x, y = g.normal(size=(50, 5)).astype(np.float32), g.integers(0, 3, 50)
    hist = fit(
        model,
        F.cross_entropy,
        (x, y),
        opt,
        epochs=3,
        batch_size=16,
        callbacks=callbacks,
        progress=False,
        clip_grad_norm=clip,
        compile=compile,
    )
    return hist, [p.data for p in model.parameters()]


def test_fit_with_compile_is_bit_identical_to_eager_fit():
    """Batches of 16 with a last batch of 2: two recordings (one per shape), clipping as an effect."""
    (he, pe), (hc, pc) = _fit(False, clip=0.5), _fit(True, clip=0.5)
    assert he["step_loss"] == hc["step_loss"] and he["loss"] == hc["loss"]
    assert all(np.array_equal(a, b) for a, b in zip(pe, pc))


def test_fit_compile_refuses_after_backward_hooks_and_auto_stays_eager():
    from refimpl.train import LambdaCallback

    hook = LambdaCallback(after_backward=lambda s: None)
    with pytest.raises(ValueError, match="after_backward"):
        _fit(True, callbacks=[hook])
    seen = []
    spy = LambdaCallback(on_step_end=lambda s: seen.append(s.output is not None))
    _fit("auto", callbacks=[spy])
    assert seen and all(seen)  # "auto" saw a callback that might read the output: it trained eagerly


def test_quick_runs_of_the_harness_compile_their_training_steps():
    from refimpl.experiments import experiment
    from refimpl.experiments.training import COMPILE_STEPS

    modes = []

    @experiment("global-magnitude-pruning", seeds=range(3), quick_seeds=(0,))
    def run(quick, seeds, progress):
        modes.append(COMPILE_STEPS.get())
        raise RuntimeError("stop here")  # the mode is all this test needs

    for quick in (True, False):
        with pytest.raises(RuntimeError, match="stop here"):
            run(quick=quick)
    assert modes == [True, False] and COMPILE_STEPS.get() is False


def test_replay_never_hands_one_gradient_array_to_two_leaves():
    """`a + b` gives both inputs the same upstream array: the replayed backward, like the eager one, keeps
    each leaf's .grad its own array, so an in-place change of one (a clip) cannot reach the other."""
    a = rf.tensor(np.ones(3, np.float32), requires_grad=True)
    b = rf.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)  # only its zero_grad is used

    @rf.compile
    def step(x):
        opt.zero_grad()
        loss = ((a + b) * rf.tensor(x)).sum()
        loss.backward()
        return loss

    x = np.arange(3, dtype=np.float32)
    for _ in range(5):
        step(x)
    assert step.stats["replayed"] >= 2
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    a.grad *= 0
    np.testing.assert_array_equal(b.grad, x)


def test_fast_path_replays_only_the_recorded_shapes_and_dtypes():
    """After a replay, a call with the same array shapes and dtypes skips building the signature; any
    other argument (a new shape, a new dtype, a Tensor, a keyword) goes the documented slow way."""
    w = rf.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)  # only its zero_grad is used

    @rf.compile
    def f(x):
        opt.zero_grad()
        loss = (w * rf.tensor(x)).sum()
        loss.backward()
        return loss

    for _ in range(4):
        assert float(f(np.array([1.0, 2.0])).data) == 3.0
    replayed = f.stats["replayed"]
    assert float(f(np.array([3.0, 4.0])).data) == 7.0 and f.stats["replayed"] == replayed + 1
    recorded = f.stats["recorded"]
    assert float(f(np.array([1.0, 2.0], np.float32)).data) == 3.0  # a new dtype: recorded anew
    assert f.stats["recorded"] == recorded + 1
    assert float(f(rf.tensor(np.array([2.0, 2.0]))).data) == 4.0
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])
