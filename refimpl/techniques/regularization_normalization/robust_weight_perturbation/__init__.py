r"""Robust Weight Perturbation (RWP): adversarial weight perturbation restricted by the loss-stationary condition.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/ChaojianYu/Robust-Weight-Perturbation (`AT_AWP_RWP/utils_rwp.py`:
`RobustWeightPerturb.calc_awp`, `add_into_diff`, `diff_in_weights`; `AT_AWP_RWP/train_cifar10.py`: the
training loop).  The paper's body was not available to us; formula lines cite the official code and the
one equation we read (Eq. 1, the AWP objective in the introduction).

The idea
--------
PGD adversarial training (AT) minimises the loss on worst-case inputs x' in an ε-ball around x.  On a
small training set it *overfits robustly*: late in training the robust accuracy on held-out data falls
while the robust accuracy on the training set keeps rising.  Adversarial weight perturbation (AWP, Wu et
al. 2020) adds a second, weight-space adversary and trains at w + v:

$$ \min_w \max_{v\in\mathcal V} \frac1n \sum_{i=1}^n \max_{\|x_i'-x_i\|_p\le\epsilon}
   \ell\big(f_{w+v}(x_i'), y_i\big) \qquad\text{(Eq. 1)} $$

It narrows the robust generalization gap but also costs robustness.  RWP's criterion, the
**loss-stationary condition** (LSC), is that only adversarial examples whose loss is already *small*
(below $c_{min}$) need the weight perturbation — these are the ones being memorised; perturbing the
weights for examples with a large loss only makes training harder.  So the weight adversary maximises
the *masked* loss

$$ L_{LSC}(w) = \frac1n\sum_{i=1}^n \mathbb 1\big[\ell_i(w) < c_{min}\big]\,\ell_i(w),\qquad
   \ell_i(w) = \ell(f_w(x_i'), y_i). $$

Its gradient is the gradient of the kept examples' losses (the indicator is piecewise constant, so it
has zero derivative almost everywhere): $\nabla L_{LSC} = \frac1n \sum_{i:\,\ell_i<c_{min}} \nabla\ell_i$.
Note the $1/n$: dividing by the batch, not by the number kept, so a batch where few examples pass gives a
small step — but the rescaling below makes the perturbation's size independent of the step's size.

The weight perturbation (official `calc_awp`, K = 10 proxy steps from $d^{(0)} = v^{(0)} = 0$):

$$ d^{(k+1)} = d^{(k)} + \eta\,\nabla_w L_{LSC}(w + \gamma v^{(k)}),\qquad
   v^{(k+1)} = \frac{\|w\|}{\|d^{(k+1)}\|}\, d^{(k+1)} $$

with the norms over all weight matrices together (`add_into_diff`: one global scale), $\eta = 0.01$
(the proxy optimizer's learning rate) and $\gamma = 0.01$.  The training step (`train_cifar10.py`) is

$$ w \leftarrow w + \gamma v;\qquad w \leftarrow w - \mathrm{lr}\cdot\mathrm{SGD}\big(\nabla_w
   \tfrac1n\textstyle\sum_i \ell_i(w)\big);\qquad w \leftarrow w - \gamma v. $$

AWP (its official code, the commented-out line in `diff_in_weights`) instead takes *one* ascent step on
the unmasked loss and rescales it layer by layer: $v_l = \frac{\|w_l\|}{\|d_l\|} d_l$, $d = \eta\nabla_w
\frac1n\sum_i \ell_i(w)$.  Two things therefore separate RWP from AWP: the LSC mask (the paper's idea)
and the multi-step, globally rescaled perturbation.  `rwp_perturbation(..., c_min=inf)` is RWP without
the mask — the ablation that lacks only the paper's idea.

If no example of a batch passes the mask, $d = 0$, $v = 0$ and the step is plain AT; at initialisation
every adversarial loss is ≈ ln C > c_min = 1.7, so RWP starts as AT and switches the perturbation on as
examples become fitted.  `rwp_perturbation` returns the fraction of the batch that passed the mask at
$w$ so that an experiment can show how often the condition is met.

What is implemented, and deviations
-----------------------------------
* The masked loss, the K-step proxy ascent with the global rescaling, AWP's one-step layer-wise
  perturbation, and the perturb / step / restore order as in the official code.  The official proxy is a
  copy of the network with its own SGD (lr η, no momentum); here the same step is taken on the model's
  own weights and undone, which is the same arithmetic.
* Only Linear weight matrices are perturbed (the official code perturbs every parameter named "weight"
  with more than one dimension: convolution and linear weights — the same set for an MLP).
* PGD (`pgd`, `robust_accuracy`): ℓ∞, uniform random start, steps of α·sign(∇ₓ), projection onto the
  ε-ball and the data range [0, 1], as the official `attack_pgd` (one restart).
* Toy scale: an MLP on a subsample of the 8×8 digits instead of PreAct-ResNet-18 on CIFAR-10; see
  `experiment.py` for the setup.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/robust-weight-perturbation.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor, no_grad
from ....nn import functional as F
from ....random import as_generator

CATALOG_ENTRY = {
    "slug": "robust-weight-perturbation",
    "title": "Robust Weight Perturbation for Adversarial Training",
    "authors": "Chaojian Yu, Bo Han, Mingming Gong, Li Shen, Shiming Ge, Du Bo, Tongliang Liu",
    "year": 2022,
    "arxiv": "2205.14826",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/robust-weight-perturbation.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in ChaojianYu/Robust-Weight-Perturbation: AT_AWP_RWP/utils_rwp.py (RobustWeightPerturb.calc_awp: "
        "10 proxy SGD steps of lr 0.01 on −mean(1[ℓ_i < c_min]·ℓ_i), the proxies reloaded at w + γ·v each "
        "step; add_into_diff: accumulated diff rescaled by one global ‖w‖/‖d‖; diff_in_weights: only "
        "weights with >1 dims, AWP's layer-wise rescaling commented out) and AT_AWP_RWP/train_cifar10.py "
        "(c_min = 1.7 passed as LSC_loss, γ = awp_gamma = 0.01, perturb → SGD(momentum 0.9, wd 5e-4) step "
        "→ restore; PGD-10 with random start; piecewise lr ÷10 at 50 % and 75 %). Paper: abstract and "
        "introduction (Eq. 1, the AWP objective) read; the method section was not available, so formula "
        "lines cite the code, not equation numbers."
    ),
    "summary": (
        "Adversarial weight perturbation (AWP) fights robust overfitting but costs robustness. RWP computes "
        "the weight perturbation only from adversarial examples whose loss is already below c_min (the "
        "loss-stationary condition): a few ascent steps on the masked loss, rescaled to the weights' norm, "
        "then an adversarial-training step at the perturbed weights."
    ),
    "equations": [
        "min_w max_v (1/n) Σ_i max_{‖x'_i − x_i‖ ≤ ε} ℓ(f_{w+v}(x'_i), y_i)                    (Eq. 1, AWP)",
        "L_LSC(w) = (1/n) Σ_i 1[ℓ_i(w) < c_min] ℓ_i(w),  ℓ_i(w) = CE(f_w(x'_i), y_i)           (calc_awp)",
        "d ← d + η ∇_w L_LSC(w + γ v);  v = (‖w‖/‖d‖) d  (global norm), K = 10 times        (add_into_diff)",
        "AWP: v_l = (‖w_l‖/‖d_l‖) d_l,  d = η ∇_w (1/n) Σ_i ℓ_i(w)  (one step, per layer)",
        "w ← w + γ v;  w ← SGD step on (1/n) Σ_i ℓ_i(w);  w ← w − γ v            (train_cifar10.py)",
    ],
}

__all__ = [
    "C_MIN",
    "GAMMA",
    "ETA",
    "K_STEPS",
    "perturbed_params",
    "lsc_mask",
    "masked_adversarial_loss",
    "global_rescale",
    "layerwise_rescale",
    "awp_perturbation",
    "rwp_perturbation",
    "apply_perturbation",
    "pgd",
    "robust_accuracy",
    "AdversarialBatches",
    "WeightPerturbation",
]

C_MIN = 1.7  # official: rwp_adversary.calc_awp(..., LSC_loss=1.7)
GAMMA = 0.01  # official: --awp-gamma 0.01
ETA = 0.01  # official: proxy_opt = SGD(proxy.parameters(), lr=0.01)
K_STEPS = 10  # official: for ii in range(10)
EPS = 1e-20  # official: EPS = 1E-20 in the rescaling denominators


# --- the loss-stationary condition ----------------------------------------------------------------------
def perturbed_params(model) -> list:
    """The weights the perturbation acts on: parameters named '*weight' with ≥ 2 dims (`diff_in_weights`)."""
    return [p for name, p in model.named_parameters() if name.endswith("weight") and p.data.ndim >= 2]


def lsc_mask(losses, c_min: float = C_MIN) -> np.ndarray:
    """1[ℓ_i < c_min] per example (as the losses' dtype): who may drive the weight perturbation."""
    losses = np.asarray(getattr(losses, "data", losses))
    return (losses < c_min).astype(losses.dtype if losses.dtype.kind == "f" else np.float64)


def masked_adversarial_loss(model, x_adv, y, c_min: float = C_MIN):
    """(L_LSC, mask): (1/n) Σ_i 1[ℓ_i < c_min] ℓ_i as a scalar Tensor (differentiable in the weights), and
    the mask.  Dividing by n, not by the number kept, as the official `.mul(Indicator).mean()`."""
    per = F.cross_entropy(model(Tensor(np.asarray(x_adv))), y, reduction="none")  # ℓ_i
    mask = lsc_mask(per.data, c_min)  # 1[ℓ_i < c_min]
    return ops.mean(per * mask), mask  # (1/n) Σ_i 1[·] ℓ_i


def _weight_grads(model, x_adv, y, c_min):
    """∇_w of the (masked, if c_min is finite) mean adversarial loss, and the mask."""
    model.zero_grad()
    loss, mask = masked_adversarial_loss(model, x_adv, y, c_min)
    loss.backward()
    grads = [np.zeros_like(p.data) if p.grad is None else p.grad.copy() for p in perturbed_params(model)]
    model.zero_grad()
    return grads, mask


# --- the two rescalings ---------------------------------------------------------------------------------
def global_rescale(d: list, w: list) -> list:
    """v = (‖w‖/‖d‖) d with both norms over all layers together (RWP, `add_into_diff`)."""
    w_norm = math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in w))
    d_norm = math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in d))
    return [w_norm / (d_norm + EPS) * a for a in d]  # v = ‖w‖/(‖d‖ + EPS) · d


def layerwise_rescale(d: list, w: list) -> list:
    """v_l = (‖w_l‖/‖d_l‖) d_l, layer by layer (AWP, the commented-out line of `diff_in_weights`)."""
    return [np.linalg.norm(wl) / (np.linalg.norm(dl) + EPS) * dl for dl, wl in zip(d, w)]


# --- the weight adversaries -----------------------------------------------------------------------------
def awp_perturbation(model, x_adv, y, eta: float = ETA) -> list:
    """AWP: one ascent step d = η ∇_w (1/n) Σ_i ℓ_i(w), rescaled per layer to ‖v_l‖ = ‖w_l‖."""
    grads, _ = _weight_grads(model, x_adv, y, math.inf)
    return layerwise_rescale([eta * g for g in grads], [p.data for p in perturbed_params(model)])


def rwp_perturbation(
    model,
    x_adv,
    y,
    *,
    gamma: float = GAMMA,
    c_min: float = C_MIN,
    steps: int = K_STEPS,
    eta: float = ETA,
    return_pass_fraction: bool = False,
):
    """RWP: `steps` ascent steps on L_LSC at w + γv, d accumulated and v rescaled globally to ‖w‖.

    `c_min = inf` keeps every example (RWP without the loss-stationary condition).  The model's weights
    are left as they were.  With `return_pass_fraction`, also returns the fraction of the batch with
    ℓ_i(w) < c_min at the unperturbed weights (the first step)."""
    if steps < 1:
        raise ValueError(f"rwp_perturbation: `steps` must be ≥ 1, got {steps}")
    ws = perturbed_params(model)
    w0 = [p.data.copy() for p in ws]
    d, v, passed = None, [np.zeros_like(a) for a in w0], None
    try:
        for _ in range(steps):
            for p, base, vk in zip(ws, w0, v):
                p.data[...] = base + gamma * vk  # the proxy at w + γ v⁽ᵏ⁾
            grads, mask = _weight_grads(model, x_adv, y, c_min)
            if passed is None:
                passed = float(mask.mean())
            step = [eta * g for g in grads]  # one SGD step of lr η on −L_LSC
            d = step if d is None else [a + s for a, s in zip(d, step)]  # d⁽ᵏ⁺¹⁾ = d⁽ᵏ⁾ + η ∇L_LSC
            v = global_rescale(d, w0)  # v⁽ᵏ⁺¹⁾ = ‖w‖/‖d⁽ᵏ⁺¹⁾‖ · d⁽ᵏ⁺¹⁾
    finally:
        for p, base in zip(ws, w0):
            p.data[...] = base
        model.zero_grad()
    return (v, passed) if return_pass_fraction else v


def apply_perturbation(model, v: list, coeff: float) -> None:
    """w ← w + coeff · v on the perturbed weights (coeff = γ to perturb, −γ to restore)."""
    for p, d in zip(perturbed_params(model), v):
        p.data += (coeff * d).astype(p.data.dtype)


# --- the input adversary: PGD-ℓ∞ as the official attack_pgd ---------------------------------------------
def _input_grad(model, x, y) -> np.ndarray:
    """∇ₓ ℓ(model(x), y) only: the parameters are switched off for this forward pass, so no op computes
    (and the backward pass never accumulates) a parameter gradient nobody reads."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        xt = Tensor(x, requires_grad=True)
        F.cross_entropy(model(xt), y).backward()
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
    return xt.grad


def pgd(model, x, y, eps: float, alpha: float, steps: int, *, rng=None, clip=(0.0, 1.0)) -> np.ndarray:
    """ℓ∞ PGD: δ ~ U[−ε, ε] then `steps` times x' ← clip(x + Π_ε(x' + α sign(∇ₓℓ) − x)); the model's
    parameter gradients are left untouched (the attack does not differentiate the parameters)."""
    if eps < 0 or alpha < 0 or steps < 0:
        raise ValueError(f"pgd: eps, alpha and steps must be ≥ 0, got {eps}, {alpha}, {steps}")
    x0 = np.asarray(x)
    rng = as_generator(rng)
    lo, hi = clip
    xa = np.clip(x0 + rng.uniform(-eps, eps, size=x0.shape), lo, hi).astype(x0.dtype)
    for _ in range(int(steps)):
        g = _input_grad(model, xa, y)
        xa = x0 + np.clip(xa + alpha * np.sign(g) - x0, -eps, eps)  # projection onto the ε-ball
        xa = np.clip(xa, lo, hi).astype(x0.dtype)  # and onto the data range
    return xa


def robust_accuracy(model, x, y, eps: float, alpha: float, steps: int, *, rng=None) -> float:
    """Accuracy on PGD examples (`eps` = 0 or `steps` = 0 with eps = 0 gives the clean accuracy)."""
    x, y = np.asarray(x), np.asarray(y)
    xa = x if eps == 0 else pgd(model, x, y, eps, alpha, steps, rng=rng)
    with no_grad():
        pred = model(Tensor(xa)).data.argmax(axis=1)
    return float(np.mean(pred == y))


# --- the training rule as `fit` plumbing ----------------------------------------------------------------
class AdversarialBatches:
    """The data `fit` iterates for PGD adversarial training: each pass shuffles (x, y) with `seed` and the
    pass number, and yields (PGD(model, x_b), y_b), the attack run against the current weights."""

    def __init__(self, model, x, y, *, eps, alpha, steps, batch_size=64, seed=0):
        self.model, self.x, self.y = model, np.asarray(x), np.asarray(y)
        self.eps, self.alpha, self.steps, self.batch_size, self.seed = eps, alpha, steps, batch_size, seed
        self.epoch = 0
        self.rng = np.random.default_rng([seed, 7])

    def __iter__(self):
        from ....data import batches

        epoch, self.epoch = self.epoch, self.epoch + 1
        for xb, yb in batches(self.x, self.y, batch_size=self.batch_size, seed=self.seed, epoch=epoch):
            yield pgd(self.model, xb, yb, self.eps, self.alpha, self.steps, rng=self.rng), yb


class WeightPerturbation:
    """`fit` callback: before each step compute v on the batch (`state.x` holds the adversarial inputs)
    and move to w + γv; after the optimizer's step, move back by −γv.  kind "AWP" or "RWP" (with `c_min`,
    `math.inf` for RWP without the loss-stationary condition).  `pass_fraction` records, per step, the
    share of the batch with ℓ_i(w) < c_min (RWP only)."""

    def __init__(self, kind: str, gamma: float = GAMMA, c_min: float = C_MIN, steps: int = K_STEPS):
        if kind not in ("AWP", "RWP"):
            raise ValueError(f"WeightPerturbation: `kind` must be 'AWP' or 'RWP', got {kind!r}")
        self.kind, self.gamma, self.c_min, self.steps = kind, gamma, c_min, steps
        self.v, self.pass_fraction = None, []

    def on_batch_begin(self, state):
        if self.kind == "AWP":
            self.v = awp_perturbation(state.model, state.x, state.y)
        else:
            self.v, passed = rwp_perturbation(
                state.model,
                state.x,
                state.y,
                gamma=self.gamma,
                c_min=self.c_min,
                steps=self.steps,
                return_pass_fraction=True,
            )
            self.pass_fraction.append(passed)
        apply_perturbation(state.model, self.v, self.gamma)  # w + γ v

    def on_step_end(self, state):
        apply_perturbation(state.model, self.v, -self.gamma)  # restore: w − γ v
        self.v = None
