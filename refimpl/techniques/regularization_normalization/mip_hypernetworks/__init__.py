r"""Magnitude Invariant Parametrizations (MIP) for hypernetworks.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/JJGO/hyperlight (`hyperlight/hypernet/encoding.py`, `model.py`,
`initialization.py`; line numbers below are of the snapshot at commit a3e2108).

The idea
--------
A hypernetwork $h_\phi$ maps a conditioning input $\gamma$ (here a loss-mixing weight in [0, 1]) to the
weights $\theta = h_\phi(\gamma)$ of a primary network.  With the default parametrization — raw $\gamma$ in,
weights out — the magnitude of the predicted weights is proportional to that of the input.

*Why (the derivation).*  Take an MLP $h_\phi(\gamma) = W_L\,\sigma(W_{L-1}\cdots\sigma(W_1\gamma + b_1)\cdots) + b_L$
with a positively homogeneous activation, $\sigma(cz) = c\,\sigma(z)$ for $c > 0$ (ReLU, LeakyReLU).  At
initialisation the biases are zero, so every layer is linear-then-homogeneous and
$$ h_\phi(c\gamma) = c\,h_\phi(\gamma)\quad (c > 0),\qquad h_\phi(0) = 0 . $$
The primary weights — and through them the primary network's outputs and gradients — therefore scale
with $\gamma$: for $\gamma \to 0$ they vanish, and the gradient reaching $\phi$ is multiplied by $\gamma$
through the first layer ($\partial\theta/\partial W_1 \propto \gamma$), so the effective step size varies
with the input.  Training is slow and unstable.

MIP makes two changes (paper Fig. 2; hyperlight's defaults):

1. **Constant-norm input encoding** $E(\gamma) = [\cos(\pi\gamma/2),\ \sin(\pi\gamma/2)]$, with
   $\|E(\gamma)\| = 1$ for every $\gamma$ (encoding.py l. 52–56, mode "cos|sin");
2. **Additive (residual) output** $\theta(\gamma) = \theta_0 + h_\phi(E(\gamma))$, where $\theta_0$ are
   independent weights initialised as an ordinary primary network would be.  In hyperlight $\theta_0$ *is*
   the bias of the hypernetwork's output layer (model.py `set_independent_weights`, l. 322–346), set by
   `init_independent_weights` (l. 368–395): Kaiming-normal fan-in with the LeakyReLU gain √2 for weights,
   zeros for biases.

Initialisation (hyperlight, reproduced here): the hidden layers are Kaiming-normal *fan-out* with the
LeakyReLU gain √2 and zero biases (`FullyConnectedNet.reset_parameters`, l. 96–114; initialization.py
l. 46–47); the output layer is then re-initialised **per predicted tensor** (`_init_output_split`,
l. 297–313): the rows of the output weight that produce tensor t (n_t of them) get std √2/√n_t — each
tensor as if it were its own layer, because one fan-out over all P outputs would make the head
√(P/n_t) times smaller for a small tensor (a bias of one entry, a 16×1 weight) than for a large one.
hyperlight applies this split to both parametrizations (it is a default of `HyperNet`), so the default
hypernetwork here gets it too.

What is implemented, and deviations
-----------------------------------
* `encode`, the primary network (flat θ ↦ a 1-16-16-1 tanh MLP), `init_independent_weights`,
  `init_output_split` and `HyperNet(encoding, residual)`: both switches on is MIP, both off is the default
  hypernetwork, one on is a partial ablation.  The hypernetwork is a 16-16 LeakyReLU(0.01) MLP.
* hyperlight initialises θ₀ with the LeakyReLU gain whatever the primary network's activation; we keep
  that default although our primary network uses tanh.
* The paper's tasks (Bayesian networks, registration with a regularisation weight, …) become a 1-D
  regression conditioned on the weight of a smoothness term; see `experiment.py`.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/regularization-normalization/mip-hypernetworks.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor, no_grad
from ....nn.module import Module

CATALOG_ENTRY = {
    "slug": "mip-hypernetworks",
    "title": "Magnitude Invariant Parametrizations Improve Hypernetwork Learning",
    "authors": "Jose Javier Gonzalez Ortiz, John Guttag, Adrian V. Dalca",
    "year": 2024,
    "arxiv": "2304.07645",
    "family": "regularization-normalization",
    "notebook": "notebooks/regularization-normalization/mip-hypernetworks.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Read in JJGO/hyperlight (commit a3e2108): cos|sin encoding of πz/2 (hypernet/encoding.py l. 52–56); "
        "θ0 held in the output-layer bias (model.py set_independent_weights l. 322–346) and initialised "
        "Kaiming-normal fan-in with the LeakyReLU gain, zero biases (init_independent_weights l. 368–395); "
        "hidden layers Kaiming-normal fan-out, LeakyReLU (FullyConnectedNet l. 38–114); output weight "
        "re-initialised per predicted tensor, fan-out = that tensor's size (_init_output_split l. 297–313, "
        "commits b23eae3/410a8a1). Of the paper only the abstract and the Fig. 2 caption were available; "
        "the toy task is ours."
    ),
    "summary": (
        "A hypernetwork's predicted weights scale with its input's magnitude, which makes training slow and "
        "unstable. Encode the input with constant norm ([cos(πγ/2), sin(πγ/2)]) and predict a residual on "
        "top of independently learned weights θ0: θ(γ) = θ0 + h(enc(γ))."
    ),
    "equations": [
        "default: θ(γ) = h_φ(γ);  ReLU-family h with zero biases: θ(cγ) = c θ(γ), θ(0) = 0",
        "E(γ) = [cos(πγ/2), sin(πγ/2)],  ‖E(γ)‖ = 1",
        "MIP: θ(γ) = θ0 + h_φ(E(γ))   (θ0 = the output layer's bias, initialised as a primary network)",
        "head init per predicted tensor t: std √2/√n_t   (hyperlight _init_output_split)",
    ],
}

__all__ = [
    "encode",
    "PRIMARY_SHAPES",
    "N_PRIMARY",
    "unflatten",
    "primary",
    "init_independent_weights",
    "init_output_split",
    "HyperNet",
    "init_norm_ratio",
]

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default, hyperlight's hidden activation
GAIN = math.sqrt(2.0)  # torch.nn.init.kaiming_normal_(…, nonlinearity="leaky_relu") with a = 0


# --- the input encoding -------------------------------------------------------------------------------
def encode(gamma) -> np.ndarray:
    """γ (…,) in [0, 1] → (…, 2) = [cos(πγ/2), sin(πγ/2)], norm 1 (encoding.py l. 52–56)."""
    g = np.asarray(gamma, dtype=np.float64)
    if np.any(g < 0) or np.any(g > 1):
        raise ValueError(f"encode: `gamma` must lie in [0, 1], got values in [{g.min()}, {g.max()}]")
    return np.stack([np.cos(np.pi * g / 2), np.sin(np.pi * g / 2)], axis=-1)  # E(γ), ‖E(γ)‖ = 1


# --- the primary network, as a function of a flat θ -------------------------------------------------------
PRIMARY_SHAPES = (
    ("w1", (16, 1)),
    ("b1", (16,)),
    ("w2", (16, 16)),
    ("b2", (16,)),
    ("w3", (1, 16)),
    ("b3", (1,)),
)
N_PRIMARY = sum(int(np.prod(s)) for _, s in PRIMARY_SHAPES)


def _offsets():
    out, i = {}, 0
    for name, shape in PRIMARY_SHAPES:
        n = int(np.prod(shape))
        out[name] = (i, n)
        i += n
    return out


OFFSETS = _offsets()  # name → (offset, size) in the flat θ (hyperlight `output_offsets`)


def unflatten(theta):
    """Flat θ (P,) Tensor → dict of primary-network tensors."""
    return {
        name: ops.reshape(theta[i : i + n], shape)
        for (name, shape), (i, n) in zip(PRIMARY_SHAPES, OFFSETS.values())
    }


def primary(theta, x):
    """The primary 1-16-16-1 tanh MLP with weights θ (flat Tensor) on x (n, 1)."""
    p = unflatten(theta)
    h = ops.tanh(ops.linear(x, p["w1"], p["b1"]))
    h = ops.tanh(ops.linear(h, p["w2"], p["b2"]))
    return ops.linear(h, p["w3"], p["b3"])


# --- hyperlight's initialisation ------------------------------------------------------------------------
def init_independent_weights(rng) -> np.ndarray:
    """θ₀ as an ordinary network would start (model.py l. 368–395): weights Kaiming-normal fan-in with the
    LeakyReLU gain, std √2/√fan_in; biases zero."""
    parts = []
    for name, shape in PRIMARY_SHAPES:
        if name.startswith("w"):
            parts.append(rng.normal(0.0, GAIN / math.sqrt(shape[1]), size=shape).ravel())  # fan_in = in
        else:
            parts.append(np.zeros(shape).ravel())
    return np.concatenate(parts)


def init_output_split(weight: np.ndarray, rng) -> np.ndarray:
    """Re-initialise the output weight (P, hidden) per predicted tensor (`_init_output_split`, l. 297–313):
    rows [offset, offset + n_t) ~ N(0, 2/n_t), Kaiming-normal fan-out of that slice alone."""
    out = np.array(weight, dtype=np.float64, copy=True)
    for offset, n in OFFSETS.values():
        out[offset : offset + n] = rng.normal(
            0.0, GAIN / math.sqrt(n), size=(n, out.shape[1])
        )  # fan_out = n_t
    return out


class HyperNet(Module):
    """γ → θ (flat primary weights).

    `encoding`: input E(γ) = [cos, sin] (True) or raw γ (False); `residual`: the output bias starts at the
    independent weights θ₀ (True, MIP's θ = θ₀ + h) or at zero (False).  Both True is MIP, both False the
    default hypernetwork.  Hidden layers: LeakyReLU(0.01).  `output_split_init` (hyperlight's default)
    initialises the head per predicted tensor; False leaves one fan-out over all P outputs, linear gain
    (`FullyConnectedNet`'s own output init, before the split)."""

    def __init__(self, encoding=True, residual=True, hidden=(16, 16), output_split_init=True, rng=None):
        super().__init__()
        from ....nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.encoding, self.residual = bool(encoding), bool(residual)
        sizes = [2 if encoding else 1, *hidden, N_PRIMARY]
        self.layers = [Linear(a, b, dtype=np.float64, rng=rng) for a, b in zip(sizes[:-1], sizes[1:])]
        for i, lin in enumerate(self.layers):
            setattr(self, f"lin{i}", lin)
            last = i == len(self.layers) - 1
            gain = 1.0 if last else GAIN  # FullyConnectedNet: fan-out; linear gain on the output layer
            fan_out = lin.weight.shape[0]
            lin.weight.data[...] = rng.normal(0.0, gain / math.sqrt(fan_out), size=lin.weight.shape)
            lin.bias.data[...] = 0.0
        head = self.layers[-1]
        if output_split_init:
            head.weight.data[...] = init_output_split(head.weight.data, rng)  # per predicted tensor
        if residual:
            head.bias.data[...] = init_independent_weights(rng)  # θ₀: the residual's base weights

    def hidden(self, gamma):
        """The last hidden activation for one γ (a (1, hidden) Tensor)."""
        g = float(np.asarray(gamma.data if isinstance(gamma, Tensor) else gamma).reshape(-1)[0])
        h = Tensor(encode([g]) if self.encoding else np.array([[g]]))  # E(γ), or raw γ
        for lin in self.layers[:-1]:
            h = ops.leaky_relu(lin(h), LEAKY_SLOPE)
        return h

    def forward(self, gamma):
        """θ(γ) (P,) for one γ: θ₀ + W h + … (MIP), or W h + b with b = 0 at init (default)."""
        return self.layers[-1](self.hidden(gamma))[0]


def init_norm_ratio(net, lo: float = 0.1, hi: float = 1.0) -> float:
    """‖θ(hi)‖ / ‖θ(lo)‖ — exactly hi/lo for the default hypernetwork at initialisation (zero biases)."""
    with no_grad():
        return float(np.linalg.norm(net(hi).data) / np.linalg.norm(net(lo).data))
