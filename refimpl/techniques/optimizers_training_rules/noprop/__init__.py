r"""NoProp (discrete time): every block learns, on its own, to denoise a noisy label embedding.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.  (The
paper's v2 is retitled "... without Full Back-propagation or Full Forward-propagation".)  No official
code was released; two independent re-implementations were read to corroborate the equation numbers
and the training loop (see the card's verification note).

The idea
--------
A network of T blocks is read as the reverse of a fixed noising process on the *label*.  Block t
receives the input x and a noisy label embedding :math:`z_{t-1}` and predicts the clean embedding
:math:`u_y`.  During training the noisy inputs are not produced by the previous block: they are drawn
directly from the known noising distribution, so each block has a local, closed-form target and no
signal (forward or backward) passes between blocks.  At inference the blocks are chained like a
diffusion sampler from pure noise :math:`z_0` to :math:`z_T`, and a linear classifier reads
:math:`z_T`.

Equations (NoProp-DT; t = 1..T, z_0 = noise, z_T ≈ label)
---------------------------------------------------------
The fixed noising process runs *backwards* in t (Eq. 4), and its marginals are Gaussian (Eq. 5):

.. math::

    q(z_T \mid y) &= \mathcal N(\sqrt{\alpha_T}\,u_y,\,(1-\alpha_T) I),\qquad
    q(z_{t-1} \mid z_t) = \mathcal N(\sqrt{\alpha_{t-1}}\,z_t,\,(1-\alpha_{t-1}) I)             \\
    q(z_t \mid y) &= \mathcal N(\sqrt{\bar\alpha_t}\,u_y,\,(1-\bar\alpha_t) I),\qquad
    \bar\alpha_t = \textstyle\prod_{s=t}^{T}\alpha_s,\qquad \mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t}

Multiplying q(z_t | y) by q(z_{t−1} | z_t) and completing the square in z_t gives the Gaussian
posterior q(z_t | z_{t−1}, y) = N(a_t u_y + b_t z_{t−1}, c_t I): its precision is
1/(1−ᾱ_t) + α_{t−1}/(1−α_{t−1}) = (1−ᾱ_{t−1})/((1−ᾱ_t)(1−α_{t−1})) (using ᾱ_{t−1} = α_{t−1}ᾱ_t), so

.. math::

    c_t = \frac{(1-\bar\alpha_t)(1-\alpha_{t-1})}{1-\bar\alpha_{t-1}},\quad
    a_t = c_t\frac{\sqrt{\bar\alpha_t}}{1-\bar\alpha_t} = \frac{\sqrt{\bar\alpha_t}\,(1-\alpha_{t-1})}{1-\bar\alpha_{t-1}},\quad
    b_t = c_t\frac{\sqrt{\alpha_{t-1}}}{1-\alpha_{t-1}} = \frac{\sqrt{\alpha_{t-1}}\,(1-\bar\alpha_t)}{1-\bar\alpha_{t-1}}.

The model's step p(z_t | z_{t−1}, x) is that posterior with u_y replaced by the block's prediction
(Eq. 3), which is also the inference update:

.. math:: z_t = a_t\,\hat u_{\theta_t}(z_{t-1}, x) + b_t\, z_{t-1} + \sqrt{c_t}\,\epsilon_t .

The KL between the posterior and this step is ‖a_t(û − u_y)‖²/(2c_t), and a_t²/c_t = SNR(t) − SNR(t−1),
which gives the negative ELBO (Eq. 8):

.. math::

    \mathcal L = \mathbb E_{q(z_T\mid y)}[-\log \hat p_{\theta_{out}}(y\mid z_T)]
      + D_{KL}(q(z_0\mid y)\,\|\,p(z_0))
      + \frac{T}{2}\,\eta\; \mathbb E_{t\sim U\{1..T\},\, q(z_{t-1}\mid y)}\Big[(\mathrm{SNR}(t)-\mathrm{SNR}(t-1))
        \,\|\hat u_{\theta_t}(z_{t-1},x)-u_y\|^2\Big]

(η = 1 is the ELBO; the paper treats η as a hyperparameter).  Block t's parameters appear in the t-th
term only; the classifier in the first; with fixed embeddings and ᾱ_0 = 0, q(z_0 | y) = N(0, I) = p(z_0)
and the KL term is 0.  The block predicts logits over classes and returns the softmax-weighted average
of the class embeddings, :math:`\hat u = \mathrm{softmax}(\ell)\,W_{embed}`.

Training (Algorithm 1) — why a hand-written loop
------------------------------------------------
For every t = 1..T, for every minibatch: draw z_{t−1} ~ q(z_{t−1} | y), take one step on block t's
term plus the classifier's cross-entropy on z_T ~ q(z_T | y), updating θ_t and θ_out.  This is the
training *rule* itself: T + 1 disjoint parameter sets, each stepped by its own optimizer on its own
loss with its own noise draw — which `refimpl.train.fit` (one model, one loss, one optimizer) cannot
express.  `train_noprop` is that loop (AdamW, the rate decayed to 0 along a cosine per epoch like
`CosineAnnealingLR`).  Its default, vectorised mode stacks the T blocks' weights (`StackedBlocks`)
and steps them all on one minibatch at once: the blocks' parameters are disjoint and AdamW acts
element by element, so this is the same set of updates in another order, about T times cheaper in
Python overhead; the block-by-block loop is kept as its reference and a test shows the two coincide.

What is simplified / deviations
-------------------------------
* MNIST/CIFAR CNN blocks become MLP blocks on the 8×8 digits: x → 64 units, z → 64 units,
  concatenated → 64 → C logits.  T = 10 and η = 0.1 are our choices (the paper's hyperparameter
  table was not read).
* **Embeddings are fixed one-hot vectors** (one of the paper's embedding options), so *nothing* is
  shared between blocks — the paper's learned embeddings would be a (small) shared parameter, and the
  KL term would no longer be constant.
* Noise schedule: a cosine schedule on ᾱ_t (our form; the Tai225999 re-implementation, train.py
  L31-33, uses a similar one, flipped and normalised), ᾱ_t = cos²(π/2 · (1 − t/T + s)/(1 + s)), s = 0.008, so ᾱ_0 = 0 (z_0 is exactly N(0, I)) and ᾱ_T ≈ 1;
  α_t = ᾱ_t/ᾱ_{t+1}, α_T = ᾱ_T.
* The expectation over t is replaced by training every block every epoch (Algorithm 1); every
  block sees the same minibatch order, and the classifier takes T steps per minibatch (one with each
  block's step, as in Algorithm 1).
* Noise-free inference (z_0 = 0, ε_t = 0: the mean path of Eq. 3) and the first block alone
  (argmax û_1(z_0, x)) are diagnostics of ours, not the paper's.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/optimizers-training-rules/noprop.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....nn import Linear, Module, ModuleList

CATALOG_ENTRY = {
    "slug": "noprop",
    "title": "NoProp: Training Neural Networks without Back-propagation or Forward-propagation",
    "authors": "Qinyu Li, Yee Whye Teh, Razvan Pascanu",
    "year": 2025,
    "arxiv": "2503.24322",
    "family": "optimizers-training-rules",
    "notebook": "notebooks/optimizers-training-rules/noprop.ipynb",
    "verified": "reconstructed",
    "verification_note": "The paper's full text was not reachable here (its abstract only) and no official code "
    "exists. Reconstructed from the NoProp-DT equations as restated by two re-implementations: "
    "Tai225999/NoProp---Pytorch-Implementation train.py (a_t, b_t, c_t L56-58; Algorithm 1 loop "
    "L75-153: t outer L103, minibatches inner, one step on (T/2)η(SNR(t)−SNR(t−1))‖û−u_y‖² L128 + "
    "CE(z_T) L134 + KL L140, block t and classifier stepped together L146) and DanielHalachev/NoProp docs/latex/NoProp.tex "
    "(the three-term DT loss and Algorithm 1 as in the paper); Eq. 3 (inference step) and Eq. 8 (DT loss) "
    "are the numbers other re-implementations cite (vpuhoff/noprop-dt-mnist-pytorch's documentation; a "
    "README listing NoProp-DT as Equation 8); Eq. 4-5 for the noising process are unconfirmed. a_t, b_t, c_t re-derived in the docstring and the tests; gradient "
    "isolation between blocks proved by a test. Architecture, fixed one-hot embeddings, T = 10, η = 0.1 "
    "are our choices.",
    "summary": "Train each of T blocks independently to predict the clean label embedding from the input and a "
    "noisy embedding drawn from a fixed Gaussian noising process (no forward or backward signal between "
    "blocks); at inference chain the blocks like a diffusion sampler and classify the final latent.",
    "equations": [
        "q(z_t | y) = N(√ᾱ_t u_y, (1 − ᾱ_t) I),  ᾱ_t = ∏_{s=t}^T α_s,  SNR(t) = ᾱ_t / (1 − ᾱ_t)   (Eq. 5)",
        "z_t = a_t û_θt(z_{t−1}, x) + b_t z_{t−1} + √c_t ε_t,  a_t = √ᾱ_t(1−α_{t−1})/(1−ᾱ_{t−1}), "
        "b_t = √α_{t−1}(1−ᾱ_t)/(1−ᾱ_{t−1}), c_t = (1−ᾱ_t)(1−α_{t−1})/(1−ᾱ_{t−1})   (Eq. 3)",
        "L_t = (T/2) η (SNR(t) − SNR(t−1)) ‖û_θt(z_{t−1}, x) − u_y‖²,  z_{t−1} ~ q(z_{t−1} | y)   (Eq. 8)",
        "L_out = −log p̂_θout(y | z_T),  z_T ~ q(z_T | y)   (Eq. 8, first term; Algorithm 1 steps θ_t, θ_out together)",
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
    "classifier_loss",
    "StackedBlocks",
    "train_noprop",
    "accuracy",
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
    """α_t with ᾱ_t = ∏_{s=t}^{T} α_s (Eq. 5): α_T = ᾱ_T, α_t = ᾱ_t / ᾱ_{t+1}."""
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
    a[t] = np.sqrt(ab[t]) * (1.0 - al[t - 1]) / den  # a_t (Eq. 3)
    b[t] = np.sqrt(al[t - 1]) * (1.0 - ab[t]) / den  # b_t (Eq. 3)
    c[t] = (1.0 - ab[t]) * (1.0 - al[t - 1]) / den  # c_t (Eq. 3)
    return a, b, c


def noisy_label(u_y, alpha_bar_t: float, rng) -> np.ndarray:
    """z ~ q(z_t | y) = N(√ᾱ_t u_y, (1 − ᾱ_t) I) (Eq. 5), sampled with NumPy: a constant, not a graph node."""
    u_y = np.asarray(u_y)
    eps = rng.standard_normal(u_y.shape).astype(u_y.dtype)
    return np.sqrt(alpha_bar_t) * u_y + np.sqrt(1.0 - alpha_bar_t) * eps


# --- the model -------------------------------------------------------------------------------------
class DenoiseBlock(Module):
    """û_θt(z, x) = softmax(logits(x, z)) · W_embed with logits from x → h, z → h, [·,·] → h → C."""

    def __init__(self, d_x: int, n_classes: int, d_z: int, hidden: int = 64, dtype=np.float32, rng=None):
        super().__init__()
        self.fx = Linear(d_x, hidden, dtype=dtype, rng=rng)
        self.fz = Linear(d_z, hidden, dtype=dtype, rng=rng)
        self.f1 = Linear(2 * hidden, hidden, dtype=dtype, rng=rng)
        self.out = Linear(hidden, n_classes, dtype=dtype, rng=rng)

    def logits(self, z, x):
        from ....autograd import ops

        h = ops.concatenate([self.fx(x).relu(), self.fz(z).relu()], axis=-1)
        return self.out(self.f1(h).relu())

    def forward(self, z, x, W_embed):
        from ....autograd import ops

        return ops.softmax(self.logits(z, x), dim=-1) @ Tensor(W_embed)  # û = softmax(ℓ) W_embed


class NoPropDT(Module):
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
        from ....random import as_generator

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
        """(T/2)·η·(SNR(t) − SNR(t−1)) for block t = 1..T (Eq. 8)."""
        return 0.5 * self.T * self.eta * float(self.snr[t] - self.snr[t - 1])

    def forward(self, x, rng=None, noise: bool = True, return_path: bool = False):
        """Inference (Eq. 3): z_0 ~ N(0, I); z_t = a_t û_t(z_{t−1}, x) + b_t z_{t−1} + √c_t ε_t;
        logits = W_out z_T.  `noise=False` takes the mean path (z_0 = 0, ε_t = 0).  With `return_path`
        also returns [û_1, ..., û_T] (û_1 alone is the first block's own prediction)."""
        from ....autograd.tensor import no_grad

        rng = np.random.default_rng(0) if rng is None else rng
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        dtype = self.W_embed.dtype
        shape = (x.shape[0], self.n_classes)
        z = rng.standard_normal(shape).astype(dtype) if noise else np.zeros(shape, dtype)
        path = []
        with no_grad():
            for t in range(1, self.T + 1):
                u_hat = self.blocks[t - 1](Tensor(z), x, self.W_embed).data
                path.append(u_hat)
                eps = rng.standard_normal(z.shape).astype(dtype) if noise else 0.0
                z = self.a[t] * u_hat + self.b[t] * z + np.sqrt(self.c[t]) * eps  # Eq. 3
            logits = self.classifier(Tensor(z.astype(dtype)))
        return (logits, path) if return_path else logits


def block_loss(model: NoPropDT, t: int, x, y, rng, z_prev=None) -> Tensor:
    """Block t's own term of Eq. 8: (T/2)η(SNR(t) − SNR(t−1)) · mean_i ‖û_t(z_{t−1,i}, x_i) − u_{y_i}‖², with
    z_{t−1} ~ q(z_{t−1} | y) drawn from the fixed noising process (no other block involved); `z_prev`
    passes a draw in instead of sampling one from `rng`."""
    if not 1 <= t <= model.T:
        raise ValueError(f"t must be in 1..{model.T}, got {t}")
    u_y = model.W_embed[np.asarray(y)]
    if z_prev is None:
        z_prev = noisy_label(u_y, model.alpha_bar[t - 1], rng)  # Eq. 5
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    diff = model.blocks[t - 1](Tensor(np.asarray(z_prev, u_y.dtype)), x, model.W_embed) - Tensor(u_y)
    return (diff * diff).sum(axis=-1).mean() * model.loss_weight(t)  # Eq. 8, t-th term


def classifier_loss(model: NoPropDT, y, rng, z_T=None) -> Tensor:
    """E_{q(z_T|y)}[−log p̂(y | z_T)] (Eq. 8, first term) on one sample of z_T per example."""
    from ....nn import functional as F

    if z_T is None:
        z_T = noisy_label(model.W_embed[np.asarray(y)], model.alpha_bar[model.T], rng)
    return F.cross_entropy(model.classifier(Tensor(z_T)), np.asarray(y))


# --- training: Algorithm 1, per block (the reference) and vectorised over blocks (the fast twin) ------
class StackedBlocks:
    """The T blocks' weights stacked on a leading axis — W (T, in, out), b (T, 1, out) — so that one
    batched pass computes every block's term of Eq. 8.  The blocks' parameters are disjoint slices and
    AdamW acts element by element, so a step on Σ_t L_t over the stack is exactly T independent block
    steps (a test checks it against `block_loss`).  `write_back` copies the weights into the blocks."""

    LAYERS = ("fx", "fz", "f1", "out")

    def __init__(self, model: NoPropDT):
        from ....nn import Parameter

        self.model = model
        blocks = model.blocks
        self.W = {n: Parameter(np.stack([getattr(b, n).weight.data.T for b in blocks])) for n in self.LAYERS}
        self.b = {
            n: Parameter(np.stack([getattr(b, n).bias.data[None, :] for b in blocks])) for n in self.LAYERS
        }

    def parameters(self):
        return [p for n in self.LAYERS for p in (self.W[n], self.b[n])]

    def u_hat(self, z, x) -> Tensor:
        """û_t(z_t, x) for every t at once: z (T, B, d_z), x (B, d_x) → (T, B, C)."""
        from ....autograd import ops

        def lin(n, h):
            return h @ self.W[n] + self.b[n]

        h = ops.concatenate([lin("fx", x).relu(), lin("fz", z).relu()], axis=-1)
        logits = lin("out", lin("f1", h).relu())
        return ops.softmax(logits, dim=-1) @ Tensor(self.model.W_embed)

    def losses(self, x, y, z_prev) -> Tensor:
        """The T block terms of Eq. 8 as a (T,) Tensor, z_prev (T, B, d_z) with z_prev[t−1] ~ q(z_{t−1} | y)."""
        m = self.model
        u_y = m.W_embed[np.asarray(y)]
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        diff = self.u_hat(Tensor(np.asarray(z_prev, u_y.dtype)), x) - Tensor(u_y)
        weights = np.array([m.loss_weight(t) for t in range(1, m.T + 1)], dtype=u_y.dtype)
        return (diff * diff).sum(axis=-1).mean(axis=-1) * Tensor(weights)

    def write_back(self):
        for t, blk in enumerate(self.model.blocks):
            for n in self.LAYERS:
                getattr(blk, n).weight.data[...] = self.W[n].data[t].T
                getattr(blk, n).bias.data[...] = self.b[n].data[t, 0]


def train_noprop(
    model: NoPropDT,
    x,
    y,
    epochs: int,
    *,
    lr: float,
    batch_size: int = 64,
    seed: int = 0,
    weight_decay: float = 1e-3,
    cosine: bool = True,
    vectorized: bool = True,
):
    """Algorithm 1 (discrete time): every epoch, for t = 1..T, for every minibatch, one AdamW step of
    block t on its term of Eq. 8 and one of the classifier on its cross-entropy (Eq. 8, first term).
    Every block sees the same minibatch order; rates decay to 0 along a cosine over the epochs when
    `cosine`.  `vectorized` steps all T blocks at once on each minibatch (`StackedBlocks`, the same
    updates in another order: blocks never interact) and is T times cheaper in Python overhead; with
    `vectorized=False` the loop is Algorithm 1's, block by block.  Noise is drawn in the same order in
    both modes, so with one minibatch per epoch they coincide (a test checks it).
    Returns {"block_loss": (epochs, T) per-epoch mean unweighted ‖û_t − u_y‖², "classifier_loss": (epochs,)}."""
    from .... import optim
    from ....data import batches
    from ....optim.lr_scheduler import CosineAnnealingLR

    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    T = model.T
    rng = np.random.default_rng(seed)
    stack = StackedBlocks(model) if vectorized else None
    block_params = [stack.parameters()] if vectorized else [b.parameters() for b in model.blocks]
    opts = [optim.AdamW(ps, lr=lr, weight_decay=weight_decay) for ps in block_params]
    opt_out = optim.AdamW(model.classifier.parameters(), lr=lr, weight_decay=weight_decay)
    scheds = [CosineAnnealingLR(o, T_max=epochs) for o in [*opts, opt_out]] if cosine else []
    weights = np.array([model.loss_weight(t) for t in range(1, T + 1)])
    block_hist, ce_hist = np.zeros((epochs, T)), np.zeros(epochs)

    def draws(yb):  # (z_{t−1} ~ q(z_{t−1}|y), z_T ~ q(z_T|y)) for t = 1..T, in this order
        u_y = model.W_embed[yb]
        pairs = [
            (noisy_label(u_y, model.alpha_bar[t - 1], rng), noisy_label(u_y, model.alpha_bar[T], rng))
            for t in range(1, T + 1)
        ]
        return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]

    def classifier_step(yb, z_T):
        opt_out.zero_grad()
        loss = classifier_loss(model, yb, None, z_T=z_T)
        loss.backward()
        opt_out.step()
        return float(loss.data)

    for epoch in range(epochs):
        data = list(batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch))
        noise = [draws(yb) for _, yb in data]
        block_sum, ce_sum = np.zeros(T), 0.0
        if vectorized:
            for (xb, yb), (z_prev, z_Ts) in zip(data, noise):
                opts[0].zero_grad()
                losses = stack.losses(Tensor(xb), yb, z_prev)  # (T,): term t touches slice t only
                losses.sum().backward()
                opts[0].step()
                block_sum += losses.data / weights
                ce_sum += sum(classifier_step(yb, z_T) for z_T in z_Ts)
        else:
            for t in range(1, T + 1):
                for (xb, yb), (z_prev, z_Ts) in zip(data, noise):
                    opts[t - 1].zero_grad()
                    loss_t = block_loss(model, t, Tensor(xb), yb, None, z_prev=z_prev[t - 1])
                    loss_t.backward()
                    opts[t - 1].step()
                    block_sum[t - 1] += float(loss_t.data) / weights[t - 1]
                    ce_sum += classifier_step(yb, z_Ts[t - 1])
        block_hist[epoch] = block_sum / len(data)
        ce_hist[epoch] = ce_sum / (len(data) * T)
        for s in scheds:
            s.step()
    if vectorized:
        stack.write_back()
    return {"block_loss": block_hist, "classifier_loss": ce_hist}


def accuracy(model: NoPropDT, x, y, *, seed: int = 0) -> dict:
    """Test-time readouts of a trained model on (x, y): "sampled" (Eq. 3 with noise, the paper's
    inference), "noise_free" (the mean path), "block1" (argmax û_1(z_0, x): the first block alone),
    and "chain" (argmax û_t along the sampled path, t = 1..T)."""
    y = np.asarray(y)
    logits, path = model(x, rng=np.random.default_rng(seed), return_path=True)
    mean_logits = model(x, noise=False)
    chain = np.array([np.mean(np.argmax(u, -1) == y) for u in path])
    return {
        "sampled": float(np.mean(np.argmax(logits.data, -1) == y)),
        "noise_free": float(np.mean(np.argmax(mean_logits.data, -1) == y)),
        "block1": float(chain[0]),
        "chain": chain,
    }
