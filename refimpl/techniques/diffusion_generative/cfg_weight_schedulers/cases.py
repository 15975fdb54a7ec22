"""Reference cases of scheduled classifier-free guidance, by hand: the catalogue's CFG combination and linear
schedule, the cosine and decreasing schedules at points where cos is known, and the guided noise of a two-class
Gaussian toy at its centre (closed form)."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from ..samplers import exact_eps
from ..toys import GaussianMixture
from . import cfg_combine, guidance_weights, scheduled_cfg_eps

_PATH = "refimpl.techniques.diffusion_generative.cfg_weight_schedulers"


def _combine(eps_u, eps_c, w):
    return {"eps": cfg_combine(np.asarray(eps_u), np.asarray(eps_c), w)}


def _weights(schedule, w_bar, S):
    return {"w": guidance_weights(schedule, w_bar, S)}


def _two_class_centre(alpha_bar, s, w):
    """Classes N(+1, s²) (class 0) and N(−1, s²) (class 1), equal weights; guided ε of class 0 at x = 0."""
    both = GaussianMixture([[1.0], [-1.0]], s)
    cls0 = GaussianMixture([[1.0]], s)
    abar = np.array([alpha_bar])
    eps = scheduled_cfg_eps(exact_eps(cls0, abar), exact_eps(both, abar), [w], [0])
    return {"eps": eps(np.zeros((1, 1)), 0)[0]}


def reference_cases() -> list:
    c = np.sqrt(2.0)
    return [
        ReferenceCase(
            name="cfg_combine_catalogue",
            inputs={"eps_u": [0.0, 0.0], "eps_c": [1.0, -1.0], "w": 3.0},
            expected={"eps": [3.0, -3.0]},
            compute=_combine,
            function=f"{_PATH}.cfg_combine",
            note="ε_u + w(ε_c − ε_u) = 0 + 3·(1, −1) = (3, −3) (the catalogue's example).",
            conventions={
                "guidance": "ε_u + w(ε_c − ε_u): w = 1 is the conditional model, w = 0 unconditional"
            },
            atol=0.0,
        ),
        ReferenceCase(
            name="linear_increasing_catalogue",
            inputs={"schedule": "linear-increasing", "w_bar": 2.0, "S": 5},
            expected={"w": [0.0, 1.0, 2.0, 3.0, 4.0]},
            compute=_weights,
            function=f"{_PATH}.guidance_weights",
            note="2·w̄·s/(S − 1) = 4·s/4 = s for s = 0 … 4; mean 2 = w̄ (the catalogue's example).",
            conventions={"step order": "s = 0 is the first (noisiest) sampling step"},
            atol=1e-15,
        ),
        ReferenceCase(
            name="cosine_increasing_five_steps",
            inputs={"schedule": "cosine-increasing", "w_bar": 2.0, "S": 5},
            expected={"w": [0.0, 2.0 - c, 2.0, 2.0 + c, 4.0]},
            compute=_weights,
            function=f"{_PATH}.guidance_weights",
            note="w̄(cos(π t/T) + 1) at t/T = 1, ¾, ½, ¼, 0: cos = −1, −√2/2, 0, √2/2, 1, times w̄ = 2 after + 1: "
            "0, 2 − √2, 2, 2 + √2, 4; mean 2.",
            conventions={"step order": "s = 0 is the first (noisiest) sampling step"},
            atol=1e-14,
        ),
        ReferenceCase(
            name="linear_decreasing_five_steps",
            inputs={"schedule": "linear-decreasing", "w_bar": 2.0, "S": 5},
            expected={"w": [4.0, 3.0, 2.0, 1.0, 0.0]},
            compute=_weights,
            function=f"{_PATH}.guidance_weights",
            note="2·w̄·(1 − s/4) = 4 − s: the linear-increasing schedule reversed.",
            atol=1e-15,
        ),
        ReferenceCase(
            name="guided_eps_two_class_centre",
            inputs={"alpha_bar": 0.5, "s": 1.0, "w": 2.0},
            expected={"eps": [-1.0]},
            compute=_two_class_centre,
            function=f"{_PATH}.scheduled_cfg_eps",
            note="ᾱ = ½, s = 1: the noised class 0 is N(√½, ½ + ½ = 1), so ε_c(0) = √(1 − ᾱ)(0 − √½)/1 = −½; the "
            "noised mixture is symmetric, so ε_u(0) = 0; ε̂ = 0 + 2·(−½ − 0) = −1.",
            atol=1e-12,
        ),
    ]
