r"""PHNNs: parameterized hypercomplex convolutions — a convolution kernel as a sum of n Kronecker products,
with 1/n of the parameters.

Paper: *PHNNs: Lightweight Neural Networks via Parameterized Hypercomplex Convolutions* — Eleonora
Grassucci, Aston Zhang, Danilo Comminiello, IEEE TNNLS 2022.
arXiv: 2110.04176
Official code: github.com/eleGAN23/HyperNets (`layers/ph_layers.py` `PHMConv2d`, `PHMLinear`;
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
* ResNets/VGGs on CIFAR/SVHN become a small CNN on the 8×8 digits; the stem convolution (1 input channel,
  not divisible by n) and the 10-way classifier stay real-valued, as the paper does for layers whose sizes
  do not split; every other convolution and the hidden fully connected layer are PHC/PHM layers.
* Initialisation as the official `PHConv`/`PHMLinear`: A and F xavier-uniform over the whole 3-D/5-D tensor
  (PyTorch's fan rule), bias uniform(±1/√in).  The official `PHConv.forward` never adds its bias; we add it
  (a conv bias is what the paper's PHC(x) = H * x + b writes).

Verified: official-code — the Kronecker layout (A_i outer, F_i inner on the (out, in) channel axes; the
kernel axes untouched), sum over i, shapes (n, n, n) and (n, out/n, in/n, k, k), inits, checked against
`kronecker_product1`/`kronecker_product2` of `PHMConv2d` in eleGAN23/HyperNets; the Hamilton special case
checked by hand.

Notebook: notebooks/lowrank-peft-sharing/phnn.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor
from ...catalog import ReferenceCase
from ...nn import functional as F
from ...nn import init
from ...nn.module import Module, Parameter
from ...threads import blas_single_thread

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


# --- the toy experiment ------------------------------------------------------------------------------------
INNER = (2, 5, 9)  # positions in `make_cnn` of the layers that become PHC/PHM layers


def make_cnn(n: int | None, width: int = 16, seed: int = 0):
    """1×8×8 → conv(1→w) → PH/real conv(w→2w) → pool → PH/real conv(2w→2w) → pool → PH/real linear(8w→4w)
    → 10.
    n=None: every layer real-valued."""
    from ...nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential

    rng = np.random.default_rng(seed)

    def conv(cin, cout):
        return (
            Conv2d(cin, cout, 3, padding=1, rng=rng)
            if n is None
            else PHConv2d(n, cin, cout, 3, padding=1, rng=rng)
        )

    def lin(fin, fout):
        return Linear(fin, fout, rng=rng) if n is None else PHLinear(n, fin, fout, rng=rng)

    w = width
    return Sequential(
        Conv2d(1, w, 3, padding=1, rng=rng),
        ReLU(),
        conv(w, 2 * w),
        ReLU(),
        MaxPool2d(2),
        conv(2 * w, 2 * w),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        lin(8 * w, 4 * w),
        ReLU(),
        Linear(4 * w, 10, rng=rng),
    )


def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Real CNN vs PHC CNNs (n = 2, 4) vs a narrower real CNN with about the parameters of PHC n = 4, on the
    10-class digits."""
    with blas_single_thread():
        return _demo(seed, quick, progress)


def _demo(seed, quick, progress):
    from ...data import load_digits
    from ...nn import functional as Fn
    from ...optim import Adam
    from ...train import evaluate, fit, progress_bar

    split = load_digits(seed=seed, flatten=False)
    xtr, xte = split.x_train.reshape(-1, 1, 8, 8), split.x_test.reshape(-1, 1, 8, 8)
    epochs, batch, lr = (8, 64, 3e-3) if quick else (15, 32, 2e-3)
    configs = [
        ("real (w=16)", None, 16),
        ("PHC n=2 (w=16)", 2, 16),
        ("PHC n=4 (w=16)", 4, 16),
        ("real, narrow (w=8)", None, 8),
    ]
    rows = []
    for name, n, w in progress_bar(configs, total=len(configs), desc="models", enabled=progress):
        model = make_cnn(n, w, seed)
        fit(
            model,
            Fn.cross_entropy,
            (xtr, split.y_train),
            Adam(model.parameters(), lr=lr),
            epochs=epochs,
            batch_size=batch,
            seed=seed,
            progress=False,
        )
        inner = sum(p.data.size for i in INNER for p in model[i].parameters())  # the PH-replaceable layers
        rows.append(
            {
                "model": name,
                "n": n or 1,
                "params": int(sum(p.data.size for p in model.parameters())),
                "params_inner_layers": int(inner),
                "test_acc": evaluate(model, xte, split.y_test)["accuracy"],
            }
        )
    acc = {r["model"]: r["test_acc"] for r in rows}
    inner = {r["model"]: r["params_inner_layers"] for r in rows}
    real, p2, p4, narrow = (acc[c[0]] for c in configs)
    metrics = {
        "acc_real": real,
        "acc_phc_n2": p2,
        "acc_phc_n4": p4,
        "acc_real_narrow": narrow,
        "inner_param_ratio_n2": inner["PHC n=2 (w=16)"] / inner["real (w=16)"],
        "inner_param_ratio_n4": inner["PHC n=4 (w=16)"] / inner["real (w=16)"],
        "params_real": float(rows[0]["params"]),
        "params_phc_n4": float(rows[2]["params"]),
        "params_real_narrow": float(rows[3]["params"]),
    }
    holds = bool(metrics["inner_param_ratio_n4"] < 0.3 and p4 >= real - 0.02 and p2 >= real - 0.02)
    return {
        "metrics": metrics,
        "table": rows,
        "claim": {
            "statement": (
                "PHC layers use about 1/n of the parameters (n = 2, 4) and the PHC network keeps the "
                "real network's accuracy (within 2 points) on the digits."
            ),
            "holds": holds,
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in result["table"]:
        ax.scatter(r["params"], r["test_acc"], s=45)
        ax.annotate(
            r["model"], (r["params"], r["test_acc"]), fontsize=8, xytext=(3, 3), textcoords="offset points"
        )
    ax.set_xscale("log")
    ax.set_xlabel("total parameters")
    ax.set_ylabel("test accuracy (digits)")
    ax.set_title("PHC networks: accuracy vs parameters")
    fig.tight_layout()
    return {"phnn": fig}


def reference_cases() -> list:
    def hamilton_case(Fs):
        return {"H": phc_weight(hamilton_rule(), Fs).data}

    def count_case(n, out_channels, in_channels, kernel):
        return {"count": phc_param_count(n, out_channels, in_channels, kernel)}

    def block_case(A, Fs):
        return {"H": phc_weight(A, Fs).data}

    r, x, y, z = 1.0, 2.0, 3.0, 4.0  # one quaternion weight per channel block (1×1 blocks, 1×1 kernel)
    Fq = np.array([r, x, y, z]).reshape(4, 1, 1, 1, 1)
    Hq = np.array([[r, -x, -y, -z], [x, r, -z, y], [y, z, r, -x], [z, -y, x, r]]).reshape(4, 4, 1, 1)
    # n = 2, F_i of shape (1, 1, 2, 2): block (p, q) of H is Σ_i A_i[p, q] F_i
    A2 = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 2.0], [-1.0, 0.0]]])
    F2 = np.array([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.5, 0.0], [0.0, 0.5]]]]).reshape(2, 1, 1, 2, 2)
    k1, k2 = F2[0, 0, 0], F2[1, 0, 0]
    H2 = np.stack([np.stack([k1, 2 * k2]), np.stack([-k2, k1])])
    return [
        ReferenceCase(
            "hamilton_rule_gives_quaternion_conv",
            {"Fs": Fq},
            {"H": Hq},
            hamilton_case,
            note="by hand: real matrix of left multiplication by r + xi + yj + zk",
            atol=0,
        ),
        ReferenceCase(
            "n2_kernel_blocks",
            {"A": A2, "Fs": F2},
            {"H": H2},
            block_case,
            note="by hand: H[p,q] = A_1[p,q]·K1 + A_2[p,q]·K2 with A_1 = I, A_2 = [[0,2],[-1,0]]",
            atol=0,
        ),
        ReferenceCase(
            "param_count_n4_32x16_k3",
            {"n": 4, "out_channels": 32, "in_channels": 16, "kernel": 3},
            {"count": np.array(64 + 32 * 16 * 9 // 4 + 32)},
            count_case,
            note="arithmetic: 4³ + 4608/4 + 32 = 64 + 1152 + 32 = 1248 (real conv: 4608 + 32)",
            atol=0,
        ),
    ]
