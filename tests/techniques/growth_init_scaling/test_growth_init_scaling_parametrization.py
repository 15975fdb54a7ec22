"""The family's width parametrizations (growth_init_scaling/parametrization.py): hand values of the rules,
the SP form against the abc exponents of arXiv 2011.14522, equality of all three at the base width, the
optimizer param groups, and Adam's first step under μP."""

import math

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import functional as F
from refimpl.optim import SGD, Adam
from refimpl.techniques.growth_init_scaling import parametrization as P

ROLES = ("input", "hidden", "output")

# (a, b) per role and c, typed from arXiv 2011.14522 (Sec. 3, Def. 5.1) — independent of the code
ABC = {
    "standard": {"input": (0, 0), "hidden": (0, 0.5), "output": (0, 0.5), "c": 0},
    "ntk": {"input": (0, 0), "hidden": (0.5, 0), "output": (0.5, 0), "c": 0},
    "mup": {"input": (-0.5, 0.5), "hidden": (0, 0.5), "output": (0.5, 0.5), "c": 0},
}


def _rule(name, role, n, n0=64, d_in=16, d_out=10, optimizer="sgd", sigma=1.0):
    fi, fo = {"input": (d_in, n), "hidden": (n, n), "output": (n, d_out)}[role]
    bi, bo = {"input": (d_in, n0), "hidden": (n0, n0), "output": (n0, d_out)}[role]
    return P.layer_rule(name, role, fi, fo, base_fan_in=bi, base_fan_out=bo, optimizer=optimizer, sigma=sigma)


def test_hand_values_base64_width256():
    mup = {r: _rule("mup", r, 256) for r in ROLES}
    assert mup["output"].multiplier == 0.25  # 64/256: MuReadout's 1/width_mult
    assert mup["output"].init_std == pytest.approx(1 / 8)  # 1/√256 · √4
    assert mup["hidden"].init_std == pytest.approx(1 / 16)
    assert (mup["input"].lr_mult, mup["hidden"].lr_mult, mup["output"].lr_mult) == (4.0, 1.0, 4.0)
    adam = {r: _rule("mup", r, 256, optimizer="adam") for r in ROLES}
    assert (adam["input"].lr_mult, adam["hidden"].lr_mult, adam["output"].lr_mult) == (1.0, 0.25, 1.0)
    ntk = _rule("ntk", "hidden", 256)
    assert ntk.multiplier == pytest.approx(0.5) and ntk.init_std == pytest.approx(1 / 8)
    sp = _rule("standard", "output", 256)
    assert (sp.multiplier, sp.lr_mult, sp.init_std) == (1.0, 1.0, 1 / 16)


@pytest.mark.parametrize("name", list(ABC))
@pytest.mark.parametrize("role", ROLES)
def test_sp_form_has_the_abc_width_exponents(name, role):
    """Effective weight std ∝ n^{-(a+b)}; effective SGD rate multiplier²·lr ∝ n^{-(2a+c)}."""
    widths = [64, 128, 256, 512, 1024]
    rules = [_rule(name, role, n) for n in widths]
    std = [r.multiplier * r.init_std for r in rules]
    rate = [r.multiplier**2 * r.lr_mult for r in rules]
    a, b = ABC[name][role]
    c = ABC[name]["c"]
    log_n = np.log(widths)
    assert np.polyfit(log_n, np.log(std), 1)[0] == pytest.approx(-(a + b), abs=1e-12)
    assert np.polyfit(log_n, np.log(rate), 1)[0] == pytest.approx(-(2 * a + c), abs=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_parametrization_is_sp_at_the_base_width(optimizer):
    x = np.random.default_rng(0).normal(size=(5, 16))
    outs = []
    for name in P.PARAMETRIZATIONS:
        for role in ROLES:
            assert _rule(name, role, 64, optimizer=optimizer) == _rule("standard", role, 64)
        model = P.WidthMLP(16, 64, 3, parametrization=name, base_width=64, optimizer=optimizer,
                           dtype=np.float64, rng=np.random.default_rng(1))  # fmt: skip
        outs.append(model(x).data)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_init_statistics_match_the_rules():
    model = P.WidthMLP(16, 512, 4, parametrization="mup", base_width=64, sigma=1.0, dtype=np.float64,
                       rng=np.random.default_rng(2))  # fmt: skip
    stds = [float(layer.weight.data.std()) for layer in model.layers]
    assert stds[0] == pytest.approx(1 / 4, rel=0.03)  # 1/√16
    assert stds[1] == pytest.approx(1 / math.sqrt(512), rel=0.03)
    assert stds[2] == pytest.approx(1 / 8, rel=0.1)  # constant: 1/√64 (only 2048 draws)
    assert [layer.multiplier for layer in model.layers] == [1.0, 1.0, 0.125]


def test_param_groups_cover_every_parameter_once_with_the_rules_rates():
    model = P.WidthMLP(
        16, 256, 3, depth=3, parametrization="mup", base_width=64, rng=np.random.default_rng(3)
    )
    groups = P.param_groups(model, 0.1)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    inp, h1, h2, out = model.layers
    # by hand (m = 4): input weight/bias and hidden biases 0.4, hidden weights 0.1, readout weight 0.4,
    # readout bias 0.1
    assert rate[id(inp.weight)] == rate[id(inp.bias)] == rate[id(h1.bias)] == pytest.approx(0.4)
    assert rate[id(h1.weight)] == rate[id(h2.weight)] == pytest.approx(0.1)
    assert rate[id(out.weight)] == pytest.approx(0.4) and rate[id(out.bias)] == pytest.approx(0.1)
    SGD(groups, lr=0.1)  # the optimizers take them as they are
    with pytest.raises(ValueError, match="`lr`"):
        P.param_groups(model, 0.0)


def test_first_adam_step_moves_hidden_weights_by_lr_over_width_mult():
    """Adam's first step is lr·g/(|g| + ε) ≈ lr·sign(g): under MuAdam the hidden entries move by lr/m."""
    model = P.WidthMLP(8, 256, 2, parametrization="mup", optimizer="adam", base_width=64, dtype=np.float64,
                       rng=np.random.default_rng(4))  # fmt: skip
    before = [layer.weight.data.copy() for layer in model.layers]
    opt = Adam(P.param_groups(model, 1e-2), lr=1e-2)
    rng = np.random.default_rng(5)
    F.mse_loss(model(rng.normal(size=(16, 8))), rf.tensor(rng.normal(size=(16, 2)))).backward()
    opt.step()
    moved = [np.median(np.abs(layer.weight.data - b)) for layer, b in zip(model.layers, before)]
    np.testing.assert_allclose(moved, [1e-2, 1e-2 / 4, 1e-2], rtol=1e-4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`parametrization`"):
        P.WidthMLP(4, 8, 2, parametrization="mf")
    with pytest.raises(ValueError, match="`width`"):
        P.WidthMLP(4, 0, 2)
    with pytest.raises(ValueError, match="`optimizer`"):
        P.layer_rule("mup", "hidden", 8, 8, base_fan_in=8, base_fan_out=8, optimizer="lion")
    with pytest.raises(ValueError, match="`role`"):
        P.layer_rule("mup", "readout", 8, 8, base_fan_in=8, base_fan_out=8)
    with pytest.raises(ValueError, match="`base_width`"):
        P.WidthMLP(4, [8, 8], 2, depth=2, base_width=[8])
