"""PERP: MaskLoRA by hand, adapter contracts (zero-init = base, merged = unmerged, sparsity kept), the
selective trainable set, a gradcheck, and the demo's claim (quick mode)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.nn import MLP, Linear, parametrize
from refimpl.nn import functional as F
from refimpl.techniques.sparsity_pruning import _base as B
from refimpl.techniques.sparsity_pruning import perp


@pytest.mark.parametrize("case", perp.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _pruned_layer(seed=0):
    lin = Linear(6, 5, dtype=np.float64, rng=np.random.default_rng(seed))
    mask = B.magnitude_mask(lin.weight.data, 0.6)
    B.apply_masks(_wrap(lin), {"lin": mask})
    return lin, mask


def _wrap(lin):
    c = rf.nn.Module()
    c.lin = lin
    return c


def test_masklora_zero_init_is_identity_and_merged_equals_unmerged_and_keeps_zeros():
    lin, mask = _pruned_layer()
    x = Tensor(np.random.default_rng(1).normal(size=(4, 6)))
    y0 = lin(x).data.copy()
    ad = perp.MaskLoRA(mask, rank=2, alpha=4.0, rng=np.random.default_rng(2), dtype=np.float64)
    parametrize.register_parametrization(lin, "weight", ad)
    np.testing.assert_array_equal(lin(x).data, y0)  # B = 0
    ad.lora_B.data[:] = np.random.default_rng(3).normal(size=ad.lora_B.shape)
    y1 = lin(x).data.copy()
    assert not np.allclose(y1, y0)
    perp.merge_adapters(lin)
    assert not parametrize.is_parametrized(lin, "weight")
    np.testing.assert_allclose(lin(x).data, y1, rtol=1e-12, atol=1e-12)
    assert np.all(lin.weight.data[mask == 0] == 0.0)


def test_only_adapter_bias_and_norm_params_get_gradients():
    model = MLP([6, 8, 3], norm="layer", rng=np.random.default_rng(0))
    mask = B.magnitude_mask(model[0].weight.data, 0.5)
    B.apply_masks(model, {"0": mask})
    parametrize.register_parametrization(
        model[0], "weight", perp.MaskLoRA(mask, rank=2, rng=np.random.default_rng(1))
    )
    params = perp.select_peft_parameters(model)
    # bias 8 + 3, LN 8 + 8, A 2·6, B 8·2
    assert perp.count_trainable(model) == sum(p.data.size for p in params) == 8 + 3 + 16 + 12 + 16
    x, y = np.random.default_rng(2).normal(size=(5, 6)).astype(np.float32), np.array([0, 1, 2, 0, 1])
    F.cross_entropy(model(Tensor(x)), y).backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    assert B.latent_weight(model[0]).grad is None and model[3].weight.grad is None


def test_gradcheck_masked_lora_delta():
    rng = np.random.default_rng(0)
    mask = (rng.random((3, 4)) < 0.5).astype(float)
    rf.gradcheck(
        lambda A, Bm: (perp.masked_lora_delta(A, Bm, mask, 0.7) ** 2).sum(),
        rng.normal(size=(2, 4)),
        rng.normal(size=(3, 2)),
    )


def test_scalelora_starts_as_identity_and_keeps_zeros():
    lin, mask = _pruned_layer(1)
    x = Tensor(np.random.default_rng(1).normal(size=(4, 6)))
    y0 = lin(x).data.copy()
    ad = perp.ScaleLoRA(lin.weight.shape, rank=3, dtype=np.float64)
    parametrize.register_parametrization(lin, "weight", ad)
    np.testing.assert_allclose(lin(x).data, y0, rtol=1e-12)
    ad.lora_A.data += 0.3
    perp.merge_adapters(lin)
    assert np.all(lin.weight.data[mask == 0] == 0.0)


def test_masklora_errors_name_the_argument():
    with pytest.raises(ValueError, match="mask"):
        perp.MaskLoRA(np.ones(3))
    with pytest.raises(ValueError, match="rank"):
        perp.MaskLoRA(np.ones((2, 2)), rank=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim(seed, demo_result):
    r = demo_result("perp", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], m
    assert m["recovered_biasLN_0.7"] > 0.6  # observed ≈ 0.83–0.85
    assert all(row["pruned_stay_zero"] for row in r["table"])
    assert m["acc_bias+LN+MaskLoRA_0.9"] >= m["acc_bias+LN_0.9"]
