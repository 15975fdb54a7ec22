"""`refimpl.func` against `torch.func` / `torch.autograd.functional` in float64: Jacobians (both modes),
Hessians, Hessian–vector products and per-example gradients of a small MLP loss.

Conventions: refimpl's transforms return refimpl Tensors and take NumPy arrays or Tensors; torch's take
torch tensors.  Parameters are passed as flat tuples on both sides.  Nothing else differs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl import func  # noqa: E402
from refimpl.autograd import ops  # noqa: E402
from refimpl.nn import functional as F  # noqa: E402

R = np.random.default_rng(0)
W1, B1, W2 = R.standard_normal((4, 3)), R.standard_normal(4), R.standard_normal((2, 4))
XS, YS = R.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])


def ours_loss(w1, x=XS, y=YS):
    h = ops.tanh(ops.linear(x, w1, B1))
    return F.cross_entropy(ops.linear(h, W2), y)


TXS, TYS = torch.tensor(XS), torch.tensor(YS)


def torch_loss(w1, x=TXS, y=TYS):
    h = torch.tanh(torch.nn.functional.linear(x, w1, torch.tensor(B1)))
    return torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, torch.tensor(W2)), y)


def test_hessian_and_hvp_match_torch():
    H = func.hessian(ours_loss, W1).data
    Ht = torch.func.hessian(torch_loss)(torch.tensor(W1)).numpy()
    np.testing.assert_allclose(H, Ht, rtol=1e-10, atol=1e-12)
    v = R.standard_normal(W1.shape)
    _, hv = func.hvp(ours_loss, W1, v)
    _, hvt = torch.autograd.functional.hvp(torch_loss, torch.tensor(W1), torch.tensor(v))
    np.testing.assert_allclose(hv.data, hvt.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_matches_torch(mode):
    def f(w1):
        return ops.tanh(ops.linear(XS, w1, B1))

    J = func.jacobian(f, W1, mode=mode).data
    Jt = torch.func.jacrev(
        lambda w: torch.tanh(torch.nn.functional.linear(torch.tensor(XS), w, torch.tensor(B1)))
    )(torch.tensor(W1))
    np.testing.assert_allclose(J, Jt.numpy(), rtol=1e-12, atol=1e-14)


def test_per_example_gradients_match_torch_vmap():
    def ours(w1, x, y):
        return ours_loss(w1, x[None], np.array([y]))

    def theirs(w1, x, y):
        return torch_loss(w1, x[None], y[None])

    per = func.vmap(func.grad(ours), in_dims=(None, 0, 0))(W1, XS, YS).data
    pert = torch.func.vmap(torch.func.grad(theirs), in_dims=(None, 0, 0))(
        torch.tensor(W1), torch.tensor(XS), torch.tensor(YS)
    )
    np.testing.assert_allclose(per, pert.numpy(), rtol=1e-10, atol=1e-12)


def test_jvp_and_nested_grad_match_torch():
    t = R.standard_normal(W1.shape)
    _, jv = func.jvp(ours_loss, (W1,), (t,))
    _, jvt = torch.func.jvp(torch_loss, (torch.tensor(W1),), (torch.tensor(t),))
    np.testing.assert_allclose(jv.data, jvt.numpy(), rtol=1e-10)
    f = lambda x: ops.sum(ops.tanh(x) ** 3)  # noqa: E731
    g3 = func.grad(func.grad(func.grad(f)))(np.array(0.4)).data
    g3t = torch.func.grad(torch.func.grad(torch.func.grad(lambda x: (torch.tanh(x) ** 3).sum())))(
        torch.tensor(0.4, dtype=torch.float64)
    )
    assert g3 == pytest.approx(float(g3t), rel=1e-12)
