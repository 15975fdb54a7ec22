"""Lion and Lion-𝒦 (𝒦 = ‖·‖₂) against hand-written float64 PyTorch steps (torch has no Lion).

The torch side follows the Lion paper's pseudo-code (Chen et al. 2023, arXiv 2302.06675): decay
x ← x(1 − ηλ), then x ← x − η·∇𝒦(β1 m + (1−β1) g), then m ← β2 m + (1−β2) g, with ∇𝒦 = sign or
c/‖c‖ per tensor.  Five steps with random gradients, 1e-12.  Skipped when torch is absent.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl.nn import Parameter  # noqa: E402
from refimpl.techniques.optimizers_training_rules import lion_constrained as L  # noqa: E402

SHAPES = [(3, 4), (5,)]


def torch_lion(xs, grads, lr, b1, b2, wd, K):
    xs = [torch.tensor(x, dtype=torch.float64) for x in xs]
    m = [torch.zeros_like(x) for x in xs]
    for gs in grads:
        for i, g in enumerate(gs):
            g = torch.tensor(g, dtype=torch.float64)
            c = b1 * m[i] + (1 - b1) * g
            if K == "l1":
                d = torch.sign(c)
            else:
                n = torch.linalg.vector_norm(c)
                d = c / n if n > 0 else torch.zeros_like(c)
            xs[i] = xs[i] * (1 - lr * wd) - lr * d
            m[i] = b2 * m[i] + (1 - b2) * g
    return [x.numpy() for x in xs]


@pytest.mark.parametrize("K", ["l1", "l2"])
@pytest.mark.parametrize("wd", [0.0, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_lion_matches_torch(K, wd, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(5)]
    ps = [Parameter(x.copy()) for x in xs]
    opt = L.LionK(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=wd, K=K)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = g.copy()
        opt.step()
    theirs_all = torch_lion(xs, grads, 0.01, 0.9, 0.99, wd, K)
    for i, (ours, theirs) in enumerate(zip([p.data for p in ps], theirs_all)):
        err = np.abs(ours - theirs).max()
        assert np.allclose(ours, theirs, rtol=1e-12, atol=1e-12), f"Lion-{K}: param {i} max abs err {err:.3g}"
