"""The learning-rate sweep across widths (growth_init_scaling/lr_transfer.py) on synthetic loss surfaces
whose optimum is known in closed form."""

import numpy as np
import pytest

from refimpl.techniques.growth_init_scaling.lr_transfer import LRSweep, lr_sweep, refined_log2_argmin

LRS = [2.0**k for k in range(-8, 1)]


def test_refined_argmin_recovers_a_parabola_optimum_between_grid_points():
    z = np.log2(LRS)
    assert refined_log2_argmin(LRS, (z + 2.3) ** 2) == pytest.approx(-2.3, abs=1e-12)
    assert refined_log2_argmin(LRS, 3 * (z + 5.75) ** 2 + 1) == pytest.approx(-5.75, abs=1e-12)


def test_refined_argmin_at_the_edge_or_next_to_divergence_is_the_grid_point():
    z = np.log2(LRS)
    assert refined_log2_argmin(LRS, (z + 9.0) ** 2) == -8.0  # optimum below the grid
    f = (z + 2.3) ** 2
    f[z == -1] = np.nan  # the right neighbour of the best point diverged
    assert refined_log2_argmin(LRS, f) == -2.0
    with pytest.raises(ValueError, match="diverged"):
        refined_log2_argmin(LRS, np.full(len(LRS), np.inf))
    with pytest.raises(ValueError, match="ascending"):
        refined_log2_argmin(LRS[::-1], np.ones(len(LRS)))


def _surface(width, lr, seed, slope):
    """A loss whose optimum is log₂ lr* = −3 + slope·log₂(width/64) (+ a seed offset); diverges 2 octaves
    above the optimum."""
    opt = -3 + slope * np.log2(width / 64) + 0.1 * seed
    z = np.log2(lr)
    return np.inf if z > opt + 2 else (z - opt) ** 2 + 0.01


@pytest.mark.parametrize("slope", [0.0, -1.0])
def test_sweep_spread_slope_and_interval(slope):
    widths = [32, 64, 128, 256, 512]
    sweep = lr_sweep(lambda w, lr, s: _surface(w, lr, s, slope), widths, LRS, [0, 1, 2])
    opt = sweep.optimum()
    expected = np.array([[-3 + slope * np.log2(w / 64) + 0.1 * s for s in range(3)] for w in widths])
    np.testing.assert_allclose(opt, np.clip(expected, -8, 0), atol=1e-9)
    np.testing.assert_allclose(sweep.spread(), abs(slope) * 4, atol=1e-9)  # log₂(512/32) = 4 octaves
    np.testing.assert_allclose(sweep.slope(), slope, atol=1e-9)
    iv = sweep.interval(64)
    assert iv.mean == pytest.approx(-2.9) and iv.low < -2.9 < iv.high


def test_transfer_regret_by_hand():
    # widths (64, 512), lrs (a, b, c), one seed: best at 64 is lr b; at 512 b costs 0.5, the best (c) 0.2
    losses = np.array([[[0.3], [0.1], [0.4]], [[0.9], [0.5], [0.2]]])
    sweep = LRSweep([64, 512], [0.1, 0.2, 0.4], [0], losses)
    np.testing.assert_allclose(sweep.transfer_regret(64, 512), [0.3])
    with pytest.raises(ValueError, match="`width`"):
        sweep.transfer_regret(64, 128)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`lrs`"):
        lr_sweep(lambda w, lr, s: 0.0, [32], [0.2, 0.1], [0])
    with pytest.raises(ValueError, match="non-empty"):
        lr_sweep(lambda w, lr, s: 0.0, [], [0.1], [0])
