"""Time the quantization family's Numba kernels against their NumPy twins (the vectorized expressions),
and PyTorch's fake-quantize / float8 cast when torch is installed.

    PYTHONPATH=. python benchmarks/bench_quant_kernels.py [--rows 512] [--cols 512] [--repeat 20]

Prints the median wall time per kernel and backend in milliseconds and the ratio numpy/numba (> 1 =
Numba faster).  Kernels: per-row integer quantize–dequantize (`quantizers.fake_quant`), FP4 (E2M1) quantize
(`fp_formats.fp_quantize`).
"""

import argparse
import statistics
import time

import numpy as np

from refimpl.techniques.quantization import fp_formats as L
from refimpl.techniques.quantization import quantizers as Q


def median_ms(fn, repeat, warmup=2):
    for _ in range(warmup):  # the first Numba call compiles or loads the cache
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def torch_cases(x, s):
    try:
        import torch
    except ImportError:
        return {}
    xt = torch.from_numpy(x.astype(np.float32))
    st = torch.from_numpy(s.reshape(-1).astype(np.float32))
    zt = torch.zeros(len(s), dtype=torch.int32)
    cases = {"qdq_rows (int4, per row)": lambda: torch.fake_quantize_per_channel_affine(xt, st, zt, 0, -8, 7)}
    if hasattr(torch, "float8_e4m3fn"):
        cases["fp8 e4m3 cast (torch, no saturation)"] = lambda: xt.to(torch.float8_e4m3fn).to(torch.float32)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--cols", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, args.cols))
    qp = Q.quant_params(x, 4, granularity="channel")
    cases = {
        "qdq_rows (int4, per row)": lambda: Q.fake_quant(x, qp),
        "fp_qdq (E2M1)": lambda: L.fp_quantize(x, L.E2M1, 0.5),
    }
    results = {}
    for backend in ("numpy", "numba"):
        Q.kernel_backend(backend)
        for name, fn in cases.items():
            results.setdefault(name, {})[backend] = median_ms(fn, args.repeat)
    Q.kernel_backend("auto")
    for name, fn in torch_cases(x, qp.scale).items():
        results.setdefault(name, {})["torch"] = median_ms(fn, args.repeat)
    print(f"x: {args.rows}×{args.cols} float64, median of {args.repeat} runs (ms)")
    print(f"{'kernel':38s} {'numpy':>9s} {'numba':>9s} {'torch':>9s} {'numpy/numba':>12s}")
    for name, r in results.items():
        nb, npy, th = r.get("numba"), r.get("numpy"), r.get("torch")
        fmt = lambda v: f"{v:9.3f}" if v is not None else f"{'-':>9s}"  # noqa: E731
        ratio = f"{npy / nb:12.2f}" if nb and npy else f"{'-':>12s}"
        print(f"{name:38s} {fmt(npy)} {fmt(nb)} {fmt(th)} {ratio}")


if __name__ == "__main__":
    main()
