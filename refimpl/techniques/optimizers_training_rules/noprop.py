r"""NoProp (discrete time): every block learns, on its own, to denoise a noisy label embedding.

Paper: *NoProp: Training Neural Networks without Back-propagation or Forward-propagation* — Qinyu Li,
Yee Whye Teh, Razvan Pascanu, 2025 (v2 retitled "... without Full Back-propagation or Full
Forward-propagation").
arXiv: 2503.24322

The idea
--------
A network of T blocks is read as the reverse of a fixed noising process on the *label*.  Block t
receives the input x and a noisy label embedding :math:`z_{t-1}` and predicts the clean embedding
:math:`u_y`.  During training the noisy inputs are not produced by the previous block: they are drawn
directly from the known noising distribution, so each block has a local, closed-form target and no
signal (forward or backward) passes between blocks.  At inference the blocks are chained like a
diffusion sampler from pure noise :math:`z_0` to :math:`z_T`, and a linear classifier reads
:math:`z_T`.

Equations (paper Section 2, NoProp-DT; indices as in the paper, t = 1..T, z_0 = noise, z_T ≈ label)
--------------------------------------------------------------------------------------------------

.. math::

    q(z_T \mid y) &= \mathcal N(\sqrt{\alpha_T}\,u_y,\,(1-\alpha_T) I),\qquad
    q(z_{t-1} \mid z_t) = \mathcal N(\sqrt{\alpha_{t-1}}\,z_t,\,(1-\alpha_{t-1}) I)             \\
    q(z_t \mid y) &= \mathcal N(\sqrt{\bar\alpha_t}\,u_y,\,(1-\bar\alpha_t) I),\qquad
    \bar\alpha_t = \textstyle\prod_{s=t}^{T}\alpha_s,\qquad \mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t} \\
    z_t &= a_t\,\hat u_{\theta_t}(z_{t-1}, x) + b_t\, z_{t-1} + \sqrt{c_t}\,\epsilon_t \quad\text{(inference)} \\
    a_t &= \frac{\sqrt{\bar\alpha_t}\,(1-\alpha_{t-1})}{1-\bar\alpha_{t-1}},\quad
    b_t = \frac{\sqrt{\alpha_{t-1}}\,(1-\bar\alpha_t)}{1-\bar\alpha_{t-1}},\quad
    c_t = \frac{(1-\bar\alpha_t)(1-\alpha_{t-1})}{1-\bar\alpha_{t-1}}

(a_t, b_t, c_t are the mean and variance of the Gaussian posterior q(z_t | z_{t−1}, y) with u_y
replaced by the block's prediction — the tests re-derive them by completing the square), and the
objective (the paper's Eq. 8, a negative ELBO):

.. math::

    \mathcal L = \mathbb E_{q(z_T\mid y)}[-\log \hat p_{\theta_{out}}(y\mid z_T)]
      + D_{KL}(q(z_0\mid y)\,\|\,p(z_0))
      + \frac{T}{2}\,\eta\; \mathbb E_{t, q(z_{t-1}\mid y)}\Big[(\mathrm{SNR}(t)-\mathrm{SNR}(t-1))
        \,\|\hat u_{\theta_t}(z_{t-1},x)-u_y\|^2\Big]

Block t is trained on the t-th term only, the classifier on the first; with fixed embeddings the KL
term is a constant.  The block predicts logits over classes and returns the softmax-weighted average of
the class embeddings, :math:`\hat u = \mathrm{softmax}(\ell)\,W_{embed}`.

What is simplified / deviations
-------------------------------
* MNIST/CIFAR CNN blocks become MLP blocks on the 8×8 digits: x → 64 units, z → 64 units,
  concatenated → 64 → 10 logits.  T = 10, η = 0.1 (the paper's MNIST values as far as we could read).
* **Embeddings are fixed one-hot vectors** (one of the paper's embedding options), so *nothing* is
  shared between blocks — the paper's learned embeddings would be a (small) shared parameter.
* Noise schedule (reconstructed): a cosine schedule on ᾱ_t, ᾱ_t = cos²(π/2 · (1 − t/T + s)/(1 + s)),
  s = 0.008, so ᾱ_0 = 0 (z_0 is exactly N(0, I)) and ᾱ_T ≈ 1; α_t = ᾱ_t/ᾱ_{t+1}, α_T = ᾱ_T.
* Each block has its own Adam; every minibatch trains all T blocks (the paper's Algorithm 1 loop)
  and the classifier on z_T ~ q(z_T | y).

Verified: reconstructed — the objective, the noising process and a_t, b_t, c_t are read from the paper's
Section 2 (Eq. 8 for the loss; the other equation numbers not confirmed); a_t, b_t, c_t are re-derived
in the tests; the gradient isolation between blocks is proved by a test (only block t's parameters
receive gradient from block t's loss, and block t's loss is unchanged when every other block's
weights are replaced by NaN).

Notebook: notebooks/optimizers-training-rules/noprop.ipynb
"""

from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase
from ...threads import one_blas_thread

CATALOG_ENTRY = {
    "slug": "noprop",
    "title": "NoProp: Training Neural Networks without Back-propagation or Forward-propagation",
    "authors": "Qinyu Li, Yee Whye Teh, Razvan Pascanu",
    "year": 2025,
    "arxiv": "2503.24322",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/noprop.ipynb",
    "verified": "reconstructed",
    "verification_note": "NoProp-DT from the paper's Section 2: noising q(z_t|y) = N(√ᾱ_t u_y, (1−ᾱ_t)I), the "
    "SNR-weighted denoising loss (Eq. 8) and the inference update z_t = a_t û + b_t z_{t−1} + "
    "√c_t ε. Cosine schedule, block architecture and fixed one-hot embeddings are our choices; "
    "a_t, b_t, c_t re-derived in the tests; gradient isolation between blocks proved by a test.",
    "summary": "Train each of T blocks independently to predict the clean label embedding from the input and a "
    "noisy embedding drawn from a fixed Gaussian noising process (no forward or backward signal between "
    "blocks); at inference chain the blocks like a diffusion sampler and classify the final latent.",
    "equations": [
        "q(z_t | y) = N(√ᾱ_t u_y, (1 − ᾱ_t) I),  SNR(t) = ᾱ_t / (1 − ᾱ_t)",
        "L_t = (T/2) η (SNR(t) − SNR(t−1)) ‖û_θt(z_{t−1}, x) − u_y‖²,  z_{t−1} ~ q(z_{t−1} | y)   (Eq. 8)",
        "z_t = a_t û_θt(z_{t−1}, x) + b_t z_{t−1} + √c_t ε_t,  a_t = √ᾱ_t(1−α_{t−1})/(1−ᾱ_{t−1}), "
        "b_t = √α_{t−1}(1−ᾱ_t)/(1−ᾱ_{t−1}), c_t = (1−ᾱ_t)(1−α_{t−1})/(1−ᾱ_{t−1})",
    ],
}

__all__ = [
    "cosine_schedule",
    "alphas_from_alpha_bar",
    "snr",
    "posterior_coefficients",
    "noisy_label",
    "DenoiseBlock",
    "NoPropDT",
    "block_loss",
    "demo",
    "plot",
    "reference_cases",
]


# --- the noise schedule ----------------------------------------------------------------------------
def cosine_schedule(T: int, s: float = 0.008) -> np.ndarray:
    """ᾱ_t for t = 0..T, increasing from ᾱ_0 = 0 (pure noise) to ᾱ_T ≈ 1 (the label)."""
    if T < 1:
        raise ValueError(f"T must be ≥ 1, got {T}")
    t = np.arange(T + 1, dtype=np.float64)
    ab = np.cos(0.5 * np.pi * ((1 - t / T) + s) / (1 + s)) ** 2
    ab[0] = 0.0  # cos²(π/2) up to round-off
    return ab


def alphas_from_alpha_bar(alpha_bar) -> np.ndarray:
    """α_t with ᾱ_t = ∏_{s=t}^{T} α_s: α_T = ᾱ_T, α_t = ᾱ_t / ᾱ_{t+1}."""
    ab = np.asarray(alpha_bar, dtype=np.float64)
    a = np.empty_like(ab)
    a[-1] = ab[-1]
    a[:-1] = ab[:-1] / ab[1:]
    return a


def snr(alpha_bar) -> np.ndarray:
    """SNR(t) = ᾱ_t / (1 − ᾱ_t)."""
    ab = np.asarray(alpha_bar, dtype=np.float64)
    return ab / (1.0 - ab)


def posterior_coefficients(alpha_bar):
    """(a, b, c) arrays indexed t = 1..T (entry 0 unused, NaN): the inference update's coefficients."""
    ab = np.asarray(alpha_bar, dtype=np.float64)
    al = alphas_from_alpha_bar(ab)
    T = len(ab) - 1
    a, b, c = (np.full(T + 1, np.nan) for _ in range(3))
    t = np.arange(1, T + 1)
    den = 1.0 - ab[t - 1]
    a[t] = np.sqrt(ab[t]) * (1.0 - al[t - 1]) / den  # a_t
    b[t] = np.sqrt(al[t - 1]) * (1.0 - ab[t]) / den  # b_t
    c[t] = (1.0 - ab[t]) * (1.0 - al[t - 1]) / den  # c_t
    return a, b, c


def noisy_label(u_y, alpha_bar_t: float, rng) -> np.ndarray:
    """z ~ q(z_t | y) = N(√ᾱ_t u_y, (1 − ᾱ_t) I), sampled with NumPy: a constant, not a graph node."""
    u_y = np.asarray(u_y)
    eps = rng.standard_normal(u_y.shape).astype(u_y.dtype)
    return np.sqrt(alpha_bar_t) * u_y + np.sqrt(1.0 - alpha_bar_t) * eps


# --- the model -------------------------------------------------------------------------------------
def _module_base():
    from ...nn import Module

    return Module


class DenoiseBlock(_module_base()):
    """û_θt(z, x) = softmax(logits(x, z)) · W_embed with logits from x → h, z → h, [·,·] → h → C."""

    def __init__(self, d_x: int, n_classes: int, d_z: int, hidden: int = 64, dtype=np.float32, rng=None):
        super().__init__()
        from ...nn import Linear

        self.fx = Linear(d_x, hidden, dtype=dtype, rng=rng)
        self.fz = Linear(d_z, hidden, dtype=dtype, rng=rng)
        self.f1 = Linear(2 * hidden, hidden, dtype=dtype, rng=rng)
        self.out = Linear(hidden, n_classes, dtype=dtype, rng=rng)

    def logits(self, z, x):
        from ...autograd import ops

        h = ops.concatenate([self.fx(x).relu(), self.fz(z).relu()], axis=-1)
        return self.out(self.f1(h).relu())

    def forward(self, z, x, W_embed):
        from ...autograd import ops

        return ops.softmax(self.logits(z, x), dim=-1) @ Tensor(W_embed)  # û = softmax(ℓ) W_embed


class NoPropDT(_module_base()):
    """T independent `DenoiseBlock`s, a linear classifier on z_T, fixed class embeddings W_embed (C × d)."""

    def __init__(
        self,
        d_x: int,
        n_classes: int,
        T: int = 10,
        hidden: int = 64,
        eta: float = 0.1,
        embed: str = "onehot",
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        from ...nn import Linear, ModuleList
        from ...random import as_generator

        if embed != "onehot":
            raise ValueError(
                f"embed must be 'onehot' (fixed embeddings keep the blocks independent), got {embed!r}"
            )
        rng = as_generator(rng)
        self.T, self.n_classes, self.eta = int(T), int(n_classes), float(eta)
        self.W_embed = np.eye(n_classes, dtype=dtype)  # fixed: not a Parameter
        d_z = n_classes
        self.blocks = ModuleList([DenoiseBlock(d_x, n_classes, d_z, hidden, dtype, rng) for _ in range(T)])
        self.classifier = Linear(d_z, n_classes, dtype=dtype, rng=rng)
        self.alpha_bar = cosine_schedule(T)
        self.snr = snr(self.alpha_bar)
        self.a, self.b, self.c = posterior_coefficients(self.alpha_bar)

    def loss_weight(self, t: int) -> float:
        """(T/2)·η·(SNR(t) − SNR(t−1)) for block t = 1..T."""
        return 0.5 * self.T * self.eta * float(self.snr[t] - self.snr[t - 1])

    def forward(self, x, rng=None, return_path: bool = False):
        """Inference: z_0 ~ N(0, I); z_t = a_t û_t(z_{t−1}, x) + b_t z_{t−1} + √c_t ε_t; logits = W_out z_T."""
        from ...autograd.tensor import no_grad

        rng = np.random.default_rng(0) if rng is None else rng
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        dtype = self.W_embed.dtype
        z = rng.standard_normal((x.shape[0], self.n_classes)).astype(dtype)
        path = []
        with no_grad():
            for t in range(1, self.T + 1):
                u_hat = self.blocks[t - 1](Tensor(z), x, self.W_embed).data
                path.append(u_hat)
                eps = rng.standard_normal(z.shape).astype(dtype)
                z = self.a[t] * u_hat + self.b[t] * z + np.sqrt(self.c[t]) * eps
            logits = self.classifier(Tensor(z.astype(dtype)))
        return (logits, path) if return_path else logits


def block_loss(model: NoPropDT, t: int, x, y, rng) -> Tensor:
    """Block t's own loss: (T/2)η(SNR(t) − SNR(t−1)) · mean_i ‖û_t(z_{t−1,i}, x_i) − u_{y_i}‖², with
    z_{t−1} ~ q(z_{t−1} | y) drawn from the fixed noising process (no other block involved)."""
    if not 1 <= t <= model.T:
        raise ValueError(f"t must be in 1..{model.T}, got {t}")
    u_y = model.W_embed[np.asarray(y)]
    z_prev = noisy_label(u_y, model.alpha_bar[t - 1], rng)
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    diff = model.blocks[t - 1](Tensor(z_prev), x, model.W_embed) - Tensor(u_y)
    return (diff * diff).sum(axis=-1).mean() * model.loss_weight(t)


def classifier_loss(model: NoPropDT, y, rng) -> Tensor:
    """E_{q(z_T|y)}[−log p̂(y | z_T)] on one sample of z_T per example."""
    from ...nn import functional as F

    z_T = noisy_label(model.W_embed[np.asarray(y)], model.alpha_bar[model.T], rng)
    return F.cross_entropy(model.classifier(Tensor(z_T)), np.asarray(y))


def train_noprop(
    model: NoPropDT,
    x,
    y,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    weight_decay: float = 1e-3,
    lr_classifier: float = 1e-2,
):
    """Algorithm 1 (discrete time): for every minibatch, every block t takes one AdamW step on its own
    loss and the classifier one step on its cross-entropy (its own, larger learning rate: a linear map
    on near-one-hot inputs, which at lr 1e-3 barely moves from its init in a short run).  Returns the
    per-epoch mean block losses (unweighted ‖û_t − u_y‖²)."""
    from ... import optim
    from ...data import batches

    rng = np.random.default_rng(seed)
    opts = [optim.AdamW(b.parameters(), lr=lr, weight_decay=weight_decay) for b in model.blocks]
    opt_out = optim.AdamW(model.classifier.parameters(), lr=lr_classifier, weight_decay=weight_decay)
    history = []
    for epoch in range(epochs):
        per_block = np.zeros(model.T)
        count = 0
        for xb, yb in batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch):
            xt = Tensor(xb)
            for t in range(1, model.T + 1):
                opts[t - 1].zero_grad()
                loss = block_loss(model, t, xt, yb, rng)
                loss.backward()
                opts[t - 1].step()
                per_block[t - 1] += float(loss.data) / model.loss_weight(t)
            opt_out.zero_grad()
            classifier_loss(model, yb, rng).backward()
            opt_out.step()
            count += 1
        history.append(per_block / count)
    return np.array(history)


# --- demo ------------------------------------------------------------------------------------------
@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Digits: NoProp-DT (T = 10 MLP blocks, one-hot embeddings) against a backprop MLP with the same
    per-block width trained end to end with cross-entropy for the same number of epochs."""
    from ... import nn, optim, train
    from ...data import load_digits
    from ...nn import functional as F

    d = load_digits(seed=seed)
    epochs = 10 if quick else 30
    T = 10
    model = NoPropDT(64, 10, T=T, hidden=64, rng=seed)
    hist = train_noprop(model, d.x_train, d.y_train, epochs, seed=seed)
    logits, path = model(d.x_test, rng=np.random.default_rng(seed + 1), return_path=True)
    acc_noprop = float(np.mean(np.argmax(logits.data, -1) == d.y_test))
    acc_path = np.array([np.mean(np.argmax(u, -1) == d.y_test) for u in path])

    bp = nn.MLP([64, 64, 64, 10], rng=seed)
    opt = optim.AdamW(bp.parameters(), lr=1e-3, weight_decay=1e-3)
    train.fit(
        bp,
        F.cross_entropy,
        (d.x_train, d.y_train),
        opt,
        epochs=epochs,
        batch_size=64,
        seed=seed,
        progress=False,
    )
    acc_bp = train.evaluate(bp, d.x_test, d.y_test)["accuracy"]
    n_noprop = model.num_parameters()
    n_bp = bp.num_parameters()
    if progress:
        print(
            f"NoProp-DT acc {acc_noprop:.3f} ({n_noprop} params), backprop MLP {acc_bp:.3f} ({n_bp} params)"
        )
    holds = bool(acc_noprop >= acc_bp - 0.05)
    return {
        "metrics": {
            "noprop_test_acc": acc_noprop,
            "backprop_test_acc": acc_bp,
            "noprop_block1_acc": float(acc_path[0]),
            "noprop_blockT_acc": float(acc_path[-1]),
            "noprop_params": float(n_noprop),
            "backprop_params": float(n_bp),
        },
        "table": [
            {
                "method": "NoProp-DT (T=10, no inter-block gradient)",
                "test_acc": round(acc_noprop, 4),
                "params": n_noprop,
                "epochs": epochs,
            },
            {
                "method": "backprop MLP 64-64-64-10",
                "test_acc": round(acc_bp, 4),
                "params": n_bp,
                "epochs": epochs,
            },
        ],
        "claim": {
            "statement": "NoProp-DT, with every block trained on its own denoising loss and no gradient "
            "between blocks, reaches test accuracy within 5 points of backprop on digits",
            "holds": holds,
        },
        "block_losses": hist,
        "accuracy_along_chain": acc_path,
    }


def plot(result) -> dict:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    h = result["block_losses"]
    for t in range(h.shape[1]):
        ax[0].plot(h[:, t], label=f"t={t + 1}")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("‖û_t − u_y‖² (unweighted)")
    ax[0].set_title("each block's own denoising loss")
    ax[0].legend(fontsize=6, ncol=2)
    acc = result["accuracy_along_chain"]
    ax[1].plot(range(1, len(acc) + 1), acc, marker="o")
    ax[1].axhline(result["metrics"]["backprop_test_acc"], color="k", ls="--", label="backprop MLP")
    ax[1].set_xlabel("block t")
    ax[1].set_ylabel("test accuracy of argmax û_t")
    ax[1].set_title("accuracy along the inference chain")
    ax[1].legend()
    fig.tight_layout()
    return {"noprop": fig}


# --- reference cases -------------------------------------------------------------------------------
def _coeff_case(alpha_bar):
    a, b, c = posterior_coefficients(alpha_bar)
    return {"a": a[1:], "b": b[1:], "c": c[1:], "alpha": alphas_from_alpha_bar(alpha_bar)}


def reference_cases() -> list:
    # ᾱ = [0.2, 0.5, 0.8] (T = 2): α_2 = 0.8, α_1 = 0.5/0.8 = 0.625, α_0 = 0.2/0.5 = 0.4
    a1 = np.sqrt(0.5) * (1 - 0.4) / (1 - 0.2)
    b1 = np.sqrt(0.4) * (1 - 0.5) / (1 - 0.2)
    c1 = (1 - 0.5) * (1 - 0.4) / (1 - 0.2)
    a2 = np.sqrt(0.8) * (1 - 0.625) / (1 - 0.5)
    b2 = np.sqrt(0.625) * (1 - 0.8) / (1 - 0.5)
    c2 = (1 - 0.8) * (1 - 0.625) / (1 - 0.5)
    return [
        ReferenceCase(
            name="posterior_coefficients_T2",
            inputs={"alpha_bar": [0.2, 0.5, 0.8]},
            expected={"a": [a1, a2], "b": [b1, b2], "c": [c1, c2], "alpha": [0.4, 0.625, 0.8]},
            compute=_coeff_case,
            note="By hand from ᾱ = [0.2, 0.5, 0.8]: α = [0.4, 0.625, 0.8]; a_1 = √0.5·0.6/0.8 = 0.530330, "
            "b_1 = √0.4·0.5/0.8 = 0.395285, c_1 = 0.5·0.6/0.8 = 0.375; a_2 = √0.8·0.375/0.5 = 0.670820, "
            "b_2 = √0.625·0.2/0.5 = 0.316228, c_2 = 0.2·0.375/0.5 = 0.15.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="snr_and_schedule_ends",
            inputs={},
            expected={"snr": [0.25, 1.0, 4.0], "ab0": 0.0, "abT": np.cos(0.5 * np.pi * 0.008 / 1.008) ** 2},
            compute=lambda: {
                "snr": snr([0.2, 0.5, 0.8]),
                "ab0": cosine_schedule(10)[0],
                "abT": cosine_schedule(10)[-1],
            },
            note="SNR = ᾱ/(1−ᾱ): 0.2/0.8, 0.5/0.5, 0.8/0.2; cosine schedule ᾱ_0 = cos²(π/2) = 0, "
            "ᾱ_T = cos²(π/2 · s/(1+s)) with s = 0.008.",
            atol=1e-12,
        ),
    ]
