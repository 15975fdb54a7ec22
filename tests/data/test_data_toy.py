"""Generated toy sets: shapes, seeds, exact structure (noise-free) and brute-force oracles."""

import itertools

import numpy as np
import pytest

from refimpl.data import (
    make_blobs,
    make_modular_arithmetic,
    make_moons,
    make_sparse_parity,
    make_spirals,
    make_teacher_student,
)


@pytest.mark.parametrize("make", [make_moons, make_spirals, make_blobs])
def test_classification_sets_are_seeded(make):
    x, y = make(101, seed=3)
    x2, y2 = make(101, seed=3)
    x3, _ = make(101, seed=4)
    assert x.shape == (101, 2) and x.dtype == np.float32 and y.shape == (101,) and y.dtype == np.int64
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, x3)
    assert make(10, dtype=np.float64)[0].dtype == np.float64


def test_moons_lie_on_their_circles_without_noise():
    x, y = make_moons(201, noise=0.0, dtype=np.float64)
    assert np.bincount(y).tolist() == [101, 100]
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1)
    assert upper[:, 1].min() >= 0 and lower[:, 1].max() <= 0.5


def test_spirals_follow_their_arms_without_noise():
    x, y = make_spirals(301, n_classes=3, noise=0.0, turns=1.5, dtype=np.float64)
    assert np.bincount(y).tolist() == [101, 100, 100]
    r = np.hypot(*x.T)
    angle = 2 * np.pi * (y / 3 + 1.5 * r)
    np.testing.assert_allclose(x, r[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1), atol=1e-12)
    assert r.max() == pytest.approx(1)


def test_blobs_centres_and_dims():
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    x, y = make_blobs(2000, centers=centers, std=0.5, dtype=np.float64)
    assert x.shape == (2000, 3) and np.bincount(y).tolist() == [1000, 1000]
    for k in range(2):
        np.testing.assert_allclose(x[y == k].mean(0), centers[k], atol=0.1)
        assert x[y == k].std(0) == pytest.approx([0.5] * 3, rel=0.1)
    assert make_blobs(50, centers=4, dim=5)[0].shape == (50, 5)
    with pytest.raises(ValueError, match=r"dim must match centers.shape\[1\] = 3, got 2"):
        make_blobs(10, centers=centers, dim=2)


@pytest.mark.parametrize("teacher", ["linear", "mlp"])
def test_teacher_student_targets_come_from_the_teacher(teacher):
    x, y, params = make_teacher_student(64, 5, 3, teacher=teacher, hidden=7, dtype=np.float64)
    assert x.shape == (64, 5) and y.shape == (64, 3)
    p = params
    if teacher == "linear":
        expected = x @ p["W"] + p["b"]
    else:
        expected = np.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    noisy = make_teacher_student(64, 5, 3, teacher=teacher, hidden=7, noise=0.1, dtype=np.float64)[1]
    assert 0.05 < np.std(noisy - y) < 0.15


def test_teacher_student_errors():
    with pytest.raises(ValueError, match="teacher must be 'linear' or 'mlp', got 'cnn'"):
        make_teacher_student(10, 2, teacher="cnn")
    with pytest.raises(ValueError, match="d_in must be an int >= 1, got 0"):
        make_teacher_student(10, 0)
    with pytest.raises(ValueError, match="noise must be >= 0, got -1"):
        make_teacher_student(10, 2, noise=-1)


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
@pytest.mark.parametrize("p", [7, 11])
def test_modular_arithmetic_by_brute_force(op, p):
    x_tr, y_tr, x_te, y_te = make_modular_arithmetic(p, op=op, train_fraction=0.3, seed=1)
    x, y = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
    assert x.dtype == y.dtype == np.int64
    pairs = [(a, b) for a, b in itertools.product(range(p), repeat=2) if op != "/" or b != 0]
    assert sorted(map(tuple, x.tolist())) == pairs  # train and test are disjoint and cover every pair
    assert len(x_tr) == round(0.3 * len(pairs))
    for (a, b), c in zip(x.tolist(), y.tolist()):
        if op == "/":
            assert (c * b) % p == a
        else:
            assert c == {"+": a + b, "-": a - b, "*": a * b}[op] % p


def test_modular_arithmetic_seeds_and_errors():
    a, b = make_modular_arithmetic(13, seed=0), make_modular_arithmetic(13, seed=1)
    assert not np.array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, make_modular_arithmetic(13, seed=0).y_test)
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\), got 1.5"):
        make_modular_arithmetic(13, train_fraction=1.5)
    with pytest.raises(ValueError, match="p must be prime for op='/', got 12"):
        make_modular_arithmetic(12, op="/")
    with pytest.raises(ValueError, match="op must be one of"):
        make_modular_arithmetic(13, op="^")


def test_sparse_parity_matches_brute_force():
    x, y, subset = make_sparse_parity(500, n_bits=12, k=4, seed=2)
    assert x.shape == (500, 12) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(x)) == {-1.0, 1.0}
    assert subset.tolist() == sorted(set(subset.tolist())) and len(subset) == 4
    for row, label in zip(x, y):
        ones = sum(1 for i in subset if row[i] == -1)  # bit 1 <-> x = -1
        assert label == ones % 2
    np.testing.assert_array_equal(y, (1 - np.prod(x[:, subset], 1)) / 2)
    assert 0.4 < y.mean() < 0.6
    _, _, other = make_sparse_parity(10, 40, 3, seed=3)
    assert not np.array_equal(other, make_sparse_parity(10, 40, 3, seed=4)[2])
    with pytest.raises(ValueError, match="k must be <= n_bits"):
        make_sparse_parity(10, n_bits=3, k=4)


@pytest.mark.parametrize("make", [make_moons, make_spirals, make_blobs])
def test_bad_sizes_name_the_argument(make):
    with pytest.raises(ValueError, match="n must be an int >= 1|n must be an int >= 2"):
        make(0)
    with pytest.raises(ValueError, match="noise|std"):
        make(10, **({"std": -1.0} if make is make_blobs else {"noise": -1.0}))
