"""The experiment: four LoRA task models on a digits MLP, merged once (task arithmetic, TIES) or kept as an
RMM basis of R = 1, 2, 3 adapters with per-task coefficients.

Setup.  θ_pre is an MLP 64-64-10 pretrained on the plain digits (Adam 2e-3, 30 epochs).  Four tasks share
a domain shift — every split's images rotated by 25° ± 5° (fixed) — and each swaps the labels of its own
pair of classes, (0,1), (2,3), (4,5) or (6,7): the tasks share what the rotation needs and conflict on
the swapped labels, as task LoRAs of one base share a domain and differ in their task.  Each task gets a
rank-4 LoRA on both layers (base and biases frozen; the same initial A for all four tasks, one gauge),
Adam for 15 epochs; the LoRA rate is each arm's tuned hyperparameter.
Arms (each selects on the mean validation accuracy over the four tasks):
* individual — keep all four adapters (storage 4 adapters), the ceiling;
* task-arithmetic — θ_pre + λ Σ_i B_i A_i, λ tuned (storage: one merged model);
* ties — TIES-merging of the products B_i A_i (trim to the top `density` by magnitude, elect the sign,
  disjoint mean, scale λ), density and λ tuned;
* rmm-R1, rmm-R2, rmm-R3 — the RMM basis of R adapters, per layer and per factor, and each task's own
  coefficients (storage ≈ R adapters);
* subset-2 — the ablation lacking only the SVD basis: two of the original adapters kept as the basis (the
  pair tuned on validation) and each task's least-squares coefficients on it (same storage as rmm-R2).
Premise.  A single merge loses per-task accuracy: the individual adapters beat the tuned task-arithmetic
merge by at least 5 points (mean per-task test accuracy).
Claims.  RMM with R = 2 beats task arithmetic and TIES; it stays within 5 points of keeping all four
adapters; RMM with R = 1 (one adapter's storage) beats task arithmetic; the SVD basis beats the subset
basis of the same size.
"""

from __future__ import annotations

import functools
import itertools
from collections import OrderedDict

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks
from ..finetuning import rotate_images
from ..state import evaluate_state
from . import reconstruct, reconstruction_error, reversible_merge

SLUG = "reversible-model-merging"
HIDDEN, RANK, EPOCHS, ANGLE = 64, 4, 15, 25.0
PAIRS = [(0, 1), (2, 3), (4, 5), (6, 7)]
LRS, QUICK_LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1], [1e-2]
LAMS = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0]  # task arithmetic's scale
TIES_LAMS, TIES_DENSITY = [0.1, 0.25, 0.5, 1.0, 1.5], [0.1, 0.3, 0.6, 1.0]
SUBSETS = ["".join(map(str, p)) for p in itertools.combinations(range(len(PAIRS)), 2)]  # "01": tasks 0, 1


# --- the four tasks and the LoRA fine-tunes ----------------------------------------------------------
@functools.cache
def task_suite() -> tuple:
    """The four tasks: rotated digits (fixed angles per image), each with one pair of labels swapped."""
    base = tasks.digits()
    rng = np.random.default_rng([tasks.DATA_SEED, 2510])
    xs = {
        s: rotate_images(getattr(base, f"x_{s}"), ANGLE + rng.uniform(-5, 5, len(getattr(base, f"x_{s}"))))
        for s in ("train", "val", "test")
    }
    suite = []
    for a, b in PAIRS:
        lut = np.arange(10)
        lut[a], lut[b] = b, a
        arrays = []
        for s in ("train", "val", "test"):
            arrays += [xs[s].astype(np.float32), lut[getattr(base, f"y_{s}")]]
        for arr in arrays:
            arr.flags.writeable = False
        suite.append(tasks.Task(f"digits-rot{int(ANGLE)}-swap{a}{b}", *arrays, num_classes=10))
    return tuple(suite)


@functools.cache
def _pretrained(seed: int):
    from ....experiments import train
    from ....nn import MLP

    model = MLP([64, HIDDEN, 10], rng=np.random.default_rng(seed))
    train(model, tasks.digits(), lr=2e-3, epochs=30, seed=seed)
    return model.state_dict()


def pretrained(seed: int) -> OrderedDict:
    """θ_pre of `seed` (cached)."""
    return OrderedDict((k, v.copy()) for k, v in _pretrained(int(seed)).items())


@functools.cache
def _lora(seed: int, k: int, lr: float):
    from ....experiments import train
    from ....nn import MLP
    from ...lowrank_peft_sharing.adapters import LoRA, attach, freeze_base

    model = MLP([64, HIDDEN, 10], rng=np.random.default_rng(seed))
    model.load_state_dict(pretrained(seed))
    init_rng = np.random.default_rng([seed, 4242])  # the same initial A for every task (one gauge)
    adapters = attach(model, lambda name, layer: LoRA.for_layer(layer, RANK, rng=init_rng))
    params = freeze_base(model)
    train(model, task_suite()[k], lr=lr, epochs=EPOCHS, seed=100 * seed + k, batch_size=32, params=params)
    out = OrderedDict()
    for name, a in adapters.items():
        out[f"{name}.A"] = a.A.data.astype(np.float64).copy()
        out[f"{name}.B"] = (a.B.data * a.scaling).astype(np.float64).copy()  # scaling folded into B
    return out


def lora_factors(seed: int, lr: float) -> list:
    """[{"<layer>.A", "<layer>.B"} per task]: the four tasks' LoRA factors (ΔW = B A), cached."""
    return [OrderedDict((n, v.copy()) for n, v in _lora(int(seed), k, float(lr)).items()) for k in range(4)]


def products(factors) -> OrderedDict:
    """ΔW per layer, "<layer>.weight" → B A."""
    layers = [n[: -len(".A")] for n in factors if n.endswith(".A")]
    return OrderedDict((f"{n}.weight", factors[f"{n}.B"] @ factors[f"{n}.A"]) for n in layers)


def with_delta(base, delta) -> OrderedDict:
    sd = OrderedDict((k, v.astype(np.float64).copy()) for k, v in base.items())
    for k, d in delta.items():
        sd[k] = sd[k] + d
    return sd


# --- the single merges (baselines) -------------------------------------------------------------------
def ties_merge(deltas, density: float, lam: float) -> OrderedDict:
    """TIES-merging (Yadav et al. 2023) of task deltas: keep each delta's top `density` entries by
    magnitude, elect the sign of the summed trimmed deltas, average the entries that agree with it."""
    out = OrderedDict()
    for key in deltas[0]:
        T = np.stack([d[key] for d in deltas])
        flat = np.abs(T).reshape(len(T), -1)
        keep = max(1, int(round(density * flat.shape[1])))
        thr = np.sort(flat, axis=1)[:, -keep][:, None]
        trimmed = np.where(flat >= thr, T.reshape(len(T), -1), 0.0)  # trim
        sign = np.sign(trimmed.sum(0))  # elect
        agree = (np.sign(trimmed) == sign) & (trimmed != 0)
        cnt = np.maximum(agree.sum(0), 1)
        out[key] = lam * ((trimmed * agree).sum(0) / cnt).reshape(T.shape[1:])  # disjoint mean
    return out


def subset_basis(factors, keep) -> list:
    """The ablation: tasks `keep` as the basis of each tensor, each task's least-squares coefficients."""
    out = [OrderedDict() for _ in factors]
    for key in factors[0]:
        X = np.stack([f[key].ravel() for f in factors], 1)
        Vs = X[:, keep]
        C = np.linalg.lstsq(Vs, X, rcond=None)[0]  # argmin_C ‖X − V_S C‖
        for i in range(len(factors)):
            out[i][key] = (Vs @ C[:, i]).reshape(factors[0][key].shape)
    return out


# --- evaluation ----------------------------------------------------------------------------------------
def _evaluate(base, deltas) -> dict:
    """deltas: one weight delta per task (a single merge repeats the same one).  Mean over the tasks."""
    out = {}
    for split in ("val", "test"):
        accs = [
            evaluate_state(with_delta(base, d), getattr(t, f"x_{split}"), getattr(t, f"y_{split}"))[
                "accuracy"
            ]
            for t, d in zip(task_suite(), deltas)
        ]
        out[f"{split}_accuracy"] = float(np.mean(accs))
        if split == "test":
            out["worst_task_test"] = float(np.min(accs))
            out.update({f"test_task{k}": a for k, a in enumerate(accs)})
    return out


def _arms():
    def individual(seed, lr):
        f = lora_factors(seed, lr)
        return {**_evaluate(pretrained(seed), [products(fi) for fi in f]), "storage_adapters": 4.0}

    def task_arithmetic(seed, lr, lam):
        f = lora_factors(seed, lr)
        ps = [products(fi) for fi in f]
        merged = OrderedDict((k, lam * sum(p[k] for p in ps)) for k in ps[0])  # θ_pre + λ Σ τ_i
        return {**_evaluate(pretrained(seed), [merged] * 4), "storage_adapters": 1.0}

    def ties(seed, lr, lam, density):
        f = lora_factors(seed, lr)
        merged = ties_merge([products(fi) for fi in f], density, lam)
        return {**_evaluate(pretrained(seed), [merged] * 4), "storage_adapters": 1.0}

    def rmm(seed, lr, R):
        f = lora_factors(seed, lr)
        m = reversible_merge(f, R)
        rec = [reconstruct(m, i) for i in range(4)]
        size = sum(v.size for v in f[0].values())
        err = reconstruction_error(f, m)
        return {
            **_evaluate(pretrained(seed), [products(r) for r in rec]),
            "storage_adapters": (R * size + R * 4 * len(f[0])) / size,
            "rel_error": err,
            "energy": 1.0 - err**2,
        }

    def subset(seed, lr, keep):
        f = lora_factors(seed, lr)
        rec = subset_basis(f, [int(c) for c in keep])
        return {
            **_evaluate(pretrained(seed), [products(r) for r in rec]),
            "storage_adapters": 2.0 + 2 * 4 * len(f[0]) / sum(v.size for v in f[0].values()),
        }

    g, q = {"lr": LRS}, {"lr": QUICK_LRS}
    return [
        Method("individual", individual, grid=g, quick_grid=q),
        Method(
            "task-arithmetic",
            task_arithmetic,
            grid={**g, "lam": LAMS},
            quick_grid={**q, "lam": LAMS},
            limits={"lam": ("lower", "λ = 0 is the pretrained model itself")},
        ),
        Method(
            "ties",
            ties,
            grid={**g, "lam": TIES_LAMS, "density": TIES_DENSITY},
            quick_grid={**q, "lam": TIES_LAMS, "density": TIES_DENSITY},
            limits={"density": ("upper", "density 1 keeps every entry: no trimming")},
        ),
        *[Method(f"rmm-R{R}", rmm, grid=g, quick_grid=q, fixed={"R": R}) for R in (1, 2, 3)],
        Method("subset-2", subset, grid={**g, "keep": SUBSETS}, quick_grid={**q, "keep": SUBSETS}),
    ]


@experiment(SLUG, seeds=range(10), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    comparison = compare(_arms(), seeds, select="val_accuracy", quick=quick, progress=progress)
    premises = [
        Premise(
            "a single merge loses per-task accuracy: the four individual adapters beat the tuned task-"
            "arithmetic merge by at least 5 points (mean per-task test accuracy)",
            metric="test_accuracy",
            method="individual",
            baseline="task-arithmetic",
            threshold=0.05,
        )
    ]
    claims = [
        Claim(
            "RMM with R = 2 basis adapters is more accurate per task than the task-arithmetic merge",
            metric="test_accuracy",
            method="rmm-R2",
            baseline="task-arithmetic",
        ),
        Claim(
            "RMM with R = 2 basis adapters is more accurate per task than the TIES merge",
            metric="test_accuracy",
            method="rmm-R2",
            baseline="ties",
        ),
        Claim(
            "RMM with R = 2 of 4 basis adapters recovers the per-task accuracy to within 5 points of "
            "keeping all four adapters",
            metric="test_accuracy",
            method="rmm-R2",
            baseline="individual",
            margin=-0.05,
        ),
        Claim(
            "At one adapter's storage, RMM with R = 1 is more accurate per task than task arithmetic",
            metric="test_accuracy",
            method="rmm-R1",
            baseline="task-arithmetic",
        ),
        Claim(
            "The SVD basis beats a basis of two of the original adapters at the same storage",
            metric="test_accuracy",
            method="rmm-R2",
            baseline="subset-2",
        ),
    ]
    per_task = {
        m: np.array([comparison.values(m, f"test_task{k}") for k in range(4)]) for m in comparison.methods
    }
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={f"per_task[{m}]": v for m, v in per_task.items()},  # (task, seed)
        notes={"pairs": PAIRS, "hidden": HIDDEN, "rank": RANK, "epochs": EPOCHS, "angle": ANGLE},
        metrics=[
            "test_accuracy",
            "val_accuracy",
            "worst_task_test",
            "storage_adapters",
            "rel_error",
            "energy",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for m in result.methods:
        acc = 100 * np.array(result.values(m, "test_accuracy"))
        st = float(np.mean(result.values(m, "storage_adapters")))
        ax1.errorbar(st, acc.mean(), yerr=acc.std(ddof=1) / np.sqrt(len(acc)), fmt="o", capsize=3)
        ax1.annotate(m, (st, acc.mean()), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax1.set_xlabel("storage (in LoRA adapters)")
    ax1.set_ylabel("mean per-task test accuracy (%)")
    ax1.set_title("accuracy vs storage (mean ± s.e. over seeds)")
    methods = result.methods
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        v = 100 * result.arrays[f"per_task[{m}]"].mean(1)
        ax2.bar(np.arange(4) + (j - len(methods) / 2 + 0.5) * width, v, width, label=m)
    ax2.set_xticks(range(4), [f"swap {a}{b}" for a, b in result.notes["pairs"]])
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_ylim(0, 120)
    ax2.set_yticks(range(0, 101, 20))
    ax2.set_title("each task, mean over seeds")
    ax2.legend(fontsize=6, ncol=4, loc="upper center")
    fig.tight_layout()
    return {SLUG: fig}
