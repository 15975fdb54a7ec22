"""Time one training step (forward, backward, SGD update): refimpl vs hand-written NumPy vs PyTorch.

    python benchmarks/bench_step.py [--quick] [--rounds R] [--threads N] [--clock wall|cpu]
                                    [--cases tiny,large,cnn,grid] [--no-torch] [--no-profile]

Cases (float32, cross-entropy loss, plain SGD lr=0.01):
  tiny   MLP 64-128-128-10, ReLU, batch 64
  large  MLP 784-1024-1024-10, ReLU, batch 256
  cnn    conv 1→8 3×3 pad 1, ReLU, max-pool 2, conv 8→16 3×3 pad 1, ReLU, max-pool 2, linear 784→10;
         1×28×28 inputs, batch 64
  grid   MLP w-w-w-10 at w = 32, 128 and batch 1, 64 (cases mlp32b1 … mlp128b64; any mlp<w>b<batch> works)

refimpl uses refimpl.nn (Linear, Conv2d, ReLU, MaxPool2d, Flatten, Sequential) and refimpl.optim.SGD;
"numpy" is the same step written by hand with NumPy (the floor an autograd on NumPy can approach);
"torch" is torch.nn + torch.optim.SGD at torch's default thread count; "compiled" is the refimpl step
under `refimpl.compile` (recorded once, replayed); "jax" the MLP step under `jax.jit` when JAX is installed.  All three start from the same
weights, and the script checks that their losses agree after a few steps, so they compute the same step.
Implementations are interleaved (each round times every implementation, in rotating order) so that
load from other processes hits them alike; the table shows the median over rounds of the per-step
time.  Then: `import refimpl` timed in fresh subprocesses, and a cProfile of the tiny-MLP refimpl step.
See benchmarks/README.md for the columns and targets.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import refimpl  # noqa: E402
import refimpl.nn as rnn  # noqa: E402
import refimpl.nn.functional as F  # noqa: E402
from refimpl.optim import SGD  # noqa: E402

try:
    import torch
except ImportError:  # the torch column is then left out
    torch = None
try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
except ImportError:  # the JAX-jit column is then left out
    jax = None

LR = 0.01
DT = np.float32
TARGETS = {  # (case, ratio column): bound
    ("tiny", "refimpl/numpy"): 1.3,
    ("tiny", "refimpl/torch"): 0.6,
    ("large", "refimpl/numpy"): 1.1,
    ("cnn", "refimpl/torch"): 2.0,
    ("tiny", "compiled/numpy"): 1.0,
    ("tiny", "compiled/jax"): 1.5,
}
# the grid: MLP w-w-w-10 at widths 32 and 128, batch 1 and 64 ("mlp{w}b{batch}" cases)
GRID = ("mlp32b1", "mlp32b64", "mlp128b1", "mlp128b64")
for _case in GRID:
    TARGETS[(_case, "refimpl/numpy")] = 1.1
    TARGETS[(_case, "compiled/numpy")] = 1.0
IMPORT_TARGET = 0.3
CLOCK = time.perf_counter  # --clock cpu switches to time.process_time


# =================================================================================================
# models: refimpl builds them, the NumPy and torch versions copy its initial weights
# =================================================================================================
def refimpl_mlp(sizes, seed):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(rnn.Linear(a, b, rng=seed + i))
        if i < len(sizes) - 2:
            layers.append(rnn.ReLU())
    return rnn.Sequential(*layers)


def refimpl_cnn(seed):
    return rnn.Sequential(
        rnn.Conv2d(1, 8, 3, padding=1, rng=seed),
        rnn.ReLU(),
        rnn.MaxPool2d(2),
        rnn.Conv2d(8, 16, 3, padding=1, rng=seed + 1),
        rnn.ReLU(),
        rnn.MaxPool2d(2),
        rnn.Flatten(),
        rnn.Linear(16 * 7 * 7, 10, rng=seed + 2),
    )


def weights_of(model):
    """[(W, b), ...] copies of the refimpl model's layers, in order."""
    ps = [p.data.copy() for p in model.parameters()]
    return [(ps[i], ps[i + 1]) for i in range(0, len(ps), 2)]


def torch_model(case, weights):
    nn = torch.nn
    if case == "cnn":
        m = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 10),
        )
    else:
        mods = []
        for i, (w, _) in enumerate(weights):
            mods.append(nn.Linear(w.shape[1], w.shape[0]))
            if i < len(weights) - 1:
                mods.append(nn.ReLU())
        m = nn.Sequential(*mods)
    with torch.no_grad():
        layers = [mod for mod in m if isinstance(mod, (nn.Linear, nn.Conv2d))]
        for mod, (w, b) in zip(layers, weights):
            mod.weight.copy_(torch.from_numpy(w))
            mod.bias.copy_(torch.from_numpy(b))
    return m


# =================================================================================================
# the hand-written NumPy steps (the floor)
# =================================================================================================
def _ce_grad(logits, y):
    """Mean softmax cross-entropy and its gradient w.r.t. the logits."""
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(n), y]))
    g = e / s
    g[np.arange(n), y] -= 1
    g /= n
    return loss, g


def numpy_mlp_step(weights, x, y):
    acts = [x]
    h = x
    for i, (w, b) in enumerate(weights):
        h = h @ w.T + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0)
            acts.append(h)
    loss, g = _ce_grad(h, y)
    for i in range(len(weights) - 1, -1, -1):
        w, b = weights[i]
        a = acts[i]
        gw, gb = g.T @ a, g.sum(axis=0)
        if i > 0:
            g = (g @ w) * (a > 0)
        w -= LR * gw
        b -= LR * gb
    return loss


def jax_mlp_step(weights, x, y):
    """The MLP step in JAX under jit (the whole step, update included, one compiled XLA function)."""
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(params):
        h = xj
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jnp.maximum(h, 0)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, yj[:, None], axis=1))

    @jax.jit
    def update(params):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return loss, [(w - LR * gw, b - LR * gb) for (w, b), (gw, gb) in zip(params, grads)]

    state = {"params": params}

    def step():
        loss, state["params"] = update(state["params"])
        return float(loss)

    return step


def _im2col3x3(x):
    """x (N, C, H, W), 3×3 kernel, padding 1, stride 1 -> (N, C·9, H·W)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # (N, C, H, W, 3, 3)
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c * 9, h * w)


def _col2im3x3(cols, shape):
    n, c, h, w = shape
    cols = cols.reshape(n, c, 3, 3, h, w)
    dxp = np.zeros((n, c, h + 2, w + 2), dtype=cols.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i : i + h, j : j + w] += cols[:, :, i, j]
    return dxp[:, :, 1:-1, 1:-1]


def _pool2(x):
    """2×2 max-pool, stride 2 -> (out, index of the first maximum within each window)."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(axis=-1)
    return np.take_along_axis(win, idx[..., None], -1)[..., 0], idx


def _unpool2(g, idx, shape):
    n, c, h, w = shape
    win = np.zeros((n, c, h // 2, w // 2, 4), dtype=g.dtype)
    np.put_along_axis(win, idx[..., None], g[..., None], -1)
    return win.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def numpy_cnn_step(weights, x, y):
    (w1, b1), (w2, b2), (w3, b3) = weights
    n = x.shape[0]
    c1 = _im2col3x3(x)
    z1 = (w1.reshape(8, -1) @ c1).reshape(n, 8, 28, 28) + b1[:, None, None]
    r1 = np.maximum(z1, 0)
    p1, i1 = _pool2(r1)
    c2 = _im2col3x3(p1)
    z2 = (w2.reshape(16, -1) @ c2).reshape(n, 16, 14, 14) + b2[:, None, None]
    r2 = np.maximum(z2, 0)
    p2, i2 = _pool2(r2)
    f = p2.reshape(n, -1)
    logits = f @ w3.T + b3
    loss, g = _ce_grad(logits, y)
    gw3, gb3 = g.T @ f, g.sum(0)
    g = (g @ w3).reshape(p2.shape)
    g = _unpool2(g, i2, r2.shape) * (z2 > 0)
    g2 = g.reshape(n, 16, -1)
    gw2 = np.matmul(g2, c2.transpose(0, 2, 1)).sum(0).reshape(w2.shape)
    gb2 = g2.sum(axis=(0, 2))
    g = _col2im3x3(np.matmul(w2.reshape(16, -1).T, g2), p1.shape)
    g = _unpool2(g, i1, r1.shape) * (z1 > 0)
    g1 = g.reshape(n, 8, -1)
    gw1 = np.matmul(g1, c1.transpose(0, 2, 1)).sum(0).reshape(w1.shape)
    gb1 = g1.sum(axis=(0, 2))
    for (w, b), (gw, gb) in zip(weights, [(gw1, gb1), (gw2, gb2), (gw3, gb3)]):
        w -= LR * gw
        b -= LR * gb
    return loss


# =================================================================================================
# one step of each implementation, as a closure
# =================================================================================================
def mlp_shape(case):
    """(layer sizes, batch) of an MLP case: tiny, large, or mlp{w}b{batch} (w-w-w-10)."""
    if case == "tiny":
        return (64, 128, 128, 10), 64
    if case == "large":
        return (784, 1024, 1024, 10), 256
    m = re.fullmatch(r"mlp(\d+)b(\d+)", case)
    if m is None:
        sys.exit(f"unknown case {case!r}: tiny, large, cnn, grid or mlp<width>b<batch>")
    w = int(m[1])
    return (w, w, w, 10), int(m[2])


def make_steps(case, use_torch, seed=0):
    rng = np.random.default_rng(seed)
    if case == "cnn":
        model = refimpl_cnn(seed)
        x = rng.standard_normal((64, 1, 28, 28)).astype(DT)
    else:
        sizes, batch = mlp_shape(case)
        model = refimpl_mlp(sizes, seed)
        x = rng.standard_normal((batch, sizes[0])).astype(DT)
    y = rng.integers(0, 10, x.shape[0])
    weights = weights_of(model)
    opt = SGD(model.parameters(), lr=LR)
    xt = refimpl.tensor(x)

    def ref_step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
        return float(loss.data)

    np_weights = [(w.copy(), b.copy()) for w, b in weights]
    np_fn = numpy_cnn_step if case == "cnn" else numpy_mlp_step

    def np_step():
        return np_fn(np_weights, x, y)

    # the same refimpl step, recorded once and replayed (refimpl.compile), on its own copy of the model
    model_c = refimpl_cnn(seed) if case == "cnn" else refimpl_mlp(sizes, seed)
    opt_c = SGD(model_c.parameters(), lr=LR)

    @refimpl.compile
    def compiled_step(x, y):
        opt_c.zero_grad()
        loss = F.cross_entropy(model_c(refimpl.tensor(x)), y)
        loss.backward()
        opt_c.step()
        return loss

    steps = {"refimpl": ref_step, "compiled": lambda: float(compiled_step(x, y).data), "numpy": np_step}
    if jax is not None and case != "cnn":
        steps["jax"] = jax_mlp_step(weights, x, y)
    if use_torch:
        tm = torch_model(case, weights)
        topt = torch.optim.SGD(tm.parameters(), lr=LR)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        lossf = torch.nn.functional.cross_entropy

        def torch_step():
            topt.zero_grad()
            loss = lossf(tm(tx), ty)
            loss.backward()
            topt.step()
            return float(loss.detach())

        steps["torch"] = torch_step
    return steps


def check_same_step(case, use_torch, n=4):
    """Fresh copies of every implementation take n steps from the same weights: losses must agree."""
    steps = make_steps(case, use_torch)
    losses = {k: [f() for _ in range(n)] for k, f in steps.items()}
    ref = np.array(losses["refimpl"])
    if losses["compiled"] != losses["refimpl"]:  # a replay is bit-identical to the eager step
        raise AssertionError(f"{case}: compiled losses {losses['compiled']} differ from eager {list(ref)}")
    for k, v in losses.items():
        if not np.allclose(v, ref, rtol=1e-4, atol=1e-5):
            raise AssertionError(
                f"{case}: {k} losses {v} differ from refimpl's {list(ref)}: not the same step"
            )
    return ref[-1]


def time_interleaved(steps, rounds, target_s=0.05, warmup=3):
    """Median seconds per step for each implementation, rounds interleaved in rotating order."""
    names = list(steps)
    inner = {}
    for k in names:  # warm up (Numba kernels load, BLAS spins up), then size the inner loop
        for _ in range(warmup):
            steps[k]()
        t0 = CLOCK()
        steps[k]()
        inner[k] = max(1, int(target_s / max(CLOCK() - t0, 1e-6)))
    times = {k: [] for k in names}
    for r in range(rounds):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            f, m = steps[k], inner[k]
            t0 = CLOCK()
            for _ in range(m):
                f()
            times[k].append((CLOCK() - t0) / m)
    return {k: statistics.median(v) for k, v in times.items()}, times


# =================================================================================================
# import time and profile
# =================================================================================================
def import_time(module, repeats):
    """(median, min) seconds of `import module` in fresh interpreters (interpreter start-up excluded)."""
    clock = "process_time" if CLOCK is time.process_time else "perf_counter"
    code = f"import time; t = time.{clock}(); import {module}; print(time.{clock}() - t)"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = []
    for _ in range(repeats):
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        out.append(float(res.stdout.strip()))
    return statistics.median(out), min(out)


def profile_tiny(n_steps, top):
    step = make_steps("tiny", use_torch=False)["refimpl"]
    for _ in range(5):
        step()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(n_steps):
        step()
    prof.disable()
    wall = (time.perf_counter() - t0) / n_steps
    s = io.StringIO()
    st = pstats.Stats(prof, stream=s).strip_dirs().sort_stats("tottime")
    st.print_stats(top)
    total = sum(v[2] for v in st.stats.values())  # total tottime
    buckets = {}
    for (fname, _, func), v in st.stats.items():
        key = _bucket(fname, func)
        buckets[key] = buckets.get(key, 0.0) + v[2]
    return wall, s.getvalue(), {k: v / total for k, v in sorted(buckets.items(), key=lambda kv: -kv[1])}


def _bucket(fname, func):
    """Group profiled functions: NumPy's compute vs the Python layers around it."""
    if fname == "~" or fname.startswith("<"):
        return "C builtins (numpy ufuncs/BLAS, dict/tuple ops)"
    if fname in ("tensor.py",):
        return "engine: Tensor methods and backward walk (tensor.py)"
    if fname == "function.py":
        return "engine: Function.apply / unbroadcast (function.py)"
    if fname in ("sgd.py", "optimizer.py"):
        return "optimizer (sgd.py, optimizer.py)"
    if fname in ("module.py", "container.py", "linear.py", "activation.py"):
        return "nn modules (__call__, forward, checks)"
    if fname == "linalg.py":
        return "Linear forward/backward (the BLAS matmuls: the work itself)"
    if fname in ("elementwise.py", "nnops.py", "reduce.py", "shape.py", "functional.py"):
        return "other op bodies: relu, cross-entropy, reductions (ops/*.py, functional.py)"
    return "numpy Python wrappers (fromnumeric etc.) and other"


def per_op_overhead():
    """Microseconds per node on 4-element arrays, where NumPy's own work is negligible."""
    import timeit

    from refimpl.autograd import ops

    a = refimpl.tensor(np.ones(4, DT), requires_grad=True)
    b = refimpl.tensor(np.ones(4, DT), requires_grad=True)
    ad, bd = a.data, b.data
    n_chain = 20

    def chain_fwd_bwd():
        y = a
        for _ in range(n_chain):
            y = y * b
        y.sum().backward()

    def chain_numpy():
        y, ys = ad, []
        for _ in range(n_chain):
            ys.append(y)
            y = y * bd
        g, gb = np.ones_like(y), np.zeros_like(bd)
        for x in reversed(ys):
            gb += g * x
            g = g * bd

    def best(fn, number):
        return min(timeit.repeat(fn, number=number, repeat=7, timer=CLOCK)) / number * 1e6

    def long_graph(n=100_000):  # µs per recorded op while a graph of n nodes is built (then dropped)
        t0 = CLOCK()
        y = a
        for _ in range(n):
            y = ops.mul(y, b)
        return (CLOCK() - t0) / n * 1e6

    with refimpl.no_grad():
        no_grad_mul = best(lambda: ops.mul(a, b), 20000)
    long_on = min(long_graph() for _ in range(3))
    with refimpl.autograd.gc_paused():
        long_paused = min(long_graph() for _ in range(3))
    return {
        "numpy a*b": best(lambda: ad * bd, 20000),
        "refimpl a*b, recorded (forward only)": best(lambda: ops.mul(a, b), 20000),
        "refimpl a*b on plain ndarrays (nothing recorded)": best(lambda: ops.mul(ad, bd), 20000),
        "refimpl a*b under no_grad": no_grad_mul,
        "refimpl a*2.0 (scalar operand)": best(lambda: a * 2.0, 20000),
        "refimpl sum()": best(lambda: ops.sum(a), 20000),
        "mul chain fwd+bwd, refimpl, per node": best(chain_fwd_bwd, 500) / (n_chain + 1),
        "mul chain fwd+bwd, NumPy by hand, per node": best(chain_numpy, 500) / (n_chain + 1),
        "recording an op in a 10⁵-node graph, collector on": long_on,
        "recording an op in a 10⁵-node graph, gc_paused()": long_paused,
    }


# =================================================================================================
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few rounds, short profile (a smoke run)")
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds per case (default 15, quick 5)")
    ap.add_argument("--cases", default="tiny,large,cnn", help="comma-separated; 'grid' = " + ",".join(GRID))
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: perf_counter; cpu: process CPU time, steadier on a busy machine but it adds up "
        "the time of all threads, so use it with --threads 1",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit NumPy's BLAS and torch to N threads (default: each library's own default)",
    )
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            sys.exit("--threads needs threadpoolctl (pip install threadpoolctl)")
        threadpool_limits(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    rounds = args.rounds or (5 if args.quick else 15)
    use_torch = torch is not None and not args.no_torch
    target_s = 0.02 if args.quick else 0.1

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{d['internal_api']} {d['num_threads']} threads"
            for d in threadpool_info()
            if d["user_api"] == "blas"
        )
    except ImportError:
        blas = "BLAS threads unknown (threadpoolctl missing)"
    tinfo = (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads" if use_torch else "torch: not used"
    )
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__} ({blas}); {tinfo}; "
        f"kernels backend {refimpl.kernels.backend()}; {os.cpu_count()} CPUs"
    )
    print(
        f"{rounds} interleaved rounds per case, ~{target_s * 1e3:.0f} ms of steps per implementation "
        "per round, "
        f"{args.clock} clock\n"
    )

    header = (
        f"{'case':<9} {'refimpl ms':>10} {'numpy ms':>9} {'torch ms':>9} {'ref/numpy':>10} {'ref/torch':>10}"
        f" {'(min-based)':>16}  targets (on the medians)"
    )
    compiled_rows = []
    print(header)
    print("-" * len(header))
    results = {}
    cases = [c for name in args.cases.split(",") for c in (GRID if name == "grid" else (name,))]
    for case in cases:
        check_same_step(case, use_torch)
        med, times = time_interleaved(make_steps(case, use_torch), rounds, target_s)
        low = {k: min(v) for k, v in times.items()}
        results[case] = med
        r_np, r_t = med["refimpl"] / med["numpy"], med["refimpl"] / med.get("torch", float("nan"))
        m_np, m_t = low["refimpl"] / low["numpy"], low["refimpl"] / low.get("torch", float("nan"))
        notes = []
        for (c, col), bound in TARGETS.items():
            if c != case or (col == "refimpl/torch" and not use_torch):
                continue
            if col.startswith("compiled"):
                continue
            val = r_np if col == "refimpl/numpy" else r_t
            notes.append(f"{col} ≤ {bound}: {'ok' if val <= bound else 'MISSED'}")
        compiled_rows.append((case, med, low))
        tms = f"{med['torch'] * 1e3:9.3f}" if "torch" in med else f"{'-':>9}"
        rts, mts = (f"{r_t:10.2f}", f"{m_t:5.2f}") if "torch" in med else (f"{'-':>10}", f"{'-':>5}")
        print(
            f"{case:<9} {med['refimpl'] * 1e3:10.3f} {med['numpy'] * 1e3:9.3f} {tms} {r_np:10.2f} {rts}"
            f" {m_np:7.2f} / {mts}  " + "; ".join(notes)
        )

    print(
        f"\nrefimpl.compile (the same step recorded once, then replayed) and JAX under jit "
        f"({'jax ' + jax.__version__ if jax is not None else 'JAX not installed'}; MLPs only)"
    )
    head2 = (
        f"{'case':<9} {'compiled ms':>11} {'jax ms':>8} {'comp/eager':>10} {'comp/numpy':>10} {'comp/torch':>10}"
        f" {'comp/jax':>8} {'(min-based comp/numpy)':>23}  targets"
    )
    print(head2)
    print("-" * len(head2))
    for case, med, low in compiled_rows:
        c = med["compiled"]
        ratios = {
            "eager": c / med["refimpl"],
            "numpy": c / med["numpy"],
            "torch": c / med["torch"] if "torch" in med else None,
            "jax": c / med["jax"] if "jax" in med else None,
        }
        notes = [
            f"{col} ≤ {bound}: {'ok' if ratios[col.split('/')[1]] <= bound else 'MISSED'}"
            for (cs, col), bound in TARGETS.items()
            if cs == case and col.startswith("compiled") and ratios[col.split("/")[1]] is not None
        ]

        def fmt(v, w):
            return f"{v:{w}.2f}" if v is not None else f"{'-':>{w}}"

        jms = f"{med['jax'] * 1e3:8.3f}" if "jax" in med else f"{'-':>8}"
        print(
            f"{case:<9} {c * 1e3:11.3f} {jms} {fmt(ratios['eager'], 10)} {fmt(ratios['numpy'], 10)} "
            f"{fmt(ratios['torch'], 10)} {fmt(ratios['jax'], 8)} {low['compiled'] / low['numpy']:23.2f}  "
            + "; ".join(notes)
        )

    reps = 5 if args.quick else 11
    t_imp, t_imp_min = import_time("refimpl", reps)
    t_np, t_np_min = import_time("numpy", reps)
    print(
        f"\nimport refimpl: median {t_imp:.3f} s, min {t_imp_min:.3f} s over {reps} fresh interpreters "
        f"(numpy alone: median {t_np:.3f} s, min {t_np_min:.3f} s); target < {IMPORT_TARGET} s: "
        f"{'ok' if t_imp < IMPORT_TARGET else 'MISSED'}"
    )

    if not args.no_profile:
        n = 50 if args.quick else 300
        wall, text, buckets = profile_tiny(n, top=25 if not args.quick else 12)
        print(
            f"\ncProfile of the tiny-MLP refimpl step ({n} steps, "
            f"{wall * 1e3:.3f} ms/step under the profiler)"
        )
        print("share of total time by layer:")
        for k, v in buckets.items():
            print(f"  {v * 100:5.1f} %  {k}")
        print(text)
        print("per-op overhead on 4-element float32 arrays (best of 7, µs):")
        for k, v in per_op_overhead().items():
            print(f"  {v:7.2f}  {k}")
    return results


if __name__ == "__main__":
    main()
