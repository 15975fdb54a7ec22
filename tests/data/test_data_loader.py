"""Minibatching: every row once per epoch, aligned arrays, seeded per-epoch reshuffles, clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.data import DataLoader, batches


@settings(deadline=None, max_examples=60)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 64), shuffle=st.booleans(), seed=st.integers(0, 99))
def test_each_index_exactly_once_per_epoch(n, batch_size, shuffle, seed):
    idx = np.arange(n)
    out = list(batches(idx, idx * 10, batch_size=batch_size, shuffle=shuffle, seed=seed))
    seen = np.concatenate([a for a, _ in out])
    assert np.array_equal(np.sort(seen), idx)
    assert len(out) == -(-n // batch_size) and all(len(a) == batch_size for a, _ in out[:-1])
    assert all(np.array_equal(b, a * 10) for a, b in out)  # arrays stay aligned
    if not shuffle:
        assert np.array_equal(seen, idx)


def test_drop_last():
    out = list(batches(np.arange(10), batch_size=4, drop_last=True))
    assert [len(a) for (a,) in out] == [4, 4]
    assert len(DataLoader(np.arange(10), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(np.arange(10), batch_size=4)) == 3


def test_seeded_order_per_epoch():
    x = np.arange(100)

    def order(**kw):
        return np.concatenate([a for (a,) in batches(x, batch_size=7, **kw)])

    assert np.array_equal(order(seed=1, epoch=2), order(seed=1, epoch=2))
    assert not np.array_equal(order(seed=1, epoch=2), order(seed=1, epoch=3))
    assert not np.array_equal(order(seed=1), order(seed=2))
    rng = np.random.default_rng(0)
    assert not np.array_equal(order(seed=rng), order(seed=rng))  # a Generator advances


def test_dataloader_reshuffles_each_epoch_reproducibly():
    x, y = np.arange(30.0).reshape(15, 2), np.arange(15)
    loader = DataLoader(x, y, batch_size=4, seed=7)
    epochs = [np.concatenate([yb for _, yb in loader]) for _ in range(3)]
    assert loader.epoch == 3
    assert all(np.array_equal(np.sort(e), y) for e in epochs)
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    replay = DataLoader(x, y, batch_size=4, seed=7)
    replay.epoch = 1
    assert np.array_equal(np.concatenate([yb for _, yb in replay]), epochs[1])
    for xb, yb in DataLoader(x, y, batch_size=4, seed=7):
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_errors_are_raised_at_the_call():
    with pytest.raises(ValueError, match=r"same first dimension, got shapes \[\(10, 2\), \(9,\)\]"):
        batches(np.zeros((10, 2)), np.zeros(9), batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        batches(np.zeros(10), batch_size=0)
    with pytest.raises(ValueError, match="at least one array"):
        DataLoader(batch_size=2)
    with pytest.raises(ValueError, match="seed must be an int for DataLoader"):
        DataLoader(np.zeros(3), batch_size=2, seed=np.random.default_rng(0))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DataLoader(np.zeros(3), batch_size=2, seed=-1)


# --- fit accepts the same forms as DataLoader -------------------------------------------------------------
def _fit_weights(data, epochs=2, seed=3):
    import refimpl as rf
    from refimpl import nn, optim
    from refimpl.nn import functional as F
    from refimpl.train import fit

    rf.manual_seed(0)
    model = nn.MLP([4, 5, 3])
    fit(
        model,
        F.cross_entropy,
        data,
        optim.SGD(model.parameters(), lr=0.1),
        epochs=epochs,
        batch_size=8,
        seed=seed,
        progress=False,
    )
    return [p.data.copy() for p in model.parameters()]


def test_fit_takes_arrays_lists_or_a_dataloader_alike():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 3, size=20)
    want = _fit_weights((x, y))
    for data in ((x.tolist(), y.tolist()), [x, y], DataLoader(x, y, batch_size=8, seed=3)):
        for a, b in zip(_fit_weights(data), want):
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_fit_refuses_a_one_shot_generator_for_several_epochs():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 3, size=20)
    with pytest.raises(ValueError, match="one-shot iterator"):
        _fit_weights(batches(x, y, batch_size=8), epochs=2)
    _fit_weights(batches(x, y, batch_size=8), epochs=1)  # one pass is fine
    with pytest.raises(TypeError, match="DataLoader"):
        _fit_weights(42)
