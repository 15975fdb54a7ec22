"""The experiment: after one-shot magnitude pruning of an MLP with LayerNorm on the digits, retrain all
weights, only the biases and LayerNorm parameters, or those plus low-rank adapters (masked, scaled,
standard, or standard masked at merge), and compare what each recovers.

Setup.  A 64-128-128-10 MLP with LayerNorm is trained densely (Adam, fixed recipe, one model per seed); its
two hidden Linear layers are pruned one-shot by uniform layer-wise magnitude pruning (the classifier head
stays dense, as the LM head in the paper) and retrained for the same number of epochs by every arm:
  none          no retraining (what pruning alone leaves);
  full          every parameter, the mask fixed (the classic prune-retrain baseline);
  bias+LN       PERP's minimal set: biases and LayerNorm scales and shifts;
  MaskLoRA      bias+LN plus MaskLoRA on the pruned layers, merged (W + s·BA ⊙ M);
  ScaleLoRA     bias+LN plus ScaleLoRA on the pruned layers, merged (W ⊙ BA);
  LoRA-Prune    bias+LN plus standard LoRA, BA masked only at merge (the official `lora_prune`) — the
                ablation that lacks only the paper's idea of masking during training;
  LoRA          bias+LN plus standard LoRA merged without the mask: the control that shows what the
                dense update does to the sparsity (its accuracy is that of a dense model).
Every (arm, sparsity) tunes its own retraining learning rate on the validation split (adapters share a
fixed rank and α).  Recovery is the fraction of the accuracy pruning removed that retraining gives back,
(acc − acc_pruned) / (acc_dense − acc_pruned), on the test split, per seed.
Premises.  Pruning must cost accuracy for recovery to mean anything: more than five points at the moderate
and at the high sparsity (both chosen from a scan of pruning alone, before any retraining was run).  For
MaskLoRA to beat LoRA-Prune, masking the standard update at merge must cost LoRA-Prune accuracy.
Claims.  (1) At moderate sparsity bias+LN recovers more than 85 % of the accuracy pruning removed, and
(2) matches full retraining within one point; at high sparsity MaskLoRA (3) beats bias+LN alone ("bridges
the gap"), (4) matches full retraining within one point and (5) beats LoRA-Prune; (6) merging the unmasked
LoRA refills the pruned entries (the sparsity is lost).
Scale.  Biases and LayerNorm are a few percent of this small MLP's parameters (0.01–0.05 % of an LLM's in
the paper), and a rank-4 adapter is large next to a 95 %-sparse 128×128 layer; the toy tests the
mechanism, not the paper's parameter ratios.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..masks import MaskCallback, apply_masks, layerwise_magnitude_masks, prunable_layers, sparsity_report
from . import LoRA, MaskLoRA, ScaleLoRA, merge_adapters, select_peft_parameters

SLUG = "perp"
SIZES = [64, 128, 128, 10]
MODERATE, HIGH = 0.8, 0.95  # chosen by what pruning alone costs (the premise), never by a claim
RANK, ALPHA = 4, 8.0  # adapters on the two pruned layers (s = α/r = 2)
ARMS = ["none", "full", "bias+LN", "MaskLoRA", "ScaleLoRA", "LoRA-Prune", "LoRA"]
LR_GRID = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def _sparsities(quick):
    return [MODERATE, HIGH] if quick else [0.7, MODERATE, 0.9, HIGH]


def _epochs(quick):
    return (12, 4) if quick else (20, 8)  # (dense training, retraining)


@functools.cache
def _dense(seed: int, epochs: int):
    """The dense model of `seed` (trained once, shared by every arm), as a state dict, and its metrics."""
    from ....nn import MLP

    model = MLP(SIZES, norm="layer", rng=np.random.default_rng(seed))
    train(model, tasks.digits(), lr=2e-3, epochs=epochs, seed=seed)
    return model.state_dict(), split_metrics(model, tasks.digits())


def _pruned(seed: int, sparsity: float, epochs: int):
    """The dense model of `seed` with its hidden layers magnitude-pruned; (model, hidden layers, masks)."""
    from ....nn import MLP

    model = MLP(SIZES, norm="layer", rng=np.random.default_rng(seed))
    model.load_state_dict(_dense(seed, epochs)[0])
    layers = prunable_layers(model)
    hidden = {n: layers[n] for n in list(layers)[:-1]}  # the classifier head stays dense
    masks = layerwise_magnitude_masks({n: m.weight.data for n, m in hidden.items()}, sparsity)
    apply_masks(model, masks)
    return model, hidden, masks


def _adapt(model, hidden, masks, adapter: str, seed: int) -> list:
    """Register `adapter` on every pruned layer and return the trainable parameters of the arm."""
    from ....nn import parametrize

    if adapter == "full":
        return list(model.parameters())
    rng = np.random.default_rng([seed, 1])
    for n, mod in hidden.items():
        shape = mod.parametrizations.weight.original.shape
        if adapter == "MaskLoRA":
            parametrize.register_parametrization(mod, "weight", MaskLoRA(masks[n], RANK, ALPHA, rng=rng))
        elif adapter == "ScaleLoRA":
            parametrize.register_parametrization(mod, "weight", ScaleLoRA(shape, RANK))
        elif adapter == "LoRA":
            parametrize.register_parametrization(mod, "weight", LoRA(shape, RANK, ALPHA, rng=rng))
    return select_peft_parameters(model, adapters=adapter != "bias+LN")


def _refilled(model, hidden, masks) -> float:
    """Fraction of the pruned entries of the hidden layers that are nonzero in the weight the model uses."""
    filled = sum(int(np.count_nonzero(mod.weight.data[masks[n] == 0])) for n, mod in hidden.items())
    return filled / sum(int(np.sum(masks[n] == 0)) for n in hidden)


@functools.cache
def _retrained(arm: str, sparsity: float, seed: int, lr: float, quick: bool):
    """Metrics of one arm; LoRA and LoRA-Prune share one training (they differ only in the merge)."""
    task = tasks.digits()
    dense_epochs, epochs = _epochs(quick)
    model, hidden, masks = _pruned(seed, sparsity, dense_epochs)
    dense = _dense(seed, dense_epochs)[1]
    before = split_metrics(model, task)
    n_params = model.num_parameters()
    adapter = "LoRA" if arm in ("LoRA", "LoRA-Prune") else arm
    trainable = 0
    if arm != "none":
        params = _adapt(model, hidden, masks, adapter, seed)
        trainable = sum(p.data.size for p in params)
        callbacks = [MaskCallback(model)] if arm == "full" else []
        train(model, task, lr=lr, epochs=epochs, seed=seed, params=params, callbacks=callbacks)
    unmerged = split_metrics(model, task)
    out = {}
    merges = {"LoRA": False, "LoRA-Prune": True} if adapter == "LoRA" else {arm: False}
    state = model.state_dict()
    for name, prune_lora in merges.items():
        if prune_lora:  # the same trained adapters, merged again, this time through the mask
            model, hidden, masks = _pruned(seed, sparsity, dense_epochs)
            _adapt(model, hidden, masks, adapter, seed)
            model.load_state_dict(state)
        merge_adapters(model, prune_lora=prune_lora)  # masks and adapters baked into plain weights
        after = split_metrics(model, task)
        lost = dense["test_accuracy"] - before["test_accuracy"]
        floor = 1 / len(task.y_test)  # one test sample: recovery stays finite if pruning cost nothing
        out[name] = {
            **after,
            "recovery": (after["test_accuracy"] - before["test_accuracy"]) / max(lost, floor),
            "accuracy_lost": lost,
            "dense_test_accuracy": dense["test_accuracy"],
            "test_accuracy_before_retrain": before["test_accuracy"],
            "mask_at_merge_cost": unmerged["test_accuracy"] - after["test_accuracy"],
            "trainable_fraction": trainable / n_params,
            "hidden_sparsity": sparsity_report(model, hidden)[-1]["sparsity"],
            "refilled_fraction": _refilled(model, hidden, masks),
        }
    return out


def _arm(arm: str, sparsity: float, quick: bool):
    def run(seed, lr=0.0):
        return dict(_retrained(arm, sparsity, seed, lr, quick)[arm])

    grid = {} if arm == "none" else {"lr": LR_GRID}
    quick_grid = {} if arm == "none" else {"lr": [1e-2]}
    return Method(f"{arm}@{sparsity:g}", run, grid=grid, quick_grid=quick_grid)


@experiment(SLUG, seeds=range(8), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    sp = _sparsities(quick)
    methods = [_arm(arm, s, quick) for s in sp for arm in ARMS]
    comparison = compare(
        methods,
        seeds,
        select="val_accuracy",
        quick=quick,
        progress=progress,
        selection_seeds=seeds[:1] if quick else seeds[:2],
    )
    lost_moderate = f"pruning to {MODERATE:.0%} costs more than five points of test accuracy"
    lost_high = f"pruning to {HIGH:.0%} costs more than five points of test accuracy"
    merge_cost = "masking the standard LoRA update at merge costs LoRA-Prune accuracy"
    premises = [
        Premise(lost_moderate, "accuracy_lost", f"none@{MODERATE:g}", threshold=0.05),
        Premise(lost_high, "accuracy_lost", f"none@{HIGH:g}", threshold=0.05),
        Premise(merge_cost, "mask_at_merge_cost", f"LoRA-Prune@{HIGH:g}", threshold=0.0),
    ]
    claims = [
        Claim(
            "Retraining only biases and LayerNorm parameters recovers more than 85 % of the accuracy "
            "pruning removed (moderate sparsity)",
            metric="recovery",
            method=f"bias+LN@{MODERATE:g}",
            margin=0.85,
            premises=(lost_moderate,),
        ),
        Claim(
            "Retraining only biases and LayerNorm parameters matches full retraining within one point "
            "(moderate sparsity)",
            metric="test_accuracy",
            method=f"bias+LN@{MODERATE:g}",
            baseline=f"full@{MODERATE:g}",
            margin=-0.01,
            premises=(lost_moderate,),
        ),
        Claim(
            "MaskLoRA adapters recover accuracy beyond biases and LayerNorm alone (high sparsity)",
            metric="test_accuracy",
            method=f"MaskLoRA@{HIGH:g}",
            baseline=f"bias+LN@{HIGH:g}",
            premises=(lost_high,),
        ),
        Claim(
            "With MaskLoRA adapters, retraining matches full retraining within one point (high sparsity)",
            metric="test_accuracy",
            method=f"MaskLoRA@{HIGH:g}",
            baseline=f"full@{HIGH:g}",
            margin=-0.01,
            premises=(lost_high,),
        ),
        Claim(
            "Masking the adapter during training (MaskLoRA) beats masking a standard LoRA only at merge "
            "(LoRA-Prune) (high sparsity)",
            metric="test_accuracy",
            method=f"MaskLoRA@{HIGH:g}",
            baseline=f"LoRA-Prune@{HIGH:g}",
            premises=(lost_high, merge_cost),
        ),
        Claim(
            "Merging a standard (unmasked) LoRA refills the pruned entries: the sparsity is lost",
            metric="refilled_fraction",
            method=f"LoRA@{HIGH:g}",
            margin=0.5,
            premises=(),
        ),
    ]
    acc = np.array([[np.mean(comparison.values(f"{a}@{s:g}", "test_accuracy")) for s in sp] for a in ARMS])
    frac = np.array([np.mean(comparison.values(f"{a}@{sp[0]:g}", "trainable_fraction")) for a in ARMS])
    dense = np.mean(comparison.values(f"none@{sp[0]:g}", "dense_test_accuracy"))
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"sparsities": np.array(sp), "test_accuracy": acc, "trainable_fraction": frac},
        notes={"arms": ARMS, "dense_test_accuracy": float(dense)},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "recovery",
            "accuracy_lost",
            "trainable_fraction",
            "hidden_sparsity",
            "refilled_fraction",
            "mask_at_merge_cost",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    sp = 100 * result.arrays["sparsities"]
    styles = {"none": "x:", "full": "o-", "bias+LN": "s-", "MaskLoRA": "^-", "ScaleLoRA": "v-"}
    styles.update({"LoRA-Prune": "d--", "LoRA": "*:"})
    for arm, row, f in zip(
        result.notes["arms"], result.arrays["test_accuracy"], result.arrays["trainable_fraction"]
    ):
        label = arm + (" (dense after merge)" if arm == "LoRA" else "") + f" — {100 * f:.3g} % trained"
        ax.plot(sp, row, styles.get(arm, "-"), label=label, ms=5)
    ax.axhline(result.notes["dense_test_accuracy"], color="k", lw=0.6, label="dense model")
    ax.set_xlabel("sparsity of the hidden layers (%)")
    ax.set_ylabel("test accuracy after retraining\n(mean over seeds)")
    ax.set_title("retraining after one-shot magnitude pruning (digits MLP)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {SLUG: fig}
