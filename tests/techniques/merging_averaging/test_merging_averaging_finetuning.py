"""The merging-averaging family's fine-tuning runs: the digit transforms by hand, the cached trainer."""

import numpy as np
import pytest

from refimpl.techniques.merging_averaging import finetuning as FT


def test_rotation_and_shift_by_hand():
    x = np.arange(64, dtype=np.float64).reshape(1, 64)
    np.testing.assert_allclose(FT.rotate_images(x, 90).reshape(8, 8), np.rot90(x.reshape(8, 8)), atol=1e-12)
    np.testing.assert_allclose(FT.rotate_images(x, 0), x)
    s = FT.shift_images(x, 1, 0).reshape(8, 8)
    np.testing.assert_array_equal(s[0], 0)
    np.testing.assert_array_equal(s[1:], x.reshape(8, 8)[:-1])


def test_bad_config_names_the_argument():
    with pytest.raises(TypeError, match="config"):
        FT.train_mlp([2, 2], np.zeros((1, 2)), np.zeros(1, int), config={"lr": 1})


def test_train_mlp_is_cached_and_deterministic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    cfg = FT.TrainConfig(lr=1e-2, epochs=2, batch_size=16, seed=3)
    a = FT.train_mlp([4, 8, 2], x, y, cfg)
    a["0.weight"][:] = 0  # the cache hands out copies
    b = FT.train_mlp([4, 8, 2], x, y, cfg)
    FT._CACHE.clear()  # forget the cached runs: the next call trains again
    c = FT.train_mlp([4, 8, 2], x, y, cfg)
    assert np.abs(b["0.weight"]).sum() > 0
    for k in b:
        np.testing.assert_array_equal(b[k], c[k])
    # frozen parameters do not move
    d = FT.train_mlp(
        [4, 8, 2], x, y, FT.TrainConfig(lr=1e-2, epochs=1, seed=4), init_state=c, trainable=["0.weight"]
    )
    np.testing.assert_array_equal(d["2.weight"], c["2.weight"])
    assert not np.array_equal(d["0.weight"], c["0.weight"])
