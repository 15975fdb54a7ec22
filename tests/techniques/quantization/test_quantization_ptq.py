"""The quantization family's post-training pipeline: the trained model, input capture, weight substitution,
the reconstruction error."""

import numpy as np

from refimpl import Tensor
from refimpl.techniques.quantization import ptq as P


def test_ptq_pipeline_capture_and_substitution():
    model, split = P.trained_digits_mlp(0)
    assert P.accuracy(model, split.x_test, split.y_test) > 0.9
    X = P.calibration_split(split, 32)
    names = P.weight_sites(model)
    caps = P.capture_inputs(model, lambda: model(Tensor(X)), names)
    np.testing.assert_array_equal(caps[names[0]], X)
    h = np.maximum(X @ P.get_weight(model, names[0]).T + model.get_submodule(names[0]).bias.data, 0)
    np.testing.assert_allclose(caps[names[1]], h, rtol=1e-5, atol=1e-5)
    W0 = P.get_weight(model, names[0]).copy()
    with P.substituted(model, {names[0]: np.zeros_like(W0)}):
        assert np.all(P.get_weight(model, names[0]) == 0)
    np.testing.assert_array_equal(P.get_weight(model, names[0]), W0)
    assert P.reconstruction_error(W0, W0, X) == 0.0
    assert np.isclose(P.reconstruction_error(W0, 0 * W0, X), 1.0)
