"""The experiment: pixel-flipping on the 8×8 digits, for a ReLU MLP (64-64-32-10) and a small CNN
(conv 3×3, 8 channels → ReLU → 2×2 max-pool → 32 → 10), each trained per seed (Adam, a fixed recipe: the
networks are what is explained, not what is compared).

Per seed and network, four attributions of the predicted class's logit, all in float64:

* **LRP-ε (dynamic)** — `lrp` over the recorded graph (the paper's method); ε is chosen on the validation
  images from a grid of five values;
* **gradient×input** — x ⊙ ∂f/∂x: LRP-0 on a ReLU network (the ε → 0 end of the method's grid, so the ablation
  lacking the stabiliser);
* **saliency** — |∂f/∂x|;
* **random** — a random order.

Metric (the paper's, Sec. 5): the area between the perturbation curves, ABPC = mean_k [f(LeRF_k) − f(MoRF_k)],
where MoRF_k / LeRF_k remove (set to 0, the digits' background) the k most / least relevant pixels, k = 0, 4, …,
64, and f is the explained logit; larger is more faithful.  The deletion AUC (mean softmax probability of the
class along MoRF, lower is better) is reported beside it.  Selection on the validation images' ABPC; the test
images are used once.  gradient×input, saliency and random have no hyperparameter, so their grid is a single
point (the rule "same grid size" cannot apply; the extra choice favours LRP-ε and is said so).

Premise: each network is accurate (test accuracy ≥ 0.9): an explanation of a guessing network is moot.
Claims, margins fixed from the paper before running: (1) where both apply, the per-op relevance equals an
independent layer-wise LRP-ε (NumPy loops over the same weights) to 1e-8 (max abs difference, float64);
(2) LRP-ε's ABPC exceeds random's, (3) saliency's and (4) gradient×input's (margin 0: "matching or
exceeding").  The bias/ε leak (fraction of the logit not reaching the pixels) is reported.
"""

from __future__ import annotations

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, tasks, train
from ....nn import Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from . import gradient, lrp

SLUG = "dynamic-lrp"
ARCHS = ("MLP", "CNN")
EPS_GRID = (1e-3, 1e-2, 0.1, 1.0, 10.0)
QUICK_EPS = (1e-2, 1.0)
STEP = 4  # pixels removed per step
ARMS = ("LRP-ε (dynamic)", "gradient×input", "saliency", "random")


class Image(Module):
    """(N, 64) → (N, 1, 8, 8)."""

    def forward(self, x):
        return x.reshape(x.shape[0], 1, 8, 8)


def make_model(arch: str, seed: int):
    rng = np.random.default_rng([seed, 2512])
    if arch == "MLP":
        return Sequential(
            Linear(64, 64, rng=rng), ReLU(), Linear(64, 32, rng=rng), ReLU(), Linear(32, 10, rng=rng)
        )
    return Sequential(
        Image(),
        Conv2d(1, 8, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(128, 32, rng=rng),
        ReLU(),
        Linear(32, 10, rng=rng),
    )


def logits(model, x) -> np.ndarray:
    from ....autograd import no_grad

    with no_grad():
        return np.asarray(model(np.asarray(x, dtype=np.float32)).data, dtype=np.float64)


def flip_curves(model, x, scores, target) -> tuple[np.ndarray, np.ndarray]:
    """MoRF and LeRF curves (N, steps) of the target logit, removing pixels STEP at a time (set to 0)."""
    n, d = x.shape
    ks = np.arange(0, d + 1, STEP)
    order = np.argsort(-scores, axis=1, kind="stable")
    rows = np.arange(n)
    curves = []
    for ordering in (order, order[:, ::-1]):
        batch = np.repeat(x[None], len(ks), axis=0)  # (steps, n, d)
        for i, k in enumerate(ks):
            batch[i][rows[:, None], ordering[:, :k]] = 0.0
        z = logits(model, batch.reshape(-1, d)).reshape(len(ks), n, -1)
        curves.append(z[:, rows, target].T)
    return curves[0], curves[1]


def deletion_auc(model, x, scores, target) -> float:
    n, d = x.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    ks = np.arange(0, d + 1, STEP)
    batch = np.repeat(x[None], len(ks), axis=0)
    for i, k in enumerate(ks):
        batch[i][np.arange(n)[:, None], order[:, :k]] = 0.0
    z = logits(model, batch.reshape(-1, d)).reshape(len(ks), n, -1)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return float(p[:, np.arange(n), target].mean())


def attribution(arm: str, model, x, target, eps: float, seed: int) -> np.ndarray:
    if arm == "LRP-ε (dynamic)":
        return lrp(model, x, target, eps=eps).reshape(len(x), -1)
    if arm == "random":
        return np.random.default_rng([seed, 7]).random(x.shape)
    g = gradient(model, x, target).reshape(len(x), -1)
    return g * x if arm == "gradient×input" else np.abs(g)


# --- an independent layer-wise LRP-ε (plain NumPy loops over the weights) -------------------------------


def _conv_forward_loops(a, w, b, pad):
    n, c, h, wd = a.shape
    o, _, kh, kw = w.shape
    ap = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    z = np.zeros((n, o, h, wd))
    for i in range(h):
        for j in range(wd):
            z[:, :, i, j] = np.einsum("nckl,ockl->no", ap[:, :, i : i + kh, j : j + kw], w) + b
    return z, ap


def layerwise_lrp_epsilon(model, x, target, eps: float) -> np.ndarray:
    """The textbook layer-by-layer ε-rule (Bach et al. 2015; Montavon et al. 2019) on `make_model`'s layers:
    contributions a_i w_ji formed explicitly, convolution by loops over positions, max-pool winner takes all."""
    layers = list(model._modules.values())
    a = np.asarray(x, dtype=np.float64)
    acts = []
    for m in layers:  # forward, keeping each layer's input
        acts.append(a)
        if isinstance(m, Image):
            a = a.reshape(len(a), 1, 8, 8)
        elif isinstance(m, Linear):
            a = a @ np.asarray(m.weight.data, np.float64).T + np.asarray(m.bias.data, np.float64)
        elif isinstance(m, Conv2d):
            a, _ = _conv_forward_loops(a, np.asarray(m.weight.data, np.float64), np.asarray(m.bias.data), 1)
        elif isinstance(m, ReLU):
            a = np.maximum(a, 0)
        elif isinstance(m, MaxPool2d):
            n, c, h, w = a.shape
            a = a.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        elif isinstance(m, Flatten):
            a = a.reshape(len(a), -1)
    R = np.zeros_like(a)
    R[np.arange(len(a)), target] = a[np.arange(len(a)), target]
    for m, a_in in zip(reversed(layers), reversed(acts)):
        if isinstance(m, (Image, Flatten)):
            R = R.reshape(a_in.shape)
        elif isinstance(m, Linear):
            W, b = np.asarray(m.weight.data, np.float64), np.asarray(m.bias.data, np.float64)
            contrib = a_in[:, None, :] * W[None]  # (n, out, in): a_i w_ji
            z = contrib.sum(-1) + b
            zs = z + eps * np.where(z >= 0, 1.0, -1.0)
            R = (contrib / zs[:, :, None] * R[:, :, None]).sum(1)
        elif isinstance(m, Conv2d):
            W, b = np.asarray(m.weight.data, np.float64), np.asarray(m.bias.data, np.float64)
            z, ap = _conv_forward_loops(a_in, W, b, 1)
            zs = z + eps * np.where(z >= 0, 1.0, -1.0)
            Rp = np.zeros_like(ap)
            for i in range(z.shape[2]):
                for j in range(z.shape[3]):
                    patch = ap[:, None, :, i : i + 3, j : j + 3] * W[None]  # (n, o, c, 3, 3)
                    share = (
                        patch / zs[:, :, i, j][:, :, None, None, None] * R[:, :, i, j][:, :, None, None, None]
                    )
                    Rp[:, :, i : i + 3, j : j + 3] += share.sum(1)
            R = Rp[:, :, 1:-1, 1:-1]
        elif isinstance(m, MaxPool2d):
            n, c, h, w = a_in.shape
            blocks = (
                a_in.reshape(n, c, h // 2, 2, w // 2, 2)
                .transpose(0, 1, 2, 4, 3, 5)
                .reshape(n, c, h // 2, w // 2, 4)
            )
            win = np.argmax(blocks, axis=-1)  # first maximum, as the engine
            out = np.zeros_like(blocks)
            np.put_along_axis(out, win[..., None], R[..., None], axis=-1)
            R = out.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
    return R.reshape(len(x), -1)


# --- the runs ---------------------------------------------------------------------------------------------

_MODELS: dict = {}


def trained(arch: str, seed: int, quick: bool):
    key = (arch, seed, quick)
    if key not in _MODELS:
        task = tasks.digits()
        model = make_model(arch, seed)
        train(model, task, lr=3e-3, epochs=8 if quick else 30, seed=seed)
        acc = float(np.mean(logits(model, task.x_test).argmax(1) == task.y_test))
        _MODELS[key] = (model, acc)
    return _MODELS[key]


def _arm(arch: str, arm: str, quick: bool):
    def run(seed, eps=0.0):
        task = tasks.digits()
        model, acc = trained(arch, seed, quick)
        n = 60 if quick else 300
        out = {"model_test_accuracy": acc}
        for split, X in (("val", task.x_val[:n]), ("test", task.x_test[: n * 2])):
            X = np.asarray(X, dtype=np.float64)
            target = logits(model, X).argmax(1)
            s = attribution(arm, model, X, target, eps, seed)
            morf, lerf = flip_curves(model, X, s, target)
            out[f"{split}_abpc"] = float((lerf - morf).mean())
            out[f"{split}_deletion_auc"] = deletion_auc(model, X, s, target)
        if arm == "LRP-ε (dynamic)":
            X = np.asarray(task.x_test[:8], dtype=np.float64)
            target = logits(model, X).argmax(1)
            R = lrp(model, X, target, eps=eps).reshape(len(X), -1)
            ref = layerwise_lrp_epsilon(model, X, target, eps)
            out["layerwise_max_abs_diff"] = float(np.abs(R - ref).max())
            z = logits(model, X)[np.arange(len(X)), target]
            out["leak_fraction"] = float(np.mean(1 - R.sum(1) / z))
        return out

    return run


def _name(arch, arm):
    return f"{arm} [{arch}]"


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0,))
def run(quick, seeds, progress):
    _MODELS.clear()
    methods = []
    for arch in ARCHS:
        for arm in ARMS:
            if arm == "LRP-ε (dynamic)":
                methods.append(
                    Method(
                        _name(arch, arm),
                        _arm(arch, arm, quick),
                        grid={"eps": list(EPS_GRID)},
                        quick_grid={"eps": list(QUICK_EPS)},
                        limits={
                            "eps": ("lower", "ε → 0 is LRP-0, which equals gradient×input on a ReLU net")
                        },
                    )
                )
            else:
                methods.append(Method(_name(arch, arm), _arm(arch, arm, quick)))
    comparison = compare(methods, seeds, select="val_abpc", quick=quick, progress=progress)
    lrp_name = {a: _name(a, ARMS[0]) for a in ARCHS}
    premises = [
        Premise(
            f"the {a} is accurate: test accuracy ≥ 0.9", "model_test_accuracy", lrp_name[a], threshold=0.9
        )
        for a in ARCHS
    ]
    claims = []
    for a in ARCHS:
        acc = (premises[ARCHS.index(a)].statement,)
        claims.append(
            Claim(
                f"per-op LRP-ε equals an independent layer-wise LRP-ε on the {a} (max abs difference < 1e-8)",
                "layerwise_max_abs_diff",
                lrp_name[a],
                direction="less",
                margin=1e-8,
                premises=(),  # a property of the rules, whatever the network learned
            )
        )
        for base in ARMS[1:][::-1]:
            claims.append(
                Claim(
                    f"LRP-ε has a larger pixel-flipping ABPC than {base} on the {a}",
                    "test_abpc",
                    lrp_name[a],
                    baseline=_name(a, base),
                    premises=acc,
                )
            )
    names = [m.name for m in methods]
    arrays = {"test_abpc": np.array([comparison.values(m, "test_abpc") for m in names])}
    # curves of one test batch on the first seed, for the plot
    task = tasks.digits()
    X = np.asarray(task.x_test[:100], dtype=np.float64)
    for a in ARCHS:
        model, _ = trained(a, comparison.seeds[0], quick)
        target = logits(model, X).argmax(1)
        eps = comparison.selected[lrp_name[a]]["eps"]
        for arm in ARMS:
            morf, lerf = flip_curves(model, X, attribution(arm, model, X, target, eps, 0), target)
            arrays[f"morf {a} {arm}"] = morf.mean(0)
            arrays[f"lerf {a} {arm}"] = lerf.mean(0)
        arrays[f"heat {a}"] = lrp(model, X[:4], target[:4], eps=eps).reshape(4, 8, 8)
        arrays[f"gxi {a}"] = (gradient(model, X[:4], target[:4]) * X[:4]).reshape(4, 8, 8)
    arrays["images"] = X[:4].reshape(4, 8, 8)
    return finish(
        SLUG,
        comparison,
        premises=premises,
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"archs": list(ARCHS), "arms": list(ARMS), "methods": names, "step": STEP},
        metrics=[
            "test_abpc",
            "test_deletion_auc",
            "model_test_accuracy",
            "layerwise_max_abs_diff",
            "leak_fraction",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    archs, arms = result.notes["archs"], result.notes["arms"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, a in zip(axes[:2], archs):
        for arm in arms:
            morf = result.arrays[f"morf {a} {arm}"]
            k = np.arange(len(morf)) * result.notes["step"]
            (line,) = ax.plot(k, morf, label=f"{arm} MoRF")
            ax.plot(k, result.arrays[f"lerf {a} {arm}"], "--", color=line.get_color(), alpha=0.6)
        ax.set_xlabel("pixels removed")
        ax.set_ylabel("explained logit (mean)")
        ax.set_title(f"{a}: MoRF (solid) / LeRF (dashed)")
        ax.legend(fontsize=7)
    vals = np.asarray(result.arrays["test_abpc"])
    names = result.notes["methods"]
    for i in range(len(names)):
        axes[2].plot(np.full(vals.shape[1], i), vals[i], "o", alpha=0.6)
    axes[2].set_xticks(range(len(names)), names, rotation=70, fontsize=7)
    axes[2].set_ylabel("test ABPC (per seed)")
    fig.tight_layout()
    fig2, ax2 = plt.subplots(3, 4, figsize=(8, 6))
    for j in range(4):
        ax2[0, j].imshow(result.arrays["images"][j], cmap="gray")
        for i, a in enumerate(archs):
            h = result.arrays[f"heat {a}"][j]
            m = np.abs(h).max() or 1.0
            ax2[i + 1, j].imshow(h, cmap="bwr", vmin=-m, vmax=m)
            ax2[i + 1, j].set_title(f"LRP-ε {a}", fontsize=8)
    for ax in ax2.ravel():
        ax.axis("off")
    fig2.tight_layout()
    return {SLUG: fig, f"{SLUG}-heatmaps": fig2}
