r"""PHNNs: parameterized hypercomplex convolutions — a convolution kernel as a sum of n Kronecker products,
with 1/n of the parameters.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below.  Official code: github.com/eleGAN23/HyperNets (`layers/ph_layers.py` `PHMConv2d`, `PHMLinear`;
`image-classification/hypercomplex_layers.py` `PHConv`).

The idea
--------
Quaternion convolutions share weights between the four components of a quaternion through the fixed
Hamilton-product rule, using 1/4 of the parameters of a real convolution.  A parameterized hypercomplex
convolution (PHC) *learns* the rule: the kernel $\mathbf H\in\mathbb R^{t\times s\times k\times k}$ of a
convolution from $s$ to $t$ channels is

$$\mathbf H = \sum_{i=1}^{n} \mathbf A_i \otimes \mathbf F_i,\qquad \mathbf A_i\in\mathbb R^{n\times n},\quad
\mathbf F_i\in\mathbb R^{\frac tn\times\frac sn\times k\times k},\qquad
\mathrm{PHC}(\mathbf x) = \mathbf H * \mathbf x + \mathbf b,$$

where the Kronecker product acts on the two channel axes (block $(p,q)$ of $\mathbf H$ is
$\sum_i A_i[p,q]\,\mathbf F_i$) and $*$ is the ordinary convolution.  The $\mathbf A_i$ encode the algebra
(its multiplication rule) and are learned; with $\mathbf A_i$ set to the Hamilton matrices PHC *is* a
quaternion convolution (n = 4).  Parameters: $n^3 + tsk^2/n$ instead of $tsk^2$ — "1/n" for large layers.
Fully connected PHM layers are the same with $k = 1$ (Zhang et al. 2021).

Equation numbers: the paper's Sec. III defines the PHC layer by the two formulas above; the exact equation
numbers could not be re-checked against the text here, so the formula lines below cite Sec. III.

What is simplified / deviations
-------------------------------
* ResNets/VGGs on CIFAR/SVHN become a small CNN on the 8×8 digits (`experiment.py`); the stem convolution (1 input channel,
  not divisible by n) and the 10-way classifier stay real-valued, as the paper does for layers whose sizes
  do not split; every other convolution and the hidden fully connected layer are PHC/PHM layers.
* Initialisation as the official `PHConv`/`PHMLinear`: A and F xavier-uniform over the whole 3-D/5-D tensor
  (PyTorch's fan rule), bias uniform(±1/√in).  The official `PHConv.forward` never adds its bias; we add it
  (a conv bias is what the paper's PHC(x) = H * x + b writes).

Verified: official-code — the Kronecker layout (A_i outer, F_i inner on the (out, in) channel axes; the
kernel axes untouched), sum over i, shapes (n, n, n) and (n, out/n, in/n, k, k), inits, checked against
`kronecker_product1`/`kronecker_product2` of `PHMConv2d` in eleGAN23/HyperNets; the Hamilton special case
checked by hand.
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd import ops
from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn import init
from ....nn.module import Module, Parameter

CATALOG_ENTRY = {
    "slug": "phnn",
    "title": "PHNNs: Lightweight Neural Networks via Parameterized Hypercomplex Convolutions",
    "authors": "Eleonora Grassucci, Aston Zhang, Danilo Comminiello",
    "year": 2022,
    "arxiv": "2110.04176",
    "family": "lowrank-peft-sharing",
    "notebook": "notebooks/lowrank-peft-sharing/phnn.ipynb",
    "verified": "official-code",
    "verification_note": (
        "PHC kernel H = Σ_i A_i ⊗ F_i on the channel axes, shapes A (n,n,n), F (n,out/n,in/n,k,k), xavier "
        "inits "
        "and the bias bound checked against PHMConv2d/PHMLinear in eleGAN23/HyperNets (layers/ph_layers.py, "
        "image-classification/hypercomplex_layers.py). Equation numbers not re-checked (formulas cite "
        "Sec. III). "
        "Deviation: the bias is added (the official PHConv.forward omits it)."
    ),
    "summary": (
        "A convolution kernel built as a sum of n Kronecker products H = Σ_i A_i ⊗ F_i between learned n×n "
        "'algebra' matrices A_i and filter blocks F_i with 1/n of the channels on each side: about 1/n of "
        "the "
        "parameters of a real convolution, a learned generalisation of quaternion convolutions."
    ),
    "equations": [
        "H = Σ_{i=1}^n A_i ⊗ F_i,  A_i ∈ R^{n×n},  F_i ∈ R^{t/n × s/n × k × k}     (Sec. III)",
        "PHC(x) = H * x + b                                                     (Sec. III)",
        "#params = n³ + t·s·k²/n (+ t bias)  vs  t·s·k² for a real convolution",
    ],
}


# --- the pieces, smallest first ---------------------------------------------------------------------
def phc_weight(A, Fs):
    """H = Σ_i A_i ⊗ F_i on the two leading (channel) axes of F_i; trailing (kernel) axes kept.

    A: (n, n, n); Fs: (n, t/n, s/n, *kernel) → H: (t, s, *kernel) with
    H[p·t/n + a, q·s/n + b] = Σ_i A_i[p,q] F_i[a,b]."""
    A = A if isinstance(A, Tensor) else Tensor(np.asarray(A))
    Fs = Fs if isinstance(Fs, Tensor) else Tensor(np.asarray(Fs))
    n = A.shape[0]
    if A.shape != (n, n, n):
        raise ValueError(f"phc_weight: A must have shape (n, n, n), got {tuple(A.shape)}")
    if Fs.ndim < 3 or Fs.shape[0] != n:
        raise ValueError(f"phc_weight: F must have shape (n={n}, t/n, s/n, *kernel), got {tuple(Fs.shape)}")
    o, i = Fs.shape[1], Fs.shape[2]
    kernel = tuple(Fs.shape[3:])
    ones = (1,) * len(kernel)
    a = ops.reshape(A, (n, n, 1, n, 1) + ones)
    f = ops.reshape(Fs, (n, 1, o, 1, i) + kernel)
    prod = (a * f).sum(axis=0)  # Σ_i A_i ⊗ F_i  (Sec. III)
    return ops.reshape(prod, (n * o, n * i) + kernel)


def hamilton_rule(dtype=np.float64) -> np.ndarray:
    """The four 4×4 matrices of the Hamilton product (r, x·i, y·j, z·k): with them, Σ A_i ⊗ F_i is the
    real form [[r,−x,−y,−z],[x,r,−z,y],[y,z,r,−x],[z,−y,x,r]] of a quaternion weight."""
    r = np.eye(4)
    x = np.array([[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, -1], [0, 0, 1, 0]])
    y = np.array([[0, 0, -1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, -1, 0, 0]])
    z = np.array([[0, 0, 0, -1], [0, 0, -1, 0], [0, 1, 0, 0], [1, 0, 0, 0]])
    return np.stack([r, x, y, z]).astype(dtype)


def phc_param_count(n: int, out_channels: int, in_channels: int, kernel: int = 1, bias: bool = True) -> int:
    """n³ + t·s·k²/n (+ t): the count of a PHC (k > 1) or PHM (k = 1) layer."""
    if out_channels % n or in_channels % n:
        raise ValueError(
            f"phc_param_count: channels ({out_channels}, {in_channels}) must be divisible by n={n}"
        )
    return n**3 + out_channels * in_channels * kernel * kernel // n + (out_channels if bias else 0)


def _xavier(shape, rng, dtype):
    t = Parameter(np.empty(shape, dtype=dtype))
    init.xavier_uniform_(t, rng=rng)
    return t


class _PHBase(Module):
    def __init__(self, n, in_features, out_features, kernel, bias, dtype, rng):
        super().__init__()
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`n` must be an int ≥ 1, got {n!r}")
        if in_features % n or out_features % n:
            raise ValueError(
                f"{type(self).__name__}: in={in_features} and out={out_features} channels must be "
                f"divisible by n={n}"
            )
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self.n, self.in_features, self.out_features, self.kernel = int(n), in_features, out_features, kernel
        self.A = _xavier((n, n, n), rng, dtype)
        self.F = _xavier(
            (n, out_features // n, in_features // n) + (kernel, kernel) * (kernel > 0), rng, dtype
        )
        bound = 1.0 / math.sqrt(in_features)  # official: fan_in of a zero (out, in) placeholder
        self.bias = Parameter(rng.uniform(-bound, bound, size=out_features).astype(dtype)) if bias else None

    @property
    def weight(self):
        return phc_weight(self.A, self.F)

    def num_parameters_formula(self) -> int:
        return phc_param_count(
            self.n, self.out_features, self.in_features, max(self.kernel, 1), self.bias is not None
        )


class PHConv2d(_PHBase):
    """Parameterized hypercomplex 2-D convolution: H = Σ A_i ⊗ F_i, y = H * x + b."""

    def __init__(
        self,
        n: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__(n, in_channels, out_channels, kernel_size, bias, dtype, rng)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(
            x, self.weight, self.bias, stride=self.stride, padding=self.padding
        )  # PHC(x) = H*x + b

    def extra_repr(self):
        return f"n={self.n}, {self.in_features}→{self.out_features}, k={self.kernel}"


class PHLinear(_PHBase):
    """Parameterized hypercomplex fully connected layer (PHM): W = Σ A_i ⊗ S_i, y = x Wᵀ + b."""

    def __init__(
        self, n: int, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, rng=None
    ):
        super().__init__(n, in_features, out_features, 0, bias, dtype, rng)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"n={self.n}, {self.in_features}→{self.out_features}"
