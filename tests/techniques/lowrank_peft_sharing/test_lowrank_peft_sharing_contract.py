"""Family contract for every adapter the family's techniques list (and the LoRA baseline):
zero-init = base output, merged = unmerged, only adapter parameters receive gradients, frozen base weights
bit-identical after optimizer steps, trainable count = the method's formula, float64 gradcheck."""

import importlib

import numpy as np
import pytest

import refimpl as rf
from refimpl import catalog
from refimpl.nn import Linear, ReLU, Sequential, functional_call
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import _base as B

FAMILY = "lowrank-peft-sharing"
WEIGHT = {"lora-r2": lambda layer, rng: B.LoRA.for_layer(layer, 2, alpha=4.0, rng=rng)}
ACTIVATION = {"bottleneck-k3": lambda d, rng: B.BottleneckAdapter(d, 3, dtype=np.float64, rng=rng)}
for slug, tech in catalog.entries().items():
    if tech.family == FAMILY:
        mod = importlib.import_module(tech.module)
        WEIGHT.update({f"{slug}:{k}": v for k, v in getattr(mod, "ADAPTER_FACTORIES", {}).items()})
        ACTIVATION.update(
            {f"{slug}:{k}": v for k, v in getattr(mod, "ACTIVATION_ADAPTER_FACTORIES", {}).items()}
        )


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(
        Linear(8, 8, dtype=np.float64, rng=rng), ReLU(), Linear(8, 4, dtype=np.float64, rng=rng)
    )


def _x(seed=1):
    return rf.tensor(np.random.default_rng(seed).normal(size=(5, 8)))


def _attached(name):
    model = _model()
    rng = np.random.default_rng(2)
    adapters = B.attach(model, lambda n, l: WEIGHT[name](l, rng))
    for a in adapters.values():
        a.to(np.float64)
    return model, adapters


def _perturb(adapters, seed=5):
    rng = np.random.default_rng(seed)
    for a in adapters.values():
        for p in a.parameters():
            p.data[...] = rng.normal(scale=0.3, size=p.shape)


@pytest.mark.parametrize("name", sorted(WEIGHT))
def test_zero_init_weight_adapter_leaves_output_unchanged(name):
    y0 = _model()(_x()).data
    model, _ = _attached(name)
    np.testing.assert_array_equal(model(_x()).data, y0)


@pytest.mark.parametrize("name", sorted(WEIGHT))
def test_merged_equals_unmerged_and_unmerge_restores_theta(name):
    model, adapters = _attached(name)
    _perturb(adapters)
    theta = [l.parametrizations.weight.original.data.copy() for l in (model[0], model[2])]
    y = model(_x()).data.copy()
    B.merge(model)
    assert all(a.merged for a in adapters.values())
    np.testing.assert_allclose(model(_x()).data, y, atol=1e-10)
    B.unmerge(model)
    for l, t in zip((model[0], model[2]), theta):
        np.testing.assert_array_equal(l.parametrizations.weight.original.data, t)
    np.testing.assert_allclose(model(_x()).data, y, atol=1e-10)


@pytest.mark.parametrize("name", sorted(WEIGHT))
def test_only_adapters_train_and_base_is_bit_identical(name):
    model, adapters = _attached(name)
    _perturb(adapters)
    params = B.freeze_base(model)
    adapter_ids = {id(p) for a in adapters.values() for p in a.parameters()}
    assert {id(p) for p in params} == adapter_ids
    frozen = {n: p.data.copy() for n, p in model.named_parameters() if id(p) not in adapter_ids}
    opt = Adam(params, lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        (model(_x()) ** 2).mean().backward()
        for n, p in model.named_parameters():
            if n in frozen:
                assert p.grad is None, n
        assert any(p.grad is not None and np.any(p.grad != 0) for p in params)
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            np.testing.assert_array_equal(p.data, frozen[n])


@pytest.mark.parametrize("name", sorted(WEIGHT))
def test_trainable_count_equals_formula(name):
    model, adapters = _attached(name)
    B.freeze_base(model)
    assert B.count_trainable(model) == sum(a.num_trainable() for a in adapters.values())


@pytest.mark.parametrize("name", sorted(WEIGHT))
def test_weight_adapter_gradcheck(name):
    model, adapters = _attached(name)
    _perturb(adapters)
    a = adapters["0"]
    names = [n for n, _ in a.named_parameters()]
    values = [p.data.copy() for _, p in a.named_parameters()]
    w0 = model[0].parametrizations.weight.original

    def f(*tensors):
        return functional_call(a, dict(zip(names, tensors)), w0)

    rf.gradcheck(f, *values)


@pytest.mark.parametrize("name", sorted(ACTIVATION))
def test_activation_adapter_zero_init_identity_and_count(name):
    ad = ACTIVATION[name](8, np.random.default_rng(0)).to(np.float64)
    h = _x()
    np.testing.assert_array_equal(ad(h).data, h.data)
    own = ad.num_trainable()
    total = sum(p.data.size for p in ad.parameters())
    assert own <= total  # the difference is a shared rule, counted once by the caller
    rng = np.random.default_rng(1)
    for p in ad.parameters():
        p.data[...] = rng.normal(scale=0.3, size=p.shape)
    (ad(h) ** 2).sum().backward()
    assert all(p.grad is not None for p in ad.parameters())
