"""Bundled digits: file contents, stratified split, label noise, long tail, upsampling, class subsets."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.data import digits_subset, label_noise, load_digits, long_tailed, upsample_28
from refimpl.data.digits import _raw, _stratified_split

CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # as in scikit-learn's copy


def test_bundled_file_is_the_uci_test_set():
    images, labels = _raw()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and labels.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    assert np.bincount(labels).tolist() == CLASS_COUNTS
    assert int(images.sum()) == 561718  # pins the extraction
    assert not images.flags.writeable


def test_load_digits_shapes_dtypes_ranges():
    s = load_digits()
    assert s.x_train.shape == (1258, 64) and s.x_test.shape == (539, 64)
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64 and s.y_test.dtype == np.int64
    assert 0 <= s.x_train.min() and s.x_train.max() == 1.0
    images = load_digits(flatten=False, normalize=False, dtype=np.float64)
    assert images.x_test.shape == (539, 1, 8, 8) and images.x_test.dtype == np.float64
    assert images.x_train.max() == 16 and np.array_equal(images.x_train, np.round(images.x_train))
    np.testing.assert_array_equal(images.x_train.reshape(-1, 64) / 16, load_digits(dtype=np.float64).x_train)


def test_split_is_stratified_and_a_partition():
    s = load_digits(test_fraction=0.3)
    for c, n_c in enumerate(CLASS_COUNTS):
        assert (s.y_test == c).sum() == round(0.3 * n_c)
        assert (s.y_train == c).sum() == n_c - round(0.3 * n_c)
    y = _raw()[1]
    train, test = _stratified_split(y, 0.25, np.random.default_rng(3))
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))


def test_split_deterministic_per_seed_and_varies_across_seeds():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.y_train, c.y_train)


def test_load_digits_rejects_bad_fraction():
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\), got 1.5"):
        load_digits(test_fraction=1.5)


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 300),
    rate=st.floats(0, 1),
    kind=st.sampled_from(["symmetric", "asymmetric"]),
    seed=st.integers(0, 2**16),
)
def test_label_noise_rate_is_exact(n, rate, kind, seed):
    y = np.random.default_rng(seed).integers(0, 10, n)
    y_noisy, flipped = label_noise(y, rate, kind=kind, seed=seed)
    assert y_noisy.dtype == np.int64 and flipped.dtype == bool
    assert flipped.sum() == round(rate * n) and abs(flipped.mean() - rate) <= 1 / n
    assert np.all(y_noisy[flipped] != y[flipped]) and np.array_equal(y_noisy[~flipped], y[~flipped])
    assert y_noisy.min() >= 0 and y_noisy.max() < 10
    if kind == "asymmetric":
        np.testing.assert_array_equal(y_noisy[flipped], (y[flipped] + 1) % 10)


def test_symmetric_noise_is_uniform_over_other_classes():
    y_noisy, _ = label_noise(np.zeros(9000, dtype=np.int64), 1.0)
    counts = np.bincount(y_noisy, minlength=10)
    assert counts[0] == 0 and np.all(np.abs(counts[1:] - 1000) < 150)


def test_label_noise_deterministic_and_errors():
    y = load_digits().y_train
    a, b, c = label_noise(y, 0.4, seed=5), label_noise(y, 0.4, seed=5), label_noise(y, 0.4, seed=6)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got 1.5"):
        label_noise(y, 1.5)
    with pytest.raises(ValueError, match="kind must be"):
        label_noise(y, 0.1, kind="pairwise")
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 5\)"):
        label_noise(y, 0.1, num_classes=5)


@pytest.mark.parametrize("imbalance", [1, 10, 50, 100, 122])
def test_long_tailed_profile(imbalance):
    s = load_digits()
    n_max = np.bincount(s.y_train).min()
    idx, y = long_tailed(np.arange(len(s.y_train)), s.y_train, imbalance=imbalance)
    counts = np.bincount(y, minlength=10)
    expected = np.floor(n_max * imbalance ** (-np.arange(10) / 9) + 1e-9)
    np.testing.assert_array_equal(counts, expected)
    assert counts[0] == n_max and np.all(np.diff(counts) <= 0)
    assert n_max / (counts[-1] + 1) < imbalance <= n_max / counts[-1]  # as close as integers allow
    np.testing.assert_array_equal(s.y_train[idx], y)  # rows stay aligned with their labels
    assert len(np.unique(idx)) == len(idx)


def test_long_tailed_errors():
    s = load_digits()
    with pytest.raises(ValueError, match="imbalance must be in"):
        long_tailed(s.x_train, s.y_train, imbalance=1000)
    with pytest.raises(ValueError, match="same length"):
        long_tailed(s.x_train[:-1], s.y_train)


def test_upsample_28_matches_scipy_zoom():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = load_digits(dtype=np.float64).x_train[:16]
    up = upsample_28(x)
    assert up.shape == (16, 1, 28, 28) and up.dtype == np.float64
    expected = np.stack([ndimage.zoom(img, 3.5, order=1) for img in x.reshape(-1, 8, 8)])[:, None]
    np.testing.assert_allclose(up, expected, atol=1e-12)


def test_upsample_28_properties():
    x = load_digits(flatten=False).x_train[:5]
    up = upsample_28(x)
    assert up.dtype == np.float32
    np.testing.assert_array_equal(up, upsample_28(x.reshape(5, 64)))
    np.testing.assert_array_equal(up[:, 0, ::27, ::27], x[:, 0, ::7, ::7])  # corners kept
    assert x.min() <= up.min() and up.max() <= x.max()
    ramp = np.tile(np.arange(8.0), (8, 1))[None]
    np.testing.assert_allclose(upsample_28(ramp)[0, 0], np.tile(np.linspace(0, 7, 28), (28, 1)), atol=1e-12)
    with pytest.raises(ValueError, match=r"x must have shape"):
        upsample_28(np.zeros((3, 63)))


def test_digits_subset_relabels():
    s = load_digits()
    low, high = digits_subset(s, range(5)), digits_subset(s, range(5, 10))
    assert set(low.y_train) == set(high.y_test) == set(range(5))
    assert len(low.y_train) + len(high.y_train) == len(s.y_train)
    np.testing.assert_array_equal(high.x_test, s.x_test[s.y_test >= 5])
    kept = digits_subset(s, [7, 2], relabel=False)
    assert set(kept.y_train) == {2, 7}
    np.testing.assert_array_equal(digits_subset(s, [7, 2]).y_test, (kept.y_test == 2).astype(int))
    with pytest.raises(ValueError, match="classes must be"):
        digits_subset(s, [1, 1])


def test_import_is_cheap():
    code = "import sys, refimpl.data; assert not {'scipy', 'sklearn'} & set(sys.modules), sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True)
