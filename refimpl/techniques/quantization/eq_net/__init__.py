r"""EQ-Net: one weight-sharing quantization supernet whose subnets (one bit width per layer) are usable
without retraining; trained with the sandwich rule, a weight-distribution regularizer (WDR) and a
progressive logit-guidance loss (GPG).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/xuke225/EQ-Net (read: `module/base_lsq.py`, `runner/criterion.py`,
`runner/trainer.py`, `configs/train-supernet.yaml`).  The paper's full text was not readable with the
search tools (abstract only), so formula lines are tagged with the paper section named in the abstract
and the official code file and function they follow; no equation numbers are claimed.

The idea
--------
*Elastic quantization space* (Sec. 3.1, `module/base_lsq.py`).  Every quantized layer keeps one set of
shared full-precision weights W and, for every bit width b it may be run at, its own learned
per-output-channel step size s_b (LSQ, Esser et al.): with $q_n = -2^{b-1}$, $q_p = 2^{b-1}-1$,

$$\hat W = s_b\,\mathrm{round}\!\big(\mathrm{clip}(W/s_b,\ q_n,\ q_p)\big),\qquad
\frac{\partial \hat W}{\partial s_b} = g\cdot\begin{cases}\mathrm{round}(W/s_b) - W/s_b & \text{inside}\\
q_n \text{ or } q_p & \text{clipped}\end{cases},\quad g = \frac{2}{\sqrt{q_p\, d_{\text{out}}}}$$

(rounding by the straight-through estimator; g is the official code's step-size gradient scale for a
per-channel Linear weight).  Switching a subnet's width therefore switches the step-size row and nothing
else.  The step sizes start from the shared W: $s_b = 2\,\rho\max_j|W_{ij}|/(2^b-1)$, ρ ∈ {1, 0.99, …,
0.96} chosen per channel by the smallest $L_{2.4}$ error (`symmetric_init_for_per_channel`).  At that
start $2^8-1 = 17\,(2^4-1) = 85\,(2^2-1)$, so every 2- and 4-bit level except the most negative code is
also an 8-bit level: the grids are nested until training moves the step sizes apart.

*Weight distribution regularization* (Sec. 3.2, `runner/criterion.py`: `KurtosisLoss`, `SkewnessLoss`).
Shared weights that suit every width are pushed towards a uniform-like, symmetric distribution: per layer
ℓ (the first excluded, as in the code), with the unbiased standard deviation,

$$\mathcal L_{\text{WDR}} = \lambda_K \frac{1}{L-1}\sum_{\ell\ge 2}(\mathrm{Kurt}[W_\ell]-1.8)^2
+ \lambda_S \frac{1}{L-1}\sum_{\ell\ge 2}\mathrm{Skew}[W_\ell]^2,\qquad \lambda_K = 0.015,\ \lambda_S = 1.$$

*Group progressive guidance* (Sec. 3.3, `runner/trainer.py: QuantSuperNetTrainer.train_epoch`).  Each
step trains a chain of subnets: the largest (all 8 bit) on the labels, then random ones, then the
smallest (all 2 bit); each subnet after the first learns from the *previous* subnet's detached logits,

$$\mathcal L = \mathrm{CE}(z_1, y) + \sum_{k=2}^{K}\Big[\alpha\,\mathrm{KL}\big(\mathrm{softmax}(\bar z_{k-1})\,\|\,
\mathrm{softmax}(z_k)\big) + (1-\alpha)\,\mathrm{CE}(z_k, y)\Big] + \mathcal L_{\text{WDR}},\qquad \alpha=0.5,$$

so guidance flows progressively from high to low precision instead of from one distant teacher.

What is simplified / reconstructed
----------------------------------
Only the elastic bit width is exercised (per-layer weights in {2, 4, 8} bits, per-channel, symmetric);
the elastic granularity (per-tensor) and symmetry (asymmetric, with a learned offset β) of the official
quantizer are not built, activations stay in full precision, and the conditional accuracy predictor +
genetic search (Sec. 3.4) is replaced by evaluating all 27 subnets of a three-layer MLP directly (the
space is small enough to enumerate).  The official code's label smoothing and gradient clipping are left
out; everything else (K = 3 subnets per step, α, λ_K, λ_S, Adam) follows `configs/train-supernet.yaml`.

Notebook: notebooks/quantization/eq-net.ipynb
"""

from __future__ import annotations

import itertools

import numpy as np

from ....autograd.function import straight_through
from ....autograd.tensor import Tensor
from ....nn.module import Module, Parameter
from ..quantizers import as_float_array

CATALOG_ENTRY = {
    "slug": "eq-net",
    "title": "EQ-Net: Elastic Quantization Neural Networks",
    "authors": "Ke Xu, Lei Han, Ye Tian, Shangshang Yang, Xingyi Zhang",
    "year": 2023,
    "arxiv": "2308.07650",
    "family": "quantization",
    "notebook": "notebooks/quantization/eq-net.ipynb",
    "verified": "official-code",
    "verification_note": (
        "The paper's text beyond the abstract was not available to the search tools; the method was "
        "checked against the official repository xuke225/EQ-Net: the per-bit learned step sizes, their "
        "L2.4 min–max initialisation and the step-size gradient scale (module/base_lsq.py, "
        "LSQQuantizerForWeight), the kurtosis/skewness WDR loss with target kurtosis 1.8, first layer "
        "excluded (runner/criterion.py), the progressive chain of subnets each distilled from the "
        "previous one with KL + CE at α = 0.5 (runner/trainer.py, QuantSuperNetTrainer) and the rates "
        "λ_K = 0.015, λ_S = 1, 3 subnets per step (configs/train-supernet.yaml). Only elastic bit width "
        "is built; granularity/symmetry elasticity, activation quantization and the accuracy-predictor "
        "search are not."
    ),
    "summary": (
        "Train one weight-sharing quantization supernet whose layers can each run at any bit width "
        "(shared weights, one learned step size per width); a kurtosis/skewness regularizer makes the "
        "shared weights suit every width and a progressive distillation chain from high- to low-precision "
        "subnets aligns their outputs, so any subnet is usable without retraining."
    ),
    "equations": [
        "Ŵ = s_b·round(clip(W/s_b, −2^(b−1), 2^(b−1)−1)),  one learned s_b per width (LSQ)",
        "L_WDR = λ_K·mean_ℓ (Kurt[W_ℓ] − 1.8)² + λ_S·mean_ℓ Skew[W_ℓ]²",
        "L_GPG = CE(z_1, y) + Σ_k≥2 [α·KL(softmax(z̄_(k−1)) ‖ softmax(z_k)) + (1 − α)·CE(z_k, y)]",
    ],
}

BITS = (2, 4, 8)


# --- the elastic quantizer (Sec. 3.1; module/base_lsq.py) -----------------------------------------------------
def code_range(bits: int) -> tuple[int, int]:
    """Signed integer codes (q_n, q_p) = (−2^(b−1), 2^(b−1) − 1)."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _lp(a, b, p=2.4):
    return (np.abs(a - b) ** p).mean(-1)


def init_step(w, bits: int, n_shrink: int = 5) -> np.ndarray:
    """Per-output-channel step size (out, 1) from the weights: s = 2ρ·max|w_row|/(2^b − 1), ρ = 1 − 0.01i,
    i < n_shrink, the ρ with the smallest L_2.4 error per row (base_lsq.py: symmetric_init_for_per_channel)."""
    W = as_float_array(w, "init_step", "w").astype(np.float64)
    qn, qp = code_range(bits)
    wmax = np.abs(W).max(1, keepdims=True)
    best, scale = np.full_like(wmax, np.inf), np.ones_like(wmax)
    for i in range(n_shrink):
        s = 2 * wmax * (1 - 0.01 * i) / (qp - qn)  # scale = (max − min)/(q_p − q_n), min = −max
        err = _lp(np.clip(np.rint(W / s), qn, qp) * s, W)[:, None]
        upd = err < best
        best, scale = np.where(upd, err, best), np.where(upd, s, scale)
    return scale


def quantize_weight(w, s, bits: int) -> np.ndarray:
    """Ŵ = s·round(clip(w/s, q_n, q_p)) in NumPy (rounding half to even, np.rint)."""
    qn, qp = code_range(bits)
    w, s = np.asarray(w, np.float64), np.abs(np.asarray(s, np.float64))
    return np.clip(np.rint(w / s), qn, qp) * s


def grad_scale(x: Tensor, g: float) -> Tensor:
    """|x| forward, g·sign(x)·grad backward (base_lsq.py: grad_scale): y = (|x| − g|x|).detach() + g|x|."""
    y = x.abs()
    return (y - y * g).detach() + y * g


def lsq_quantize_t(w: Tensor, s: Tensor, bits: int) -> Tensor:
    """The differentiable elastic quantizer: Ŵ = s·round_STE(clip(w/s, q_n, q_p)) with the step size's
    gradient scaled by g = 2/√(q_p·d_out) (base_lsq.py: LSQQuantizerForWeight.forward, channel-wise)."""
    qn, qp = code_range(bits)
    d_out = w.shape[0]
    s = grad_scale(s, 2.0 / np.sqrt(qp * d_out))  # Sec. 3.1 (LSQ step size, one per width)
    v = (w / s).clip(qn, qp)
    return straight_through(v, np.rint(v.data)) * s  # round with the STE


# --- the WDR loss (Sec. 3.2; runner/criterion.py) -------------------------------------------------------------
def _standardized(w: Tensor) -> Tensor:
    flat = w.reshape(-1)
    n = flat.shape[0]
    mu = flat.mean()
    sd = (((flat - mu) ** 2).sum() / (n - 1)).sqrt()  # torch.std: unbiased
    return (flat - mu) / sd


def kurtosis_t(w: Tensor) -> Tensor:
    """mean(((w − μ)/σ)⁴), σ unbiased (criterion.py: KurtosisLossCalc)."""
    return (_standardized(w) ** 4).mean()


def skewness_t(w: Tensor) -> Tensor:
    """mean(((w − μ)/σ)³), σ unbiased (criterion.py: SkewnessLossCalc)."""
    return (_standardized(w) ** 3).mean()


def wdr_loss(weights, kurt_rate: float = 0.015, skew_rate: float = 1.0, target: float = 1.8) -> Tensor:
    """L_WDR over a list of weight Tensors, the first layer excluded (criterion.py: `del List[0]`)."""
    ws = list(weights)[1:]
    if not ws:
        raise ValueError("wdr_loss: needs at least two layers (the first is excluded)")
    kurt = sum(((kurtosis_t(w) - target) ** 2 for w in ws), Tensor(np.zeros((), ws[0].data.dtype)))
    skew = sum((skewness_t(w) ** 2 for w in ws), Tensor(np.zeros((), ws[0].data.dtype)))
    return kurt * (kurt_rate / len(ws)) + skew * (skew_rate / len(ws))  # Sec. 3.2


# --- the GPG loss (Sec. 3.3; runner/trainer.py, criterion.py: KLLossSoft) --------------------------------------
def soft_kl(z: Tensor, z_teacher, alpha: float, y=None) -> Tensor:
    """α·KL(softmax(z_teacher) ‖ softmax(z)) (batch mean) + (1 − α)·CE(z, y); z_teacher is a constant."""
    zt = np.asarray(z_teacher.data if isinstance(z_teacher, Tensor) else z_teacher, np.float64)
    zt = zt - zt.max(-1, keepdims=True)
    logp = zt - np.log(np.exp(zt).sum(-1, keepdims=True))
    p = np.exp(logp).astype(z.data.dtype)
    logq = z.log_softmax(-1)
    kl = ((Tensor(p) * (Tensor(logp.astype(z.data.dtype)) - logq)).sum(-1)).mean()
    if y is None or alpha == 1.0:
        return kl * alpha
    from ....nn import functional as F

    return kl * alpha + F.cross_entropy(z, y) * (1 - alpha)


def gpg_loss(logits: list, y, alpha: float = 0.5) -> Tensor:
    """CE on the first (largest) subnet, then each subnet guided by the previous one's detached logits."""
    from ....nn import functional as F

    loss = F.cross_entropy(logits[0], y)
    for prev, z in zip(logits[:-1], logits[1:]):
        loss = loss + soft_kl(z, prev.detach(), alpha, y)  # Sec. 3.3 (progressive chain)
    return loss


# --- the supernet ---------------------------------------------------------------------------------------------
class ElasticLinear(Module):
    """A Linear layer with shared weights and one learned per-channel step size per bit width."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, bits=BITS):
        super().__init__()
        self.weight = Parameter(np.array(weight, np.float32))
        self.bias = Parameter(np.array(bias, np.float32))
        self.bits = tuple(bits)
        for b in self.bits:
            setattr(self, f"step{b}", Parameter(init_step(weight, b).astype(np.float32)))
        self.active = max(self.bits)

    def step(self, bits: int) -> Parameter:
        return getattr(self, f"step{bits}")

    def reinit_steps(self, keep=()):
        """Re-initialise the step sizes of every width not in `keep` from the current weights."""
        for b in self.bits:
            if b not in keep:
                self.step(b).data[...] = init_step(self.weight.data, b)

    def forward(self, x):
        w = lsq_quantize_t(self.weight, self.step(self.active), self.active)
        return x.matmul(w.T) + self.bias


class ElasticMLP(Module):
    """Quantized MLP from a trained float MLP's Linear layers (ReLU between them); `set_config(bits)`
    selects the subnet (one width per layer)."""

    def __init__(self, linears, bits=BITS):
        super().__init__()
        from ....nn import ModuleList

        self.layers = ModuleList(ElasticLinear(w, b, bits) for w, b in linears)
        self.bits = tuple(bits)

    def set_config(self, config):
        config = tuple(int(c) for c in config)
        if len(config) != len(self.layers) or any(c not in self.bits for c in config):
            raise ValueError(f"set_config: need {len(self.layers)} widths from {self.bits}, got {config}")
        for layer, b in zip(self.layers, config):
            layer.active = b

    @property
    def config(self) -> tuple:
        return tuple(layer.active for layer in self.layers)

    def configs(self) -> list:
        """Every subnet of the space, in lexicographic order."""
        return list(itertools.product(self.bits, repeat=len(self.layers)))

    def weights(self):
        return [layer.weight for layer in self.layers]

    def forward(self, x):
        h = x if isinstance(x, Tensor) else Tensor(x)
        for i, layer in enumerate(self.layers):
            h = layer(h if i == 0 else h.relu())
        return h


class Sandwich(Module):
    """One training step's chain of subnets (trainer.py: largest, n_random random, smallest); forward returns
    their logits stacked (K, N, C).  The random subnets come from `rng` (seeded by the caller)."""

    def __init__(self, net: ElasticMLP, n_random: int = 1, seed: int = 0):
        super().__init__()
        self.net = net
        self.n_random = n_random
        self.rng = np.random.default_rng(seed)

    def chain(self) -> list:
        L, bits = len(self.net.layers), self.net.bits
        rand = [tuple(int(b) for b in self.rng.choice(bits, size=L)) for _ in range(self.n_random)]
        return [(max(bits),) * L, *rand, (min(bits),) * L]

    def forward(self, x):
        from .... import stack

        outs = []
        for config in self.chain():
            self.net.set_config(config)
            outs.append(self.net(x))
        return stack(outs, 0)


def eq_net_loss(net: ElasticMLP, alpha=0.5, kurt_rate=0.015, skew_rate=1.0, wdr=True, gpg=True):
    """loss_fn(stacked logits (K, N, C), y) of the supernet step: GPG (or, ablated, CE on every subnet)
    plus WDR (or nothing)."""
    from ....nn import functional as F

    def loss_fn(out, y):
        logits = [out[k] for k in range(out.shape[0])]
        if gpg:
            loss = gpg_loss(logits, y, alpha)
        else:
            loss = sum((F.cross_entropy(z, y) for z in logits[1:]), F.cross_entropy(logits[0], y))
        if wdr:
            loss = loss + wdr_loss(net.weights(), kurt_rate, skew_rate)
        return loss

    return loss_fn
