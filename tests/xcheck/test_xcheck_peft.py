"""LoRA, rsLoRA and DoRA against Hugging Face PEFT (install-or-skip), in float64 on one Linear layer:
same weights in, same outputs, same gradients of A, B and the DoRA magnitude, same merged weight.

Conventions: PEFT's `lora_A.weight` is our `A` (r, in) and `lora_B.weight` our `B` (out, r); PEFT
keeps the base weight and adds the adapter's output, we parametrize the weight (W' = θ + ΔW): the same
function.  PEFT's DoRA always detaches the norm (our default `detach_norm=True`).  Dropout is off."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

import refimpl as rf  # noqa: E402
from refimpl.nn import Linear  # noqa: E402
from refimpl.techniques.lowrank_peft_sharing import adapters as B  # noqa: E402


class _One(torch.nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor(w))
            self.lin.bias.copy_(torch.tensor(b))

    def forward(self, x):
        return self.lin(x)


@pytest.mark.parametrize("variant", ["lora", "rslora", "dora"])
def test_adapter_matches_peft(variant):
    rng = np.random.default_rng(0)
    out_f, in_f, r, alpha = 5, 4, 3, 6.0
    w, b = rng.normal(size=(out_f, in_f)), rng.normal(size=out_f)
    x = rng.normal(size=(7, in_f))
    A, Bm, G = rng.normal(size=(r, in_f)), rng.normal(size=(out_f, r)), rng.normal(size=(7, out_f))

    config = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=["lin"],
        lora_dropout=0.0,
        use_rslora=variant == "rslora",
        use_dora=variant == "dora",
    )
    tm = peft.get_peft_model(_One(w, b), config)
    layer = tm.base_model.model.lin
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(torch.tensor(A))
        layer.lora_B["default"].weight.copy_(torch.tensor(Bm))
    tout = tm(torch.tensor(x))
    (tout * torch.tensor(G)).sum().backward()

    ours = Linear(in_f, out_f, dtype=np.float64)
    ours.weight.data[...] = w
    ours.bias.data[...] = b
    make = B.DoRA.for_layer if variant == "dora" else B.LoRA.for_layer
    (adapter,) = B.attach(
        ours, lambda name, lay: make(lay, r=r, alpha=alpha, use_rslora=variant == "rslora")
    ).values()
    adapter.A.data[...] = A
    adapter.B.data[...] = Bm
    out = ours(rf.tensor(x))
    (out * G).sum().backward()

    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        adapter.A.grad, layer.lora_A["default"].weight.grad.numpy(), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        adapter.B.grad, layer.lora_B["default"].weight.grad.numpy(), rtol=1e-10, atol=1e-12
    )
    if variant == "dora":
        mag = layer.lora_magnitude_vector["default"].weight
        np.testing.assert_allclose(adapter.magnitude.data, mag.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(adapter.magnitude.grad, mag.grad.numpy(), rtol=1e-10, atol=1e-12)
    merged = tm.merge_and_unload().lin.weight.detach().numpy()
    B.merge(ours)
    np.testing.assert_allclose(ours.parametrizations.weight.original.data, merged, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", ["miss", "mini", "bat"])
def test_bone_miss_forms_match_peft_miss(variant):
    """Bone = PEFT MiSS default, MissMini = MiSS init_weights='mini', Bat = MiSS init_weights='bat'."""
    from refimpl.techniques.lowrank_peft_sharing.bone import Bat, Bone, MissMini

    rng = np.random.default_rng(1)
    out_f, in_f, r, mini_r = 8, 6, 2, 4
    w, b = rng.normal(size=(out_f, in_f)), rng.normal(size=out_f)
    x, G = rng.normal(size=(5, in_f)), rng.normal(size=(5, out_f))
    init = {"miss": True, "mini": "mini", "bat": "bat"}[variant]
    tm = peft.get_peft_model(
        _One(w, b), peft.MissConfig(r=r, target_modules=["lin"], init_weights=init, mini_r=mini_r)
    )
    layer = tm.base_model.model.lin
    block = layer.miss_block["default"]
    value = rng.normal(size=tuple(block.shape))
    with torch.no_grad():
        block.copy_(torch.tensor(value))
    tout = tm(torch.tensor(x))
    (tout * torch.tensor(G)).sum().backward()

    ours = Linear(in_f, out_f, dtype=np.float64)
    ours.weight.data[...] = w
    ours.bias.data[...] = b
    make = {
        "miss": lambda lay: Bone.for_layer(lay, r),
        "mini": lambda lay: MissMini.for_layer(lay, r, mini_r),
        "bat": lambda lay: Bat.for_layer(lay, r),
    }[variant]
    (adapter,) = B.attach(ours, lambda name, lay: make(lay)).values()
    param = {"miss": "D", "mini": "M", "bat": "B"}[variant]
    getattr(adapter, param).data[...] = value
    out = ours(rf.tensor(x))
    (out * G).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(getattr(adapter, param).grad, block.grad.numpy(), rtol=1e-10, atol=1e-12)
    merged = tm.merge_and_unload().lin.weight.detach().numpy()
    B.merge(ours)
    np.testing.assert_allclose(ours.parametrizations.weight.original.data, merged, rtol=1e-12, atol=1e-12)
