"""The experiment: compress the digits training set to one or two 8×8 image slots per class (hard labels), and
compare what a classifier trained on the compressed set reaches on test.

Setup.  The bundled 8×8 digits (899 training, 359 validation, 539 test images); storage budget IPC ∈ {1, 2}
image slots per class.  Arms at each budget (all hard labels, the same classifier and number of steps):

* random — IPC random real images per class;
* easy — the IPC easiest per class by EL2N (mean over two 2-epoch runs on the full training set);
* random + combine — 4·IPC random images per class, 2× downscaled, four per slot, decoded at training time;
* easy + combine — the same with the 4·IPC easiest (PCA without its augmentation);
* PCA — easy + combine + one-pixel shift augmentation (ten shifted copies of each decoded image);
* DM — IPC synthetic images per class by distribution matching (random ReLU embeddings, 300 steps), the
  distillation baseline at the same storage;
* random, soft labels and DM, soft labels — the same stored images trained on the benchmark's soft labels
  (a teacher MLP trained on the full training set, 20 epochs at Adam 3e-3, labels softmax(z/T) with T = 20,
  `kd_loss`), the mainstream setting in which the paper finds random subsets competitive.  The soft labels
  are off the image budget (ten numbers per stored image), as in the benchmark;

and two references on the full training set: full resolution, and downscaled-then-decoded (the premise).
Classifier: a 64-64-10 ReLU MLP trained with Adam for 300 steps of batch 32 (whatever the set's size); every
arm picks its learning rate on the validation split.  8 seeds (the seed draws the random subsets, the score
runs, DM's initialisation and embeddings, and the network).
Premises.  (a) Downscaling loses little at this size: the decoded full set is within five points of the full-
resolution full set (else combining cannot pay); claims 1, 2 and 4 depend on it.  (b) The soft labels carry
information: they lift the random subset by at least two points at IPC 1 (the regime of claim 5).
Claims (margins fixed before the first full run), at IPC 1: (1) PCA beats a random subset; (2) combining
pays: easy + combine beats easy alone at the same storage; (3) the augmentation pays: PCA beats easy +
combine (both arms train on decoded tiles; it does not rest on premise a); (4) PCA beats DM; (5) the
benchmark's finding: with soft labels a random subset comes within two points of DM with soft labels (margin
−0.02).  IPC 2 is reported beside.
Changed after the first full recording: the rate grid gained 1e-4 and 3e-4 (PCA, easy + combine and two
other arms had chosen 1e-3, then the lowest); arms, premise, claims and margins unchanged.
Changed after the second full recording (a review against the paper and its released code): claim 5 had
been stated with hard labels — "random comes within two points of DM" — which is not the paper's finding
(it is about the soft-label setting), so it was replaced by the soft-label version with the same margin,
with the two soft-label arms and premise b added; and each claim now names the premise it rests on (before,
premise a gated all five, including 3 and the labels claim, which do not involve downscaling).  Arms 1-6,
their grids, premise a and the margins of claims 1-4 unchanged.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, split_metrics, tasks, train
from ..scores import el2n
from . import (
    combine,
    decode,
    distribution_match,
    downscale,
    kd_loss,
    select_per_class,
    shift_augment,
    soft_labels,
    upsample,
)

SLUG = "pca-dataset-compression"
SIZES = [64, 64, 10]
H = 8
IPCS = (1, 2)
STEPS, BATCH = 300, 32
SCORE_EPOCHS, SCORE_LR, SCORE_RUNS = 2, 3e-3, 2
AUG_COPIES = 10
DM_STEPS, DM_LR = 300, 0.3
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
KINDS = ("random", "easy", "random + combine", "easy + combine", "PCA", "DM")
SOFT = {"random, soft labels": "random", "DM, soft labels": "DM"}  # arm -> the stored images it relabels
TEACHER_EPOCHS, TEACHER_LR, TEMPERATURE = 20, 3e-3, 20.0


@functools.cache
def _task():
    return tasks.digits()


def _model(seed):
    from ....nn import MLP

    return MLP(SIZES, rng=np.random.default_rng(seed))


@functools.cache
def _scores(seed: int) -> np.ndarray:
    t = _task()
    runs = []
    for k in range(SCORE_RUNS):
        m = _model(7000 + 10 * seed + k)
        train(m, t, lr=SCORE_LR, epochs=SCORE_EPOCHS, seed=7000 + 10 * seed + k, batch_size=BATCH)
        from ....train import predict

        runs.append(el2n(predict(m, t.x_train), t.y_train))
    return np.mean(runs, axis=0)


@functools.cache
def _teacher(seed: int):
    """The soft-label teacher: the MLP trained on the full training set (fixed recipe, not a compared arm)."""
    t = _task()
    m = _model(8000 + seed)
    train(m, t, lr=TEACHER_LR, epochs=TEACHER_EPOCHS, seed=8000 + seed, batch_size=BATCH)
    return m


def _random_per_class(y, per_class, seed):
    rng = np.random.default_rng(seed)
    return np.sort(
        np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    )


def _combined(idx, y):
    """Store the images of `idx` (4 per slot, grouped by class) and decode them: (images (4·slots, 64), labels)."""
    t = _task()
    order = idx[np.argsort(y[idx], kind="stable")]  # four of one class per slot
    imgs = t.x_train[order].reshape(-1, H, H).astype(np.float64)
    slots = combine(downscale(imgs))
    return decode(slots).reshape(len(order), H * H).astype(np.float32), y[order]


def compressed_set(kind: str, ipc: int, seed: int):
    """(x, y) the classifier trains on, for arm `kind` at `ipc` slots per class."""
    t = _task()
    y = t.y_train
    if kind == "full data":
        return t.x_train, y
    if kind == "full data, downscaled":
        x = upsample(downscale(t.x_train.reshape(-1, H, H).astype(np.float64)))
        return x.reshape(-1, H * H).astype(np.float32), y
    if kind == "random":
        idx = _random_per_class(y, ipc, 31 + seed)
        return t.x_train[idx], y[idx]
    if kind == "easy":
        idx = select_per_class(_scores(seed), y, ipc)
        return t.x_train[idx], y[idx]
    if kind == "random + combine":
        return _combined(_random_per_class(y, 4 * ipc, 31 + seed), y)
    if kind in ("easy + combine", "PCA"):
        x, yy = _combined(select_per_class(_scores(seed), y, 4 * ipc), y)
        if kind == "PCA":
            rng = np.random.default_rng(500 + seed)
            imgs = x.reshape(-1, H, H)
            copies = [imgs] + [shift_augment(imgs, rng) for _ in range(AUG_COPIES)]
            x, yy = np.concatenate(copies).reshape(-1, H * H), np.tile(yy, AUG_COPIES + 1)
        return x.astype(np.float32), yy
    if kind == "DM":
        return distribution_match(t.x_train, y, ipc, steps=DM_STEPS, lr=DM_LR, seed=900 + seed)
    raise ValueError(f"compressed_set: unknown kind {kind!r}")


def arm_name(kind, ipc):
    return kind if kind.startswith("full") else f"{kind} @IPC{ipc}"


def _arm(kind, ipc, quick):
    steps = 60 if quick else STEPS

    def run(seed, lr):
        from ....train import predict

        x, y = compressed_set(SOFT.get(kind, kind), ipc, seed)
        extra, loss_fn = {}, None
        if kind in SOFT:
            teacher = _teacher(seed)
            y = soft_labels(predict(teacher, x), TEMPERATURE).astype(np.float32)

            def loss_fn(out, target):
                return kd_loss(out, target, TEMPERATURE)

            extra["teacher_test_accuracy"] = split_metrics(teacher, _task(), splits=("test",))[
                "test_accuracy"
            ]
        model = _model(seed)
        epochs = max(1, int(np.ceil(steps * BATCH / len(y))))
        train(model, _task(), lr=lr, epochs=epochs, seed=seed, batch_size=BATCH, x=x, y=y, loss_fn=loss_fn)
        return {**split_metrics(model, _task()), **extra}

    return Method(arm_name(kind, ipc), run, grid={"lr": LRS}, quick_grid={"lr": [1e-2]})


@experiment(SLUG, seeds=tuple(range(8)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    ipcs = IPCS[:1] if quick else IPCS
    methods = [_arm(k, 0, quick) for k in ("full data", "full data, downscaled")]
    methods += [_arm(k, ipc, quick) for ipc in ipcs for k in KINDS + tuple(SOFT)]
    comparison = compare(methods, seeds, select="val_accuracy", quick=quick, progress=progress)
    downscaling = (
        "downscaling loses little: the decoded full set is within five points of the full-resolution one"
    )
    labels_inform = "the teacher's soft labels lift a random subset by at least two points at IPC 1"
    premises = [
        Premise(
            downscaling,
            metric="test_accuracy",
            method="full data, downscaled",
            baseline="full data",
            threshold=-0.05,
        ),
        Premise(
            labels_inform,
            metric="test_accuracy",
            method=arm_name("random, soft labels", 1),
            baseline=arm_name("random", 1),
            threshold=0.02,
        ),
    ]

    def a(k):
        return arm_name(k, 1)

    claims = [
        Claim(
            "At IPC 1, PCA beats a random subset",
            metric="test_accuracy",
            method=a("PCA"),
            baseline=a("random"),
            premises=(downscaling,),
        ),
        Claim(
            "At IPC 1, combining pays: four downscaled easy images per slot beat one easy image per slot",
            metric="test_accuracy",
            method=a("easy + combine"),
            baseline=a("easy"),
            premises=(downscaling,),
        ),
        Claim(
            "At IPC 1, the constrained augmentation pays: PCA beats easy + combine",
            metric="test_accuracy",
            method=a("PCA"),
            baseline=a("easy + combine"),
            premises=(),
        ),
        Claim(
            "At IPC 1, PCA beats distribution-matching distillation (hard labels)",
            metric="test_accuracy",
            method=a("PCA"),
            baseline=a("DM"),
            premises=(downscaling,),
        ),
        Claim(
            "At IPC 1 with the benchmark's soft labels, a random subset comes within two points of "
            "distribution matching with soft labels",
            metric="test_accuracy",
            method=a("random, soft labels"),
            baseline=a("DM, soft labels"),
            margin=-0.02,
            premises=(labels_inform,),
        ),
    ]
    curves = {
        k: np.array([comparison.values(arm_name(k, i), "test_accuracy") for i in ipcs]).T
        for k in KINDS + tuple(SOFT)
    }
    arrays = {f"curve_{k}": v for k, v in curves.items()}
    arrays["ipcs"] = np.array(ipcs, dtype=np.float64)
    x, _ = compressed_set("PCA", 1, seeds[0])
    arrays["pca_examples"] = x[: 4 * 10 : 4].reshape(-1, H, H)  # one decoded tile per class (seed 0)
    xd, _ = compressed_set("DM", 1, seeds[0])
    arrays["dm_examples"] = xd.reshape(-1, H, H)
    notes = {
        "kinds": list(KINDS) + list(SOFT),
        "ipcs": list(ipcs),
        "steps": STEPS,
        "aug_copies": AUG_COPIES,
        "temperature": TEMPERATURE,
    }
    return finish(
        SLUG,
        comparison,
        claims=claims,
        premises=premises,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes=notes,
    )


def plot(result):
    """Left: test accuracy against the storage budget per arm (mean over seeds).  Right: one decoded PCA tile
    and one DM image per class (seed 0)."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 3.6))
    ax = fig.add_subplot(1, 2, 1)
    ipcs = result.arrays["ipcs"]
    for k in result.notes["kinds"]:
        v = np.asarray(result.arrays[f"curve_{k}"])
        ax.plot(ipcs, v.mean(axis=0), marker="o", ls=":" if "soft" in k else "-", label=k)
    full = np.mean(result.values("full data", "test_accuracy"))
    ax.axhline(full, color="k", ls="--", lw=1, label="full data")
    ax.set(
        xlabel="image slots per class (IPC)",
        ylabel="test accuracy",
        xticks=ipcs,
        title="accuracy at equal storage",
    )
    ax.legend(fontsize=7)
    for row, key in enumerate(("pca_examples", "dm_examples")):
        imgs = np.asarray(result.arrays[key])
        for c in range(min(10, len(imgs))):
            sub = fig.add_subplot(2, 20, 20 * row + 11 + c)
            sub.imshow(imgs[c], cmap="gray_r", vmin=0, vmax=1)
            sub.set_xticks([]), sub.set_yticks([])
            if c == 0:
                sub.set_ylabel("PCA" if row == 0 else "DM", fontsize=8)
    fig.tight_layout()
    return fig
