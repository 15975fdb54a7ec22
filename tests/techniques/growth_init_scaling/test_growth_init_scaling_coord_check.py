"""The coordinate check (growth_init_scaling/coord_check.py): on a fixed batch, μP's activation and update
sizes are flat in width, SP's readout update grows (∝ n under SGD at a fixed rate), NTK's hidden updates
shrink (∝ n^{-1/2}); at init, input and hidden activations are flat for all and μP's output shrinks as
n^{-1/2} — the exponents of arXiv 2011.14522's abc table."""

import numpy as np
import pytest

from refimpl.nn import functional as F
from refimpl.optim import SGD, Adam
from refimpl.techniques.growth_init_scaling.coord_check import coord_check, loglog_slope
from refimpl.techniques.growth_init_scaling.parametrization import WidthMLP, param_groups

WIDTHS = [256, 512, 1024, 2048]  # large enough for the finite-width transients to fade
_CACHE = {}


def _check(name, optimizer="sgd", lr=0.1):
    key = (name, optimizer, lr)
    if key not in _CACHE:
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(32, 16)).astype(np.float32), rng.integers(0, 5, size=32)

        def make(width, seed):
            return WidthMLP(16, width, 5, parametrization=name, base_width=64, optimizer=optimizer,
                            rng=np.random.default_rng(seed))  # fmt: skip

        opt = SGD if optimizer == "sgd" else Adam
        _CACHE[key] = coord_check(make, WIDTHS, x, y, loss_fn=F.cross_entropy, steps=3, seeds=(0, 1),
                                  make_optimizer=lambda m: opt(param_groups(m, lr), lr=lr))  # fmt: skip
    return _CACHE[key]


def test_loglog_slope_by_hand():
    assert loglog_slope([1, 2, 4], [3, 6, 12]) == pytest.approx(1.0)
    assert loglog_slope([4, 16], [0.5, 0.25]) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="> 0"):
        loglog_slope([1, 2], [0.0, 1.0])


@pytest.mark.parametrize("name", ["standard", "ntk", "mup"])
def test_activations_at_init(name):
    s = _check(name).slopes("rms", step=0)
    assert abs(s["input"]) < 0.1 and abs(s["hidden_1"]) < 0.1
    expected_out = {"standard": 0.0, "ntk": 0.0, "mup": -0.5}[name]  # a+b of the readout minus ½
    assert s["output"] == pytest.approx(expected_out, abs=0.15)


def test_mup_is_flat_and_sp_readout_update_grows_under_sgd():
    mup, sp = _check("mup").slopes("delta"), _check("standard").slopes("delta")
    assert all(abs(v) < 0.3 for v in mup.values()), mup
    assert sp["output"] > 0.45, sp  # theory: the readout update ∝ n at a fixed rate
    assert sp["output"] - mup["output"] > 0.6


def test_ntk_hidden_updates_shrink_like_inverse_sqrt_width():
    ntk = _check("ntk").slopes("delta")
    assert ntk["hidden_1"] == pytest.approx(-0.5, abs=0.15) and ntk["input"] == pytest.approx(-0.5, abs=0.15)


def test_mup_is_flat_and_sp_hidden_update_grows_under_adam():
    mup = _check("mup", "adam", 1e-2).slopes("delta")
    sp = _check("standard", "adam", 1e-2).slopes("delta")
    assert all(abs(v) < 0.3 for v in mup.values()), mup
    assert sp["hidden_1"] > 0.3 and sp["output"] > 0.3, sp  # SP + Adam: ΔW x ∝ lr·n for width inputs


def test_result_shapes_and_bad_arguments():
    cc = _check("mup")
    assert cc.rms.shape == cc.delta.shape == (2, len(WIDTHS), 4, 3)
    assert np.all(cc.delta[:, :, 0, :] == 0)
    with pytest.raises(ValueError, match="`widths`"):
        coord_check(lambda w, s: None, [64], None, None, loss_fn=None, make_optimizer=None)
    with pytest.raises(ValueError, match="`steps`"):
        coord_check(lambda w, s: None, [64, 128], None, None, loss_fn=None, make_optimizer=None, steps=0)
