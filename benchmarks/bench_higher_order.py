"""Time an exact Hessian–vector product against two gradient evaluations (the finite-difference HVP it
replaces), on the tiny MLP of bench_step.py (64-128-128-10, ReLU, batch 64, float64).

    python benchmarks/bench_higher_order.py [--rounds R]

Rows: one gradient (forward + backward, `Tensor.backward`); two gradients (a central-difference
HVP); the exact HVP (`refimpl.grad(..., create_graph=True)` then a second reverse pass through the
gradient graph); and, when PyTorch is installed, torch's double-backward HVP of the same network.
Pearlmutter's trick costs "about two gradients": the ratio column says how close refimpl comes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import refimpl as rf  # noqa: E402
from refimpl import nn  # noqa: E402
from refimpl.autograd import ops  # noqa: E402
from refimpl.nn import functional as F  # noqa: E402


def _median_ms(fn, rounds: int, inner: int = 20) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner * 1e3)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    model = nn.MLP([64, 128, 128, 10], rng=rng).double()
    params = list(model.parameters())
    x, y = rng.standard_normal((64, 64)), rng.integers(0, 10, 64)
    v = [rng.standard_normal(p.shape) for p in params]

    def gradient():
        for p in params:
            p.grad = None
        F.cross_entropy(model(rf.Tensor(x)), y).backward()

    def two_gradients():
        gradient()
        gradient()

    def exact_hvp():
        gs = rf.grad(F.cross_entropy(model(rf.Tensor(x)), y), params, create_graph=True)
        dot = ops.sum(ops.stack([ops.sum(ops.mul(g, vi)) for g, vi in zip(gs, v)]))
        rf.grad(dot, params)

    rows = [("one gradient", _median_ms(gradient, args.rounds))]
    rows.append(("two gradients (finite-difference HVP)", _median_ms(two_gradients, args.rounds)))
    rows.append(("exact HVP (double backward)", _median_ms(exact_hvp, args.rounds)))
    try:
        import torch

        tm = torch.nn.Sequential(
            torch.nn.Linear(64, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 10),
        ).double()
        tp = list(tm.parameters())
        tx, ty, tv = torch.tensor(x), torch.tensor(y), [torch.tensor(a) for a in v]
        tv = [a.reshape(p.shape) for a, p in zip(tv, tp)]

        def torch_hvp():
            gs = torch.autograd.grad(torch.nn.functional.cross_entropy(tm(tx), ty), tp, create_graph=True)
            torch.autograd.grad(sum((g * a).sum() for g, a in zip(gs, tv)), tp)

        rows.append(("torch exact HVP (double backward)", _median_ms(torch_hvp, args.rounds)))
    except ImportError:
        pass
    base = rows[0][1]
    print(f"{'row':40s} {'ms':>8s} {'× one gradient':>15s}")
    for name, ms in rows:
        print(f"{name:40s} {ms:8.3f} {ms / base:15.2f}")


if __name__ == "__main__":
    main()
