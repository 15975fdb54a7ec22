"""The theory-dynamics family's contract over the registry (the form: `tests/techniques/contracts.py`).

Every technique of the family is a prediction against a simulation.  An adapter is {"predict": () → array,
"simulate": seed → array (same shape), "rtol": float}: a small instance of the technique's own setting.
Every technique must

* give a finite, deterministic prediction (the same array twice);
* give simulations that vary with the seed (a simulation, not a copy of the formula) and are reproducible
  for a fixed seed;
* agree with its prediction: the mean of `N_DRAWS` simulations is within `rtol` of it, elementwise.
"""

import numpy as np
import pytest
from contracts import params

from refimpl.techniques.theory_dynamics import advani_saxe_dynamics as AS

FAMILY = "theory-dynamics"
N_DRAWS = 12


def _advani_saxe_steps():
    return np.array([0, 5, 50, 500])


def _advani_saxe_predict():
    return AS.mp_error_curve(2.0, _advani_saxe_steps(), lr=0.1, noise=0.5, init=0.5)


def _advani_saxe_simulate(seed):
    d = AS.teacher_student(150, 300, noise=0.5, init=0.5, rng=seed)
    w = AS.gd_trajectory(d["X"], d["y"], d["w0"], 0.1, 500, record=_advani_saxe_steps())
    return AS.generalization_error(w, d["w_teacher"], 0.5)


CONTRACTS = {
    "advani-saxe-dynamics": {
        "predict": _advani_saxe_predict,
        "simulate": _advani_saxe_simulate,
        "rtol": 0.05,
    },
}
EXEMPT = {}


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_prediction_is_finite_and_deterministic(key, adapter):
    a, b = adapter["predict"](), adapter["predict"]()
    assert np.all(np.isfinite(a)), key
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_simulation_is_random_but_reproducible(key, adapter):
    s0, s0_again, s1 = adapter["simulate"](0), adapter["simulate"](0), adapter["simulate"](1)
    np.testing.assert_array_equal(s0, s0_again)
    assert not np.allclose(s0, s1), f"{key}: the simulation does not depend on the seed"
    assert s0.shape == np.shape(adapter["predict"]())


@pytest.mark.parametrize("key, adapter", params(FAMILY, CONTRACTS, EXEMPT))
def test_simulations_agree_with_the_prediction_on_average(key, adapter):
    mean = np.mean([adapter["simulate"](s) for s in range(N_DRAWS)], axis=0)
    np.testing.assert_allclose(mean, adapter["predict"](), rtol=adapter["rtol"])
