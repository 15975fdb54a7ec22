"""A priori compression of CNNs for wave simulators (Boukraichi, Akkari, Casenave, Ryckelynck; arXiv 2304.04964)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.nn import functional_call
from refimpl.techniques.lowrank_peft_sharing import apriori_cp_conv as P
from refimpl.techniques.lowrank_peft_sharing.apriori_cp_conv import experiment as X
from refimpl.techniques.lowrank_peft_sharing.apriori_cp_conv.cases import reference_cases

SLUG = "apriori-cp-conv"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _loop_kernel(factors):
    """Independent oracle: Σ_r of np.multiply.outer over the factors, channel pair by channel pair."""
    out_c, in_c, R = factors[0].shape[:3]
    K = np.zeros((out_c, in_c) + tuple(f.shape[3] for f in factors))
    for o, i, r in np.ndindex(out_c, in_c, R):
        term = factors[0][o, i, r]
        for f in factors[1:]:
            term = np.multiply.outer(term, f[o, i, r])
        K[o, i] += term
    return K


@pytest.mark.parametrize(
    "shapes", [[(2, 3, 2, 5), (2, 3, 2, 5)], [(1, 2, 3, 3), (1, 2, 3, 4)], [(2, 1, 2, 3)] * 3]
)
def test_cp_kernel_matches_outer_product_loop(shapes):
    rng = np.random.default_rng(0)
    fs = [rng.normal(size=s) for s in shapes]
    np.testing.assert_allclose(P.cp_kernel(fs).data, _loop_kernel(fs), atol=1e-12)


def test_cp_kernel_gradcheck():
    rng = np.random.default_rng(1)
    rf.gradcheck(
        lambda a, b: P.cp_kernel([a, b]), rng.normal(size=(2, 2, 2, 3)), rng.normal(size=(2, 2, 2, 3))
    )
    rf.gradcheck(
        lambda a, b, c: P.cp_kernel([a, b, c]),
        rng.normal(size=(1, 2, 2, 3)),
        rng.normal(size=(1, 2, 2, 2)),
        rng.normal(size=(1, 2, 2, 3)),
    )


def test_cpconv_equals_full_conv_with_built_kernel_and_gradcheck():
    layer = P.CPConv2d(3, 2, 3, 2, padding=1, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 6))
    K = _loop_kernel([layer.A.data, layer.B.data])
    expect = F.conv2d(rf.tensor(x), rf.tensor(K), rf.tensor(layer.bias.data), padding=1).data
    np.testing.assert_allclose(layer(rf.tensor(x)).data, expect, atol=1e-12)

    def f(a, b, bias):
        return functional_call(layer, {"A": a, "B": b, "bias": bias}, rf.tensor(x))

    rf.gradcheck(f, layer.A.data.copy(), layer.B.data.copy(), layer.bias.data.copy(), mode="random")


def test_full_rank_cp_represents_any_kernel_and_truncation_is_eckart_young():
    rng = np.random.default_rng(2)
    K = rng.normal(size=(3, 2, 5, 5))
    np.testing.assert_allclose(P.cp_kernel(P.truncate_kernel(K, 5)).data, K, atol=1e-12)
    s = np.linalg.svd(K, compute_uv=False)
    for R in (1, 2, 4):
        err = ((P.cp_kernel(P.truncate_kernel(K, R)).data - K) ** 2).sum()
        np.testing.assert_allclose(err, (s[..., R:] ** 2).sum(), rtol=1e-10)
        np.testing.assert_allclose(P.tail_energy(K, R), err / (K**2).sum(), rtol=1e-10)


def test_from_kernel_keeps_a_low_rank_layer_exactly():
    full = P.CPConv2d(2, 3, 5, 2, padding=2, dtype=np.float64, rng=3)
    again = P.CPConv2d.from_kernel(full.weight, full.bias, rank=2, padding=2, dtype=np.float64)
    x = rf.tensor(np.random.default_rng(4).normal(size=(1, 2, 7, 7)))
    np.testing.assert_allclose(again(x).data, full(x).data, atol=1e-12)


def test_wave_step_kernel_is_cp_rank2_and_matches_the_leapfrog_formula():
    """The toy's premise in closed form: the one-step map is CP rank 2, and conv with it equals the scheme
    u⁺ = 2u − u⁻ + α Δ₄ u written with np.roll-free slicing on a zero-padded grid."""
    W = X.step_kernel()
    assert P.tail_energy(W, 2) < 1e-28 and P.tail_energy(W, 1) > 0.01
    rng = np.random.default_rng(5)
    um, u = rng.normal(size=(2, 8, 8))
    p = np.pad(u, 2)
    lap = sum(X.D4[k] * (p[2 + k - 2 : 10 + k - 2, 2:10] + p[2:10, 2 + k - 2 : 10 + k - 2]) for k in range(5))
    expect = 2 * u - um + X.ALPHA * lap
    got = F.conv2d(rf.tensor(np.stack([um, u])[None]), rf.tensor(W), padding=2).data[0, 0]
    np.testing.assert_allclose(got, expect, atol=1e-12)


def test_parameter_count_formula():
    layer = P.CPConv2d(4, 2, 5, 2, rng=0)
    assert (
        sum(p.data.size for p in layer.parameters()) == layer.num_parameters_formula() == 4 * 2 * 2 * 10 + 2
    )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`rank`"):
        P.CPConv2d(2, 2, 3, 0)
    with pytest.raises(ValueError, match="factor 1 must have shape"):
        P.cp_kernel([np.ones((1, 1, 2, 3)), np.ones((1, 1, 3, 3))])
    with pytest.raises(ValueError, match="`factors`"):
        P.cp_kernel([np.ones((1, 1, 1, 3))])
    with pytest.raises(ValueError, match="`rank`"):
        P.truncate_kernel(np.ones((1, 1, 3, 3)), 4)
    with pytest.raises(ValueError, match="`K`"):
        P.truncate_kernel(np.ones((3, 3)), 1)


def test_quick_run_parameter_counts(quick_result):
    r = quick_result(SLUG)
    params = dict(zip(r.notes["arms"], r.arrays["parameters"]))
    # three convs (2→1, 2→4, 4→1) of 5×5: 25 vs 10R numbers per channel pair, plus 6 biases
    assert params["full 5x5"] == 14 * 25 + 6
    assert params["a priori CP R=2"] == params["a posteriori CP R=2"] == 14 * 20 + 6
    assert params["a priori CP R=1"] == 14 * 10 + 6
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_apriori_rank2_is_not_resolved_from_the_full_network_at_fewer_parameters():
    """Recorded, 5 seeds: a-priori rank 2 (286 parameters vs 356) has a mean log10-MSE within 0.1 of the full
    network, but the seed spread leaves the paper's non-inferiority margin (log10 1.25) inside the interval:
    inconclusive, not a loss."""
    r = full()
    params = dict(zip(r.notes["arms"], r.arrays["parameters"]))
    assert params["a priori CP R=2"] < 0.85 * params["full 5x5"]
    iv = {c["baseline"]: c["interval"] for c in r.claims}["full 5x5"]
    assert abs(iv["mean"]) < 0.1
    assert iv["low"] < np.log10(1.25) < iv["high"]


def test_full_run_apriori_vs_aposteriori_is_not_resolved_though_truncation_discards_energy():
    """Recorded: trained full kernels hold over 15 % of their energy beyond rank 2 (the premise), a-priori
    rank 2 has the lower mean error than the truncate-and-fine-tune ablation, yet its interval spans 0."""
    r = full()
    tail = {p["metric"]: p["interval"] for p in r.premises}["full_tail_energy"]
    assert tail["low"] > 0.1
    iv = {c["baseline"]: c["interval"] for c in r.claims}["a posteriori CP R=2"]
    assert iv["mean"] < 0 and iv["low"] < 0 < iv["high"]
