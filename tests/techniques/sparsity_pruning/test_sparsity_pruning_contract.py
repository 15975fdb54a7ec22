"""The sparsity-pruning family's contract over the registry (the form: `tests/techniques/contracts.py`).

Every technique registers an adapter `CONTRACTS[slug](model, s)` that prunes an MLP to target sparsity s
and returns a dict: "kind" (how the target is measured), "hook(opt)" (run after each optimizer step),
optionally "needs_optimizer(opt)" (methods that need the optimizer to start), "update()" (one
prune/regrow step), "zero()" (make a learned add-on the identity) and "tolerance" (rtol, atol of the
target-0 check).  Each must

* reach its target sparsity to within one weight (globally or per layer, as the method defines it),
* keep it through several optimizer steps with SGD+momentum and with Adam — static masks keep exactly
  the same entries at zero; dynamic methods (ST-3, sparse momentum) keep the count,
* change nothing at target 0 (a dense mask is the identity; sparse momentum starts from a random mask by
  design, so its target 0 is density 1)."""

import numpy as np
import pytest
from contracts import params

from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.nn import MLP, parametrize
from refimpl.nn import functional as F
from refimpl.optim import SGD, Adam
from refimpl.techniques.sparsity_pruning import masks as B

FAMILY = "sparsity-pruning"
SIZES = [6, 12, 10, 3]
N_WEIGHTS = 6 * 12 + 12 * 10 + 10 * 3


class _State:
    def __init__(self, opt):
        self.optimizer = opt


def _gmp(model, s):
    from refimpl.techniques.sparsity_pruning import global_magnitude_pruning as m

    m.prune_model(model, s, "global", min_keep=1 if s < 1 else 0)
    return {"kind": "static-global", "hook": lambda opt: B.enforce_masks_(model, opt)}


def _st3(model, s):
    from refimpl.techniques.sparsity_pruning import st3_soft_threshold as m

    pr = m.ST3Pruner(model, s, start_step=0, end_step=1)
    pr.update(s)
    return {"kind": "dynamic-global", "hook": lambda opt: pr.update(s)}


def _sm(model, s):
    from refimpl.techniques.sparsity_pruning import sparse_momentum as m

    holder = {}

    def hook(opt):
        if "cb" not in holder:  # the callback needs the optimizer; created on the first step
            return
        holder["cb"].on_step_end(None)

    def make(opt):
        holder["cb"] = m.SparseMomentum(model, opt, density=1 - s, total_steps=10, seed=0)

    return {
        "kind": "dynamic-per-layer",
        "hook": hook,
        "needs_optimizer": make,
        "update": lambda: holder["cb"].update(0.3),
    }


def _perp(model, s):
    from refimpl.techniques.sparsity_pruning import perp as m

    hidden = dict(list(B.prunable_layers(model).items()))
    masks = B.layerwise_magnitude_masks({n: mod.weight.data for n, mod in hidden.items()}, s)
    B.apply_masks(model, masks)
    for n, mod in hidden.items():
        parametrize.register_parametrization(
            mod, "weight", m.MaskLoRA(masks[n], rank=2, rng=np.random.default_rng(0))
        )
        mod.parametrizations.weight[1].lora_B.data[:] = 0.1  # a non-trivial adapter
    m.select_peft_parameters(model)

    def zero():  # a zero adapter (B = 0) must be the identity too
        for mod in hidden.values():
            mod.parametrizations.weight[1].lora_B.data[:] = 0.0

    return {"kind": "static-per-layer", "hook": lambda opt: None, "zero": zero}


def _lrp(model, s):
    from refimpl.techniques.sparsity_pruning import lrp_pruning as m

    x = np.abs(np.random.default_rng(0).normal(size=(8, SIZES[0])))
    y = np.arange(8) % SIZES[-1]
    m.prune_units(model, m.unit_scores(model, x, y, "lrp"), s)
    return {"kind": "static-units", "hook": lambda opt: B.enforce_masks_(model, opt)}


def _ifm(model, s):
    from refimpl.techniques.sparsity_pruning import iterative_feature_merging as m

    m.merge_units(model, s)  # merged units: outgoing column masked (after folding), bias zeroed
    return {"kind": "static-units", "hook": lambda opt: B.enforce_masks_(model, opt)}


def _hesso(model, s):
    from refimpl.techniques.sparsity_pruning import hesso as m

    h = m.HESSO(model, s, start_step=0, pruning_steps=1, pruning_periods=1)
    h.step()  # one period of one step: the chosen groups are projected to exactly zero
    m.install_group_masks(model, h.pruned)  # freeze them (rows, biases and the consumers' columns)
    return {"kind": "static-units", "hook": lambda opt: B.enforce_masks_(model, opt)}


def _lost(model, s):
    """LOST is not a mask on a dense weight: its sparse part keeps a fixed set of input channels. The
    layers are rebuilt from the dense ones (rank 1); 'sparsity' = the fraction of channels left out."""
    from refimpl.techniques.sparsity_pruning import lost_lowrank_sparse as m

    for name, mod in list(B.prunable_layers(model).items()):
        n_in = mod.in_features
        new = m.LOSTLinear(
            n_in,
            mod.out_features,
            rank=1,
            n_channels=n_in - round(s * n_in),
            init_weight=mod.weight.data,
            rng=np.random.default_rng(0),
        )
        new.bias.data[:] = mod.bias.data
        setattr(model, name, new)
    # AB + S = W up to the float32 rounding of the SVD factors
    return {"kind": "lost-channels", "hook": lambda opt: None, "tolerance": (1e-5, 1e-6)}


def _dpruner(model, s):
    from refimpl.techniques.sparsity_pruning import d_pruner as m

    rng = np.random.default_rng(0)
    scores = {n: rng.random(mod.weight.data.shape) for n, mod in B.prunable_layers(model).items()}
    m.prune_model(model, scores, s)  # the scores of a D-Pruner pass; the mask is static afterwards
    return {"kind": "static-per-layer", "hook": lambda opt: B.enforce_masks_(model, opt)}


def _pst(model, s):
    """PST's mask is the per-layer top-v of its score, recomputed at every forward pass (dynamic)."""
    from refimpl.techniques.sparsity_pruning import pst_param_efficient_sparsity as m

    m.attach(model, rng=np.random.default_rng(0))
    m.set_sparsity(model, s)
    return {"kind": "dynamic-per-layer", "hook": lambda opt: None}


def _vtrans(model, s):
    """VTrans prunes whole hidden neurons by the VIB signal-to-noise α = μ²/σ² of their gates (global ranking to
    the budget), then folds the gates into the next layer (pruned columns masked, bias zeroed)."""
    from refimpl.techniques.sparsity_pruning import vtrans as m

    m.attach(model, rng=np.random.default_rng(0), mu_std=0.0, log_sigma2_std=1.0)  # μ = 1: identity at s = 0
    m.prune_to_budget(model, s)
    m.bake(model)
    return {"kind": "static-units", "hook": lambda opt: B.enforce_masks_(model, opt)}


CONTRACTS = {
    "d-pruner": _dpruner,
    "global-magnitude-pruning": _gmp,
    "hesso": _hesso,
    "iterative-feature-merging": _ifm,
    "lost-lowrank-sparse": _lost,
    "lrp-pruning": _lrp,
    "perp": _perp,
    "pst-param-efficient-sparsity": _pst,
    "sparse-momentum": _sm,
    "st3-soft-threshold": _st3,
    "vtrans": _vtrans,
}
EXEMPT = {
    "finercut": "removes whole attention/FFN sublayers of a transformer greedily by output distance; no weight "
    "sparsity of an MLP to reach or keep (its removals are tested in its own file)",
    "tas-pruning": "searches the widths of a new, smaller MLP and trains it from scratch (KD); it does not "
    "mask a given MLP to a weight sparsity (its widths and budget are tested in its own file)",
    "llm-drop-attention": "removes whole attention/MLP sublayers of a transformer by a similarity score; "
    "no weight sparsity of an MLP to reach or keep (its drops are tested in its own file)",
}

PRUNERS = params(FAMILY, CONTRACTS, EXEMPT)


def _effective(model):
    out = {}
    with no_grad():
        for n, mod in model.named_modules():
            if hasattr(mod, "dense_weight"):  # LOST: the sparse part embedded in a dense (out, in) matrix
                sp = np.zeros((mod.out_features, mod.in_features))
                sp[:, mod.channels] = mod.S.data
                out[n] = sp
            elif n in B.prunable_layers(model):
                out[n] = np.asarray(mod.weight.data).copy()
    return out


def _check_target(kind, eff, s):
    if kind.endswith("global"):
        zeros = sum(int(np.sum(w == 0)) for w in eff.values())
        assert abs(zeros - s * N_WEIGHTS) <= 1.0, (zeros, s * N_WEIGHTS)
    elif kind.endswith("per-layer"):
        for n, w in eff.items():
            if kind == "static-per-layer" and n == list(eff)[-1]:
                continue
            assert abs(int(np.sum(w == 0)) - s * w.size) <= 1.0, (n, int(np.sum(w == 0)), s * w.size)
    elif kind == "lost-channels":
        for n, w in eff.items():
            kept = int(np.sum(np.any(w != 0, axis=0)))
            assert kept == w.shape[1] - round(s * w.shape[1]), (n, kept)
    elif kind == "static-units":
        hidden = SIZES[1] + SIZES[2]
        dead = sum(
            int(np.sum(np.all(w == 0, axis=0))) for w in list(eff.values())[1:]
        )  # units with no outgoing weight
        assert abs(dead - round(s * hidden)) <= 0, (dead, s * hidden)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("slug, adapter", PRUNERS)
def test_target_reached_and_kept_through_optimizer_steps(slug, adapter, opt_name):
    rng = np.random.default_rng(1)
    model = MLP(SIZES, rng=rng)
    s = 0.5
    ad = adapter(model, s)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = SGD(params, lr=0.1, momentum=0.9) if opt_name == "sgd" else Adam(params, lr=0.05)
    if "needs_optimizer" in ad:
        ad["needs_optimizer"](opt)
    eff0 = _effective(model)
    _check_target(ad["kind"], eff0, s)
    x, y = rng.normal(size=(16, SIZES[0])).astype(np.float32), rng.integers(0, SIZES[-1], size=16)
    for _ in range(4):
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
        ad["hook"](opt)
        eff = _effective(model)
        if ad["kind"].startswith("static") or ad["kind"] == "lost-channels":
            for n in eff:  # exactly the same entries stay exactly zero
                assert np.all(eff[n][eff0[n] == 0] == 0), n
        _check_target(ad["kind"], eff, s) if not ad["kind"].startswith("dynamic-per") else None
    if "update" in ad:  # sparse momentum: prune/regrow keeps the mask count per the whole net
        before = sum(int(m.sum()) for m in B.current_masks(model).values())
        ad["update"]()
        assert sum(int(m.sum()) for m in B.current_masks(model).values()) == before


@pytest.mark.parametrize("slug, adapter", PRUNERS)
def test_target_zero_changes_nothing(slug, adapter):
    rng = np.random.default_rng(2)
    model = MLP(SIZES, rng=rng)
    ref = MLP(SIZES, rng=np.random.default_rng(2))
    ad = adapter(model, 0.0)
    if "needs_optimizer" in ad:  # sparse momentum: density 1, created with its optimizer
        ad["needs_optimizer"](SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9))
    if "zero" in ad:
        ad["zero"]()
    x = Tensor(rng.normal(size=(5, SIZES[0])).astype(np.float32))
    with no_grad():
        rtol, atol = ad.get("tolerance", (0.0, 0.0))
        np.testing.assert_allclose(model(x).data, ref(x).data, rtol=rtol, atol=atol)
