r"""Sharpness-Aware training for Free (SAF), with SAM as the baseline it replaces.

Paper: *Sharpness-Aware Training for Free* — Jiawei Du, Daquan Zhou, Jiashi Feng, Vincent Y. F. Tan,
Joey Tianyi Zhou, NeurIPS 2022.
arXiv: 2205.14083
Official code: github.com/AngusDujw/SAF (``SAF_train.py``, read for the loss and its constants).
Baseline: SAM — Foret, Kleiner, Mobahi, Neyshabur, *Sharpness-Aware Minimization for Efficiently
Improving Generalization*, ICLR 2021, arXiv 2010.01412.

The idea
--------
SAM minimises the worst loss in a ρ-ball around the weights.  Its first-order solution perturbs the
weights along the normalised gradient and takes the gradient there (SAM Eq. 2-3):

.. math::

    \hat\epsilon(w) = \rho\,\frac{\nabla L_B(w)}{\|\nabla L_B(w)\|_2},\qquad
    g_{SAM} = \nabla L_B(w)\big|_{w + \hat\epsilon(w)}

so every step costs **two** forward-backward passes.  SAF observes that the loss increase SAM
penalises can be tracked along the training *trajectory* instead: if the outputs on a sample change
abruptly between epochs, the weights moved through a sharp region.  SAF keeps the logits
:math:`\hat y_i^{(e-E)}` that each training sample got E epochs earlier (a per-sample memory bank)
and adds a KL "trajectory loss" that keeps the current outputs close to them:

.. math::

    L = L_{CE}(f_\theta(x), y) + \lambda\,\tau^2\,\frac{1}{|B|}\sum_{i\in B}
        \mathrm{KL}\Big(\mathrm{softmax}(\hat y_i^{(e-E)}/\tau)\;\Big\|\;\mathrm{softmax}(f_\theta(x_i)/\tau)\Big)

at the cost of one forward-backward pass per step (plus an N×C logit store).  Constants from the
official ``SAF_train.py``: τ = 5 (``--temperature``), λ = 0.16 (``--reinforce``), E = 3
(``--minus_epoch``), the KL term active for ``kl_start_epoch < epoch < kl_end_epoch`` with
kl_start = 5; the bank has E + 1 slots per sample, the logits of epoch e go to slot e mod (E+1) and
the reference is slot (e − E) mod (E+1); the KL is the per-sample sum over classes, averaged over the
batch, times τ² (``F.kl_div(log_softmax(z/τ), softmax(ŷ/τ)).sum(-1).mean() * τ²``).

What is simplified / deviations
-------------------------------
* ImageNet / CIFAR ResNets become an MLP on the 8×8 digits with 20 % symmetric label noise; the
  cosine schedule becomes a constant learning rate with momentum 0.9.
* The paper's MESA variant (an EMA teacher instead of the memory bank) is not implemented.
* Equation numbers of the paper were not confirmed from its text; the loss and constants are the
  official code's.  SAM uses the global gradient norm (as in Foret et al.), no adaptive variant.
* Sharpness is measured with the family's shared helper (`_base.sharpness`): mean/max loss rise under
  random perturbations of norm ρ, adversarial (SAM-direction + projected ascent) loss rise, and the
  top Hessian eigenvalue by power iteration on finite-difference Hessian-vector products.

Verified: official-code — the trajectory loss, its constants and the memory-bank indexing follow
``SAF_train.py``; KL([0.5, 0.5] ‖ [0.9, 0.1]) = 0.510826 is checked by hand; the SAM step is checked on
a quadratic against its closed form.

Notebook: notebooks/optimizers-training-rules/saf.ipynb
"""

from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase
from ._base import get_flat, loss_and_grad, one_blas_thread, param_list, set_flat, sharpness

CATALOG_ENTRY = {
    "slug": "saf",
    "title": "Sharpness-Aware Training for Free",
    "authors": "Jiawei Du, Daquan Zhou, Jiashi Feng, Vincent Y. F. Tan, Joey Tianyi Zhou",
    "year": 2022,
    "arxiv": "2205.14083",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/saf.ipynb",
    "verified": "official-code",
    "verification_note": "Trajectory loss, constants (τ=5, λ=0.16, E=3, KL after epoch 5) and the (E+1)-slot memory "
    "bank indexing read in AngusDujw/SAF SAF_train.py; SAM baseline per Foret et al. Eq. 2-3 "
    "(global ℓ2 norm). Hand-checked KL value; SAM step checked on a quadratic.",
    "summary": "Replace SAM's extra gradient pass with a trajectory loss: a temperature-scaled KL between the current "
    "outputs and the outputs each sample had E epochs earlier, penalising sudden output changes "
    "(a proxy for sharpness) at ~1× the cost of SGD.",
    "equations": [
        "SAM: ε̂ = ρ ∇L_B(w)/‖∇L_B(w)‖₂;  g_SAM = ∇L_B(w + ε̂)",
        "SAF: L = L_CE + λ τ² (1/|B|) Σ_i KL(softmax(ŷ_i^{(e−E)}/τ) ‖ softmax(f_θ(x_i)/τ))",
        "memory bank: ŷ_i^{(e)} stored in slot e mod (E+1); reference read from slot (e−E) mod (E+1)",
    ],
}

__all__ = [
    "kl_divergence",
    "trajectory_loss",
    "LogitMemory",
    "SAFLoss",
    "sam_gradient",
    "SAM",
    "demo",
    "plot",
    "reference_cases",
]


# --- pure functions --------------------------------------------------------------------------------
def kl_divergence(p, q) -> np.ndarray:
    """KL(p ‖ q) = Σ_c p_c log(p_c/q_c) over the last axis (0·log 0 = 0), on arrays."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(-1)


def trajectory_loss(logits, past_logits, tau: float = 5.0) -> Tensor:
    """τ² · mean_i KL(softmax(ŷ_i/τ) ‖ softmax(z_i/τ)) as a Tensor (gradient flows into ``logits`` only;
    ``past_logits`` is a constant array)."""
    from ...autograd import ops

    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    past = np.asarray(getattr(past_logits, "data", past_logits), dtype=logits.data.dtype)
    if past.shape != logits.shape:
        raise ValueError(f"past_logits must have the logits' shape {logits.shape}, got {past.shape}")
    z = past / tau
    z = z - z.max(-1, keepdims=True)
    p_old = np.exp(z)
    p_old /= p_old.sum(-1, keepdims=True)
    log_p_old = np.log(np.maximum(p_old, np.finfo(p_old.dtype).tiny))
    log_q = ops.log_softmax(logits * (1.0 / tau), dim=-1)
    # KL = Σ p_old (log p_old − log q), summed over classes, averaged over the batch, times τ²
    kl = (Tensor(p_old) * (Tensor(log_p_old) - log_q)).sum(axis=-1).mean()
    return kl * (tau**2)


class LogitMemory:
    """The per-sample logit bank of SAF: (E + 1) slots per sample; epoch e writes slot e mod (E+1) and
    reads the logits of epoch e − E from slot (e − E) mod (E+1) (the official code's indexing)."""

    def __init__(self, n_samples: int, n_classes: int, E: int = 3, dtype=np.float32):
        if E < 1:
            raise ValueError(f"E must be ≥ 1 (epochs back), got {E}")
        if n_samples < 1 or n_classes < 1:
            raise ValueError(f"n_samples and n_classes must be ≥ 1, got {n_samples}, {n_classes}")
        self.E = int(E)
        self.bank = np.zeros((n_samples, E + 1, n_classes), dtype=dtype)
        self.written = np.full((n_samples, E + 1), -1, dtype=np.int64)  # which epoch filled each slot

    def record(self, idx, epoch: int, logits) -> None:
        idx = np.asarray(idx)
        slot = epoch % (self.E + 1)
        self.bank[idx, slot] = np.asarray(getattr(logits, "data", logits))
        self.written[idx, slot] = epoch

    def past(self, idx, epoch: int) -> np.ndarray:
        """The logits recorded at epoch − E for these samples; ValueError if that epoch was not recorded."""
        idx = np.asarray(idx)
        slot = (epoch - self.E) % (self.E + 1)
        if np.any(self.written[idx, slot] != epoch - self.E):
            raise ValueError(f"no logits recorded at epoch {epoch - self.E} for some of these samples")
        return self.bank[idx, slot].copy()


class SAFLoss:
    """loss_fn for `refimpl.train.fit`: targets are an (N, 2) int array [label, sample index] so the
    memory bank knows which rows it sees; also a callback (``on_epoch_begin`` tracks the epoch — pass
    the same object in ``callbacks``).  With 1-D targets (evaluation) it is the plain cross-entropy.

    L = CE + lam·τ²·KL(ŷ^{(e−E)} ‖ z) for kl_start < epoch < kl_end; logits are recorded every step.
    """

    def __init__(
        self,
        n_samples: int,
        n_classes: int,
        lam: float = 0.16,
        tau: float = 5.0,
        E: int = 3,
        kl_start: int = 5,
        kl_end: int = 10**9,
    ):
        if lam < 0:
            raise ValueError(f"lam must be ≥ 0, got {lam}")
        if kl_start < E - 1:
            raise ValueError(
                f"kl_start must be ≥ E − 1 so that epoch − E was recorded, got kl_start={kl_start}, E={E}"
            )
        self.memory = LogitMemory(n_samples, n_classes, E)
        self.lam, self.tau, self.kl_start, self.kl_end = float(lam), float(tau), int(kl_start), int(kl_end)
        self.epoch = 0
        self.kl_steps = 0

    def on_epoch_begin(self, state) -> None:
        self.epoch = state.epoch

    def active(self, epoch: int) -> bool:
        return self.kl_start < epoch < self.kl_end  # the official code's strict inequalities

    def __call__(self, output, target):
        from ...nn import functional as F

        target = np.asarray(getattr(target, "data", target))
        if target.ndim == 1:
            return F.cross_entropy(output, target)
        if target.ndim != 2 or target.shape[1] != 2:
            raise ValueError(f"target must be (N,) labels or (N, 2) [label, index], got shape {target.shape}")
        y, idx = target[:, 0], target[:, 1]
        loss = F.cross_entropy(output, y)
        self.memory.record(idx, self.epoch, output.data)
        if self.lam > 0 and self.active(self.epoch):
            loss = loss + self.lam * trajectory_loss(output, self.memory.past(idx, self.epoch), self.tau)
            self.kl_steps += 1
        return loss


def sam_gradient(model, loss_fn, x, y, rho: float = 0.05):
    """(loss at w, [∇L(w + ε̂)]) with ε̂ = ρ g/‖g‖₂ over all parameters (SAM Eq. 2-3); weights restored."""
    if not rho >= 0:
        raise ValueError(f"rho must be ≥ 0, got {rho}")
    params = param_list(model)
    loss, grads = loss_and_grad(model, loss_fn, x, y, params)
    g = np.concatenate([a.ravel() for a in grads]).astype(np.float64)
    gn = np.linalg.norm(g)
    if gn == 0 or rho == 0:
        return loss, grads
    w0 = get_flat(params)
    try:
        set_flat(params, w0 + rho * g / gn)  # w + ε̂
        _, grads_adv = loss_and_grad(model, loss_fn, x, y, params)
    finally:
        set_flat(params, w0)
    return loss, grads_adv


class SAM:
    """A `fit` callback: after the ordinary backward, replace the gradients by SAM's (one more
    forward-backward at w + ε̂).  ``extra_gradient_evaluations`` counts the extra passes."""

    def __init__(self, loss_fn, rho: float = 0.05):
        if not rho >= 0:
            raise ValueError(f"rho must be ≥ 0, got {rho}")
        self.loss_fn, self.rho = loss_fn, float(rho)
        self.extra_gradient_evaluations = 0

    def after_backward(self, state) -> None:
        params = param_list(state.model)
        g = np.concatenate([(np.zeros_like(p.data) if p.grad is None else p.grad).ravel() for p in params])
        gn = float(np.linalg.norm(g.astype(np.float64)))
        if gn == 0 or self.rho == 0:
            return
        w0 = get_flat(params)
        try:
            set_flat(params, w0 + self.rho * g / gn)  # ε̂ = ρ g/‖g‖
            _, grads = loss_and_grad(state.model, self.loss_fn, state.x, state.y, params)
        finally:
            set_flat(params, w0)
        self.extra_gradient_evaluations += 1
        for p, gr in zip(params, grads):
            p.grad = gr.astype(p.data.dtype)


# --- demo ------------------------------------------------------------------------------------------
@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Digits MLP with 20 % symmetric label noise: SGD vs SAM (ρ = 0.05) vs SAF (official constants),
    same optimizer and epochs; test accuracy, the shared sharpness measures on the training loss and the
    number of gradient evaluations per step."""

    epochs = 20 if quick else 40  # the KL term is on from epoch 6 (official kl_start = 5)
    return _compare(seed, epochs, quick, progress)


def _compare(seed, epochs, quick, progress):
    import time

    from ... import nn, optim, train
    from ...data import label_noise, load_digits
    from ...nn import functional as F

    d = load_digits(seed=seed)
    y_noisy, _ = label_noise(d.y_train, 0.2, seed=seed)
    n = len(d.x_train)
    rho = 0.05
    results, rows, timing = {}, [], {}
    probe = np.random.default_rng(seed).choice(n, size=min(300 if quick else 600, n), replace=False)
    for method in ("SGD", "SAM", "SAF"):
        model = nn.MLP([64, 128, 10], rng=seed)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        callbacks = []
        if method == "SAF":
            loss_fn = SAFLoss(n, 10)  # λ = 0.16, τ = 5, E = 3, KL from epoch 6 on
            data = (d.x_train, np.stack([y_noisy, np.arange(n)], 1))
            callbacks.append(loss_fn)
        else:
            loss_fn = F.cross_entropy
            data = (d.x_train, y_noisy)
        if method == "SAM":
            sam = SAM(F.cross_entropy, rho)
            callbacks.append(sam)
        t0 = time.perf_counter()
        hist = train.fit(
            model,
            loss_fn,
            data,
            opt,
            epochs=epochs,
            batch_size=64,
            callbacks=callbacks,
            seed=seed,
            progress=False,
        )
        timing[method] = time.perf_counter() - t0
        steps = len(hist["step_loss"])
        evals = (steps + (sam.extra_gradient_evaluations if method == "SAM" else 0)) / steps
        acc = train.evaluate(model, d.x_test, d.y_test)["accuracy"]
        sh = sharpness(
            model,
            F.cross_entropy,
            d.x_train[probe],
            y_noisy[probe],
            rho=rho,
            n_directions=10,
            adv_steps=5,
            hessian_iters=20,
            seed=seed,
        )
        results[method] = {"acc": acc, "grad_evals_per_step": evals, **sh}
        rows.append(
            {
                "method": method,
                "test_acc": round(acc, 4),
                "grad_evals/step": round(evals, 3),
                "random_rise": round(sh["random_mean"], 5),
                "adversarial_rise": round(sh["adversarial"], 4),
                "hessian_top": round(sh["hessian_top"], 3),
            }
        )
        if progress:
            print(rows[-1])
    r = results
    flatter = (
        r["SAF"]["hessian_top"] < r["SGD"]["hessian_top"]
        and r["SAF"]["adversarial"] < r["SGD"]["adversarial"]
    )
    holds = bool(
        flatter
        and r["SAF"]["acc"] >= r["SGD"]["acc"] - 0.005
        and r["SAF"]["grad_evals_per_step"] == 1.0
        and r["SAM"]["grad_evals_per_step"] == 2.0
    )
    metrics = {f"{m}_{k}": float(v) for m, res in r.items() for k, v in res.items()}
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {
            "statement": "SAF (1 gradient evaluation per step) ends flatter than SGD (lower top Hessian "
            "eigenvalue and adversarial loss rise) without losing test accuracy, like SAM "
            "(2 evaluations per step)",
            "holds": holds,
        },
        "timing_seconds": timing,
        "results": r,
    }


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    r = result["results"]
    names = list(r)
    fig, ax = plt.subplots(1, 3, figsize=(11, 3.2))
    for a, (key, label) in zip(
        ax,
        [
            ("acc", "test accuracy"),
            ("hessian_top", "top Hessian eigenvalue"),
            ("adversarial", "adversarial loss rise (ρ=0.05)"),
        ],
    ):
        a.bar(names, [r[n][key] for n in names], color=["C0", "C1", "C2"])
        a.set_title(label)
    if min(r[n]["acc"] for n in names) > 0.5:
        ax[0].set_ylim(0.5, 1.0)
    fig.tight_layout()
    return {"saf_vs_sam": fig}


# --- reference cases -------------------------------------------------------------------------------
def _kl_case():
    return {"kl": kl_divergence([0.5, 0.5], [0.9, 0.1])}


def _trajectory_case(logits, past, tau):
    return {"loss": trajectory_loss(Tensor(np.asarray(logits, dtype=np.float64)), np.asarray(past), tau)}


def _memory_case():
    mem = LogitMemory(4, 2, E=3, dtype=np.float64)
    for e in range(6):
        mem.record([1, 2], e, np.array([[e, -e], [10 + e, 0.0]], dtype=np.float64))
    return {"past": mem.past([1, 2], 5)}


def _sam_case():
    """L(w) = ½ wᵀ diag(1, 4) w at w = [1, 1]: g = [1, 4]; ε̂ = 0.5·g/‖g‖; g_SAM = diag(1,4)(w + ε̂)."""
    from ...nn import Module, Parameter

    class _W(Module):
        def __init__(self):
            super().__init__()
            self.w = Parameter(np.array([[1.0, 1.0]]))

        def forward(self, x):
            return self.w

    def loss(out, y):
        return ((out * out) * Tensor(np.array([[0.5, 2.0]]))).sum()

    _, (g,) = sam_gradient(_W(), loss, np.zeros((1, 1)), None, rho=0.5)
    return {"g_sam": g.ravel()}


def reference_cases() -> list:
    e = 0.5 / np.sqrt(17.0)
    return [
        ReferenceCase(
            name="kl_hand",
            inputs={},
            expected={"kl": 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)},
            compute=_kl_case,
            note="By hand (catalogue): 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.510826.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="trajectory_loss_tau_scaling",
            inputs={"logits": [[0.0, 0.0]], "past": [[2 * np.log(9.0), 0.0]], "tau": 2.0},
            expected={"loss": 4.0 * (0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5))},
            compute=_trajectory_case,
            note="softmax([2 ln 9, 0]/2) = [0.9, 0.1], softmax(0) = [0.5, 0.5]; loss = τ²·KL([0.9,0.1] ‖ [0.5,0.5]) "
            "= 4 × 0.368064.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="memory_returns_E_epochs_ago",
            inputs={},
            expected={"past": [[2.0, -2.0], [12.0, 0.0]]},
            compute=_memory_case,
            note="Records at epochs 0..5 with logits [e, −e] / [10+e, 0]; at epoch 5 with E = 3 the bank must "
            "return epoch 2's logits.",
            atol=0,
        ),
        ReferenceCase(
            name="sam_gradient_quadratic",
            inputs={},
            expected={"g_sam": [1.0 + e, 4.0 * (1.0 + 4.0 * e)]},
            compute=_sam_case,
            note="L = ½(w₁² + 4w₂²) at w = [1,1]: g = [1, 4], ‖g‖ = √17, ε̂ = 0.5[1,4]/√17; "
            "g_SAM = [w₁+ε₁, 4(w₂+ε₂)] = [1 + 0.5/√17, 4(1 + 2/√17)].",
            atol=1e-12,
        ),
    ]
