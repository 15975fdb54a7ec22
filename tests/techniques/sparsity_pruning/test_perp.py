"""PERP: MaskLoRA by hand, adapter contracts (zero-init = base, merged = unmerged, sparsity kept; the
unmasked LoRA refills the pruned entries, LoRA-Prune masks them at merge), the selective trainable set, a
gradcheck, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import MLP, Linear, parametrize
from refimpl.nn import functional as F
from refimpl.techniques.sparsity_pruning import masks as B
from refimpl.techniques.sparsity_pruning import perp
from refimpl.techniques.sparsity_pruning.perp import experiment
from refimpl.techniques.sparsity_pruning.perp.cases import reference_cases

SLUG = "perp"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _wrap(lin):
    c = rf.nn.Module()
    c.lin = lin
    return c


def _pruned_layer(seed=0):
    lin = Linear(6, 5, dtype=np.float64, rng=np.random.default_rng(seed))
    mask = B.magnitude_mask(lin.weight.data, 0.6)
    B.apply_masks(_wrap(lin), {"lin": mask})
    return lin, mask


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


def _trained_lora(seed=0):
    lin, mask = _pruned_layer(seed)
    ad = perp.LoRA(lin.weight.shape, rank=2, alpha=4.0, rng=np.random.default_rng(2), dtype=np.float64)
    parametrize.register_parametrization(lin, "weight", ad)
    ad.lora_B.data[:] = np.random.default_rng(3).normal(size=ad.lora_B.shape)
    return lin, mask, ad


def test_unmasked_lora_merge_equals_unmerged_and_refills_every_pruned_entry():
    lin, mask, ad = _trained_lora()
    x = Tensor(np.random.default_rng(1).normal(size=(4, 6)))
    y1 = lin(x).data.copy()
    base = lin.parametrizations.weight.original.data * mask
    delta = ad.scaling * ad.lora_B.data @ ad.lora_A.data
    perp.merge_adapters(lin)
    np.testing.assert_allclose(lin(x).data, y1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin.weight.data, base + delta, rtol=1e-12, atol=1e-12)
    assert np.all(lin.weight.data[mask == 0] != 0.0)  # the sparsity is gone


def test_lora_prune_masks_the_update_at_merge_only():
    lin, mask, ad = _trained_lora(1)
    base = lin.parametrizations.weight.original.data * mask
    delta = ad.scaling * ad.lora_B.data @ ad.lora_A.data
    perp.merge_adapters(lin, prune_lora=True)  # the official PruneLoraLayer: W + s·BA ⊙ 1[W≠0]
    np.testing.assert_allclose(lin.weight.data, base + delta * mask, rtol=1e-12, atol=1e-12)
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


def test_adapter_errors_name_the_argument():
    with pytest.raises(ValueError, match="mask"):
        perp.MaskLoRA(np.ones(3))
    with pytest.raises(ValueError, match="rank"):
        perp.MaskLoRA(np.ones((2, 2)), rank=0)
    with pytest.raises(ValueError, match="rank"):
        perp.LoRA((2, 2), rank=0)
    with pytest.raises(ValueError, match="rank"):
        perp.ScaleLoRA((2, 2), rank=0)


# --- the quick run: code path, determinism, the premise measured --------------------------------------------
def test_quick_run_is_deterministic_and_measures_the_premise(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.quick and r.smoke  # two seeds, one learning rate: not evidence
    assert {p["metric"] for p in r.premises} == {"accuracy_lost", "mask_at_merge_cost"}
    assert all(len(p["values"]) == len(r.seeds) for p in r.premises)
    experiment._retrained.cache_clear()  # retrain from scratch (the dense models are cached separately)
    experiment._dense.cache_clear()
    again = experiment.run(quick=True, progress=False)
    assert again.table == r.table and again.selected == r.selected


def test_quick_run_keeps_the_sparsity_except_for_the_unmasked_control(quick_result):
    r = quick_result(SLUG)
    for row in r.table:
        arm, sparsity = row["method"].split("@")
        if arm == "LoRA":  # merged without the mask: every pruned entry refilled
            assert row["refilled_fraction"] == 1.0 and row["hidden_sparsity"] == 0.0
        else:  # 24,576 hidden weights: round(s·n) pruned per layer, within one weight of the target
            assert row["refilled_fraction"] == 0.0
            assert abs(row["hidden_sparsity"] - float(sparsity)) * 24576 <= 1.0
            assert abs(row["mask_at_merge_cost"]) < 1e-12 or arm == "LoRA-Prune"  # merged = unmerged


# --- the claims, on the recorded full result ----------------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 5
    return r


def test_full_run_premise_pruning_costs_accuracy():
    r = full()
    for s in (experiment.MODERATE, experiment.HIGH):
        lost = r.values(f"none@{s:g}", "accuracy_lost")
        assert np.mean(lost) > 0.05, (s, lost)
    assert min(r.values(f"none@{experiment.HIGH:g}", "accuracy_lost")) > 0.3  # high = most of it is gone


def test_full_run_bias_ln_recovers_most_of_the_pruning_loss():
    # The bar is the 85–93 % the issue measured.  Over seeds the mean recovery sits in that band, the
    # interval is not below the bar (high end above 0.85) and excludes a recovery of less than 70 %; a
    # weaker recovery, or one far above the band, fails this.
    iv = full().claim("Retraining only biases and LayerNorm parameters recovers")["interval"]
    assert 0.85 < iv["mean"] < 0.93, iv
    assert iv["low"] > 0.7 and iv["high"] > 0.85, iv


def test_full_run_bias_ln_matches_full_retraining_at_moderate_sparsity():
    c = full().claim("Retraining only biases and LayerNorm parameters matches")
    assert c["interval"]["low"] > -0.01, c["interval"]  # within one point of full retraining, over seeds


def test_full_run_masklora_bridges_part_of_the_gap_at_high_sparsity():
    r = full()
    c = r.claim("MaskLoRA adapters recover accuracy beyond")
    assert c["interval"]["low"] > 0.0, c["interval"]
    # ... but not all of it: at 95 % the measured gap to full retraining is larger than one point
    c = r.claim("With MaskLoRA adapters, retraining matches full retraining")
    assert c["interval"]["mean"] < -0.01 and c["interval"]["high"] < 0.0, c["interval"]


def test_full_run_masking_during_training_beats_masking_at_merge():
    r = full()
    c = r.claim("Masking the adapter during training")
    assert c["interval"]["low"] > 0.05, c["interval"]  # five points at the least
    cost = r.values(f"LoRA-Prune@{experiment.HIGH:g}", "mask_at_merge_cost")
    assert min(cost) > 0.0, cost  # on every seed, masking at merge loses what training relied on


def test_full_run_unmasked_lora_destroys_the_sparsity_and_masked_adapters_keep_it():
    r = full()
    for s in r.arrays["sparsities"]:
        assert r.values(f"LoRA@{s:g}", "hidden_sparsity") == [0.0] * len(r.seeds)
        for arm in ("MaskLoRA", "ScaleLoRA", "LoRA-Prune"):
            assert r.values(f"{arm}@{s:g}", "refilled_fraction") == [0.0] * len(r.seeds)
    assert r.claim("Merging a standard (unmasked) LoRA")["interval"]["low"] == 1.0
