"""I&S-ViT: SULQ hand cases and grid contract, η search by brute force, the exact reparameterisation, demo."""

import numpy as np
import pytest

from refimpl.techniques.quantization import is_vit_sulq as S


def test_reference_cases():
    for case in S.reference_cases():
        case.check()


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_sulq_contract(bits):
    p = np.random.default_rng(bits).dirichlet(np.ones(30), size=20)
    eta = 0.01
    q = S.sulq(p, bits, eta)
    # every value is 2^k − η for an integer k, with at most 2^b distinct values, and ≤ 1 − η + 1 in range
    k = np.log2(q + eta)
    np.testing.assert_allclose(k, np.rint(k), atol=1e-9)
    assert len(np.unique(np.round(q, 12))) <= 2**bits
    y = np.log2(p + eta)
    np.testing.assert_allclose(
        S.sulq(q, bits, eta, y.min(), y.max()), q, atol=1e-12
    )  # idempotent on the grid


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
def test_reparameterisation_exact_random(seed):
    out = S._reparam_case(seed)
    np.testing.assert_allclose(out["layer_wise_after_reparam"], out["channel_wise"], atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_claim_holds(seed, demo_result):
    r = demo_result("is-vit-sulq", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    assert m["attn197_out_err_a3_sulq"] < 0.75 * m["attn197_out_err_a3_log2"]
    assert abs(m["ln_err_reparameterised"] - m["ln_err_channel_wise"]) < 1e-9
