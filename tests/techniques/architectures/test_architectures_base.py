"""The architectures family's shared toys: their rules checked by brute force, reproducibility, bad input."""

import numpy as np
import pytest

from refimpl.techniques.architectures import patches, sequences, tabular


def test_copy_task_target_is_the_prefix_and_the_marker_sits_after_the_delay():
    t = sequences.copy_task(50, 4, 3, 5, seed=0)
    x = np.concatenate([t.x_train, t.x_val, t.x_test])
    y = np.concatenate([t.y_train, t.y_val, t.y_test])
    np.testing.assert_array_equal(x[:, :3], y)
    assert (x[:, 3:8] == 0).all() and (x[:, 8] == 5).all() and (x[:, 9:] == 0).all()
    assert t.vocab == 6 and x.shape == (50, 12)


def test_long_range_labels_are_the_equality_of_the_two_positions_and_balanced():
    t = sequences.long_range_task(2000, 30, 8, seed=1)
    for x, y in ((t.x_train, t.y_train), (t.x_test, t.y_test)):
        np.testing.assert_array_equal(y, (x[:, 0] == x[:, -1]).astype(int))
    assert abs(t.y_train.mean() - 0.5) < 0.05


def test_associative_recall_target_is_the_value_after_the_queried_key():
    t = sequences.associative_recall(300, 4, 10, 6, seed=2)
    for x, y in ((t.x_train, t.y_train), (t.x_val, t.y_val)):
        for row, target in zip(x, y):
            keys, vals = row[0:-1:2], row[1:-1:2]
            assert len(set(keys.tolist())) == 4  # distinct keys
            assert vals[list(keys).index(row[-1])] - 10 == target


def test_generators_are_reproducible_and_reject_bad_sizes():
    a, b = sequences.copy_task(20, 3, 2, 2, seed=5), sequences.copy_task(20, 3, 2, 2, seed=5)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    with pytest.raises(ValueError, match="`n_pairs`"):
        sequences.associative_recall(10, 0, 5, 5, seed=0)
    with pytest.raises(ValueError, match="0..3"):
        sequences.one_hot([0, 4], 4)


def test_interaction_signal_is_the_declared_formula():
    t = tabular.interaction_regression(500, 6, seed=3, linear=0.0, noise=0.0)
    x = t.x_test.astype(float)
    s = sum(x[:, i] * x[:, j] for i, j in t.pairs) + sum(x[:, i] * x[:, j] * x[:, k] for i, j, k in t.triples)
    np.testing.assert_allclose(t.signal_test, s, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t.y_test, s, rtol=1e-5, atol=1e-5)
    c = tabular.interaction_classification(1000, 6, seed=3)
    assert abs(np.concatenate([c.y_train, c.y_val, c.y_test]).mean() - 0.5) < 0.01


def test_patches_round_trip_and_order():
    img = np.arange(2 * 64).reshape(2, 8, 8)
    p = patches.to_patches(img, 2)
    assert p.shape == (2, 16, 4)
    np.testing.assert_array_equal(p[0, 1], [2, 3, 10, 11])  # second patch of the first row of patches
    np.testing.assert_array_equal(patches.from_patches(p, 8), img)
    with pytest.raises(ValueError, match="divide"):
        patches.to_patches(img, 3)
    d = patches.digit_patches(4)
    assert d["x_train"].shape[1:] == (4, 16) and d["num_classes"] == 10
