r"""PVP — pre-train the parameter-efficient modules themselves, then tune them on the few-shot task.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  No official code was
found in the index; only the paper's abstract and first page were readable here, so the equations below
are written in our own notation (no equation numbers could be checked) and `verified` is
"reconstructed".

The problem
-----------
A parameter-efficient tuning (PETuning) method adds a few parameters φ to a frozen backbone θ — prompt
tokens (VPT), adapters, or a low-rank delta (LoRA, the family's `adapters.LoRA`):

$$f(x;\theta,\varphi),\qquad \varphi_0 \sim \text{random / zero init},\qquad
\varphi^\star = \arg\min_\varphi \frac1{|D|}\sum_{(x,y)\in D}\ell\big(h(f(x;\theta,\varphi)),\,y\big).$$

With LoRA, $W = \theta + sBA$ with $B_0=0$ and $A_0$ random: at the first step the gradient reaching $A$
is zero ($\partial L/\partial A = sB^\top G X$, $G$ the gradient at the layer's output, $X$ its input)
and $B$ starts from nothing.  With $k$ = 1 or 2 examples per
class the downstream set $D$ is too small to move φ somewhere useful; the paper attributes the poor
few-shot accuracy of PETuning to this initialisation (abstract).

The method (two stages)
-----------------------
**Stage 1 — pre-train the modules** on a large labelled dataset $D_{\rm pre}$ with the backbone frozen
(a classification head $h_{\rm pre}$ trained along and then discarded; which dataset the paper uses —
ImageNet-1k for an ImageNet-21k ViT-B/16, as we recall — is not in the text read here):

$$\hat\varphi = \arg\min_{\varphi,\,h_{\rm pre}} \frac1{|D_{\rm pre}|}\sum_{D_{\rm pre}}
\ell\big(h_{\rm pre}(f(x;\theta,\varphi)),\,y\big),\qquad \varphi \text{ starting from } \varphi_0 .$$

**Stage 2 — downstream PETuning from the pre-trained modules**: the same objective on the few-shot
set $D_k$ (k examples per class) with a fresh head $h$, starting from $\varphi=\hat\varphi$ instead of
$\varphi_0$.  Nothing else changes: same module, same trainable count, same optimiser.  The ablation
lacking only the paper's idea is therefore stage 2 started from $\varphi_0$.

Here the module is LoRA on every Linear of the frozen trunk (`PretrainedLoRA`, a `LoRA` whose A and B
can be loaded from stage 1); `pretrain_modules` is stage 1 and `attach_pretrained` starts stage 2.

Assumed (reconstructed) — said again in the notebook:
- which module: the paper pre-trains PETuning modules (its abstract names VPT prompts and LoRA); we use LoRA, the
  family's module, because an MLP trunk has no token sequence to prepend prompts to;
- $D_{\rm pre}$: the backbone's own task (digits 0–4), with a fresh 5-way head.  Our recollection is that
  the paper pre-trains the modules on ImageNet-1k, which lies inside its backbone's ImageNet-21k
  pretraining data; that detail is not in the text read here;
- stage-1 optimiser and length (Adam, fixed lr and epochs) are ours; the paper's schedule was not read.
"""

from __future__ import annotations

import numpy as np

from ..adapters import LoRA, adapters_of, attach, freeze_base, trainable_parameters

CATALOG_ENTRY = {
    "slug": "pvp-pretrained-peft",
    "title": "PVP: Pre-trained Visual Parameter-Efficient Tuning",
    "authors": "Zhao Song, Ke Yang, Naiyang Guan, Junjie Zhu, Peng Qiao, Qingyong Hu",
    "year": 2023,
    "arxiv": "2304.13639",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/pvp-pretrained-peft.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Reconstructed from the abstract and first page (arXiv 2304.13639): PETuning modules are pre-trained "
        "first with the backbone frozen, then tuned on 1–16-shot FGVC / VTAB-1k; reported gains shrink with "
        "the shot count (16.08 → 1.95 points on FGVC from 1 to 16 shots). Method section, equations and "
        "official code not found: no equation numbers; the module-pretraining set (ImageNet-1k, recalled, "
        "unconfirmed) is stood in for by the backbone's own task, LoRA stands in for the prompt modules, "
        "and the stage-1 schedule is ours."
    ),
    "summary": (
        "Pre-train the parameter-efficient modules (prompts, adapters, LoRA) on a large labelled task with "
        "the backbone frozen, then start few-shot downstream tuning from them instead of from a random or "
        "zero initialisation; compared with the same modules randomly initialised and a linear probe at "
        "1, 2, 5 and 10 examples per class."
    ),
    "equations": [
        "stage 1: φ̂ = argmin_{φ, h_pre} E_{D_pre} ℓ(h_pre(f(x; θ, φ)), y), θ frozen, φ from φ₀",
        "stage 2: min_{φ, h} E_{D_k} ℓ(h(f(x; θ, φ)), y) starting from φ = φ̂ (not φ₀)",
        "LoRA module: W = θ + (α/r)·B A, φ₀ = (A random, B = 0)",
    ],
}


class PretrainedLoRA(LoRA):
    """The family's LoRA, ΔW = (α/r)·B A, whose (A, B) may be set from stage 1 (`load`).  Constructed
    without a state it is exactly LoRA's φ₀ (A kaiming-uniform, B = 0), the start of stage 1."""

    def load(self, state: dict) -> PretrainedLoRA:
        for key in ("A", "B"):
            if key not in state:
                raise KeyError(f"PretrainedLoRA.load: `state` must hold 'A' and 'B', got {sorted(state)}")
            own = getattr(self, key)
            value = np.asarray(state[key])
            if value.shape != own.shape:
                raise ValueError(
                    f"PretrainedLoRA.load: `state[{key!r}]` must have shape {own.shape}, got {value.shape}"
                )
            own.data[...] = value.astype(own.dtype)
        return self

    def state(self) -> dict:
        return {"A": self.A.data.copy(), "B": self.B.data.copy()}


def _check_rank(r):
    if not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"`r` must be an int ≥ 1, got {r!r}")


def attach_modules(trunk, r: int, alpha: float | None = None, rng=None) -> dict:
    """φ₀: a fresh PretrainedLoRA (B = 0) on every Linear of `trunk`, the base frozen.  {layer: adapter}."""
    _check_rank(r)
    rng = np.random.default_rng(rng)
    ads = attach(trunk, lambda _, layer: PretrainedLoRA.for_layer(layer, r, alpha, rng=rng))
    freeze_base(trunk)
    return ads


def pretrain_modules(trunk, task, *, r: int, lr: float, epochs: int, seed: int, alpha=None) -> dict:
    """Stage 1: attach φ₀ to `trunk` (its weights frozen), train the modules and a fresh head h_pre on
    `task` (the large pre-training set), return {layer name: {"A", "B"}} — φ̂.  h_pre is discarded."""
    from ....experiments import train
    from ....nn import Linear, Sequential

    if epochs < 1:
        raise ValueError(f"pretrain_modules: `epochs` must be ≥ 1, got {epochs!r}")
    ads = attach_modules(trunk, r, alpha, rng=seed + 101)
    width = _linear_names(trunk)[-1][1].out_features  # the trunk's output width
    head = Linear(width, task.num_classes, rng=np.random.default_rng(seed + 102))
    model = Sequential(trunk, head)
    train(model, task, lr=lr, epochs=epochs, seed=seed, params=trainable_parameters(trunk, head))
    return {name: ad.state() for name, ad in ads.items()}


def attach_pretrained(trunk, states: dict, r: int, alpha: float | None = None) -> dict:
    """Stage 2's start: a PretrainedLoRA on every Linear of `trunk` loaded with φ̂ (`states`, as returned
    by `pretrain_modules`), the base frozen."""
    _check_rank(r)
    names = [n for n, _ in _linear_names(trunk)]
    if sorted(names) != sorted(states):
        raise ValueError(
            f"attach_pretrained: `states` must name the trunk's Linears {names}, got {sorted(states)}"
        )
    ads = attach(trunk, lambda n, layer: PretrainedLoRA.for_layer(layer, r, alpha).load(states[n]))
    freeze_base(trunk)
    return ads


def _linear_names(trunk):
    from ....nn import Linear

    return [(n, m) for n, m in trunk.named_modules() if isinstance(m, Linear)]


def module_norms(trunk) -> list:
    """‖s·B A‖_F of every LoRA on `trunk` (0 for φ₀): how far the modules start from the identity."""
    return [float(np.linalg.norm(ad.delta(None).data)) for _, _, ad in adapters_of(trunk)]


ADAPTER_FACTORIES = {
    # name → (layer, rng) → zero-initialised WeightAdapter: PVP's module at the start of stage 1 (φ₀)
    "pretrained-lora-r2-phi0": lambda layer, rng: PretrainedLoRA.for_layer(layer, 2, alpha=4.0, rng=rng),
}
