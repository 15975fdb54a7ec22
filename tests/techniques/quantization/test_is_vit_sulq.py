"""I&S-ViT: SULQ hand cases and grid contract, η search by brute force, the stage-2 fold (exact on a
random layer and on a whole block), block reconstruction (what it trains, what it leaves), the block's
gradient in float64, the quick run's code path and the claims on the recorded full result."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.autograd.gradcheck import gradcheck
from refimpl.experiments import freshness, recorded
from refimpl.techniques.quantization import is_vit_sulq as S
from refimpl.techniques.quantization.is_vit_sulq.cases import _fold, reference_cases

SLUG = "is-vit-sulq"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_sulq_contract(bits):
    p = np.random.default_rng(bits).dirichlet(np.ones(30), size=20)
    eta = 0.01
    q = S.sulq(p, bits, eta)
    # every value is 2^k − η for an integer k, with at most 2^b distinct values
    k = np.log2(q + eta)
    np.testing.assert_allclose(k, np.rint(k), atol=1e-9)
    assert len(np.unique(np.round(q, 12))) <= 2**bits
    y = np.log2(p + eta)
    np.testing.assert_allclose(S.sulq(q, bits, eta, y.min(), y.max()), q, atol=1e-12)  # idempotent


def test_eta_search_is_the_grid_argmin():
    p = np.random.default_rng(0).dirichlet(np.ones(50) * 0.3, size=10)
    eta, q, errs = S.sulq_search(p, 3)
    brute = [np.mean((p - S.sulq(p, 3, e)) ** 2) for e in S.ETA_GRID]
    assert eta == S.ETA_GRID[int(np.argmin(brute))]
    np.testing.assert_allclose(errs, brute)
    with pytest.raises(ValueError, match="η"):
        S.sulq(np.array([-0.5, 0.2]), 3, 0.1)


def test_log2_quant_hand():
    np.testing.assert_array_equal(S.log2_quant(np.array([1.0, 0.3, 0.1, 0.001]), 2), [1.0, 0.25, 0.0, 0.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fold_exact_on_random_layers(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 6)) * rng.uniform(0.1, 3, 6) + rng.normal(size=6)
    np.testing.assert_allclose(_fold(x, rng.normal(size=(4, 6)), rng.normal(size=4), 3), 0, atol=1e-9)


def _block(seed=0, d=8, T=4, n=40):
    rng = np.random.default_rng(seed)
    p = {"ln1_g": rng.uniform(0.5, 2, d), "ln1_b": rng.normal(size=d) * 0.3}
    p |= {"ln2_g": rng.uniform(0.2, 3, d), "ln2_b": rng.normal(size=d)}
    for name, (o, i) in {"qkv": (3 * d, d), "proj": (d, d), "fc1": (2 * d, d), "fc2": (d, 2 * d)}.items():
        p[name + "_W"], p[name + "_b"] = rng.normal(size=(o, i)) / np.sqrt(i), rng.normal(size=o) * 0.1
    return p, rng.normal(size=(n, T, d))


def test_stage2_fold_keeps_the_whole_block_output():
    p, H = _block()
    qc = S.calibrate_activations(p, H, 3, channel_wise_post_ln=True)
    assert np.ndim(qc["fc1_in"][0]) == 1 and np.ndim(qc["proj_in"][0]) == 0  # post-LN inputs per channel
    p2, qc2 = S.fold_channel_wise(p, qc)
    assert np.ndim(qc2["qkv_in"][0]) == 0 and np.ndim(qc2["fc1_in"][0]) == 0  # now layer-wise
    np.testing.assert_allclose(S.block_output(p2, H, qc2), S.block_output(p, H, qc), atol=1e-9)
    # and differs from quantizing layer-wise without the fold
    lw = S.calibrate_activations(p, H, 3, channel_wise_post_ln=False)
    assert not np.allclose(S.block_output(p, H, lw), S.block_output(p, H, qc), atol=1e-6)


def test_reconstruction_trains_only_linears_and_lowers_the_error():
    p, H = _block(1)
    Y = S.block_output(p, H)
    qc = S.with_weight_quantizers(p, S.calibrate_activations(p, H, 3, channel_wise_post_ln=False), 3)
    before = np.mean((S.block_output(p, H, qc) - Y) ** 2)
    p2 = S.reconstruct_block(p, H, Y, qc, iters=60, lr=3e-3)
    assert np.mean((S.block_output(p2, H, qc) - Y) ** 2) < 0.8 * before
    for k in ("ln1_g", "ln1_b", "ln2_g", "ln2_b"):
        np.testing.assert_array_equal(p2[k], p[k])  # LayerNorm frozen (block_recon.py)
    assert not np.array_equal(p2["fc1_W"], p["fc1_W"])


def test_block_gradient_float64():
    p, H = _block(2, d=4, T=3, n=2)
    keys = sorted(p)

    def f(h, *vals):
        return S.block_forward(dict(zip(keys, vals)), h).sum()

    assert gradcheck(f, H, *[p[k] for k in keys])


def test_straight_through_weights_in_stage3():
    p, H = _block(3)
    qc = S.with_weight_quantizers(p, S.calibrate_activations(p, H, 3, channel_wise_post_ln=False), 3)
    t = {k: Tensor(v, requires_grad=True) for k, v in p.items()}
    S.block_forward(t, Tensor(H), qc).sum().backward()
    assert np.abs(t["qkv_W"].grad).sum() > 0  # the weight quantizer passes the gradient
    s, z = qc["w"]["fc2"]
    codes = np.rint(p["fc2_W"] / s) + z
    assert codes.min() >= 0 and codes.max() <= 7  # min–max init: nothing clipped at start


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premise(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert [p["metric"] for p in r.premises] == ["cw_minus_lw_val"]
    assert all(np.isfinite(r.premises[0]["values"]))
    assert max(r.values("SOS (3 stages)", "fold_gap")) < 1e-9  # stage 2 changes nothing


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premise_is_weak_but_measured():
    # channel-wise post-LN quantizers help by about a point on average, not on every seed: the premise is
    # met on its mean (the rule it is judged by) while its interval straddles zero
    r = full()
    assert len(r.seeds) >= 5
    p = r.premises[0]
    assert p["present"] and 0.01 < p["interval"]["mean"] < 0.03 and p["interval"]["low"] < 0, p["interval"]
    assert max(r.values("SOS (3 stages)", "fold_gap")) < 1e-9  # stage 2 exact on every trained model


def test_full_run_sos_beats_layerwise_from_scratch():
    r = full()
    ratio = np.array(r.values("SOS (3 stages)", "test_block_err")) / np.array(
        r.values("layer-wise from scratch", "test_block_err")
    )
    assert ratio.max() < 0.85, ratio  # at least 15 % less block-output error on every seed
    iv = r.claim("SOS reaches a higher W3A3 test accuracy")["interval"]
    assert 0 < iv["low"] and iv["mean"] < 0.03, iv  # a small but resolved accuracy gain
    # both reconstructions improve on plain layer-wise PTQ, every seed
    for m in ("SOS (3 stages)", "layer-wise from scratch"):
        d = _paired(r, "test_block_err", m, "layer-wise PTQ (no reconstruction)")
        assert d.max() < 0, (m, d)
