r"""MaskUNet: keep a pretrained denoiser frozen and learn, for every timestep and every sample, which of its
weights to *switch off* — a binary mask over the parameters produced by a small network from the time embedding
and the current noisy sample, trained with the diffusion loss through a straight-through estimator.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The idea
--------
A diffusion denoiser shares one set of weights across all noise levels, although early (noisy) steps build coarse
structure and late steps refine detail.  The paper observes that zeroing some weights of a pretrained U-Net
(even large ones) at inference can *improve* samples, and that the useful mask depends on the step and the
sample.  MaskUNet therefore makes the effective weights of a masked layer

.. math::

    \tilde W(t, x_t) = W \odot m(t, x_t),\qquad m \in \{0, 1\}^{d_{\rm out}\times d_{\rm in}},

with W the frozen pretrained weight (biases are not masked), so a masked linear layer computes, per sample i,
:math:`y_i = (W \odot m_i)\,h_i + b` (`masked_linear`).

The mask generator (training-based variant, Sec. 3.2 of the paper; `training/hyperunet.py` of the official
code, `DecoderWeightsMaskGenerator` + `Adapter` + `gumbel_sigmoid`):

1. merge time and sample: :math:`z' = \mathrm{FC}(\mathrm{temb}) + \mathrm{GAP}(z)` — for a 2-D point the
   "global average pool" of the sample is a linear read-out of the point itself;
2. an MLP with ReLUs: :math:`\hat z = \mathrm{MLP}(z')`, read as a small r × r score map S per masked layer;
3. the adapter lifts S to the layer's shape by two learned linear maps, one over each axis,
   :math:`L_{oi} = \sum_q B_{iq}\big(\sum_p A_{op}S_{pq} + a_o\big) + b_i`, with A, B initialised to 0 and the
   biases a, b to 5 as in the official code, so every logit starts at 5 and the mask starts all ones: the
   starting model *is* the pretrained one;
4. binarise: :math:`m = \mathbb 1[\sigma(L) > 1/2]` forward, and let the gradient through as if m were
   :math:`\sigma(L)` (straight-through estimator, `hard_mask`):
   :math:`\partial m/\partial L := \sigma(L)(1-\sigma(L))`.  The official code adds logistic ("Gumbel-sigmoid")
   noise before thresholding, :math:`m = \mathbb 1[\sigma((L + g)/\tau) > 1/2]`, g ~ Logistic(0, 1), which makes
   m ~ Bernoulli(σ(L)) (`gumbel_sigmoid_mask`).

Only the generator is trained, with the ordinary noise-prediction loss
:math:`\mathbb E\lVert\varepsilon - \hat\varepsilon_{W\odot m(t, x_t)}(x_t, t)\rVert^2` (the paper's diffusion
loss; DDPM's L_simple).  The training-free variant (the paper's second strategy) instead optimises the masks at
sampling time against a reward model on the predicted x̂₀; it is not implemented here (a 2-D toy has no reward
model the paper would use).

Deviations and assumptions (the toy)
------------------------------------
* The denoiser is the family's `TimeMLP`; its hidden-to-hidden Linear layers are masked (the official code masks
  the Linear layers of the U-Net's decoder blocks).
* Masks are thresholded without Gumbel noise in the experiment (deterministic, both in training and in sampling);
  `gumbel_sigmoid_mask` implements the noisy version and the family contract checks its Bernoulli law.
* The sample feature is a linear map of x_t (GAP of a 2-D point is the point); the generator's time embedding is
  its own sinusoidal embedding of t·`time_scale`.
* The paper's equation numbers could not be confirmed from a full text (only excerpts of Sec. 3 were reachable);
  the formulas follow the official code, cited by file and class.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/diffusion-generative/maskunet.ipynb
"""

from __future__ import annotations

import numpy as np

from .... import cat, nn, straight_through
from ....autograd.tensor import Tensor
from ..denoisers import sinusoidal_embedding

CATALOG_ENTRY = {
    "slug": "maskunet",
    "title": "Not All Parameters Matter: Masking Diffusion Models for Enhancing Generation Ability",
    "authors": "Lei Wang, Senmao Li, Fei Yang, Jianye Wang, Ziheng Zhang, Yuhan Liu, Yaxing Wang, Jian Yang",
    "year": 2025,
    "arxiv": "2505.03097",
    "family": "diffusion-generative",
    "notebook": "notebooks/diffusion-generative/maskunet.ipynb",
    "verified": "official-code",
    "verification_note": "arXiv id confirmed (CVPR 2025).  The mask generator z' = FC(temb) + GAP(z), MLP, the "
    "two-axis adapter initialised to logits 5 (mask all ones), the hard threshold at 1/2 with a straight-through "
    "gradient through the sigmoid, and unmasked biases were checked against the official training/hyperunet.py "
    "(DecoderWeightsMaskGenerator, Adapter, gumbel_sigmoid).  The paper's equation numbers were not confirmed "
    "(only excerpts of Sec. 3 reachable).  Assumed for the toy: a TimeMLP with its hidden layers masked, no "
    "Gumbel noise in the experiment, x_t itself as the sample feature; the training-free (reward) variant is not "
    "implemented.",
    "summary": "Learn timestep- and sample-dependent binary masks over a frozen pretrained denoiser's weights "
    "(W ⊙ m(t, x_t)), produced by a small generator and trained with the diffusion loss through a "
    "straight-through estimator; the masked net generates better samples with a negligible parameter budget.",
    "equations": [
        "W̃(t, x_t) = W ⊙ m(t, x_t),  y_i = (W ⊙ m_i) h_i + b   (masked layer; biases unmasked)",
        "z' = FC(temb(t)) + GAP(x_t),  S = MLP(z')   (mask generator, Sec. 3.2)",
        "L_oi = Σ_q B_iq (Σ_p A_op S_pq + a_o) + b_i,  A = B = 0, a = b = 5 at init   (adapter: mask starts all ones)",
        "m = 1[σ(L) > ½] forward,  ∂m/∂L := σ(L)(1 − σ(L))   (straight-through estimator)",
        "min over the generator only:  E ‖ε − ε̂_{W⊙m}(x_t, t)‖²   (diffusion loss; W frozen)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "hard_mask",
    "gumbel_sigmoid_mask",
    "masked_linear",
    "MaskGenerator",
    "MaskedDenoiser",
    "masked_layer_indices",
]


def hard_mask(logits: Tensor) -> Tensor:
    """m = 1[σ(L) > ½] (i.e. L > 0) forward; gradient σ(L)(1 − σ(L)) with respect to L (straight through the
    sigmoid, as the official gumbel_sigmoid(hard=True) does)."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"`logits` must be a Tensor, got {type(logits).__name__}")
    s = logits.sigmoid()
    return straight_through(s, (s.data > 0.5).astype(s.data.dtype))


def gumbel_sigmoid_mask(logits, rng, tau: float = 1.0) -> np.ndarray:
    """The official noisy mask without gradient: 1[σ((L + g)/τ) > ½], g = log u − log(1 − u), u ~ U(0, 1);
    since g is logistic, P(m = 1) = σ(L) for any τ > 0."""
    if tau <= 0:
        raise ValueError(f"`tau` must be > 0, got {tau}")
    logits = np.asarray(logits, dtype=np.float64)
    u = np.random.default_rng(rng).uniform(size=logits.shape)
    g = np.log(u) - np.log1p(-u)
    return (1.0 / (1.0 + np.exp(-(logits + g) / tau)) > 0.5).astype(np.float64)


def masked_linear(h, weight, bias, mask):
    """y_i = (W ⊙ m_i) h_i + b for each row i; `mask` is (out, in) (shared) or (n, out, in) (one per sample)."""
    h = h if isinstance(h, Tensor) else Tensor(np.asarray(h))
    weight = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight))
    mask = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask))
    out_f, in_f = weight.shape
    if h.ndim != 2 or h.shape[1] != in_f:
        raise ValueError(f"`h` must be (n, {in_f}), got {tuple(h.shape)}")
    if tuple(mask.shape) not in ((out_f, in_f), (h.shape[0], out_f, in_f)):
        raise ValueError(
            f"`mask` must be ({out_f}, {in_f}) or ({h.shape[0]}, {out_f}, {in_f}), got {mask.shape}"
        )
    w = weight * mask  # W ⊙ m
    if w.ndim == 2:
        y = h.matmul(w.T)
    else:
        y = (w * h.reshape(h.shape[0], 1, in_f)).sum(axis=2)
    return y if bias is None else y + bias


class MaskGenerator(nn.Module):
    """Per-sample mask logits for layers of shapes `shapes` [(out, in), …] from (t, x_t).

    z' = FC(emb(t·time_scale)) + P x_t;  S = MLP(z') (ReLU), r × r per layer;  adapter lifts S to (out, in).
    With `time_dependent=False` the FC(emb) term is dropped (the ablation: sample-dependent, not time-dependent)."""

    def __init__(
        self,
        dim,
        shapes,
        *,
        width=16,
        hidden=32,
        r=4,
        emb_dim=16,
        time_scale=100.0,
        time_dependent=True,
        rng=None,
    ):
        super().__init__()
        if not shapes:
            raise ValueError("`shapes` must list at least one (out, in) layer shape")
        rng = np.random.default_rng(rng)
        self.shapes, self.r, self.emb_dim = [tuple(s) for s in shapes], r, emb_dim
        self.time_scale, self.time_dependent = float(time_scale), bool(time_dependent)
        self.fc_t = nn.Linear(emb_dim, width, bias=False, rng=rng)
        self.fc_x = nn.Linear(dim, width, rng=rng)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden, rng=rng),
            nn.ReLU(),
            nn.Linear(hidden, r * r * len(shapes), rng=rng),
            nn.ReLU(),
        )
        for k, (o, i) in enumerate(self.shapes):  # the adapter: zero weights, bias 5 → all logits 5 at init
            setattr(self, f"A{k}", nn.Parameter(np.zeros((o, r), np.float32)))
            setattr(self, f"a{k}", nn.Parameter(np.full((o, 1), 5.0, np.float32)))
            setattr(self, f"B{k}", nn.Parameter(np.zeros((i, r), np.float32)))
            setattr(self, f"b{k}", nn.Parameter(np.full((1, i), 5.0, np.float32)))

    def forward(self, x, t) -> list:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        z = self.fc_x(x)
        if self.time_dependent:
            z = z + self.fc_t(Tensor(sinusoidal_embedding(np.asarray(t) * self.time_scale, self.emb_dim)))
        s_all = self.mlp(z)  # (n, layers · r²)
        n, r, out = x.shape[0], self.r, []
        for k, (o, i) in enumerate(self.shapes):
            s = (
                s_all[:, k * r * r : (k + 1) * r * r].reshape(n, r, r)
                if len(self.shapes) > 1
                else s_all.reshape(n, r, r)
            )
            A, a, B, b = (getattr(self, f"{c}{k}") for c in "AaBb")
            left = A.reshape(1, o, r, 1) * s.reshape(n, 1, r, r)  # (n, o, p, q)
            u = left.sum(axis=2) + a.reshape(1, o, 1)  # Σ_p A_op S_pq + a_o: (n, o, q)
            logits = (u.reshape(n, o, 1, r) * B.reshape(1, 1, i, r)).sum(axis=3) + b.reshape(1, 1, i)
            out.append(logits)  # (n, o, i)
        return out


def masked_layer_indices(net) -> list:
    """Indices in a `TimeMLP`'s Sequential of its hidden-to-hidden Linear layers (the masked ones)."""
    layers = list(net.net.children()) if hasattr(net.net, "children") else list(net.net)
    lin = [k for k, m in enumerate(layers) if isinstance(m, nn.Linear)]
    return lin[1:-1]


class MaskedDenoiser(nn.Module):
    """A frozen `TimeMLP` whose hidden-to-hidden weights are masked per sample by a `MaskGenerator`.

    Only the generator's parameters are registered (the base net is held, not owned: it is never trained)."""

    def __init__(self, base, generator=None, *, time_dependent=True, rng=None, **gen_kwargs):
        super().__init__()
        if getattr(base, "label_embedding", None) is not None:
            raise ValueError("`base` must be an unconditional TimeMLP")
        self.__dict__["base"] = base
        self.__dict__["_layers"] = (
            list(base.net.children()) if hasattr(base.net, "children") else list(base.net)
        )
        self.__dict__["_masked"] = masked_layer_indices(base)
        shapes = [self._layers[k].weight.shape for k in self._masked]
        self.generator = generator or MaskGenerator(
            base.dim, shapes, time_dependent=time_dependent, rng=rng, **gen_kwargs
        )

    def masks(self, x, t) -> list:
        return [hard_mask(L) for L in self.generator(x, t)]

    def forward(self, x, t):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        masks = iter(self.masks(x, t))
        h = cat([x, Tensor(sinusoidal_embedding(t, self.base.emb_dim))], axis=1)
        for k, layer in enumerate(self._layers):
            h = masked_linear(h, layer.weight, layer.bias, next(masks)) if k in self._masked else layer(h)
        return h
