r"""μP for diffusion transformers: which weight of a DiT gets which μP rule, so that the learning rate tuned on
a narrow denoiser transfers to a wide one.

The paper card is `CATALOG_ENTRY` below.  The μP rules themselves (init, multipliers and Adam learning-rate
scaling in the SP form relative to a base width, from microsoft/mup) are the family's `parametrization.py`;
μP for a plain MLP is the `mup` technique.  What this paper adds is the *role assignment* for the parts a
vanilla Transformer does not have — the diffusion timestep (and class / text) conditioning — and the
statement that, with those roles, a DiT's μP is the vanilla Transformer's (Theorem 3.1, proved with the
Ne⊗or⊤ program), so μTransfer applies to denoising training unchanged.

Roles (DiT/models_mup.py of the official code, ML-GSAI/Scaling-Diffusion-Transformers-muP)
----------------------------------------------------------------------------------------
A weight is *input-like* when only its fan-out grows with width, *hidden* when both fans do, *output* when
only its fan-in does.  In a DiT:

* the patch embedder ``x_embedder`` — input weights (line 219, init fan-in Kaiming at line 239);
* the timestep embedder ``t_embedder.mlp[0]`` (sinusoidal features of fixed size 256 → width) — **input**
  weights (line 35; line 44: "we can not use xavier initialization here", since Xavier would make its init
  depend on the growing fan-out); ``t_embedder.mlp[2]`` (width → width) — **hidden** weights (lines 37, 45);
* the label embedding table — input weights (line 85);
* attention, MLP and the adaLN modulation (width → 6·width) — hidden weights (lines 118-125, 151, 173);
* the final projection — output weights, a ``MuReadout`` (multiplier ``output_mult / width_mult``),
  zero-initialised (lines 169-170, 182).

Training uses ``MuAdamW`` (DiT/train_mup.py:192), i.e. under Adam: hidden weights' learning rate ÷ m
(m = width / base width), input and output weights at the base rate, readout multiplier 1/m.

The toy denoiser (`DiTMLPDenoiser`) keeps exactly these roles on a 2-D problem, with an MLP trunk instead
of attention (a token-free DiT: one "token", so attention would reduce to a linear map anyway):

    e_x = W_x x_t                                     input   (x_embedder)
    c   = W_t2 · silu(W_t1 · φ(t))                    input, hidden   (t_embedder.mlp[0], mlp[2])
    h   = silu(e_x + c);  h ← silu(W_h h)  (× depth)  hidden  (the blocks)
    ε̂   = (α/m) · W_o h                               output  (MuReadout, W_o = 0 at init)

where φ(t) = [cos(t ω_k), sin(t ω_k)], ω_k = P^{-k/K} (DiT's ``timestep_embedding``, computed outside the
network as a parameter-free featurisation, so the denoiser's input is the concatenation [x_t, φ(t)]).
`roles=` lets one reassign any part — the experiment's ablation gives the time path standard (SP) rules,
i.e. μP applied only to the data path, the assignment the paper's role analysis rules out.

Deviations: conditioning is additive (c joins the residual stream once, as U-ViT's time token or DiT's
``c = t + y``) instead of adaLN modulation (an adaLN layer is another hidden weight; it adds nothing to the
role question); biases start at 0 under every rule (see parametrization.py); depth is small.
"""

from __future__ import annotations

import math

import numpy as np

from ....autograd.tensor import Tensor
from ....nn import functional as F
from ....nn.layers.container import ModuleList
from ....nn.module import Module
from ..parametrization import OPTIMIZERS, PARAMETRIZATIONS, ScaledLinear, layer_rule, param_groups

CATALOG_ENTRY = {
    "slug": "dit-mup",
    "title": "Scaling Diffusion Transformers Efficiently via μP",
    "authors": "Chenyu Zheng, Xinyu Zhang, Rongzhen Wang, Wei Huang, Zhi Tian, Weilin Huang, Jun Zhu, "
    "Chongxuan Li",
    "year": 2025,
    "arxiv": "2505.15270",
    "family": "growth-init-scaling",
    "notebook": "notebooks/growth-init-scaling/dit-mup.ipynb",
    "verified": "official-code",
    "verification_note": (
        "arXiv id, title and authors confirmed on the arXiv abstract page (v1 21 May 2025, v3 31 Oct 2025; "
        "NeurIPS 2025). The role of every DiT weight was read in the official code "
        "ML-GSAI/Scaling-Diffusion-Transformers-muP (commit 6d1583d): DiT/models_mup.py:35-37 and 44-45 "
        "(timestep embedder: first layer input weights with fan-in Kaiming init, second hidden), 85 (label "
        "embedding: input), 118-125 and 151 (attention, MLP, adaLN modulation: hidden), 169-170 and 182 "
        "(final layer: MuReadout, zero-initialised), 219 and 239 (patch embedder: input, fan-in init); "
        "DiT/train_mup.py:192 (MuAdamW). The μP rules those roles select are microsoft/mup's, implemented "
        "and cited in growth_init_scaling/parametrization.py. The paper's text was read only in its "
        "abstract and in summaries naming Theorem 3.1 (DiT, U-ViT, PixArt-α, MMDiT are Ne⊗or⊤ programs, "
        "so their μP is the vanilla Transformer's) and Table 1 (the abc-parametrization of μP); the "
        "equation numbers below are those names, not re-read. The toy (2-D two-moons DDPM with an MLP "
        "denoiser, widths 32-256) is ours."
    ),
    "summary": (
        "Extends μP to diffusion transformers (DiT, U-ViT, PixArt-α, MMDiT): the timestep and condition "
        "embedders' first layers are input-like weights, their width→width layers and the adaLN "
        "modulation hidden weights, the final projection a zero-initialised μP readout; with these roles "
        "a diffusion transformer's μP equals the vanilla Transformer's, so the learning rate tuned on a "
        "small proxy transfers across width (μTransfer) for the denoising objective."
    ),
    "equations": [
        "W = n^{-a} w,  w ~ N(0, σ² n^{-2b}),  lr = η n^{-c}  (abc-parametrization, Table 1)",
        "Adam μP (SP form, m = n/n₀): hidden lr η/m; input, output lr η; readout y = (α/m) W h  (Table 1)",
        "roles: x-embedder, t-embedder layer 1 (φ(t) → n) input; t-embedder layer 2, blocks, adaLN hidden; "
        "final layer output, W₀ = 0  (Sec. 3, Thm 3.1)",
        "φ(t) = [cos(t ω_k), sin(t ω_k)],  ω_k = P^{-k/K}  (DiT timestep embedding)",
        "x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,  L = E‖ε − ε_θ(x_t, t)‖²  (DDPM noise prediction)",
    ],
}

__all__ = [
    "PARTS",
    "DIT_ROLES",
    "timestep_features",
    "ddpm_schedule",
    "noised",
    "part_rules",
    "DiTMLPDenoiser",
    "dit_mup_denoiser",
    "dit_mup_optimizer",
]

# The parts of the toy DiT and the μP role of each (DiT/models_mup.py:35-37, 118-125, 169-170, 219)
PARTS = ("x_embed", "t_embed_1", "t_embed_2", "block", "final")
DIT_ROLES = {
    "x_embed": "input",
    "t_embed_1": "input",
    "t_embed_2": "hidden",
    "block": "hidden",
    "final": "output",
}


def timestep_features(t, dim: int = 16, max_period: float = 10000.0) -> np.ndarray:
    """DiT's sinusoidal timestep embedding: [cos(t ω_k), sin(t ω_k)], ω_k = max_period^{-k/(dim/2)},
    k = 0 … dim/2 − 1 (DiT/models_mup.py:52-70; GLIDE's form).  `t` (N,) → (N, dim); `dim` even."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"timestep_features: `t` must be 1-D, got shape {t.shape}")
    if not isinstance(dim, (int, np.integer)) or dim < 2 or dim % 2:
        raise ValueError(f"timestep_features: `dim` must be an even int ≥ 2, got {dim!r}")
    if not max_period > 1:
        raise ValueError(f"timestep_features: `max_period` must be > 1, got {max_period!r}")
    half = dim // 2
    omega = np.exp(-math.log(max_period) * np.arange(half) / half)  # ω_k = P^{-k/K}
    args = t[:, None] * omega[None, :]
    return np.concatenate([np.cos(args), np.sin(args)], axis=1)


def ddpm_schedule(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> np.ndarray:
    """ᾱ_t = Π_{s ≤ t} (1 − β_s) for DDPM's linear β schedule (Ho et al. 2020: T = 1000, β from 1e-4 to
    0.02); returns ᾱ of shape (T,), indexed by t = 0 … T−1."""
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"ddpm_schedule: `T` must be an int ≥ 1, got {T!r}")
    if not (0 < beta_1 <= beta_T < 1):
        raise ValueError(f"ddpm_schedule: need 0 < `beta_1` ≤ `beta_T` < 1, got {beta_1!r}, {beta_T!r}")
    beta = np.linspace(beta_1, beta_T, int(T))
    return np.cumprod(1.0 - beta)


def noised(x0, t, eps, alpha_bar) -> np.ndarray:
    """x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε (DDPM forward process) for integer timesteps `t` (N,)."""
    x0, eps, alpha_bar = np.asarray(x0, float), np.asarray(eps, float), np.asarray(alpha_bar, float)
    t = np.asarray(t)
    if x0.shape != eps.shape or x0.ndim != 2 or t.shape != (len(x0),):
        raise ValueError(
            f"noised: `x0` and `eps` must be (N, d) and `t` (N,), got {x0.shape}, {eps.shape}, {t.shape}"
        )
    if not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= len(alpha_bar):
        raise ValueError(f"noised: `t` must hold integers in [0, {len(alpha_bar)}), got {t.dtype}")
    a = alpha_bar[t][:, None]
    return np.sqrt(a) * x0 + np.sqrt(1.0 - a) * eps


def part_rules(
    width: int,
    base_width: int,
    d_data: int,
    n_freq: int,
    d_out: int,
    *,
    parametrization="mup",
    roles=None,
    optimizer: str = "adam",
    sigma: float = 1.0,
    output_mult: float = 1.0,
) -> dict:
    """{part: LayerRule} of the toy DiT.  `parametrization` is one name for every part or a dict
    {part: name}; `roles` overrides `DIT_ROLES` (the paper's assignment).  σ = 1 is the official code's
    ``kaiming_normal_(a=1, mode="fan_in")`` (std 1/√fan_in, models_mup.py:44)."""
    names = parametrization if isinstance(parametrization, dict) else dict.fromkeys(PARTS, parametrization)
    if set(names) != set(PARTS):
        raise ValueError(f"part_rules: `parametrization` dict must name exactly {PARTS}, got {tuple(names)}")
    for p, v in names.items():
        if v not in PARAMETRIZATIONS:
            raise ValueError(f"part_rules: `parametrization` of {p!r} must be one of {PARAMETRIZATIONS}")
    roles = {**DIT_ROLES, **(roles or {})}
    if set(roles) != set(PARTS):
        raise ValueError(f"part_rules: `roles` may only name parts in {PARTS}, got {tuple(roles)}")
    n, n0 = int(width), int(base_width)
    fans = {  # (fan_in, fan_out, base_fan_in, base_fan_out)
        "x_embed": (d_data, n, d_data, n0),
        "t_embed_1": (n_freq, n, n_freq, n0),
        "t_embed_2": (n, n, n0, n0),
        "block": (n, n, n0, n0),
        "final": (n, d_out, n0, d_out),
    }
    kw = dict(optimizer=optimizer, sigma=sigma, output_mult=output_mult)
    return {
        p: layer_rule(names[p], roles[p], fi, fo, base_fan_in=bi, base_fan_out=bo, **kw)
        for p, (fi, fo, bi, bo) in fans.items()
    }


class DiTMLPDenoiser(Module):
    """ε_θ([x_t, φ(t)]): the toy DiT of the module docstring.  Input (N, d_data + n_freq) — the noisy point
    and its timestep features — output (N, d_out) (ε̂; d_out = d_data for denoising).  Every linear map is
    a `ScaledLinear` whose rule comes from `part_rules`, so `param_groups(model, lr)` gives its per-part
    rates.  `zero_readout` zero-initialises the final layer (models_mup.py:182)."""

    def __init__(
        self,
        d_data: int,
        width: int,
        d_out: int | None = None,
        *,
        n_freq: int = 16,
        depth: int = 1,
        base_width: int = 64,
        parametrization="mup",
        roles=None,
        optimizer: str = "adam",
        sigma: float = 1.0,
        output_mult: float = 1.0,
        zero_readout: bool = True,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        for name, v, low in (("d_data", d_data, 1), ("width", width, 1), ("n_freq", n_freq, 1)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise ValueError(f"DiTMLPDenoiser: `{name}` must be an int ≥ {low}, got {v!r}")
        if not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"DiTMLPDenoiser: `depth` must be an int ≥ 0, got {depth!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"DiTMLPDenoiser: `optimizer` must be one of {OPTIMIZERS}, got {optimizer!r}")
        d_out = int(d_data if d_out is None else d_out)
        self.d_data, self.n_freq, self.width, self.dtype = int(d_data), int(n_freq), int(width), dtype
        rules = part_rules(
            width,
            base_width,
            d_data,
            n_freq,
            d_out,
            parametrization=parametrization,
            roles=roles,
            optimizer=optimizer,
            sigma=sigma,
            output_mult=output_mult,
        )
        self.rules = rules
        rng = rng if rng is not None else np.random.default_rng()
        roles = {**DIT_ROLES, **(roles or {})}

        def lin(part, fi, fo):
            return ScaledLinear(fi, fo, rules[part], roles[part], dtype=dtype, rng=rng)

        n = int(width)
        self.x_embed = lin("x_embed", d_data, n)
        self.t_embed_1 = lin("t_embed_1", n_freq, n)
        self.t_embed_2 = lin("t_embed_2", n, n)
        self.blocks = ModuleList([lin("block", n, n) for _ in range(int(depth))])
        self.final = lin("final", n, d_out)
        if zero_readout:
            self.final.weight.data[...] = 0.0

    def _split(self, z):
        z = z if isinstance(z, Tensor) else Tensor(np.asarray(z, dtype=self.dtype))
        if z.ndim != 2 or z.shape[1] != self.d_data + self.n_freq:
            raise ValueError(
                f"DiTMLPDenoiser: input must be (N, d_data + n_freq) = (N, {self.d_data + self.n_freq}), "
                f"got {tuple(z.shape)}"
            )
        return z[:, : self.d_data], z[:, self.d_data :]

    def time_embedding(self, z):
        """c = W_t2 · silu(W_t1 φ(t)): the timestep embedder's output (t_embedder.mlp)."""
        _, phi = self._split(z)
        return self.t_embed_2(F.silu(self.t_embed_1(phi)))

    def forward(self, z):
        x, phi = self._split(z)
        c = self.t_embed_2(F.silu(self.t_embed_1(phi)))  # t_embedder: input then hidden weights
        h = F.silu(self.x_embed(x) + c)  # x_embedder (input) + conditioning, as DiT's c joins every block
        for block in self.blocks:
            h = F.silu(block(h))  # hidden weights
        return self.final(h)  # MuReadout under μP: (α/m) W_o h


def dit_mup_denoiser(d_data: int, width: int, *, base_width: int = 64, **kwargs) -> DiTMLPDenoiser:
    """The toy DiT under μP with the paper's role assignment and MuAdam's rules (kwargs: n_freq, depth,
    sigma, output_mult, zero_readout, dtype, rng, d_out)."""
    return DiTMLPDenoiser(
        d_data, width, base_width=base_width, parametrization="mup", optimizer="adam", **kwargs
    )


def dit_mup_optimizer(model: Module, lr: float, **kwargs):
    """refimpl.optim.Adam over `param_groups(model, lr)` (MuAdam / MuAdamW without weight decay,
    DiT/train_mup.py:192)."""
    from ....optim import Adam

    return Adam(param_groups(model, lr), lr=lr, **kwargs)
