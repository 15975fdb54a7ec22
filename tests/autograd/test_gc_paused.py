"""`gc_paused`: the collector is off inside and restored after; graphs hold no reference cycles, so reference
counting alone frees them (which is why pausing the collector while a graph is built loses nothing)."""

import gc
import weakref

import numpy as np
import pytest

import refimpl
from refimpl import nn
from refimpl.autograd import gc_paused
from refimpl.nn import functional as F


def test_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("inside")
    assert gc.isenabled()


@pytest.mark.parametrize("retain_graph", [False, True])
def test_a_graph_is_freed_without_the_collector(retain_graph):
    """Every interior Tensor and node of an MLP step dies when the last reference goes, collector off."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.LayerNorm(7), nn.Linear(7, 3))
    x, y = rng.standard_normal((4, 5)).astype(np.float32), np.array([0, 2, 1, 2])
    gc.collect()
    with gc_paused():
        h = model[0](refimpl.tensor(x))
        z = model[3](model[2](model[1](h)))
        loss = F.cross_entropy(z * 2.0 + 1.0, y)
        refs = [weakref.ref(t) for t in (h, z, loss)] + [weakref.ref(loss._ctx), weakref.ref(h._ctx)]
        loss.backward(retain_graph=retain_graph)
        del h, z, loss
        assert [r() for r in refs] == [None] * len(refs)
    assert all(p.grad is not None for p in model.parameters())


def test_same_result_with_the_collector_paused():
    a = refimpl.tensor(np.linspace(0.5, 1.5, 6), requires_grad=True)
    b = refimpl.tensor(np.linspace(1.0, 0.9, 6), requires_grad=True)

    def chain():
        y = a
        for _ in range(300):
            y = y * b + 0.001
        y.sum().backward()
        return a.grad.copy(), b.grad.copy()

    first = chain()
    a.grad = b.grad = None
    with gc_paused():
        second = chain()
    for u, v in zip(first, second):
        np.testing.assert_array_equal(u, v)
