"""Reference cases of learning-curve fitting on exact curves: a pure power law, a power law with a floor, and
the growth exponent of a square-root law, all with known parameters."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import fit_power_law, fit_pure_power_law, growth_exponent

_PATH = "refimpl.techniques.theory_generalization.learning_curve_power_laws"


def _pure(m, err):
    f = fit_pure_power_law(np.asarray(m), np.asarray(err))
    return {"alpha": f["alpha"], "beta": f["beta"]}


def _floor(m, err):
    f = fit_power_law(np.asarray(m), np.asarray(err))
    return {"alpha": f["alpha"], "beta": f["beta"], "gamma": f["gamma"]}


def _growth(m, size):
    return {"delta": growth_exponent(np.asarray(m), np.asarray(size))}


def reference_cases() -> list:
    m = [1.0, 2.0, 4.0, 8.0, 16.0]
    return [
        ReferenceCase(
            name="pure_power_law",
            inputs={"m": [1.0, 10.0, 100.0], "err": [1.0, 0.1, 0.01]},
            expected={"alpha": 1.0, "beta": -1.0},
            compute=_pure,
            function=f"{_PATH}.fit_pure_power_law",
            note="ε = 1/m exactly: α = 1, β = −1.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="power_law_with_floor",
            inputs={"m": m, "err": [2.0 / x + 0.1 for x in m]},
            expected={"alpha": 2.0, "beta": -1.0, "gamma": 0.1},
            compute=_floor,
            function=f"{_PATH}.fit_power_law",
            note="ε = 2/m + 0.1 exactly: the fit recovers α = 2, β = −1, γ = 0.1.",
            atol=1e-6,
        ),
        ReferenceCase(
            name="square_root_growth",
            inputs={"m": [1.0, 4.0, 16.0], "size": [2.0, 4.0, 8.0]},
            expected={"delta": 0.5},
            compute=_growth,
            function=f"{_PATH}.growth_exponent",
            note="s = 2√m: log–log slope ½.",
            atol=1e-12,
        ),
    ]
