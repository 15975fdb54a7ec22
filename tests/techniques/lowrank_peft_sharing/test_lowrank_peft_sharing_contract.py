"""The lowrank-peft-sharing family's contract over the registry (the form: `tests/techniques/contracts.py`).

An adapter is ("weight", factory(layer, rng) → zero-initialised WeightAdapter) or ("activation",
factory(d, rng) → zero-initialised activation adapter).  A technique lists its weight adapters in its
module's `ADAPTER_FACTORIES` and its activation adapters in `ACTIVATION_ADAPTER_FACTORIES`; the LoRA
baseline of the family (`adapters.LoRA`) is checked too.

Weight adapters: zero-init = base output, merged = unmerged (and unmerge restores θ bit for bit), only
adapter parameters receive gradients and frozen base weights stay bit-identical through optimizer steps,
the trainable count equals the method's formula, a float64 gradcheck of the adapter.  Activation adapters
(not mergeable: they have a nonlinearity): zero-init = identity, every parameter gets a gradient, the
method's own count is at most the parameters it holds.
"""

import importlib

import numpy as np
import pytest
from contracts import family_slugs, params

import refimpl as rf
from refimpl import catalog
from refimpl.nn import Linear, ReLU, Sequential, functional_call
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import adapters as A
from refimpl.techniques.lowrank_peft_sharing import compacter

FAMILY = "lowrank-peft-sharing"


def _declared_adapters():
    """ "slug:name" → (kind, factory) from the techniques' ADAPTER_FACTORIES / ACTIVATION_ADAPTER_FACTORIES."""
    out = {}
    for slug in family_slugs(FAMILY):
        mod = importlib.import_module(catalog.get(slug).module)
        for kind, attr in (("weight", "ADAPTER_FACTORIES"), ("activation", "ACTIVATION_ADAPTER_FACTORIES")):
            out.update({f"{slug}:{k}": (kind, f) for k, f in getattr(mod, attr, {}).items()})
    return out


CONTRACTS = {
    **_declared_adapters(),
    "baseline:lora-r2": ("weight", lambda layer, rng: A.LoRA.for_layer(layer, 2, alpha=4.0, rng=rng)),
    # Compacter's baseline, the Houlsby bottleneck adapter
    "compacter:bottleneck-k3": (
        "activation",
        lambda d, rng: compacter.BottleneckAdapter(d, 3, dtype=np.float64, rng=rng),
    ),
}
EXEMPT = {
    "apriori-cp-conv": "CP-factored conv kernels trained from scratch (a priori compression), not an adapter",
    "compactifai-mpo": "compresses a trained weight into a matrix product operator (a replacement of the "
    "weight, not a zero-initialised adapter on a frozen base)",
    "half-fine-tuning": "trains half of the original parameter groups; it adds no adapter parameters",
    "headwise-shareable-attention": "ties attention heads of a trained model to similar heads (weight sharing), "
    "it adds no adapter",
    "levi": "a new predictor built beside a frozen pre-trained model (a small model trained from scratch plus "
    "adapting layers whose logits are averaged), not a zero-initialised adapter on a frozen base",
    "mora-rank1-experts": "its rank-1 experts gate themselves by their activation (an input-dependent, "
    "unmergeable update); its LoRA parts are the family's LoRA, checked as baseline:lora-r2",
    "phnn": "a parameterised hypercomplex convolution trained from scratch, not an adapter",
    "pela": "replaces each trained weight by its truncated-SVD factors (a compressed model, not a "
    "zero-initialised adapter on a frozen base)",
    "relaxed-recursive": "its depth-wise LoRA is the family's LoRA (checked as baseline:lora-r2) initialised "
    "from a truncated SVD, so not zero-initialised by design; the recursion is weight tying",
    "structured-ffn": "low-rank / block-diagonal FFN layers trained from scratch, not an adapter",
}

WEIGHT = params(FAMILY, CONTRACTS, EXEMPT, where=lambda a: a[0] == "weight")
ACTIVATION = params(FAMILY, CONTRACTS, EXEMPT, where=lambda a: a[0] == "activation")


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(
        Linear(8, 8, dtype=np.float64, rng=rng), ReLU(), Linear(8, 4, dtype=np.float64, rng=rng)
    )


def _x(seed=1):
    return rf.tensor(np.random.default_rng(seed).normal(size=(5, 8)))


def _attached(adapter):
    _, factory = adapter
    model = _model()
    rng = np.random.default_rng(2)
    adapters = A.attach(model, lambda n, l: factory(l, rng))
    for a in adapters.values():
        a.to(np.float64)
    return model, adapters


def _perturb(adapters, seed=5):
    rng = np.random.default_rng(seed)
    for a in adapters.values():
        for p in a.parameters():
            p.data[...] = rng.normal(scale=0.3, size=p.shape)


@pytest.mark.parametrize("key, adapter", WEIGHT)
def test_zero_init_weight_adapter_leaves_output_unchanged(key, adapter):
    y0 = _model()(_x()).data
    model, _ = _attached(adapter)
    np.testing.assert_array_equal(model(_x()).data, y0)


@pytest.mark.parametrize("key, adapter", WEIGHT)
def test_merged_equals_unmerged_and_unmerge_restores_theta(key, adapter):
    model, adapters = _attached(adapter)
    _perturb(adapters)
    theta = [l.parametrizations.weight.original.data.copy() for l in (model[0], model[2])]
    y = model(_x()).data.copy()
    A.merge(model)
    assert all(a.merged for a in adapters.values())
    np.testing.assert_allclose(model(_x()).data, y, atol=1e-10)
    A.unmerge(model)
    for l, t in zip((model[0], model[2]), theta):
        np.testing.assert_array_equal(l.parametrizations.weight.original.data, t)
    np.testing.assert_allclose(model(_x()).data, y, atol=1e-10)


@pytest.mark.parametrize("key, adapter", WEIGHT)
def test_only_adapters_train_and_base_is_bit_identical(key, adapter):
    model, adapters = _attached(adapter)
    _perturb(adapters)
    params_ = A.freeze_base(model)
    adapter_ids = {id(p) for a in adapters.values() for p in a.parameters()}
    assert {id(p) for p in params_} == adapter_ids
    frozen = {n: p.data.copy() for n, p in model.named_parameters() if id(p) not in adapter_ids}
    opt = Adam(params_, lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        (model(_x()) ** 2).mean().backward()
        for n, p in model.named_parameters():
            if n in frozen:
                assert p.grad is None, n
        assert any(p.grad is not None and np.any(p.grad != 0) for p in params_)
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            np.testing.assert_array_equal(p.data, frozen[n])


@pytest.mark.parametrize("key, adapter", WEIGHT)
def test_trainable_count_equals_formula(key, adapter):
    model, adapters = _attached(adapter)
    A.freeze_base(model)
    assert A.count_trainable(model) == sum(a.num_trainable() for a in adapters.values())


@pytest.mark.parametrize("key, adapter", WEIGHT)
def test_weight_adapter_gradcheck(key, adapter):
    model, adapters = _attached(adapter)
    _perturb(adapters)
    a = adapters["0"]
    names = [n for n, _ in a.named_parameters()]
    values = [p.data.copy() for _, p in a.named_parameters()]
    w0 = model[0].parametrizations.weight.original

    def f(*tensors):
        return functional_call(a, dict(zip(names, tensors)), w0)

    rf.gradcheck(f, *values)


@pytest.mark.parametrize("key, adapter", ACTIVATION)
def test_activation_adapter_zero_init_identity_and_count(key, adapter):
    _, factory = adapter
    ad = factory(8, np.random.default_rng(0)).to(np.float64)
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
