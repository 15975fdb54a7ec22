"""Time each kernel: Numba vs its NumPy twin (and PyTorch's equivalent when torch is installed).

    PYTHONPATH=. python benchmarks/bench_kernels.py [--n 64] [--c 16] [--hw 28] [--k 3] [--repeat 30]

Prints the median wall time of each kernel per backend, in milliseconds, and the ratios
numpy/numba (how much Numba buys) and numba/torch (how far from PyTorch CPU, >1 = slower).
PyTorch's figures are F.unfold / F.fold / F.max_pool2d(return_indices=True) / max_unpool-style
backward through autograd, with torch limited to the same thread count it picks by default.
"""

import argparse
import statistics
import time
from functools import partial

import numpy as np

from refimpl.kernels import _numba as nb
from refimpl.kernels import _numpy as npk


def median_ms(fn, repeat, warmup=2):
    for _ in range(warmup):  # the first call of a Numba kernel compiles or loads its cache
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def torch_cases(x, cols, k, pad, pool_k, xshape):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return {}
    xt = torch.from_numpy(x)
    ct = torch.from_numpy(cols)
    H, W = xshape[2:]
    out_t, idx_t = F.max_pool2d(xt, pool_k, return_indices=True)
    g_t = torch.ones_like(out_t)

    def pool_bwd():
        # what autograd runs for max_pool2d's backward
        return torch.ops.aten.max_pool2d_with_indices_backward(
            g_t, xt, [pool_k, pool_k], [pool_k, pool_k], [0, 0], [1, 1], False, idx_t
        )

    return {
        "im2col2d": lambda: F.unfold(xt, k, padding=pad),
        "col2im2d": lambda: F.fold(ct, (H, W), k, padding=pad),
        "maxpool2d_forward": lambda: F.max_pool2d(xt, pool_k, return_indices=True),
        "maxpool2d_backward": pool_bwd,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--c", type=int, default=16)
    ap.add_argument("--hw", type=int, default=28)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--pool", type=int, default=2, help="max-pool kernel = stride")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--dtypes", default="float32,float64")
    args = ap.parse_args()

    N, C, S, k, pk = args.n, args.c, args.hw, args.k, args.pool
    pad = k // 2
    rng = np.random.default_rng(0)
    try:
        import torch

        torch_info = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_info = "torch not installed"
    print(f"N={N} C={C} H=W={S} conv k={k} pad={pad} stride 1; max-pool {pk}x{pk} stride {pk}; {torch_info}")

    for dtype in args.dtypes.split(","):
        bench_dtype(np.dtype(dtype), N, C, S, k, pad, pk, args.repeat, rng)


def bench_dtype(dtype, N, C, S, k, pad, pk, repeat, rng):
    x = rng.standard_normal((N, C, S, S)).astype(dtype)
    x_t = np.ascontiguousarray(x.swapaxes(2, 3)).swapaxes(2, 3)  # same values, H and W swapped in memory
    cols = nb.im2col2d(x, k, k, 1, pad)
    out, arg = nb.maxpool2d_forward(x, pk)
    g = rng.standard_normal(out.shape).astype(dtype)
    cases = {
        "im2col2d": lambda m: m.im2col2d(x, k, k, 1, pad),
        "im2col2d (transposed x)": lambda m: m.im2col2d(x_t, k, k, 1, pad),
        "col2im2d": lambda m: m.col2im2d(cols, x.shape, k, k, 1, pad),
        "im2col1d (L=H*W)": lambda m: m.im2col1d(x.reshape(N, C, S * S), k, 1, pad),
        "maxpool2d_forward": lambda m: m.maxpool2d_forward(x, pk),
        "maxpool2d_backward": lambda m: m.maxpool2d_backward(g, arg, x.shape),
    }
    tcases = torch_cases(x, cols, k, pad, pk, x.shape)
    print(f"\n{dtype}  (median ms over {repeat} runs)")
    head = ["numba", "numpy", "torch", "numpy/numba", "numba/torch"]
    print(f"{'kernel':26s} " + " ".join(f"{h:>11s}" for h in head))
    for name, fn in cases.items():
        t_nb = median_ms(partial(fn, nb), repeat)
        t_np = median_ms(partial(fn, npk), repeat)
        t_t = median_ms(tcases[name], repeat) if name in tcases else float("nan")
        row = [t_nb, t_np, t_t, t_np / t_nb, t_nb / t_t]
        print(f"{name:26s} " + " ".join(f"{v:11.3f}" for v in row))


if __name__ == "__main__":
    main()
