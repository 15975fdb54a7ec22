"""`close`: the elementwise comparison the autograd tests share; a failure names the worst element."""

import numpy as np


def close(got, want, rtol=1e-12, atol=1e-12, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got - want)
    if err.size and not np.all(err <= atol + rtol * np.abs(want)):
        k = np.unravel_index(np.argmax(err), err.shape)
        rel = (err / np.maximum(np.abs(want), 1e-300)).max()
        raise AssertionError(
            f"{what}: max abs error {err.max():.3e}, max rel error {rel:.3e}"
            f" at {tuple(int(i) for i in k)}: got {float(got[k])!r}, want {float(want[k])!r}"
        )
