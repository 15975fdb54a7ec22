"""SN-Netv2 stitching (Pan et al., 2023; arXiv 2307.00154): hand cases, the least-squares stitch against
np.linalg.lstsq, self-stitching as the identity, the two-way route space, the trainable SNNet against the
NumPy forward, the sampler, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.merging_averaging import sn_netv2_stitching as sn
from refimpl.techniques.merging_averaging.sn_netv2_stitching.cases import reference_cases
from refimpl.techniques.merging_averaging.state import mlp_forward

SLUG = "sn-netv2-stitching"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("seed", range(4))
def test_least_squares_stitch_matches_lstsq(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((30, 5)), rng.standard_normal((30, 7))
    w, bias = sn.least_squares_stitch(a, b)
    sol = np.linalg.lstsq(np.c_[a, np.ones(30)], b, rcond=None)[0]  # an independent solver
    np.testing.assert_allclose(w, sol[:-1].T, atol=1e-10)
    np.testing.assert_allclose(bias, sol[-1], atol=1e-10)


def test_underdetermined_stitch_is_the_minimum_norm_interpolant():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 9)), rng.standard_normal((4, 2))
    w, bias = sn.least_squares_stitch(a, b)
    np.testing.assert_allclose(a @ w.T + bias, b, atol=1e-10)  # N < D1 + 1: an exact fit


def _mlp(sizes, seed):
    rng = np.random.default_rng(seed)
    sd = {}
    for i, (p, q) in enumerate(zip(sizes[:-1], sizes[1:])):
        sd[f"{2 * i}.weight"], sd[f"{2 * i}.bias"] = rng.standard_normal((q, p)), rng.standard_normal(q)
    return sd


def test_stitching_a_model_to_itself_reproduces_it():
    sd = _mlp([4, 6, 6, 6, 3], 1)
    x = np.random.default_rng(2).standard_normal((40, 4))
    st = sn.init_stitches((sd, sd), x, 3, "ls")
    for route in sn.stitch_routes(3):
        np.testing.assert_allclose(sn.stitched_forward((sd, sd), st, route, x), mlp_forward(sd, x), atol=1e-9)


def test_two_way_route_space():
    routes = sn.stitch_routes(4)
    assert len(routes) == 2 + 2 * 3 + 2 * 3  # anchors, one stitch each way, two stitches each way
    assert len({r for r in routes}) == len(routes)
    for r in routes:
        assert r[0][1] == 0 and r[-1][2] == 4  # starts at block 0, ends after the last block
        for (a, _, e), (b, s, _) in zip(r[:-1], r[1:]):
            assert a != b and e == s and 1 <= e <= 3
    keys = {k for r in routes for k in sn.route_stitches(r)}
    assert keys == {(a, e) for a in (0, 1) for e in (1, 2, 3)}  # six shared stitching layers
    with pytest.raises(ValueError, match="depth"):
        sn.stitch_routes(1)


def test_route_flops_lie_between_the_anchors():
    fl = [sn.route_flops(r, (16, 128), 64, 10) for r in sn.stitch_routes(4)]
    assert fl[0] < min(fl[2:]) and max(fl[2:]) < fl[1]


def test_sampling_frequencies_follow_group_then_route():
    groups = [[0], [1, 2, 3]]
    rng = np.random.default_rng(0)
    draws = np.bincount(
        [sn.sample_route(groups, np.array([0.5, 0.5]), rng) for _ in range(20000)], minlength=4
    )
    np.testing.assert_allclose(draws / 20000, [0.5, 1 / 6, 1 / 6, 1 / 6], atol=0.015)
    np.testing.assert_allclose(sn.group_probabilities(4), 0.25)


@pytest.mark.parametrize("rank", [None, 2])
def test_snnet_forward_matches_numpy_and_low_rank_starts_at_the_init(rank):
    sds = (_mlp([4, 3, 3, 3, 2], 0), _mlp([4, 5, 5, 5, 2], 1))
    x = np.random.default_rng(3).standard_normal((6, 4))
    st = sn.init_stitches(sds, x, 3, "ls")
    m = sn.SNNet(sds, st, 3, rank=rank, rng=0)
    for i, route in enumerate(m.routes):
        m.route = i
        np.testing.assert_allclose(m(x).data, sn.stitched_forward(sds, st, route, x), rtol=1e-4, atol=1e-4)
    for k, (w, _b) in m.stitches().items():  # B = 0: the low-rank layer is the least-squares layer
        np.testing.assert_allclose(w, st[k][0], rtol=1e-6, atol=1e-6)
    trainable = {n for n, _ in m.named_parameters()}
    if rank is None:
        assert {"s0_1_weight", "s0_1_bias"} <= trainable
    else:
        assert {"s0_1_A", "s0_1_B", "s0_1_bias"} <= trainable and "s0_1_weight" not in trainable


def test_bad_inputs():
    with pytest.raises(ValueError, match="same N"):
        sn.least_squares_stitch(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="how"):
        sn.init_stitches((_mlp([2, 2, 2, 2], 0),) * 2, np.zeros((3, 2)), 2, "kaiming")
    with pytest.raises(ValueError, match="n_groups"):
        sn.group_probabilities(0)


def test_quick_run_measures_the_premises(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert {p["metric"] for p in r.premises} == {"anchor_gap_val", "init_gap"}
    n = len(sn.stitch_routes(4))
    assert r.arrays["test_ls-init"].shape == (len(r.seeds), n) and r.arrays["flops"].shape == (n,)
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises():
    r = full()
    assert len(r.seeds) >= 5
    assert min(r.values("anchors", "anchor_gap_val")) > 0.01  # every seed: L beats S by more than a point
    assert min(r.values("random-init", "init_gap")) > 0.5  # untrained random stitches are near chance


def test_full_run_least_squares_init_beats_random_init():
    """The ablation: least squares beat random init after the same fine-tuning, on every seed's mean."""
    iv = full().claim("Least-squares-initialised stitches are more accurate")["interval"]
    assert iv["low"] > 0.01, iv


def test_full_run_frozen_anchor_stitches_fall_below_the_anchor_line():
    """The measured contradiction on this toy (anchors frozen): the stitches sit below the straight line
    between the anchors by more than a point, but by less than ten."""
    iv = full().claim("The fine-tuned stitches lie on or above the straight line")["interval"]
    assert -0.10 < iv["low"] and iv["high"] < -0.01, iv


def test_full_run_low_rank_vs_full_rank_within_two_points():
    """Low-rank vs full-rank stitch updates: the two are within two points of each other."""
    iv = full().claim("The low-rank stitching update")["interval"]
    assert -0.02 < iv["low"] and iv["high"] < 0.02, iv
