r"""Train / Eval / Deploy / Tune modes of a Conv-BN block.

Paper: *Efficient ConvBN Blocks for Transfer Learning and Beyond* — Kaichao You, Guo Qin, Anchang Bao,
Meng Cao, Ping Huang, Jiulong Shan, Mingsheng Long, ICLR 2024 (first version: "Tune-Mode ConvBN Blocks
For Efficient Transfer Learning").
arXiv: 2305.11624
Official code: merged into PyTorch as `torch/_inductor/fx_passes/efficient_conv_bn_eval.py`
(`efficient_conv_bn_eval`), and into MMCV/MMEngine.

The idea
--------
A convolution with weight W and bias b followed by BatchNorm (γ, β, running mean μ, running variance
σ², ε) runs in one of four modes:

* **Train** — BN normalises with the statistics of the current batch (and updates μ, σ²):
  $y = \gamma\,\frac{(W * x + b) - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta$.
* **Eval** — BN uses the frozen running statistics, as two separate operations:
  $z = W * x + b,\quad y = \gamma\,\frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$.
  This is the usual mode for fine-tuning a pretrained detector/classifier (transfer learning).
* **Deploy** — the affine BN is folded into the conv once,
  $W' = s \odot W,\ b' = \beta + s\,(b - \mu),\ s = \gamma/\sqrt{\sigma^2 + \epsilon}$, and
  $y = W' * x + b'$: one op, cheapest — but if W', b' are then *trained*, training is less stable.
* **Tune** (the paper's proposal) — compute W', b' from (W, b, γ, β, μ, σ²) *on the fly* in every
  forward pass and convolve with them.  By associativity, $\gamma\frac{W*x + b - \mu}{\sqrt{\sigma^2+\epsilon}} + \beta
  = (sW) * x + \beta + s(b - \mu)$, so Tune computes exactly the Eval function of the same
  parameters (W, b, γ, β): same outputs and same gradients, hence the same training trajectory; but
  the only feature-map-sized tensor kept for backward is the conv's input, since the BN affine now
  acts on the (small) weight instead of on the (large) output feature map.

Why Deploy-mode training differs (our derivation, consistent with the paper's argument that the
Deploy mode changes the optimisation): in Eval/Tune the trained variable is W and W' = sW, so one SGD
step moves W' by $-\eta\,s^2\,\partial L/\partial W'$ (per output channel), while training W' directly
moves it by $-\eta\,\partial L/\partial W'$.  Relative to the weight's own size the Deploy step is
$1/s^2$ times larger; with pretrained networks s = γ/σ is usually far from 1, so the same learning
rate is a very different step in Deploy mode, and γ and W stop being separate knobs.

What is simplified
------------------
A two-block ConvNet on 8×8 digits: "pretrained" in Train mode on classes 0–4, then fine-tuned (all
layers) on classes 5–9 in Eval, Tune and Deploy mode with plain SGD at several learning rates, in
float64.  Memory is the bytes of the arrays the autograd graph keeps for backward
(`saved_tensor_bytes` of the family base), not GPU memory.

Verified: official-code — the fold W' = W·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε) and the on-the-fly
Tune-mode forward checked against `efficient_conv_bn_eval` in PyTorch (torch/_inductor/fx_passes/
efficient_conv_bn_eval.py), which cites this paper; the paper's text beyond its abstract (its equation
numbers, its stability theorem) was not available to us, so the stability derivation above is ours.

Notebook: notebooks/regularization-normalization/convbn-tune-mode.ipynb
"""

from __future__ import annotations

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn.module import Module, Parameter
from ._base import fold_bn, one_blas_thread, saved_tensor_bytes, sgd_step

CATALOG_ENTRY = {
    "slug": "convbn-tune-mode",
    "title": "Efficient ConvBN Blocks for Transfer Learning and Beyond",
    "authors": "Kaichao You, Guo Qin, Anchang Bao, Meng Cao, Ping Huang, Jiulong Shan, Mingsheng Long",
    "year": 2024,
    "arxiv": "2305.11624",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/convbn-tune-mode.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Fold and Tune-mode forward checked against PyTorch's efficient_conv_bn_eval "
        "(torch/_inductor/fx_passes/efficient_conv_bn_eval.py, which implements this paper). Paper body "
        "(equation numbers, stability theorem) not available: the Deploy-mode step-size argument in the "
        "card is our own derivation."
    ),
    "summary": (
        "A Conv-BN block in Eval mode (frozen statistics) can be computed by folding BN into the conv "
        "weight on the fly (Tune mode): same outputs and gradients as Eval mode, so fine-tuning is "
        "unchanged, but the BN affine acts on the small weight instead of the large feature map, saving "
        "memory; folding once and training the folded weight (Deploy mode) changes the optimisation."
    ),
    "equations": [
        "Train:  y = γ (W*x + b − μ_B)/√(σ_B² + ε) + β",
        "Eval:   y = γ (W*x + b − μ)/√(σ² + ε) + β   (running statistics)",
        "s = γ/√(σ² + ε),  W' = s ⊙ W,  b' = β + s (b − μ)",
        "Deploy: y = W'*x + b' with W', b' the trained variables",
        "Tune:   y = (s ⊙ W) * x + (β + s (b − μ)), recomputed from (W, b, γ, β) every step",
    ],
}

MODES = ("train", "eval", "deploy", "tune")


# --- the four forward passes, smallest first -------------------------------------------------------
def _conv(x, w, b, stride, padding):
    return F.conv2d(x, w, b, stride=stride, padding=padding)


def convbn_train(
    x, w, b, gamma, beta, running_mean, running_var, eps=1e-5, momentum=0.1, stride=1, padding=0
):
    """Train mode: batch statistics (running statistics updated in place)."""
    return F.batch_norm(
        _conv(x, w, b, stride, padding),
        running_mean,
        running_var,
        gamma,
        beta,
        training=True,
        momentum=momentum,
        eps=eps,
    )


def convbn_eval(x, w, b, gamma, beta, running_mean, running_var, eps=1e-5, stride=1, padding=0):
    """Eval mode: z = W*x + b, then y = γ (z − μ)/√(σ² + ε) + β on the feature map."""
    return F.batch_norm(
        _conv(x, w, b, stride, padding), running_mean, running_var, gamma, beta, training=False, eps=eps
    )


def convbn_tune(x, w, b, gamma, beta, running_mean, running_var, eps=1e-5, stride=1, padding=0):
    """Tune mode: W' = s ⊙ W, b' = β + s (b − μ) computed differentiably, then one conv."""
    w_t, b_t = fold_bn(w, b, gamma, beta, running_mean, running_var, eps)  # W', b' on the fly
    return _conv(x, w_t, b_t, stride, padding)


def convbn_deploy(x, w_folded, b_folded, stride=1, padding=0):
    """Deploy mode: one conv with the folded (and possibly trained) W', b'."""
    return _conv(x, w_folded, b_folded, stride, padding)


class ConvBN(Module):
    """Conv2d (no bias by default, as in ResNets) + BatchNorm2d with a `mode` switch.

    mode ∈ {"train", "eval", "tune", "deploy"}.  `to_deploy()` folds the current (W, b, γ, β, μ, σ²)
    into new trainable parameters `w_folded`, `b_folded`; after that only "deploy" is available.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        bias=False,
        eps=1e-5,
        momentum=0.1,
        dtype=np.float64,
        rng=None,
    ):
        super().__init__()
        from ...nn.layers.conv import Conv2d
        from ...nn.layers.norm import BatchNorm2d

        self.conv = Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=bias,
            dtype=dtype,
            rng=rng,
        )
        self.bn = BatchNorm2d(out_channels, eps=eps, momentum=momentum, dtype=dtype)
        self.mode = "train"

    def set_mode(self, mode: str):
        if mode not in MODES:
            raise ValueError(f"ConvBN: `mode` must be one of {MODES}, got {mode!r}")
        if mode != "deploy" and "w_folded" in self._parameters:
            raise ValueError(
                f"ConvBN: a block already folded by to_deploy() can only run in 'deploy', got {mode!r}"
            )
        if mode == "deploy" and "w_folded" not in self._parameters:
            raise ValueError("ConvBN: call to_deploy() before using mode 'deploy'")
        self.mode = mode
        return self

    def to_deploy(self):
        """Fold BN into the conv once; W', b' become the block's only (trainable) parameters."""
        c, bn = self.conv, self.bn
        w, b = fold_bn(
            c.weight.data,
            None if c.bias is None else c.bias.data,
            bn.weight.data,
            bn.bias.data,
            bn.running_mean,
            bn.running_var,
            bn.eps,
        )
        self.geom = (c.stride, c.padding)
        del self.conv, self.bn
        self.w_folded = Parameter(np.array(w))
        self.b_folded = Parameter(np.array(b))
        self.mode = "deploy"
        return self

    def forward(self, x):
        if self.mode == "deploy":
            return convbn_deploy(x, self.w_folded, self.b_folded, *self.geom)
        c, bn = self.conv, self.bn
        args = (x, c.weight, c.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)
        geom = dict(stride=c.stride, padding=c.padding)
        if self.mode == "train":
            return convbn_train(*args, momentum=bn.momentum, **geom)
        if self.mode == "eval":
            return convbn_eval(*args, **geom)
        return convbn_tune(*args, **geom)

    def extra_repr(self):
        return f"mode={self.mode}"


class SmallConvNet(Module):
    """ConvBN(1→c1, 3, pad 1) → ReLU → ConvBN(c1→c2, 3, stride 2, pad 1) → ReLU → mean over HW → Linear."""

    def __init__(self, num_classes=5, c1=8, c2=16, rng=None):
        super().__init__()
        from ...nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.block1 = ConvBN(1, c1, 3, padding=1, rng=rng)
        self.block2 = ConvBN(c1, c2, 3, stride=2, padding=1, rng=rng)
        self.head = Linear(c2, num_classes, dtype=np.float64, rng=rng)

    def blocks(self):
        return (self.block1, self.block2)

    def set_mode(self, mode):
        for blk in self.blocks():
            if mode == "deploy" and blk.mode != "deploy":
                blk.to_deploy()
            else:
                blk.set_mode(mode)
        return self

    def features(self, x):
        h = ops.relu(self.block1(x))
        return ops.relu(self.block2(h))

    def forward(self, x):
        return self.head(ops.mean(self.features(x), axis=(2, 3)))


# --- the toy experiment ------------------------------------------------------------------------------
def _accuracy(model, x, y):
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean(model(Tensor(x)).data.argmax(1) == y))


def _train(model, x, y, epochs, lr, seed, batch_size=64, momentum=0.9):
    """Minibatch SGD with momentum; returns the per-step losses (stops at the first non-finite loss)."""
    from ...data import batches

    params = list(model.parameters())
    buffers, losses = {}, []
    with np.errstate(over="ignore", invalid="ignore"):  # divergence at a high lr is a result, not an error
        for epoch in range(epochs):
            for xb, yb in batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch, drop_last=True):
                model.zero_grad()
                loss = F.cross_entropy(model(Tensor(xb)), yb)
                losses.append(float(loss.data))
                if not np.isfinite(losses[-1]):
                    return np.array(losses)
                loss.backward()
                sgd_step(params, lr, momentum, buffers)
    return np.array(losses)


def _clone(model):
    import copy

    return copy.deepcopy(model)


def pretrain(seed=0, epochs=8, quick=False):
    """A SmallConvNet trained in Train mode on digits 0–4; returns (model, split of 5–9)."""
    from ...data import digits_subset, load_digits
    from ...nn.layers.linear import Linear

    split = load_digits(seed=seed, flatten=False, dtype=np.float64)
    src, tgt = digits_subset(split, range(5)), digits_subset(split, range(5, 10))
    model = SmallConvNet(num_classes=5, rng=seed)
    _train(model, src.x_train, src.y_train, epochs, lr=0.05, seed=seed)
    model.set_mode("eval")
    model.head = Linear(model.head.in_features, 5, dtype=np.float64, rng=np.random.default_rng(seed + 1000))
    return model, src, tgt


def memory_per_mode(model, x) -> dict:
    """Bytes and count of the arrays the graph keeps for backward, per mode (a copy of `model` each)."""
    out = {}
    for mode in MODES:
        m = _clone(model).set_mode(mode)
        y = m(Tensor(x))
        out[mode] = saved_tensor_bytes(y.sum(), min_size=2)
    return out


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Pretrain on 0–4 (Train mode), fine-tune on 5–9 in Eval / Tune / Deploy mode at several lrs."""
    model0, src, tgt = pretrain(seed, quick=quick)
    x, y = tgt.x_train, tgt.y_train
    epochs = 3 if quick else 6
    lrs = (0.01, 0.05, 0.2) if quick else (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
    rows, curves = [], {}
    max_diff, compared = 0.0, 0
    for lr in lrs:
        res = {}
        for mode in ("eval", "tune", "deploy"):
            m = _clone(model0).set_mode(mode)
            losses = _train(m, x, y, epochs, lr, seed)
            acc = _accuracy(m, tgt.x_test, tgt.y_test) if np.all(np.isfinite(losses)) else 0.0
            res[mode] = (losses, acc)
            curves[f"{mode} lr={lr}"] = losses
            final = float(np.mean(losses[-5:])) if np.all(np.isfinite(losses)) else float("inf")
            rows.append(
                {
                    "lr": lr,
                    "mode": mode,
                    "final_train_loss": final,
                    "test_acc": acc,
                    "diverged": bool(not np.isfinite(final) or final > losses[0]),
                }
            )
        le, lt = res["eval"][0], res["tune"][0]
        if (
            len(le) == len(lt)
            and np.all(np.isfinite(le))
            and np.all(np.isfinite(lt))
            and le.max() < 10 * le[0]
        ):
            # compared only where training stays bounded: in a diverging run, round-off of 1e-16 grows chaotically
            max_diff = max(max_diff, float(np.max(np.abs(le - lt))))
            compared += 1
    mem = memory_per_mode(model0, x[:64])
    s = [blk.bn.weight.data / np.sqrt(blk.bn.running_var + blk.bn.eps) for blk in model0.blocks()]
    acc = {(r["lr"], r["mode"]): r["test_acc"] for r in rows}
    top = lrs[-1]
    eval_worst = min(acc[(lr, "eval")] for lr in lrs)
    deploy_worst = min(acc[(lr, "deploy")] for lr in lrs)
    metrics = {
        "max_abs_loss_diff_eval_vs_tune": max_diff,
        "bytes_saved_train": float(mem["train"]["bytes"]),
        "bytes_saved_eval": float(mem["eval"]["bytes"]),
        "bytes_saved_tune": float(mem["tune"]["bytes"]),
        "bytes_saved_deploy": float(mem["deploy"]["bytes"]),
        "test_acc_eval_top_lr": acc[(top, "eval")],
        "test_acc_tune_top_lr": acc[(top, "tune")],
        "test_acc_deploy_top_lr": acc[(top, "deploy")],
        "worst_test_acc_eval_over_lrs": eval_worst,
        "worst_test_acc_deploy_over_lrs": deploy_worst,
        "mean_bn_scale_s": float(np.mean(np.concatenate(s))),
        "mean_s_squared": float(np.mean(np.concatenate(s) ** 2)),
    }
    metrics["runs_compared_eval_vs_tune"] = float(compared)
    tune_equals_eval = compared > 0 and max_diff < 1e-9
    tune_saves = mem["tune"]["bytes"] < mem["eval"]["bytes"]
    deploy_less_stable = deploy_worst < eval_worst - 0.02
    return {
        "metrics": metrics,
        "table": rows,
        "memory": mem,
        "curves": curves,
        "lrs": list(lrs),
        "checks": {
            "tune_equals_eval": tune_equals_eval,
            "tune_saves_memory": tune_saves,
            "deploy_less_stable": deploy_less_stable,
        },
        "claim": {
            "statement": "Tune mode fine-tunes exactly like Eval mode (same losses to 1e-9) while keeping "
            "fewer bytes for backward; training the folded Deploy form is less stable across "
            "learning rates (worse worst-case accuracy).",
            "holds": bool(tune_equals_eval and tune_saves and deploy_less_stable),
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    lrs = result["lrs"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    top = lrs[-1]
    for mode, style in (("eval", "-"), ("tune", "--"), ("deploy", ":")):
        c = result["curves"][f"{mode} lr={top}"]
        axes[0].plot(c, style, label=mode)
    axes[0].set_title(f"fine-tuning loss at lr={top}")
    axes[0].set_xlabel("step")
    axes[0].set_yscale("log")
    axes[0].legend()
    for mode in ("eval", "tune", "deploy"):
        accs = [r["test_acc"] for r in result["table"] if r["mode"] == mode]
        axes[1].plot(lrs, accs, marker="o", label=mode)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("learning rate")
    axes[1].set_ylabel("test accuracy (5–9)")
    axes[1].legend()
    mem = result["memory"]
    axes[2].bar(list(mem), [mem[m]["bytes"] / 1024 for m in mem], color="tab:gray")
    axes[2].set_ylabel("KiB kept for backward (batch 64)")
    fig.tight_layout()
    return {"convbn-tune-mode": fig}


# --- family contract -------------------------------------------------------------------------------------
def contract_examples(seed: int = 0) -> list:
    """Deploy form (folded) vs Eval form of a ConvBN block with random statistics, float64."""
    rng = np.random.default_rng(seed)
    blk = ConvBN(2, 3, 3, padding=1, bias=True, rng=rng)
    blk.bn.weight.data[...] = rng.uniform(0.5, 2, 3)
    blk.bn.bias.data[...] = rng.normal(size=3)
    blk.bn.running_mean[...] = rng.normal(size=3)
    blk.bn.running_var[...] = rng.uniform(0.3, 3, 3)
    train_form = _clone(blk).set_mode("eval")
    deploy_form = _clone(blk).to_deploy()
    return [
        {
            "kind": "reparam",
            "name": "convbn eval vs deploy",
            "train": train_form,
            "deploy": deploy_form,
            "x": rng.normal(size=(2, 2, 6, 6)),
        }
    ]


def reference_cases() -> list:
    def block(x, w, b, gamma, beta, mean, var, eps):
        args = (
            Tensor(x),
            Tensor(w),
            Tensor(b),
            Tensor(gamma),
            Tensor(beta),
            np.asarray(mean),
            np.asarray(var),
            eps,
        )
        wf, bf = fold_bn(
            np.asarray(w),
            np.asarray(b),
            np.asarray(gamma),
            np.asarray(beta),
            np.asarray(mean),
            np.asarray(var),
            eps,
        )
        return {
            "eval": convbn_eval(*args).data,
            "tune": convbn_tune(*args).data,
            "w_folded": wf,
            "b_folded": bf,
        }

    one = dict(
        x=np.full((1, 1, 1, 1), 3.0),
        w=np.full((1, 1, 1, 1), 2.0),
        b=np.zeros(1),
        gamma=np.ones(1),
        beta=np.full(1, 0.5),
        mean=np.ones(1),
        var=np.full(1, 3.0),
        eps=1.0,
    )
    # two channels, 1×1 conv of a 1-channel input x=1: z = [1, −2]; γ=[2, 1], β=[0, 1], μ=[0, −2], σ²=[3, 0], ε=1
    two = dict(
        x=np.ones((1, 1, 1, 1)),
        w=np.array([1.0, -2.0]).reshape(2, 1, 1, 1),
        b=np.zeros(2),
        gamma=np.array([2.0, 1.0]),
        beta=np.array([0.0, 1.0]),
        mean=np.array([0.0, -2.0]),
        var=np.array([3.0, 0.0]),
        eps=1.0,
    )
    return [
        ReferenceCase(
            "catalogue_hand_case",
            one,
            {
                "eval": np.full((1, 1, 1, 1), 3.0),
                "tune": np.full((1, 1, 1, 1), 3.0),
                "w_folded": np.full((1, 1, 1, 1), 1.0),
                "b_folded": np.zeros(1),
            },
            block,
            note="by hand: (2·3 − 1)/√(3+1)·1 + 0.5 = 3; s = 1/2 → W' = 1, b' = 0.5 + 0.5·(0 − 1) = 0",
            atol=1e-12,
        ),
        ReferenceCase(
            "two_channels",
            two,
            {
                "eval": np.array([1.0, 1.0]).reshape(1, 2, 1, 1),
                "tune": np.array([1.0, 1.0]).reshape(1, 2, 1, 1),
                "w_folded": np.array([1.0, -2.0]).reshape(2, 1, 1, 1),
                "b_folded": np.array([0.0, 3.0]),
            },
            block,
            note="by hand: s = [2/2, 1/1] = [1, 1]; ch0: (1 − 0)·1 + 0 = 1; ch1: (−2 + 2)·1 + 1 = 1; "
            "b' = β + s(0 − μ) = [0, 3]",
            atol=1e-12,
        ),
    ]
