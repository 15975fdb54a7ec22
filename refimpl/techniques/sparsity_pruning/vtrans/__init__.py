r"""VTrans: structured pruning with variational-information-bottleneck (VIB) masks.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Only the abstract and third-party summaries of arXiv 2406.05276 could be read here, and no official
repository was found in the stored index, so the method is reconstructed (verified = "reconstructed")
from the abstract and from the VIB pruning it builds on (Dai et al. 2018, "Compressing neural networks
using the variational information bottleneck", ICML) — see "What was assumed" below.

The idea
--------
Every prunable structure (an embedding dimension, an attention head, a hidden neuron, a layer) gets a
multiplicative stochastic gate.  For the output $h_i$ of structure $i$ the compressed representation is

$$\tilde h_i = z_i\,h_i,\qquad z_i = \mu_i + \sigma_i\,\varepsilon_i,\quad \varepsilon_i\sim\mathcal N(0,1)
\qquad\text{(the VIB mask; Dai et al. Eq. 6, VTrans Sec. 3, "} m = z_m\odot \mathrm{Emb}(X)\text{")}$$

so $\tilde h_i \mid h_i \sim \mathcal N(\mu_i h_i, \sigma_i^2 h_i^2)$.  The information bottleneck asks to keep
$I(\tilde h; y)$ while making $I(\tilde h; h)$ small.  With a log-uniform-style variational prior the
upper bound of the compression term reduces to one number per structure,

$$\mathrm{KL}_i = \log\!\Big(1 + \frac{\mu_i^2}{\sigma_i^2}\Big) = \log(1+\alpha_i),\qquad
\alpha_i = \frac{\mu_i^2}{\sigma_i^2}\qquad\text{(Dai et al. Eq. 8–9)}$$

and the training loss is $\;\mathcal L = \mathrm{CE} + \beta\,\frac1N\sum_i \log(1+\alpha_i)$ (the
cross-entropy is the variational bound of $-I(\tilde h;y)$, $N$ the number of training examples).  A
structure whose signal-to-noise ratio $\alpha_i$ is small carries (almost) no information: it is pruned.
VTrans makes this budget-driven and iterative: after each round of VIB training it removes the structures
with the smallest $\alpha$ until the next size target of the schedule is met, and the last round meets
the user's size budget exactly; the pruned model is then fine-tuned (in the paper with distillation
from the unpruned teacher; "Faster-VTrans" trains only the masks).

What was assumed (verified = "reconstructed")
---------------------------------------------
* The KL form $\log(1+\mu^2/\sigma^2)$ (no factor ½; it only rescales β), the parametrisation
  $(\mu, \log\sigma^2)$ and the initialisation $\mu\sim\mathcal N(1, 0.01^2)$, $\log\sigma^2\sim
  \mathcal N(-9, 0.01^2)$ are Dai et al.'s, not read in VTrans.
* Pruning ranks α globally over all gated structures (here the hidden neurons of an MLP) and meets a
  count budget exactly (ties broken by index); the fixed α-threshold of Dai et al. is replaced by the
  budget, as the abstract says VTrans "ensures compliance with specified model size".
* At evaluation the gate is deterministic, $z_i=\mu_i$ (Dai et al.); pruned gates output exactly 0.
* No distillation: the toy fine-tunes with cross-entropy only, the same for every compared method.

`VIBGate` is the gate Module, `attach` inserts one after each hidden activation of an `MLP`, `kl_term`
is the differentiable information penalty over a model, `prune_to_budget` the α-ranked global pruning
step, `bake` folds the gates into the next layer (family `Mask` on pruned columns) and removes them.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/sparsity-pruning/vtrans.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....nn import Sequential
from ....nn.module import Module, Parameter
from ..masks import apply_masks, bottom_k_mask, check_sparsity, get_mask, latent_weight, prunable_layers

CATALOG_ENTRY = {
    "slug": "vtrans",
    "title": "VTrans: Accelerating Transformer Compression with Variational Information Bottleneck based Pruning",
    "authors": "Oshin Dutta, Ritvik Gupta, Sumeet Agarwal",
    "year": 2024,
    "arxiv": "2406.05276",
    "family": "sparsity-pruning",
    "notebook": "notebooks/sparsity-pruning/vtrans.ipynb",
    "verified": "reconstructed",
    "verification_note": (
        "Only the abstract and third-party summaries were available (VIB masks z ⊙ output over embeddings, "
        "heads and layers; iterative pruning to a size budget; fine-tuning with distillation); no official "
        "code in the index. The gate, its KL term and initialisation follow Dai et al. 2018 (VIBNet), the "
        "method VTrans builds on; these choices are listed in the module."
    ),
    "summary": (
        "Variational-information-bottleneck masks over embeddings, heads and layers: each structure's "
        "output is multiplied by a Gaussian gate z = μ + σε trained with the penalty log(1 + μ²/σ²); "
        "structures with the smallest α = μ²/σ² are pruned iteratively until a size budget is met, then "
        "the model is fine-tuned."
    ),
    "equations": [
        "z_i = μ_i + σ_i ε_i,  ε_i ~ N(0, 1);  h̃_i = z_i h_i   (VIB gate; Dai et al. 2018 Eq. 6, VTrans Sec. 3)",
        "L = CE + (β/N) Σ_i log(1 + μ_i²/σ_i²)                  (VIB bound; Dai et al. Eq. 8–9)",
        "α_i = μ_i²/σ_i²;  prune the smallest α to the round's size target, iterate to the budget",
        "evaluation / fine-tuning: z_i = μ_i (deterministic), pruned z_i = 0",
    ],
}


# --- pure functions -------------------------------------------------------------------------------------
def _vec(x, name, fn):
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{fn}: `{name}` must be a non-empty 1-D array, got shape {a.shape}")
    return a


def snr(mu, log_sigma2) -> np.ndarray:
    """α = μ² / σ² per structure (the quantity that is ranked for pruning)."""
    mu, ls = _vec(mu, "mu", "snr"), _vec(log_sigma2, "log_sigma2", "snr")
    if mu.shape != ls.shape:
        raise ValueError(
            f"snr: `mu` and `log_sigma2` must have the same shape, got {mu.shape} and {ls.shape}"
        )
    return mu**2 * np.exp(-ls)


def vib_kl(mu, log_sigma2) -> float:
    """Σᵢ log(1 + μᵢ²/σᵢ²) — the VIB compression term (Dai et al. Eq. 8–9), in NumPy."""
    return float(np.sum(np.log1p(snr(mu, log_sigma2))))


def sample_gates(mu, log_sigma2, eps) -> np.ndarray:
    """z = μ + σ ε (the reparametrised Gaussian gate), broadcast over a batch of ε of shape (..., n)."""
    mu, ls = _vec(mu, "mu", "sample_gates"), _vec(log_sigma2, "log_sigma2", "sample_gates")
    eps = np.asarray(eps, dtype=np.float64)
    if eps.shape[-1:] != mu.shape:
        raise ValueError(f"sample_gates: `eps` must end with {mu.shape[0]} entries, got shape {eps.shape}")
    return mu + np.exp(0.5 * ls) * eps


def budget_prune_mask(alpha, alive, n_prune: int) -> np.ndarray:
    """Boolean 'pruned' mask: the already pruned structures plus the smallest-α alive ones until
    `n_prune` structures in total are pruned (global ranking, ties by index)."""
    alpha = _vec(alpha, "alpha", "budget_prune_mask")
    alive = np.asarray(alive, dtype=bool)
    if alive.shape != alpha.shape:
        raise ValueError(f"budget_prune_mask: `alive` must have shape {alpha.shape}, got {alive.shape}")
    if not 0 <= int(n_prune) <= alpha.size:
        raise ValueError(f"budget_prune_mask: `n_prune` must be in [0, {alpha.size}], got {n_prune}")
    dead = ~alive
    extra = int(n_prune) - int(dead.sum())
    if extra <= 0:
        return dead
    score = np.where(alive, alpha, np.inf)
    return dead | bottom_k_mask(score, extra).astype(bool)


# --- the gate Module ------------------------------------------------------------------------------------
class VIBGate(Module):
    """h ↦ h · z · m with z = μ + σε in training (ε fresh per example and unit), z = μ at evaluation, and
    m the 0/1 pruning mask.  `stochastic=False` keeps z = μ also in training (magnitude baseline, and
    fine-tuning); `mu`/`log_sigma2` are Parameters (freeze them with `requires_grad`)."""

    def __init__(self, n: int, rng=None, mu_std=0.01, log_sigma2=-9.0, log_sigma2_std=0.01, dtype=np.float32):
        super().__init__()
        if int(n) < 1:
            raise ValueError(f"VIBGate: `n` must be a positive number of structures, got {n}")
        rng = np.random.default_rng(rng)
        self.mu = Parameter((1.0 + mu_std * rng.standard_normal(int(n))).astype(dtype))
        self.log_sigma2 = Parameter((log_sigma2 + log_sigma2_std * rng.standard_normal(int(n))).astype(dtype))
        self.mask = np.ones(int(n), dtype=dtype)
        self.stochastic = True
        self._rng = rng

    def alpha(self) -> np.ndarray:
        return snr(self.mu.data, self.log_sigma2.data)

    def kl(self) -> Tensor:
        """Σ over alive structures of log(1 + μ² e^{−log σ²}), differentiable."""
        a = self.mu * self.mu * (self.log_sigma2 * -1.0).exp()
        return ((a + 1.0).log() * Tensor(self.mask)).sum()

    def forward(self, h):
        z = self.mu
        if self.training and self.stochastic:
            eps = self._rng.standard_normal(h.shape).astype(h.data.dtype)
            z = z + (self.log_sigma2 * 0.5).exp() * Tensor(eps)
        return h * z * Tensor(self.mask)


def gates(model) -> list:
    return [m for m in model.modules() if isinstance(m, VIBGate)]


def attach(model, rng=None, **gate_kwargs) -> list:
    """Insert a `VIBGate` after the activation of every hidden layer of an `MLP` (Linear → act → gate).
    Returns the gates in order."""
    layers = list(prunable_layers(model).items())
    if len(layers) < 2:
        raise ValueError(f"attach: `model` needs at least one hidden layer, got {len(layers)} Linear layers")
    rng = np.random.default_rng(rng)
    names = list(model._modules)
    out = []
    for name, lin in layers[:-1]:
        act = names[names.index(name) + 1]  # the activation right after the Linear
        g = VIBGate(lin.out_features, rng=rng, **gate_kwargs)
        setattr(model, act, Sequential(model._modules[act], g))
        out.append(g)
    return out


def kl_term(model) -> Tensor:
    """Σ over all gates of the model of the VIB penalty (a scalar Tensor)."""
    gs = gates(model)
    if not gs:
        raise ValueError("kl_term: `model` has no VIBGate (call attach first)")
    total = gs[0].kl()
    for g in gs[1:]:
        total = total + g.kl()
    return total


def prune_to_budget(model, fraction: float, scores=None) -> int:
    """Prune the `fraction` of all gated structures with the smallest score (default α), keeping those
    already pruned; sets the gates' masks.  Returns the number of pruned structures."""
    check_sparsity(fraction, "prune_to_budget")
    gs = gates(model)
    if not gs:
        raise ValueError("prune_to_budget: `model` has no VIBGate (call attach first)")
    if scores is None:
        scores = [g.alpha() for g in gs]
    if len(scores) != len(gs) or any(np.size(s) != g.mask.size for s, g in zip(scores, gs)):
        raise ValueError("prune_to_budget: `scores` must give one array per gate of the gate's size")
    alive = np.concatenate([g.mask > 0 for g in gs])
    flat = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores])
    dead = budget_prune_mask(flat, alive, int(round(fraction * flat.size)))
    for g, d in zip(gs, np.split(dead, np.cumsum([g.mask.size for g in gs])[:-1])):
        g.mask = (~d).astype(g.mask.dtype)
    return int(dead.sum())


def neuron_l1(model) -> list:
    """The magnitude baseline's unit score: L1 norm of each hidden unit's incoming weights (+ bias)."""
    layers = list(prunable_layers(model).values())[:-1]
    return [np.abs(latent_weight(m).data).sum(axis=1) + np.abs(m.bias.data) for m in layers]


def bake(model) -> dict:
    """Fold each gate's deterministic value μ·m into the next Linear's columns, mask the pruned columns with
    the family `Mask`, zero the pruned units' biases and remove the gates.  Returns the masks."""
    layers = list(prunable_layers(model).items())
    names = list(model._modules)
    masks = {}
    with no_grad():
        for (name, lin), (nxt_name, nxt) in zip(layers[:-1], layers[1:]):
            act = names[names.index(name) + 1]
            seq = model._modules[act]
            if not isinstance(seq, Sequential) or not isinstance(seq._modules.get("1"), VIBGate):
                raise ValueError(f"bake: no VIBGate after layer {name!r} (call attach first)")
            g = seq._modules["1"]
            dead = g.mask == 0
            w = latent_weight(nxt)
            w.data[...] = w.data * g.mu.data[None, :]
            lin.bias.data[dead] = 0.0
            mk = get_mask(nxt)
            m = np.ones_like(w.data) if mk is None else mk.mask.copy()
            m[:, dead] = 0.0
            masks[nxt_name] = m
            setattr(model, act, seq._modules["0"])
    apply_masks(model, masks)
    return masks
