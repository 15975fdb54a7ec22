"""The growth-init-scaling family's contract over the registry (the form: `tests/techniques/contracts.py`).

An adapter is a dict:

* ``{"kind": "model", "build": (d_in, width, d_out, rng) -> Module}`` — an initializer / parametrization: a
  float64 network of the given width, optionally with ``"param_groups": (model, lr) -> groups`` when the
  technique trains it with its own per-layer rates;
* ``{"kind": "grower", "build": ..., "grow": (model, rng) -> Module, "preserves": bool}`` — an operator that
  grows a network built by ``build``; ``preserves`` says whether it claims to keep the function.

Properties: every network a technique builds or grows returns finite outputs of shape (batch, d_out); a
grower that claims to preserve the function does so to 1e-12 in float64 (and one that does not claim it
really changes the function); per-layer param groups cover every parameter exactly once with positive
rates, and one optimizer step on them keeps the outputs finite.  The family's shared growth operators
(growth_init_scaling/growth.py) are checked as ``baseline:`` keys.
"""

import copy

import numpy as np
import pytest
from contracts import params

from refimpl import nn
from refimpl.nn import functional as F
from refimpl.optim import SGD
from refimpl.techniques.growth_init_scaling import dit_mup, mup
from refimpl.techniques.growth_init_scaling import growing_transformers as GT
from refimpl.techniques.growth_init_scaling import growth as G
from refimpl.techniques.growth_init_scaling import guidance_representation_alignment as gra
from refimpl.techniques.growth_init_scaling import learngene_sws as sws
from refimpl.techniques.growth_init_scaling import lowrank_init_rich_lazy as lowrank
from refimpl.techniques.growth_init_scaling import mixturegrowth as MG
from refimpl.techniques.growth_init_scaling import residual_depth_scaling as residual
from refimpl.techniques.growth_init_scaling import self_expanding_cnn as senn
from refimpl.techniques.growth_init_scaling import weight_selection as ws
from refimpl.techniques.growth_init_scaling.parametrization import WidthMLP, param_groups

FAMILY = "growth-init-scaling"
D_IN, D_OUT = 6, 3


def _mup(optimizer):
    def build(d_in, width, d_out, rng):
        return mup.mup_mlp(d_in, width, d_out, base_width=8, optimizer=optimizer, dtype=np.float64, rng=rng)

    return {"kind": "model", "build": build, "param_groups": param_groups}


def _sp(d_in, width, d_out, rng):
    return WidthMLP(d_in, width, d_out, parametrization="standard", base_width=8, dtype=np.float64, rng=rng)


def _mlp(d_in, width, d_out, rng):
    return nn.Sequential(
        nn.Linear(d_in, width, dtype=np.float64, rng=rng),
        nn.ReLU(),
        nn.Linear(width, d_out, dtype=np.float64, rng=rng),
    )


def _selected(d_in, width, d_out, rng):
    """A student of `width` initialised by uniform weight selection from a twice-as-wide teacher."""
    return ws.init_from_larger(_mlp(d_in, width, d_out, rng), _mlp(d_in, 2 * width, d_out, rng), "uniform")


def _lowrank(d_in, width, d_out, rng):
    """The hidden layer starts at rank 1 with the Frobenius norm of a default initialisation."""
    model = _mlp(d_in, width, d_out, rng)
    w = model[0].weight
    w.data[...] = lowrank.lowrank_init(w.data.shape, 1, float(np.linalg.norm(w.data)), rng=rng)
    return model


def _residual(d_in, width, d_out, rng):
    return residual.ResidualMLP(
        d_in, width, 4, d_out, residual.branch_multiplier("1/sqrt(L)", 4), dtype=np.float64, rng=rng
    )


class _Members(nn.Module):
    """MixtureGrowth's two ungrown members as one network (their logits summed)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, member=0) + self.model(x, member=1)


def _members(d_in, width, d_out, rng):
    return _Members(MG.TemplateMLP(d_in, max(width // 2, 1), d_out, depth=2, dtype=np.float64, rng=rng))


def _senn_grow(model, rng):
    """One SENN expansion step forced to fire (τ just below 1): the best candidate, function-preserving."""
    x, y = rng.normal(size=(32, model.d_in)), rng.integers(0, model.d_out, size=32)
    grown = senn.senn_expand(
        model, x, y, tau=1 - 1e-9, width_step=4, max_width=10**6, max_depth=len(model.layers), rng=rng
    )
    return grown[0]


def _learngene(d_in, width, d_out, rng):
    """An (untrained) stage-wise-shared auxiliary model: 3 stages of 2 blocks, one shared block each."""
    return sws.auxiliary_model(d_in, width, 2 * width, d_out, (2, 2, 2), dtype=np.float64, rng=rng)


def _expand(stage_counts):
    def grow(aux, rng):
        descendant = sws.descendant_model(
            aux.d_in, aux.width, aux.hidden, aux.d_out, stage_counts, dtype=np.float64, rng=rng
        )
        return sws.init_from_learngene(descendant, aux)

    return grow


def _frozen_substrate_transformer(d_in, width, d_out, rng):
    """A 1-block growing transformer on a frozen random projection of the (real-valued) inputs."""
    sub = GT.ProjectionSubstrate(d_in, width, dtype=np.float64, rng=rng)
    return GT.GrowingTransformer(sub, d_out, n_layers=1, n_heads=2, dtype=np.float64, rng=rng)


def _grower(grow, preserves, build=_sp):
    return {"kind": "grower", "build": build, "grow": grow, "preserves": preserves}


CONTRACTS = {
    "weight-selection:uniform": {"kind": "model", "build": _selected},
    "lowrank-init-rich-lazy:rank-1": {"kind": "model", "build": _lowrank},
    "residual-depth-scaling:sqrt-depth": {"kind": "model", "build": _residual},
    "self-expanding-cnn:senn-expand": {"kind": "grower", "build": _sp, "grow": _senn_grow, "preserves": True},
    "mixturegrowth:orthogonal": {
        "kind": "grower",
        "build": _members,
        "grow": lambda m, rng: copy.deepcopy(m.model).grow("orthogonal"),
        "preserves": False,
    },
    "mixturegrowth:zero": {
        "kind": "grower",
        "build": _members,
        "grow": lambda m, rng: copy.deepcopy(m.model).grow("zero"),
        "preserves": True,
    },
    "dit-mup:toy-dit-adam": {  # inputs: data columns, then 4 timestep features
        "kind": "model",
        "build": lambda d_in, width, d_out, rng: dit_mup.dit_mup_denoiser(
            d_in - 4, width, d_out=d_out, n_freq=4, base_width=8, dtype=np.float64, rng=rng
        ),
        "param_groups": param_groups,
    },
    "guidance-representation-alignment:fcn-target": {  # the guidance is a loss; its target network
        "kind": "model",
        "build": lambda d_in, width, d_out, rng: gra.FCN(
            [d_in, width, width, d_out], dtype=np.float64, rng=rng
        ),
    },
    "learngene-sws:untie": {
        "kind": "grower",
        "build": _learngene,
        "grow": _expand((2, 2, 2)),
        "preserves": True,
    },
    "learngene-sws:deepen": {
        "kind": "grower",
        "build": _learngene,
        "grow": _expand((3, 3, 2)),
        "preserves": False,
    },
    "growing-transformers:add-frozen-layer": {  # a new block at default init: the function changes
        "kind": "grower",
        "build": _frozen_substrate_transformer,
        "grow": lambda m, rng: GT.grow(m, rng),
        "preserves": False,
    },
    "mup:mlp-sgd": _mup("sgd"),
    "mup:mlp-adam": _mup("adam"),
    "mup:widen-split": _grower(
        lambda m, rng: G.widen(m, 0, 2 * m.widths[0], rng=rng), True, _mup("sgd")["build"]
    ),
    "baseline:widen-split": _grower(
        lambda m, rng: G.widen(m, 1, m.widths[1] + 5, mode="split", rng=rng), True
    ),
    "baseline:widen-zero": _grower(lambda m, rng: G.widen(m, 0, m.widths[0] + 5, mode="zero", rng=rng), True),
    "baseline:insert-identity": _grower(lambda m, rng: G.insert_layer(m, 1, rng=rng), True),
    "baseline:widen-fresh": _grower(
        lambda m, rng: G.widen(m, 0, m.widths[0] + 5, mode="zero", preserve_function=False, rng=rng), False
    ),
}
EXEMPT = {}

ALL = params(FAMILY, CONTRACTS, EXEMPT)
GROWERS = params(FAMILY, CONTRACTS, EXEMPT, where=lambda a: a["kind"] == "grower")
WITH_GROUPS = params(FAMILY, CONTRACTS, EXEMPT, where=lambda a: "param_groups" in a)


def _x(seed=7):
    return np.random.default_rng(seed).normal(size=(5, D_IN))


def _networks(adapter, width):
    model = adapter["build"](D_IN, width, D_OUT, np.random.default_rng(width))
    if adapter["kind"] == "grower":
        return model, adapter["grow"](model, np.random.default_rng(1))
    return model, None


@pytest.mark.parametrize("key, adapter", ALL)
@pytest.mark.parametrize("width", [8, 32])
def test_networks_give_finite_outputs_of_the_documented_shape(key, adapter, width):
    for net in _networks(adapter, width):
        if net is not None:
            out = net(_x()).data
            assert out.shape == (5, D_OUT), f"{key}: output shape {out.shape}"
            assert np.all(np.isfinite(out)), f"{key}: non-finite output"


@pytest.mark.parametrize("key, adapter", GROWERS)
def test_growers_preserve_the_function_when_they_claim(key, adapter):
    model, grown = _networks(adapter, 16)
    x = _x()
    err = float(np.max(np.abs(grown(x).data - model(x).data)))
    if adapter["preserves"]:
        assert err <= 1e-12, f"{key}: claims to preserve the function, max abs error {err:.3g}"
    else:
        assert err > 1e-6, f"{key}: claims to change the function, but max abs error is {err:.3g}"


@pytest.mark.parametrize("key, adapter", WITH_GROUPS)
def test_param_groups_cover_every_parameter_once_and_a_step_stays_finite(key, adapter):
    model, _ = _networks(adapter, 32)
    groups = adapter["param_groups"](model, 0.05)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()), f"{key}: groups ≠ parameters"
    assert all(g["lr"] > 0 for g in groups)
    opt = SGD(groups, lr=0.05)
    rng = np.random.default_rng(3)
    F.mse_loss(model(_x()), rng.normal(size=(5, D_OUT))).backward()
    opt.step()
    assert np.all(np.isfinite(model(_x()).data)), f"{key}: non-finite output after one step"
