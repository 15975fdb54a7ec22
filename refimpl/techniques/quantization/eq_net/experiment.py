"""The experiment: one EQ-Net supernet (per-layer weight widths {2, 4, 8}) against nets QAT-trained at one
fixed width each for the same number of steps, and against the supernet trained without WDR and GPG.

Setup.  A float MLP 64 → 64 → 64 → 10 (Kaiming-normal, the family's `digits_mlp`) is trained with Adam on
the digits (one per seed) and is the common starting point.  Every arm turns its three Linear layers into
`ElasticLinear`s (shared weights, one learned per-channel step size per width, initialised from the
weights) and trains for the same number of epochs with Adam:
* **EQ-Net**: each step the chain all-8-bit → one random subnet → all-2-bit, GPG (CE, then α = 0.5
  KL-to-the-previous + CE) plus WDR (λ_K = 0.015, λ_S = 1);
* **no WDR/GPG** (the ablation that lacks only the paper's losses): the same chain and sampling, CE on
  every subnet, no WDR;
* **QAT-2, QAT-4, QAT-8**: one fixed width everywhere, CE, one forward per step (equal steps; the
  supernets see three subnets per step).  Evaluated at another width, a QAT net's step sizes for that
  width are re-initialised from its trained weights (what switching a fixed net without retraining is).
Every arm tunes its learning rate on its own validation accuracy (supernets: the mean over all 27
subnets; QAT-b: at its width b); test images are used once, at the end.
Metrics.  `acc_w<b>`: test accuracy with every layer at b bits; `mixed_mean`: mean test accuracy over all
27 subnets; `searched_le4`: the test accuracy of the subnet with average weight bits ≤ 4 that scores best
on the validation split (the search step, by enumeration); `switch_drop_2`: own-width accuracy minus the
accuracy at 2 bits; `kurtosis`: mean kurtosis of the layers WDR acts on (2 and 3).
Premises.  (1) Switching is not free: the QAT-8 net run at 2 bits loses more than 5 points.  (2) WDR has
something to do: without it the shared weights' kurtosis is above 2.3 (1.8 is uniform).
Claims (the paper: subnets close to or better than their static counterparts; WDR and GPG help).  At each
uniform width the EQ-Net subnet is no more than 2 points below the QAT net of that width; EQ-Net's
mean over the 27 subnets, and its 2-bit subnet, beat the ablation.
Grid.  The learning rate, 1e-4 … 1e-1 for every arm; the first recording tried 3e-4 … 3e-3 (QAT-2 chose
the lowest, QAT-8 the highest value), the second 1e-4 … 1e-2 (both supernets and QAT-8 chose 1e-2), the
third up to 3e-2 (QAT-8 chose 3e-2), so the grid was widened three times.
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ..toy_models import trained_digits_mlp_state
from . import BITS, ElasticMLP, Sandwich, eq_net_loss

SLUG = "eq-net"
HIDDEN = (64, 64)
MARGIN = -0.02  # "close to": at most 2 points below the static counterpart
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # widened three times after recordings found grid edges


def _sizes(quick):
    return {"pre_epochs": 10 if quick else 30, "epochs": 3 if quick else 25}


def _net(seed, pre_epochs):
    st = trained_digits_mlp_state(seed, pre_epochs, HIDDEN)
    return ElasticMLP([(st[f"{i}.weight"], st[f"{i}.bias"]) for i in (0, 2, 4)], BITS)


def _avg_bits(config):
    sizes = [64 * HIDDEN[0], HIDDEN[0] * HIDDEN[1], HIDDEN[1] * 10]
    return float(np.dot(config, sizes) / sum(sizes))


def _evaluate(net, fixed_width=None):
    """{config: (val acc, test acc)} over all 27 subnets; for a fixed-width net the other widths' step
    sizes are first re-initialised from its trained weights."""
    task = tasks.digits()
    if fixed_width is not None:
        for layer in net.layers:
            layer.reinit_steps(keep=(fixed_width,))
    net.eval()
    out = {}
    with no_grad():
        for c in net.configs():
            net.set_config(c)
            va = float((net(Tensor(task.x_val)).data.argmax(-1) == task.y_val).mean())
            te = float((net(Tensor(task.x_test)).data.argmax(-1) == task.y_test).mean())
            out[c] = (va, te)
    return out


def _metrics(acc, own=None):
    L = 3
    m = {f"acc_w{b}": acc[(b,) * L][1] for b in BITS}
    mixed = np.array([v for v in acc.values()])
    m["mixed_mean"] = float(mixed[:, 1].mean())
    ok = [c for c in acc if _avg_bits(c) <= 4 + 1e-9]
    best = max(ok, key=lambda c: (acc[c][0], -_avg_bits(c)))
    m["searched_le4"] = acc[best][1]
    if own is None:
        m["val_accuracy"], m["test_accuracy"] = float(mixed[:, 0].mean()), m["mixed_mean"]
    else:
        m["val_accuracy"], m["test_accuracy"] = acc[(own,) * L][0], acc[(own,) * L][1]
    ref = own if own is not None else max(BITS)
    m["switch_drop_2"] = acc[(ref,) * L][1] - acc[(2,) * L][1]
    return m


def _kurtosis(net):
    from ....experiments.tasks import kurtosis

    return float(np.mean([kurtosis(w.data) for w in net.weights()[1:]]))


@functools.cache
def _supernet(seed, lr, wdr, gpg, quick):
    sz = _sizes(quick)
    net = _net(seed, sz["pre_epochs"])
    train(
        Sandwich(net, n_random=1, seed=seed + 777),
        tasks.digits(),
        lr=lr,
        epochs=sz["epochs"],
        seed=seed,
        loss_fn=eq_net_loss(net, wdr=wdr, gpg=gpg),
    )
    acc = _evaluate(net)
    return {**_metrics(acc), "kurtosis": _kurtosis(net)}, {c: v[1] for c, v in acc.items()}


def _supernet_arm(name, wdr, gpg, quick):
    def run(seed, lr):
        return _supernet(seed, lr, wdr, gpg, quick)[0]

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": [1e-3]})


@functools.cache
def _qat(seed, lr, bits, quick):
    sz = _sizes(quick)
    net = _net(seed, sz["pre_epochs"])
    net.set_config((bits,) * 3)
    params = [p for layer in net.layers for p in (layer.weight, layer.bias, layer.step(bits))]
    train(net, tasks.digits(), lr=lr, epochs=sz["epochs"], seed=seed, params=params)
    kurt = _kurtosis(net)
    acc = _evaluate(net, fixed_width=bits)
    return {**_metrics(acc, own=bits), "kurtosis": kurt}, {c: v[1] for c, v in acc.items()}


def _qat_arm(bits, quick):
    def run(seed, lr):
        return _qat(seed, lr, bits, quick)[0]

    return Method(f"QAT-{bits}", run, grid={"lr": LRS}, quick_grid={"lr": [1e-3]})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [
        _supernet_arm("EQ-Net", True, True, quick),
        _supernet_arm("no WDR/GPG", False, False, quick),
        *[_qat_arm(b, quick) for b in BITS],
    ]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    premises = [
        Premise(
            "a net QAT-trained at 8 bits and run at 2 bits without retraining loses more than 5 points",
            metric="switch_drop_2",
            method="QAT-8",
            threshold=0.05,
        ),
        Premise(
            "without WDR the supernet's shared weights are far from uniform (kurtosis above 2.3)",
            metric="kurtosis",
            method="no WDR/GPG",
            threshold=2.3,
        ),
    ]
    claims = [
        Claim(
            f"An EQ-Net subnet with every layer at {b} bits, without retraining, is within 2 points of a net "
            f"QAT-trained at {b} bits alone",
            metric=f"acc_w{b}",
            method="EQ-Net",
            baseline=f"QAT-{b}",
            direction="greater",
            margin=MARGIN,
        )
        for b in BITS
    ]
    claims += [
        Claim(
            "WDR and GPG raise the supernet's test accuracy averaged over all 27 subnets",
            metric="mixed_mean",
            method="EQ-Net",
            baseline="no WDR/GPG",
            direction="greater",
        ),
        Claim(
            "WDR and GPG raise the accuracy of the supernet's all-2-bit subnet",
            metric="acc_w2",
            method="EQ-Net",
            baseline="no WDR/GPG",
            direction="greater",
        ),
    ]
    # per-subnet test accuracy (mean over seeds) at each arm's selected learning rate, for the plot
    names = [m.name for m in methods]
    configs = _net(seeds[0], _sizes(quick)["pre_epochs"]).configs()
    per = []
    for m in methods:
        lr = comparison.selected[m.name]["lr"]
        if m.name.startswith("QAT"):
            tabs = [_qat(s, lr, int(m.name.split("-")[1]), quick)[1] for s in seeds]
        else:
            wdr = m.name == "EQ-Net"
            tabs = [_supernet(s, lr, wdr, wdr, quick)[1] for s in seeds]
        per.append([np.mean([t[c] for t in tabs]) for c in configs])
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={
            "per_config": np.array(per),
            "avg_bits": np.array([_avg_bits(c) for c in configs]),
            "configs": np.array(configs),
        },
        notes={"methods": names},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "acc_w2",
            "acc_w4",
            "acc_w8",
            "mixed_mean",
            "searched_le4",
            "switch_drop_2",
            "kurtosis",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    names = result.notes["methods"]
    per, avg = np.asarray(result.arrays["per_config"]), np.asarray(result.arrays["avg_bits"])
    fig, ax = plt.subplots(figsize=(7, 4))
    jitter = {"EQ-Net": -0.06, "no WDR/GPG": 0.06}
    for j, n in enumerate(names):
        if n in jitter:
            ax.scatter(avg + jitter[n], per[j], s=14, label=f"{n}: all 27 subnets", alpha=0.8)
        else:
            b = int(n.split("-")[1])
            own = [i for i, c in enumerate(np.asarray(result.arrays["configs"])) if all(c == b)][0]
            ax.scatter([avg[own]], [per[j][own]], marker="*", s=160, label=f"{n} at its own width")
    ax.set(xlabel="average weight bits", ylabel="test accuracy (mean over seeds)", title="EQ-Net subnets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {SLUG: fig}
