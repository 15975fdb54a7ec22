"""PyTorch habits that must not trap anyone: elementwise ==, argmax/argmin, factories, loss modules,
and a clear error for something that is not numbers."""

import numpy as np
import pytest

import refimpl as rf
from refimpl import nn
from refimpl.nn import functional as F


def test_equality_is_elementwise_and_hashing_stays_by_identity():
    a, b = rf.tensor([1.0, 2.0, 3.0]), rf.tensor([1.0, 0.0, 3.0])
    np.testing.assert_array_equal(a == b, [True, False, True])
    np.testing.assert_array_equal(a != 2.0, [True, False, True])
    assert len({a, b, a}) == 2  # sets and dicts still key tensors by object
    params = [a, b]
    assert any(p is b for p in params)


def test_argmax_and_argmin_give_indices():
    x = rf.tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]))
    assert x.argmax() == 3 and x.argmin() == 4  # flat indices, as torch.argmax without dim
    np.testing.assert_array_equal(x.argmax(dim=1), [1, 0])
    np.testing.assert_array_equal(x.argmin(dim=0, keepdim=True), [[0, 1, 0]])
    accuracy = float(np.mean(x.argmax(1) == np.array([1, 2])))  # the usual accuracy line works
    assert accuracy == 0.5


def test_factories():
    assert rf.zeros(2, 3).shape == (2, 3) and rf.zeros((2, 3)).dtype == np.float32
    np.testing.assert_array_equal(rf.ones(2).data, [1.0, 1.0])
    np.testing.assert_array_equal(rf.full((2,), 7.0).data, [7.0, 7.0])
    np.testing.assert_array_equal(rf.arange(4).data, [0, 1, 2, 3])
    assert rf.arange(4).dtype == np.int64 and rf.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert rf.randn(3, generator=0).data.tolist() == rf.randn(3, generator=0).data.tolist()
    assert 0 <= rf.rand(100, generator=1).data.min() and rf.rand(100, generator=1).data.max() < 1
    assert rf.cat([rf.ones(2), rf.zeros(1)]).shape == (3,) and rf.stack([rf.ones(2), rf.ones(2)]).shape == (
        2,
        2,
    )
    assert rf.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="shape"):
        rf.zeros(-1)
    with pytest.raises(ValueError, match="step"):
        rf.arange(0, 3, 0)


def test_loss_modules_equal_the_functional_forms():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    assert nn.CrossEntropyLoss()(rf.tensor(z), y).item() == pytest.approx(
        F.cross_entropy(rf.tensor(z), y).item()
    )
    smooth = nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum")(rf.tensor(z), y).item()
    assert smooth == pytest.approx(
        F.cross_entropy(rf.tensor(z), y, label_smoothing=0.1, reduction="sum").item()
    )
    p, t = rng.normal(size=5), rng.normal(size=5)
    assert nn.MSELoss()(rf.tensor(p), rf.tensor(t)).item() == pytest.approx(np.mean((p - t) ** 2))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("bad", ["abc", ["a", "b"], [1, "b"], None, object()])
def test_tensor_of_something_that_is_not_numbers_is_a_clear_error(bad):
    with pytest.raises(TypeError, match="expected numbers"):
        rf.tensor(bad)


def test_size_is_the_element_count_and_callable_like_pytorch():
    t = rf.zeros(2, 3)
    assert t.size == 6 and t.numel() == 6 and t.dim() == 2  # NumPy's a.size stays an int
    assert t.size() == (2, 3) and t.size(0) == 2 and t.size(-1) == 3
    with pytest.raises(IndexError, match=r"`dim` must be an int in \[-2, 1\].*got 2"):
        t.size(2)
    with pytest.raises(IndexError, match="0-d tensor"):
        rf.tensor(1.0).size(0)
    assert rf.tensor(1.0).size() == ()


def test_size_agrees_with_torch():
    torch = pytest.importorskip("torch")
    x = np.zeros((4, 1, 5))
    t, tt = rf.tensor(x), torch.tensor(x)
    assert t.size() == tuple(tt.size()) and t.size == tt.numel()
    for d in range(-3, 3):
        assert t.size(d) == tt.size(d)
