"""Layer-wise mixed bits: LIM/ZD hand cases and properties, the allocation bookkeeping, GPTQ as the per-layer
quantizer (on the RTN grid, never worse on the layer's calibration loss), the quick run's code path and the
paper's ordering claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded, tasks
from refimpl.techniques.quantization import layerwise_mixed_bits as L
from refimpl.techniques.quantization.layerwise_mixed_bits.cases import reference_cases

SLUG = "layerwise-mixed-bits"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_lim_properties():
    x = np.random.default_rng(0).normal(size=(10, 5))
    assert np.isclose(L.lim_score(x, x), -1.0)  # identity layer: least important
    assert np.isclose(L.lim_score(x, -x), 1.0)  # sign flip: most
    assert np.isclose(L.lim_score(x, 3 * x), -1.0)  # scale-invariant
    with pytest.raises(ValueError, match="shape"):
        L.lim_score(x, x[:, :3])


def test_zd_brute_force():
    w = np.random.default_rng(1).standard_t(3, size=(20, 30))
    mu, sd = w.mean(), w.std()
    assert L.zd_score([w]) == sum(1 for v in w.ravel() if (v - mu) / sd > 1) / w.size


def test_allocation_counts_and_average():
    imp = np.array([0.5, 0.1, 0.9, 0.3])
    for k in range(5):
        bits = L.allocation(imp, k)
        assert (bits == 2).sum() == k
        assert np.isclose(L.average_bits(bits, [1, 1, 1, 1]), 4 - 2 * k / 4)
    np.testing.assert_array_equal(L.allocation(imp, 2), [4, 2, 4, 2])
    # moving layers in order only ever adds 2-bit layers (nested allocations)
    for k in range(4):
        assert np.all(L.allocation(imp, k + 1) <= L.allocation(imp, k))


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_gptq_is_on_the_rtn_grid_and_lowers_the_layer_loss(bits):
    rng = np.random.default_rng(bits)
    W = rng.normal(size=(12, 16))
    X = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))  # correlated inputs: GPTQ has work to do
    q_rtn = L.rtn_quantize_weight(W, bits)
    q_g = L.gptq_quantize_weight(W, X, bits)
    s = np.abs(W).max(1, keepdims=True) / (2 ** (bits - 1) - 1)
    codes = q_g / s
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-9)
    assert codes.min() >= -(2 ** (bits - 1)) - 1e-9 and codes.max() <= 2 ** (bits - 1) - 1 + 1e-9

    def loss(Q):
        return np.sum((X @ (W - Q).T) ** 2)

    assert loss(q_g) < loss(q_rtn)


def test_quantize_layers_routes_each_layer_to_its_width():
    layers = {0: {"a": np.ones((2, 2))}, 1: {"b": np.ones((2, 2)), "c": np.ones((1, 2))}}
    got = L.quantize_layers(layers, [2, 4], lambda n, W, b: np.full_like(W, b))
    assert {n: int(v.flat[0]) for n, v in got.items()} == {"a": 2, "b": 4, "c": 4}


def test_model_is_normal_initialised_and_records_blocks():
    m = L.ResidualMLP(d=16, n_layers=3, seed=0)
    w = m.fc1[0].weight.data
    assert abs(tasks.kurtosis(w) - 3.0) < 1.0  # Gaussian, not uniform (kurtosis 1.8)
    m.record = []
    m(np.zeros((4, 64), dtype=np.float32))
    assert len(m.record) == 3 and m.record[0][0].shape == (4, 16)
    assert set(m.block_sites()[2]) == {"fc1.2", "fc2.2"}


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premises(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    r.validate()
    assert [p["metric"] for p in r.premises] == ["uniform_drop", "sensitivity_spread"]
    for p in r.premises:
        assert all(np.isfinite(p["values"]))
    assert len(r.claims) == 5
    # the curve endpoints do not depend on the order: k = 0 (all 4 bits) and k = L (all 2 bits)
    for q in ("RTN", "GPTQ"):
        assert r.values(f"LIM@{q}", "acc_k0") == r.values(f"random@{q}", "acc_k0")
        assert r.values(f"LIM@{q}", "acc_k8") == r.values(f"reverse ZD@{q}", "acc_k8")


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premises_measured():
    r = full()
    assert len(r.seeds) >= 5
    assert all(p["present"] for p in r.premises)
    drop = np.array(r.values("LIM@RTN", "uniform_drop"))
    assert drop.min() > 0.05, drop  # every seed: all-2-bit RTN loses more than 5 points
    spread = np.array(r.values("LIM@RTN", "sensitivity_spread"))
    assert spread.min() > 0.02, spread  # every seed: blocks differ in sensitivity by > 2 points


def test_full_run_lim_order_beats_random_order_with_both_quantizers():
    r = full()
    rtn = r.claim(
        "Moving layers to 2 bits in LIM order keeps a higher accuracy over the fractional mixes than a random order (RTN)"
    )
    gptq = r.claim(
        "Moving layers to 2 bits in LIM order keeps a higher accuracy over the fractional mixes than a random order (GPTQ)"
    )
    assert rtn["interval"]["low"] > 0.03, rtn["interval"]  # at least three points, the whole interval
    assert gptq["interval"]["low"] > 0, gptq["interval"]
    # GPTQ narrows the gap: it quantizes 2-bit layers better, so the order matters less than under RTN
    assert gptq["interval"]["mean"] < rtn["interval"]["mean"]
    # the reversed LIM order loses to a random order on every seed with GPTQ and on all but one with RTN
    # (each arm at its own clip ratio; before the ratio grid was widened it lost on every RTN seed too)
    for q, worse_on in (("RTN", 7), ("GPTQ", 8)):
        d = _paired(r, "test_accuracy", f"reverse LIM@{q}", f"random@{q}")
        assert np.sum(d < 0) >= worse_on and d.mean() < 0, d


def test_full_run_lim_moves_more_layers_within_two_points():
    r = full()
    iv = r.claim("In LIM order more layers move to 2 bits")["interval"]
    assert iv["low"] > 1.5, iv  # more than one and a half more layers of eight, the whole interval


def test_full_run_zd_order_is_no_better_than_random_here():
    # the measured result, not the paper's: on this toy the ZD order is indistinguishable from a random
    # order (both quantizers; the interval straddles zero, the mean under two points)
    r = full()
    for q in ("RTN", "GPTQ"):
        iv = r.claim(
            f"Moving layers to 2 bits in ZD order keeps a higher accuracy over the fractional mixes than a random order ({q})"
        )["interval"]
        assert iv["low"] < 0 < iv["high"] and abs(iv["mean"]) < 0.02, (q, iv)
