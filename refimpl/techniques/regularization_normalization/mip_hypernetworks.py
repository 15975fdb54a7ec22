r"""Magnitude Invariant Parametrizations (MIP) for hypernetworks.

Paper: *Magnitude Invariant Parametrizations Improve Hypernetwork Learning* — Jose Javier Gonzalez Ortiz,
John Guttag, Adrian V. Dalca, ICLR 2024.
arXiv: 2304.07645
Official code: github.com/JJGO/hyperlight (`hyperlight/hypernet/encoding.py`, `model.py`,
`initialization.py`).

The idea
--------
A hypernetwork h_φ maps a conditioning input γ (here a loss-mixing weight in [0, 1]) to the weights
θ = h_φ(γ) of a primary network.  With the usual parametrization — raw γ in, weights out — the
magnitude of the predicted weights is proportional to the magnitude of the input: a ReLU-family MLP
with zero-initialised biases is positively homogeneous, so θ(c·γ) = c·θ(γ) at initialisation, and
θ(0) = 0.  Weights (and their gradients) then vary wildly with γ, and training is slow and unstable.
MIP fixes it with two changes:

1. **Constant-norm input encoding**: γ ↦ [cos(πγ/2), sin(πγ/2)], whose norm is 1 for every γ;
2. **Additive (residual) output**: θ(γ) = θ₀ + h_φ(enc(γ)), with θ₀ independent learnable weights
   initialised as for an ordinary primary network (Kaiming-normal weights, zero biases); h_φ predicts
   a change of the weights.  In hyperlight θ₀ is the bias of the hypernetwork's output layer.

What is simplified
------------------
The paper's tasks (Bayesian NN, image registration with a regularisation weight, …) become a 1-D
regression: a 1-16-16-1 tanh primary MLP fits noisy sin(3x) with the loss
L_γ = (1 − γ)·MSE + γ·mean((f(x_{i+1}) − f(x_i))/Δx)² (data term vs a smoothness term), γ ~ U[0, 1]
each step, as the catalogue suggests; hypernetwork 16-16 LeakyReLU; Adam.

Verified: official-code — encoding (cos|sin of πz/2, hyperlight/hypernet/encoding.py), residual θ₀ held
in the output-layer bias and its Kaiming-normal/zeros initialisation (model.py `init_independent_weights`,
initialization.py), backbone init Kaiming-normal fan-out; the toy task is ours.

Notebook: notebooks/regularization-normalization/mip-hypernetworks.ipynb
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import ops
from ...autograd.tensor import Tensor, no_grad
from ...catalog import ReferenceCase
from ...nn.module import Module
from ...threads import one_blas_thread

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
        "cos|sin input encoding, residual independent weights θ0 in the output bias (Kaiming-normal weights, "
        "zero biases) and backbone Kaiming fan-out init read in JJGO/hyperlight (hypernet/encoding.py, "
        "model.py, initialization.py); the 1-D regression task is our toy."
    ),
    "summary": (
        "A hypernetwork's predicted weights scale with its input's magnitude, which makes training slow and "
        "unstable. Encode the input with constant norm ([cos(πγ/2), sin(πγ/2)]) and predict a residual on "
        "top of independently learned weights θ0: θ(γ) = θ0 + h(enc(γ))."
    ),
    "equations": [
        "naive: θ(γ) = h_φ(γ);  with ReLU-family h and zero biases, θ(cγ) = c θ(γ), θ(0) = 0",
        "enc(γ) = [cos(πγ/2), sin(πγ/2)],  ‖enc(γ)‖ = 1",
        "MIP: θ(γ) = θ0 + h_φ(enc(γ))",
        "L_γ = (1 − γ) MSE(f_θ(γ)) + γ R_smooth(f_θ(γ))",
    ],
}


# --- the two pieces, smallest first -------------------------------------------------------------------
def encode(gamma) -> np.ndarray:
    """γ (…,) in [0, 1] → (…, 2) = [cos(πγ/2), sin(πγ/2)], norm 1."""
    g = np.asarray(gamma, dtype=np.float64)
    if np.any(g < 0) or np.any(g > 1):
        raise ValueError(f"encode: `gamma` must lie in [0, 1], got values in [{g.min()}, {g.max()}]")
    return np.stack([np.cos(np.pi * g / 2), np.sin(np.pi * g / 2)], axis=-1)


PRIMARY_SHAPES = (
    ("w1", (16, 1)),
    ("b1", (16,)),
    ("w2", (16, 16)),
    ("b2", (16,)),
    ("w3", (1, 16)),
    ("b3", (1,)),
)
N_PRIMARY = sum(int(np.prod(s)) for _, s in PRIMARY_SHAPES)


def unflatten(theta):
    """Flat θ (P,) Tensor → dict of primary-network tensors."""
    out, i = {}, 0
    for name, shape in PRIMARY_SHAPES:
        n = int(np.prod(shape))
        out[name] = ops.reshape(theta[i : i + n], shape)
        i += n
    return out


def primary(theta, x):
    """The primary 1-16-16-1 tanh MLP with weights θ (flat Tensor) on x (n, 1)."""
    p = unflatten(theta)
    h = ops.tanh(ops.linear(x, p["w1"], p["b1"]))
    h = ops.tanh(ops.linear(h, p["w2"], p["b2"]))
    return ops.linear(h, p["w3"], p["b3"])


def init_primary_flat(rng) -> np.ndarray:
    """θ₀ as an ordinary network would start: Kaiming-normal (leaky_relu gain, fan-in) weights, zero biases."""
    parts = []
    for name, shape in PRIMARY_SHAPES:
        if name.startswith("w"):
            parts.append(rng.normal(0.0, math.sqrt(2.0) / math.sqrt(shape[1]), size=shape).ravel())
        else:
            parts.append(np.zeros(shape).ravel())
    return np.concatenate(parts)


class HyperNet(Module):
    """γ → θ.  mip=False: raw γ in, θ = out(h) (output bias 0 at init); mip=True: enc(γ) in, θ = θ₀ + out(h)
    with θ₀ the output layer's bias (independent weights)."""

    def __init__(self, mip: bool, hidden=(16, 16), rng=None):
        super().__init__()
        from ...nn.layers.linear import Linear

        rng = np.random.default_rng(rng)
        self.mip = mip
        sizes = [2 if mip else 1, *hidden, N_PRIMARY]
        self.layers = [Linear(a, b, dtype=np.float64, rng=rng) for a, b in zip(sizes[:-1], sizes[1:])]
        for i, lin in enumerate(self.layers):
            setattr(self, f"lin{i}", lin)
            # hyperlight: Kaiming-normal fan-out (leaky_relu gain; linear gain for the output), zero bias
            gain = 1.0 if i == len(self.layers) - 1 else math.sqrt(2.0)
            lin.weight.data[...] = rng.normal(
                0.0, gain / math.sqrt(lin.weight.shape[0]), size=lin.weight.shape
            )
            lin.bias.data[...] = 0.0
        if mip:
            self.layers[-1].bias.data[...] = init_primary_flat(rng)  # θ₀: the residual's base weights

    def forward(self, gamma: float):
        inp = encode([gamma]) if self.mip else np.array([[float(gamma)]])
        h = Tensor(inp)
        for lin in self.layers[:-1]:
            h = ops.leaky_relu(lin(h), 0.01)
        return self.layers[-1](h)[0]  # θ = θ₀ + W h (MIP), or W h + b with b = 0 at init (naive)


# --- the toy experiment ------------------------------------------------------------------------------
def make_task(seed, n=64, noise=0.1):
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n)[:, None]
    y = np.sin(3 * x) + noise * rng.normal(size=x.shape)
    return x, y


def mixed_loss(theta, x, y, gamma):
    """(1 − γ)·MSE + γ·mean((Δf/Δx)²) on the sorted grid x."""
    f = primary(theta, Tensor(x))
    d = f - Tensor(y)
    mse = ops.mean(d * d)
    dx = float(x[1, 0] - x[0, 0])
    df = (f[1:] - f[:-1]) * (1.0 / dx)
    smooth = ops.mean(df * df)
    return mse * (1.0 - gamma) + smooth * gamma


def train(net, x, y, steps, lr, seed, eval_gammas, eval_every=25):
    from ...optim import Adam

    rng = np.random.default_rng(seed + 12345)
    opt = Adam(list(net.parameters()), lr=lr)
    losses, evals = [], []
    for step in range(steps):
        g = float(rng.uniform(0, 1))
        opt.zero_grad()
        loss = mixed_loss(net(g), x, y, g)
        losses.append(float(loss.data))
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps - 1:
            evals.append((step, evaluate(net, x, y, eval_gammas)))
    return np.array(losses), evals


def evaluate(net, x, y, gammas) -> np.ndarray:
    with no_grad():
        return np.array([float(mixed_loss(net(g), x, y, g).data) for g in gammas])


def init_norm_ratio(net, lo=0.1, hi=1.0) -> float:
    """‖θ(hi)‖ / ‖θ(lo)‖ — exactly hi/lo for a naive ReLU-family hypernetwork with zero biases."""
    with no_grad():
        return float(np.linalg.norm(net(hi).data) / np.linalg.norm(net(lo).data))


@one_blas_thread
def demo(seed: int = 0, quick: bool = False, progress: bool = True) -> dict:
    """Naive vs MIP hypernetwork on the γ-conditioned 1-D regression, over seeds."""
    x, y = make_task(seed)
    gammas = np.linspace(0, 1, 11)
    steps = 400 if quick else 2500
    seeds = [seed] if quick else [seed, seed + 1, seed + 2]
    rows, curves, final = [], {}, {"naive": [], "mip": []}
    for s in seeds:
        for name, mip in (("naive", False), ("mip", True)):
            net = HyperNet(mip, rng=s)
            ratio = init_norm_ratio(net)
            losses, evals = train(net, x, y, steps, 3e-3, s, gammas)
            fin = evals[-1][1]
            final[name].append(fin)
            if s == seed:
                curves[name] = {
                    "steps": [e[0] for e in evals],
                    "mean_loss": [float(e[1].mean()) for e in evals],
                    "train": losses,
                    "final_per_gamma": fin,
                }
            rows.append(
                {
                    "seed": s,
                    "hypernet": name,
                    "mean_loss_over_gamma": float(fin.mean()),
                    "loss_gamma_0": float(fin[0]),
                    "loss_gamma_0.1": float(fin[1]),
                    "loss_gamma_1": float(fin[-1]),
                    "init_norm_ratio_theta1_over_theta0.1": ratio,
                    "train_loss_std_last_100": float(np.std(losses[-100:])),
                }
            )
    fn, fm = np.array(final["naive"]), np.array(final["mip"])
    thr = 1.5 * float(fm.mean(axis=0).mean())  # steps to reach 1.5 × MIP's final mean loss

    def first_below(c):
        hit = [st for st, v in zip(c["steps"], c["mean_loss"]) if v <= thr]
        return float(hit[0]) if hit else float(steps)

    metrics = {
        "mean_loss_naive": float(fn.mean()),
        "mean_loss_mip": float(fm.mean()),
        "loss_gamma0_naive": float(fn[:, 0].mean()),
        "loss_gamma0_mip": float(fm[:, 0].mean()),
        "worst_gamma_loss_naive": float(fn.mean(0).max()),
        "worst_gamma_loss_mip": float(fm.mean(0).max()),
        "steps_to_threshold_naive": first_below(curves["naive"]),
        "steps_to_threshold_mip": first_below(curves["mip"]),
    }
    metrics["init_norm_ratio_naive"] = float(
        np.mean([r["init_norm_ratio_theta1_over_theta0.1"] for r in rows if r["hypernet"] == "naive"])
    )
    metrics["init_norm_ratio_mip"] = float(
        np.mean([r["init_norm_ratio_theta1_over_theta0.1"] for r in rows if r["hypernet"] == "mip"])
    )
    faster = metrics["steps_to_threshold_mip"] < metrics["steps_to_threshold_naive"]
    no_worse = metrics["mean_loss_mip"] <= 1.05 * metrics["mean_loss_naive"]
    invariant = abs(metrics["init_norm_ratio_mip"] - 1) < 0.5 < abs(metrics["init_norm_ratio_naive"] - 1)
    return {
        "metrics": metrics,
        "table": rows,
        "curves": curves,
        "gammas": gammas,
        "checks": {
            "converges_faster": faster,
            "final_loss_no_worse": no_worse,
            "magnitude_invariant_at_init": invariant,
            "lower_loss_at_gamma0": metrics["loss_gamma0_mip"] < metrics["loss_gamma0_naive"],
        },
        "claim": {
            "statement": "With MIP the predicted weights' size no longer scales with the input (‖θ(1)‖/‖θ(0.1)‖ ≈ 1 "
            "instead of 10 at init), training converges faster (fewer steps to 1.5× the final "
            "loss averaged over γ), and the final loss is no worse (within 5%).",
            "holds": bool(faster and no_worse and invariant),
        },
    }


def plot(result) -> dict:
    from ...plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, c in result["curves"].items():
        axes[0].plot(c["steps"], c["mean_loss"], label=name)
        axes[1].plot(result["gammas"], c["final_per_gamma"], "o-", label=name)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss averaged over γ ∈ {0, 0.1, …, 1}")
    axes[0].legend()
    axes[1].set_yscale("log")
    axes[1].set_xlabel("γ")
    axes[1].set_ylabel("final loss L_γ")
    axes[1].legend()
    fig.tight_layout()
    return {"mip-hypernetworks": fig}


def reference_cases() -> list:
    def enc(gamma):
        return {
            "encoding": encode(np.asarray(gamma)),
            "norm": np.linalg.norm(encode(np.asarray(gamma)), axis=-1),
        }

    def zero_output(seed):
        net = HyperNet(True, rng=seed)
        theta0 = net.layers[-1].bias.data.copy()
        net.layers[-1].weight.data[...] = 0.0  # the residual branch outputs zero
        with no_grad():
            return {"theta_minus_theta0": np.abs(net(0.3).data - theta0).max()}

    r = math.sqrt(0.5)
    return [
        ReferenceCase(
            "encoding",
            {"gamma": [0.0, 0.5, 1.0]},
            {"encoding": np.array([[1.0, 0.0], [r, r], [0.0, 1.0]]), "norm": np.ones(3)},
            enc,
            note="by hand: cos/sin of 0, π/4, π/2",
            atol=1e-12,
        ),
        ReferenceCase(
            "zero_residual_returns_theta0",
            {"seed": 0},
            {"theta_minus_theta0": np.array(0.0)},
            zero_output,
            note="with a zero output weight the MIP hypernetwork returns θ₀ exactly",
            atol=0.0,
        ),
    ]
