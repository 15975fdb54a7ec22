"""refimpl.optim: optimizers against hand computations, groups, state_dict, hooks, clipping, schedules.

Every expected number below is worked out by hand from the update rules written in the module
docstrings (the arithmetic is shown in the comments), not produced by the code under test.
"""

import math

import numpy as np
import pytest

import refimpl
from refimpl.nn import Parameter
from refimpl.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    SequentialLR,
    StepLR,
    clip_grad_norm_,
    clip_grad_value_,
    warmup_cosine,
)


def P(*values):
    return Parameter(np.array(values, dtype=np.float64))


def run(opt, p, grads):
    for g in grads:
        p.grad = np.array(g, dtype=np.float64)
        opt.step()
    return p.data


def close(actual, expected, tol=1e-12):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    err = np.abs(actual - expected)
    i = int(np.argmax(err)) if err.size else 0
    assert np.allclose(actual, expected, rtol=tol, atol=tol), (
        f"max abs err {err.max():.3g} at index {i}: "
        f"got {actual.ravel()[i]!r}, expected {expected.ravel()[i]!r}"
    )


# --- SGD: hand computations ------------------------------------------------------------------------
def test_sgd_plain_step():
    # θ1 = θ0 − γ g = [1, −2] − 0.1·[0.5, 0.25]
    close(run(SGD([p := P(1, -2)], lr=0.1), p, [[0.5, 0.25]]), [0.95, -2.025])


def test_sgd_weight_decay_and_maximize():
    # d = g + λθ = [0.5 + 0.1·1, 0.25 + 0.1·(−2)] = [0.6, 0.05];  θ1 = θ0 − 0.1 d = [0.94, −2.005]
    close(run(SGD([p := P(1, -2)], lr=0.1, weight_decay=0.1), p, [[0.5, 0.25]]), [0.94, -2.005])
    # maximize: d = −g → θ1 = θ0 + 0.1 g = [1.05, −1.975]
    close(run(SGD([p := P(1, -2)], lr=0.1, maximize=True), p, [[0.5, 0.25]]), [1.05, -1.975])


def test_sgd_momentum_dampening_two_steps():
    # μ = 0.9, τ = 0.5, γ = 0.1, θ0 = [1, −2], g1 = [1, −2], g2 = [0.5, 0.5]
    # step 1: b1 = g1 (no dampening on the first step) = [1, −2];  θ1 = [0.9, −1.8]
    # step 2: b2 = 0.9·[1, −2] + 0.5·[0.5, 0.5] = [1.15, −1.55];  θ2 = θ1 − 0.1 b2 = [0.785, −1.645]
    opt = SGD([p := P(1, -2)], lr=0.1, momentum=0.9, dampening=0.5)
    close(run(opt, p, [[1, -2]]), [0.9, -1.8])
    close(run(opt, p, [[0.5, 0.5]]), [0.785, -1.645])
    close(opt.state[p]["momentum_buffer"], [1.15, -1.55])


def test_sgd_nesterov_two_steps():
    # μ = 0.9, γ = 0.1;  step 1: b1 = [1, −2], d = g1 + μ b1 = [1.9, −3.8], θ1 = [0.81, −1.62]
    # step 2: b2 = 0.9·[1, −2] + [0.5, 0.5] = [1.4, −1.3];  d = [0.5, 0.5] + 0.9·b2 = [1.76, −0.67]
    #         θ2 = [0.81 − 0.176, −1.62 + 0.067] = [0.634, −1.553]
    opt = SGD([p := P(1, -2)], lr=0.1, momentum=0.9, nesterov=True)
    close(run(opt, p, [[1, -2]]), [0.81, -1.62])
    close(run(opt, p, [[0.5, 0.5]]), [0.634, -1.553])


# --- Adam / AdamW: hand computations ---------------------------------------------------------------
def test_adam_first_step_is_signed_lr():
    # m1/(1−β1) = g, sqrt(v1/(1−β2)) = |g| → θ1 = θ0 − γ g/(|g| + ε); with ε = 0.5 (to see it):
    # [1 − 0.1·0.5/1.0, −2 − 0.1·(−1.5)/2.0] = [0.95, −1.925]
    close(run(Adam([p := P(1, -2)], lr=0.1, eps=0.5), p, [[0.5, -1.5]]), [0.95, -1.925])
    # default ε = 1e-8: a step of ±lr up to ε/|g|
    close(run(Adam([p := P(1, -2)], lr=0.1), p, [[0.5, -1.5]]), [0.9, -1.9], tol=1e-8)


def test_adam_two_steps_bias_correction():
    # β1 = β2 = 0.5, ε = 0, γ = 0.1, g1 = [1, −2], g2 = [3, 2]
    # m1 = [0.5, −1], v1 = [0.5, 2];  step 1 = γ·sign(g1) → θ1 = [0.9, −1.9]
    # m2 = 0.5 m1 + 0.5 g2 = [1.75, 0.5];  v2 = 0.5 v1 + 0.5 g2² = [4.75, 3]
    # bias corrections 1 − 0.25 = 0.75: m̂ = [7/3, 2/3], v̂ = [19/3, 4]
    # θ2 = θ1 − 0.1 m̂/sqrt(v̂) = [0.9 − 0.1·(7/3)/sqrt(19/3), −1.9 − 0.1·(2/3)/2]
    opt = Adam([p := P(1, -2)], lr=0.1, betas=(0.5, 0.5), eps=0.0)
    close(run(opt, p, [[1, -2]]), [0.9, -1.9])
    close(run(opt, p, [[3, 2]]), [0.9 - 0.1 * (7 / 3) / math.sqrt(19 / 3), -1.9 - 1 / 30])
    close(opt.state[p]["exp_avg"], [1.75, 0.5])
    close(opt.state[p]["exp_avg_sq"], [4.75, 3.0])
    assert opt.state[p]["step"] == 2


def test_amsgrad_uses_max_second_moment():
    # β1 = β2 = 0.5, ε = 0, γ = 0.1, g1 = [2, 2], g2 = [0.5, 0.5]:  m2 = [0.75]*2, v1 = [2]*2,
    # v2 = 0.5·2 + 0.5·0.25 = 1.125 < v1, so AMSGrad keeps v̂ = 2.
    # Adam:    step 2 = (0.1/0.75)·0.75 / sqrt(1.125/0.75) = 0.1/sqrt(1.5)
    # AMSGrad: step 2 = (0.1/0.75)·0.75 / sqrt(2/0.75)     = 0.1·sqrt(0.375)
    for amsgrad, step2 in [(False, 0.1 / math.sqrt(1.5)), (True, 0.1 * math.sqrt(0.375))]:
        opt = Adam([p := P(1, -2)], lr=0.1, betas=(0.5, 0.5), eps=0.0, amsgrad=amsgrad)
        close(run(opt, p, [[2, 2], [0.5, 0.5]]), [1 - 0.1 - step2, -2 - 0.1 - step2])


def test_adamw_decoupled_decay_vs_adam_l2():
    # AdamW, γ = 0.1, λ = 0.5, ε = 0.5: θ ← θ(1 − 0.05) = [0.95, −1.9], then the Adam step
    # −γ g/(|g|+ε) = [−0.05, +0.075] → [0.9, −1.825]
    close(run(AdamW([p := P(1, -2)], lr=0.1, weight_decay=0.5, eps=0.5), p, [[0.5, -1.5]]), [0.9, -1.825])
    # Adam with L2: d = g + λθ = [1.0, −2.5], θ1 = θ0 − 0.1 d/(|d| + 0.5) = [1 − 1/15, −2 + 1/12]
    close(
        run(Adam([p := P(1, -2)], lr=0.1, weight_decay=0.5, eps=0.5), p, [[0.5, -1.5]]),
        [1 - 1 / 15, -2 + 1 / 12],
    )
    assert AdamW([P(1.0)]).param_groups[0]["weight_decay"] == 1e-2


# --- behaviour shared by the optimizers -------------------------------------------------------------
ALL = [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: Adam(ps, lr=0.1),
    lambda ps: Adam(ps, lr=0.1, amsgrad=True),
    lambda ps: AdamW(ps, lr=0.1, weight_decay=0.0),
]


@pytest.mark.parametrize("make", ALL)
def test_zero_grad_without_decay_moves_nothing(make):
    p = P(1.5, -0.5)
    opt = make([p])
    for _ in range(3):
        p.grad = np.zeros(2)
        opt.step()
    assert np.array_equal(p.data, [1.5, -0.5])


@pytest.mark.parametrize("make", ALL)
def test_grad_none_is_skipped(make):
    a, b = P(1.0, 2.0), P(3.0, 4.0)
    opt = make([a, b])
    a.grad = np.array([0.5, -0.5])
    opt.step()
    assert np.array_equal(b.data, [3.0, 4.0]) and b not in opt.state
    assert not np.array_equal(a.data, [1.0, 2.0])


@pytest.mark.parametrize("make", ALL)
def test_in_place_keeps_array_and_grad_and_dtype(make):
    p = Parameter(np.array([1.0, -2.0], dtype=np.float32))
    arr = p.data
    g = np.array([0.25, 0.5], dtype=np.float32)
    p.grad = g.copy()
    make([p]).step()
    assert p.data is arr and p.data.dtype == np.float32
    assert np.array_equal(p.grad, g)


def test_param_groups_with_different_lr_and_defaults():
    a, b = P(1.0, 1.0), P(1.0, 1.0)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1, momentum=0.5)
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[0]["lr"] == 0.1
    a.grad = np.array([1.0, 2.0])
    b.grad = np.array([1.0, 2.0])
    opt.step()
    close(a.data, [0.9, 0.8])
    close(b.data, [0.0, -1.0])


def test_add_param_group_and_errors():
    a, b = P(1.0), P(2.0)
    opt = Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="params"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params"):
        SGD(a, lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\]"):
        SGD([a, np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="'lr'"):
        SGD([a])


def test_zero_grad():
    p = P(1.0, 2.0)
    opt = SGD([p], lr=0.1)
    p.grad = g = np.array([3.0, 4.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.array_equal(g, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_closure_returns_loss():
    p = P(2.0)
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.data) == 4.0
    close(p.data, [1.0])  # θ − 0.25·2θ = θ/2


def test_trains_a_linear_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    model = refimpl.nn.Linear(3, 1, dtype=np.float64, rng=np.random.default_rng(1))
    opt = AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = refimpl.nn.functional.mse_loss(model(refimpl.tensor(x)), refimpl.tensor(y))
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert losses[-1] < 1e-3 * losses[0]


# --- state_dict ---------------------------------------------------------------------------------
CONFIGS = [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, dict(lr=0.1, momentum=0.5, dampening=0.3)),
    (Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    (AdamW, dict(lr=0.05, betas=(0.8, 0.9))),
]


@pytest.mark.parametrize("cls,kw", CONFIGS)
def test_state_dict_round_trip_resumes_identically(cls, kw):
    rng = np.random.default_rng(0)
    init = [rng.normal(size=(3, 2)), rng.normal(size=(4,))]
    grads = [[rng.normal(size=a.shape) for a in init] for _ in range(6)]

    def steps(opt, params, gs):
        for g in gs:
            for p, gi in zip(params, g):
                p.grad = gi.copy()
            opt.step()

    straight = [Parameter(a.copy()) for a in init]
    opt = cls([{"params": straight[:1]}, {"params": straight[1:], "lr": 0.02}], **kw)
    steps(opt, straight, grads)

    first = [Parameter(a.copy()) for a in init]
    opt1 = cls([{"params": first[:1]}, {"params": first[1:], "lr": 0.02}], **kw)
    steps(opt1, first, grads[:3])
    sd = opt1.state_dict()
    after3 = [p.data.copy() for p in first]
    snapshot = {k: {n: np.copy(v) for n, v in s.items()} for k, s in sd["state"].items()}
    steps(opt1, first, grads[3:4])  # the saved arrays are copies: stepping on does not change them
    for k, s in sd["state"].items():
        for n, v in s.items():
            assert np.array_equal(v, snapshot[k][n])

    second = [Parameter(a) for a in after3]
    opt2 = cls([{"params": second[:1]}, {"params": second[1:]}], lr=0.5)  # lrs come back from load
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.02
    steps(opt2, second, grads[3:])
    for k, s in sd["state"].items():  # loading copied the arrays in: sd is still the 3-step state
        for n, v in s.items():
            assert np.array_equal(v, snapshot[k][n])
    for a, b in zip(straight, second):
        close(b.data, a.data, tol=0)


def test_load_state_dict_mismatch_errors():
    a, b = P(1.0, 2.0), P(3.0)
    opt = Adam([a, b], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(1)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        Adam([{"params": [P(1.0, 2.0)]}, {"params": [P(3.0)]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameters"):
        Adam([P(1.0, 2.0)]).load_state_dict(sd)
    with pytest.raises(ValueError, match="shape"):
        Adam([P(1.0, 2.0, 3.0), P(3.0)]).load_state_dict(sd)


# --- hooks and masks ---------------------------------------------------------------------------
def test_post_hook_and_mask_keep_pruned_weights_and_state_at_zero():
    p = P(1.0, 2.0, 3.0)
    mask = np.array([1.0, 0.0, 1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    calls = []
    handle = opt.register_step_post_hook(lambda o: (calls.append(o), o.mask_(p, mask)))
    for _ in range(3):
        p.grad = np.array([1.0, 1.0, 1.0])
        opt.step()
    assert calls == [opt] * 3
    assert p.data[1] == 0.0 and opt.state[p]["momentum_buffer"][1] == 0.0
    assert p.data[0] != 0.0 and opt.state[p]["momentum_buffer"][0] != 0.0
    handle.remove()
    p.grad = np.array([1.0, 1.0, 1.0])
    opt.step()
    assert len(calls) == 3 and p.data[1] == -0.1  # without the hook the pruned weight moves again


def test_mask_zeroes_adam_moments():
    p = P(1.0, 2.0)
    opt = Adam([p], lr=0.1)
    p.grad = np.array([1.0, 1.0])
    opt.step()
    opt.mask_(p, np.array([0, 1]))
    st = opt.state[p]
    assert p.data[0] == 0 and st["exp_avg"][0] == 0 and st["exp_avg_sq"][0] == 0 and st["step"] == 1
    with pytest.raises(ValueError, match="mask"):
        opt.mask_(p, np.ones(3))


# --- hyperparameter validation -----------------------------------------------------------------
@pytest.mark.parametrize(
    "make,name,exc",
    [
        (lambda ps: SGD(ps, lr=0.0), "lr", ValueError),
        (lambda ps: SGD(ps, lr=-1.0), "lr", ValueError),
        (lambda ps: SGD(ps, lr="0.1"), "lr", TypeError),
        (lambda ps: SGD(ps, lr=0.1, momentum=-0.1), "momentum", ValueError),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1e-4), "weight_decay", ValueError),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov", ValueError),
        (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov", ValueError),
        (lambda ps: Adam(ps, lr=0.0), "lr", ValueError),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]", ValueError),
        (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]", ValueError),
        (lambda ps: Adam(ps, betas=0.9), "betas", TypeError),
        (lambda ps: Adam(ps, eps=-1e-8), "eps", ValueError),
        (lambda ps: AdamW(ps, weight_decay=-0.01), "weight_decay", ValueError),
        (lambda ps: Adam([{"params": ps, "lr": -0.1}]), "lr", ValueError),
    ],
)
def test_bad_hyperparameters_name_the_argument(make, name, exc):
    with pytest.raises(exc, match=name):
        make([P(1.0)])


def test_lr_message_format():
    with pytest.raises(ValueError, match=r"lr must be > 0, got 0\.0"):
        SGD([P(1.0)], lr=0)


# --- gradient clipping -------------------------------------------------------------------------
def test_clip_grad_norm_hand_case():
    p = P(0.0, 0.0)
    p.grad = np.array([3.0, 4.0])
    total = clip_grad_norm_([p], max_norm=1.0)
    assert total == 5.0
    close(p.grad, [0.6, 0.8], tol=1e-6)  # coef = 1/(5 + 1e-6)
    close(p.grad, [3 / (5 + 1e-6), 4 / (5 + 1e-6)])


def test_clip_grad_norm_is_global_and_skips_none():
    a, b, c = P(0.0), P(0.0), P(0.0, 0.0)
    a.grad, b.grad = np.array([3.0]), np.array([4.0])
    assert clip_grad_norm_([a, b, c], 10.0) == 5.0  # below max_norm: coef clamped to 1
    assert a.grad[0] == 3.0 and b.grad[0] == 4.0 and c.grad is None
    assert clip_grad_norm_([a, b], 2.0, norm_type=math.inf) == 4.0
    close([a.grad[0], b.grad[0]], [3 * 2 / (4 + 1e-6), 4 * 2 / (4 + 1e-6)])
    a.grad, b.grad = np.array([3.0]), np.array([-4.0])
    assert clip_grad_norm_([a, b], 100.0, norm_type=1) == 7.0
    assert clip_grad_norm_([c], 1.0) == 0.0


def test_clip_errors_and_value():
    p = P(0.0, 0.0, 0.0)
    p.grad = np.array([-3.0, 0.5, 2.0])
    clip_grad_value_(p, 1.0)
    assert np.array_equal(p.grad, [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_([p], -1.0)
    p.grad = np.array([np.inf, 0.0, 0.0])
    with pytest.raises(RuntimeError, match="norm"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# --- schedules against their closed forms -------------------------------------------------------
def lrs(make, n, base=(0.1,)):
    opt = SGD([{"params": [P(0.0)], "lr": b} for b in base], lr=1.0)
    sched = make(opt)
    out = []
    for _ in range(n):
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        out.append(sched.get_last_lr())
        opt.step()
        sched.step()
    return np.array(out)


def test_step_and_multistep_and_exponential():
    close(
        lrs(lambda o: StepLR(o, step_size=3, gamma=0.5), 8)[:, 0],
        0.1 * np.array([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]),
    )
    close(
        lrs(lambda o: MultiStepLR(o, [2, 5], gamma=0.1), 7)[:, 0], [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001]
    )
    close(lrs(lambda o: ExponentialLR(o, gamma=0.5), 4)[:, 0], [0.1, 0.05, 0.025, 0.0125])


def test_cosine_closed_form_and_period():
    r = math.sqrt(2) / 2  # cos(π/4)
    # η(e) = η_min + (η0 − η_min)(1 + cos(π e/4))/2 with η0 = 1, η_min = 0.2
    expected = [1.0, 0.2 + 0.8 * (1 + r) / 2, 0.6, 0.2 + 0.8 * (1 - r) / 2, 0.2, 0.2 + 0.8 * (1 - r) / 2, 0.6]
    close(lrs(lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.2), 7, base=(1.0,))[:, 0], expected)


def test_linear_and_lambda_with_two_groups():
    out = lrs(lambda o: LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=3), 5, base=(0.1, 1.0))
    close(out, np.outer([0.25, 0.5, 0.75, 1.0, 1.0], [0.1, 1.0]))
    out = lrs(lambda o: LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 2.0**e]), 3, base=(0.1, 1.0))
    close(out, [[0.1, 1.0], [0.05, 2.0], [0.1 / 3, 4.0]])


def test_sequential_and_warmup_cosine():
    # warm-up 2 steps from 0, then cosine over 4: e = 0, 1 → 0, 0.5;  e = 2.. → (1 + cos(π(e−2)/4))/2
    r = math.sqrt(2) / 2
    close(
        lrs(lambda o: warmup_cosine(o, warmup=2, total=6), 7, base=(1.0,))[:, 0],
        [0, 0.5, 1, (1 + r) / 2, 0.5, (1 - r) / 2, 0],
    )
    close(lrs(lambda o: warmup_cosine(o, warmup=0, total=4), 3, base=(1.0,))[:, 0], [1, (1 + r) / 2, 0.5])

    def seq(o):
        return SequentialLR(o, [StepLR(o, 1, gamma=0.5), ExponentialLR(o, 0.1)], milestones=[3])

    close(lrs(seq, 6, base=(1.0,))[:, 0], [1, 0.5, 0.25, 1, 0.1, 0.01])


def test_scheduler_state_dict_resumes():
    opt = SGD([P(0.0)], lr=1.0)
    sched = warmup_cosine(opt, warmup=3, total=10)
    for _ in range(4):
        sched.step()
    sd = sched.state_dict()
    expected = [sched.get_last_lr()]
    for _ in range(3):
        sched.step()
        expected.append(sched.get_last_lr())
    opt2 = SGD([P(0.0)], lr=1.0)
    sched2 = warmup_cosine(opt2, warmup=3, total=10)
    sched2.load_state_dict(sd)
    got = [sched2.get_last_lr()]
    for _ in range(3):
        sched2.step()
        got.append(sched2.get_last_lr())
    close(got, expected, tol=0)


def test_scheduler_bad_arguments():
    opt = SGD([P(0.0)], lr=1.0)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match="step_size"):
        StepLR(opt, step_size=1.5)
    with pytest.raises(ValueError, match="milestones"):
        SequentialLR(opt, [StepLR(opt, 1), StepLR(opt, 1)], milestones=[])
    with pytest.raises(ValueError, match="total"):
        warmup_cosine(opt, warmup=5, total=5)
    with pytest.raises(TypeError, match="optimizer"):
        StepLR("opt", 1)


def test_lr_scheduler_module_importable():
    import refimpl.optim.lr_scheduler as ls

    assert ls.CosineAnnealingLR is CosineAnnealingLR and refimpl.optim.lr_scheduler is ls
