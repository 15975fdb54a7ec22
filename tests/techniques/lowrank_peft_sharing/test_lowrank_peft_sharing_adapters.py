"""The lowrank-peft-sharing family's adapter protocol and LoRA: deltas by hand, merge/unmerge, stacking,
freezing, gradcheck."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import Linear, ReLU, Sequential, functional_call
from refimpl.nn.module import Module
from refimpl.nn.parametrize import register_parametrization
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import adapters as B


def _mlp(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(5, 4, dtype=dtype, rng=rng), ReLU(), Linear(4, 3, dtype=dtype, rng=rng))


def _x(seed=1):
    return rf.tensor(np.random.default_rng(seed).normal(size=(6, 5)))


def test_lora_delta_is_scaled_BA_by_hand():
    lora = B.LoRA(2, 3, r=1, alpha=4.0, dtype=np.float64)
    lora.A.data[...] = [[1.0, 2.0, 3.0]]
    lora.B.data[...] = [[1.0], [-1.0]]
    # (α/r)·B A = 4·[[1,2,3],[-1,-2,-3]]
    np.testing.assert_array_equal(lora.delta(None).data, [[4, 8, 12], [-4, -8, -12]])
    assert lora.num_trainable() == 1 * (3 + 2)


def test_lora_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank `r`"):
        B.LoRA(2, 3, r=0)


def test_zero_init_lora_leaves_output_and_merge_roundtrip_is_exact():
    model = _mlp()
    x = _x()
    y0 = model(x).data.copy()
    theta0 = [l.weight.data.copy() for l in (model[0], model[2])]
    B.attach(model, lambda n, l: B.LoRA.for_layer(l, 2, rng=np.random.default_rng(3)))
    np.testing.assert_array_equal(model(x).data, y0)
    for _, _, a in B.adapters_of(model):
        a.B.data[...] = np.random.default_rng(4).normal(size=a.B.shape)
    y1 = model(x).data.copy()
    assert not np.allclose(y1, y0)
    assert B.merge(model) == 2
    np.testing.assert_allclose(model(x).data, y1, atol=1e-12)
    assert B.unmerge(model) == 2
    for layer, t0 in zip((model[0], model[2]), theta0):
        np.testing.assert_array_equal(layer.parametrizations.weight.original.data, t0)
    np.testing.assert_allclose(model(x).data, y1, atol=1e-12)


class _Mask(Module):
    def __init__(self, m):
        super().__init__()
        self.register_buffer("m", m)

    def forward(self, w):
        return w * rf.tensor(self.m)


def test_lora_stacks_with_a_mask_and_refuses_to_merge_when_not_first():
    layer = Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    theta = layer.weight.data.copy()
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    lora = B.LoRA(2, 3, r=1, dtype=np.float64, rng=np.random.default_rng(1))
    lora.B.data[...] = [[0.5], [2.0]]
    B.attach(Sequential(layer), lambda n, l: lora)
    register_parametrization(layer, "weight", _Mask(mask))
    np.testing.assert_allclose(layer.weight.data, (theta + lora.B.data @ lora.A.data) * mask, atol=1e-12)
    # a mask first, then LoRA: the adapter is transform #1 and cannot be folded into θ
    layer2 = Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    register_parametrization(layer2, "weight", _Mask(mask))
    B.attach(Sequential(layer2), lambda n, l: B.LoRA.for_layer(l, 1))
    with pytest.raises(ValueError, match="first transform"):
        B.merge(Sequential(layer2))


def test_freeze_base_only_adapters_get_grads_and_base_is_bit_identical_after_steps():
    model = _mlp()
    B.attach(model, lambda n, l: B.LoRA.for_layer(l, 2, rng=np.random.default_rng(3)))
    params = B.freeze_base(model)
    base = {n: p.data.copy() for n, p in model.named_parameters() if not p.requires_grad}
    assert set(base) == {
        "0.parametrizations.weight.original",
        "0.bias",
        "2.parametrizations.weight.original",
        "2.bias",
    }
    opt = Adam(params, lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        model.zero_grad()
        (model(_x()) ** 2).sum().backward()
        for n, p in model.named_parameters():
            if n in base:
                assert p.grad is None, n
        opt.step()
    for n, p in model.named_parameters():
        if n in base:
            np.testing.assert_array_equal(p.data, base[n])
    assert B.count_trainable(model) == 2 * (5 + 4) + 2 * (4 + 3)


def test_lora_gradcheck_float64():
    lora = B.LoRA(3, 4, r=2, alpha=3.0, dtype=np.float64, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(5, 4))
    w0 = np.random.default_rng(2).normal(size=(3, 4))

    def f(a, b, xx):
        return rf.nn.functional.linear(xx, functional_call(lora, {"A": a, "B": b}, rf.tensor(w0)))

    rf.gradcheck(f, lora.A.data.copy(), np.random.default_rng(3).normal(size=(3, 2)), x)


def test_attach_errors_name_the_argument():
    with pytest.raises(ValueError, match="targets"):
        B.attach(_mlp(), lambda n, l: B.LoRA.for_layer(l, 1), targets=["7"])
    with pytest.raises(TypeError, match="WeightAdapter"):
        B.attach(_mlp(), lambda n, l: object())


def test_rslora_scales_by_alpha_over_sqrt_r():
    plain = B.LoRA(2, 3, r=4, alpha=8.0, dtype=np.float64)
    rs = B.LoRA(2, 3, r=4, alpha=8.0, dtype=np.float64, use_rslora=True)
    assert plain.scaling == 2.0 and rs.scaling == 4.0  # 8/4 and 8/√4


def test_dora_weight_by_hand():
    """θ = [[3, 4], [0, 2]] has row norms (5, 2) = m at init, so W' = θ.  With s·BA = [[0, 0], [0, 2]]
    (A = [[0, 1]], B = [[0], [2]], α = r = 1): V + ΔV = [[3, 4], [0, 4]], row norms (5, 4), and with
    m = (10, 2): W' = [[6, 8], [0, 2]]."""
    theta = np.array([[3.0, 4.0], [0.0, 2.0]])
    dora = B.DoRA(theta, r=1, alpha=1.0)
    np.testing.assert_allclose(dora.magnitude.data, [5.0, 2.0])
    np.testing.assert_allclose(dora(rf.tensor(theta)).data, theta, rtol=1e-15)
    dora.A.data[...] = [[0.0, 1.0]]
    dora.B.data[...] = [[0.0], [2.0]]
    dora.magnitude.data[...] = [10.0, 2.0]
    np.testing.assert_allclose(dora(rf.tensor(theta)).data, [[6.0, 8.0], [0.0, 2.0]], rtol=1e-15)
    np.testing.assert_allclose(dora.delta(rf.tensor(theta)).data, [[3.0, 4.0], [0.0, 0.0]], atol=1e-15)
    assert dora.num_trainable() == 1 * (2 + 2) + 2


def test_dora_gradients_true_function_by_gradcheck_and_detached_norm_by_hand():
    rng = np.random.default_rng(4)
    theta = rng.normal(size=(3, 4))
    x = rng.normal(size=(5, 4))
    exact = B.DoRA(theta, r=2, alpha=3.0, rng=rng, detach_norm=False)

    def f(a, b, m):
        w = functional_call(exact, {"A": a, "B": b, "magnitude": m}, rf.tensor(theta))
        return rf.nn.functional.linear(x, w)

    rf.gradcheck(f, exact.A.data.copy(), rng.normal(size=(3, 2)), exact.magnitude.data.copy())
    # detached norm: ∂W'/∂B is (m/‖V+ΔV‖) ⊙ ∂ΔV/∂B only, i.e. for the loss Σ W' ⊙ G: B̄ = s (D G) Aᵀ,
    # D = diag(m/‖V+ΔV‖_c) — the norm's own dependence on B is dropped (PEFT's convention)
    det = B.DoRA(theta, r=2, alpha=3.0, rng=np.random.default_rng(5))
    det.B.data[...] = rng.normal(size=(3, 2))
    G = rng.normal(size=(3, 4))
    (det(rf.tensor(theta)) * G).sum().backward()
    v = theta + det.scaling * det.B.data @ det.A.data
    d = det.magnitude.data / np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(det.B.grad, det.scaling * (d[:, None] * G) @ det.A.data.T, rtol=1e-12)
    np.testing.assert_allclose(
        det.magnitude.grad, ((v / np.linalg.norm(v, axis=1, keepdims=True)) * G).sum(1), rtol=1e-12
    )


def test_dora_merges_to_its_weight_and_unmerges_exactly():
    model = _mlp()
    x = _x()
    B.attach(model, lambda name, layer: B.DoRA.for_layer(layer, r=2, rng=np.random.default_rng(6)))
    for _, _, a in B.adapters_of(model):
        a.B.data[...] = np.random.default_rng(7).normal(size=a.B.shape)
    before = model(x).data
    B.merge(model)
    np.testing.assert_allclose(model(x).data, before, rtol=1e-12, atol=1e-14)
    B.unmerge(model)
    np.testing.assert_array_equal(model(x).data, before)
