"""SignRound: hand cases, the STE gradient of the rounding offset, the tuning loop, the demo's claim."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.autograd import ops
from refimpl.techniques.quantization import signround as S


def test_reference_cases():
    for case in S.reference_cases():
        case.check()


def test_rtn_asym_matches_hand_grid():
    W = np.array([[-0.3, 0.1, 0.9], [0.2, 0.4, 0.0]])
    # row 2: lo = 0, hi = 0.4, 2 bits: s = 0.4/3, zp = 0; W/s = [1.5, 3, 0] → round half even [2, 3, 0]
    np.testing.assert_allclose(S.rtn_asym(W, 2)[1], np.array([2, 3, 0]) * 0.4 / 3, atol=1e-12)


def test_offset_gradient_is_s_times_output_gradient_inside_the_grid():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 5))
    X, G = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    V = Tensor(rng.uniform(-0.3, 0.3, W.shape), requires_grad=True)
    a = Tensor(np.ones((3, 1)), requires_grad=True)
    b = Tensor(np.ones((3, 1)), requires_grad=True)
    W_hat = S.qdq_tensor(W, V, a, b, 3)
    ops.matmul(Tensor(X), W_hat.T).backward(G)
    # independent: ∂L/∂Ŵ = Gᵀ X; STE: ∂Ŵ/∂V = s inside the code range, 0 where the code was clipped
    s = (np.maximum(W.max(1), 0) - np.minimum(W.min(1), 0))[:, None] / 7
    zp = np.rint(-np.minimum(W.min(1), 0)[:, None] / s)
    code = np.rint(W / s + V.data) + zp
    inside = (code >= 0) & (code <= 7)
    np.testing.assert_allclose(V.grad, (G.T @ X) * s * inside, atol=1e-12)
    assert a.grad is not None and b.grad is not None


def test_tuning_never_worse_than_its_start_and_stays_in_the_box():
    rng = np.random.default_rng(1)
    W, X = rng.normal(size=(6, 8)), rng.normal(size=(64, 8))
    Y = X @ W.T
    r = S.signround(W, None, X, Y, 3, iters=40, seed=0)
    assert r["best_loss"] <= r["losses"][0] and r["best_loss"] < r["losses"][0]
    assert np.all(np.abs(r["V"]) <= 0.5) and np.all((r["alpha"] >= 0) & (r["alpha"] <= 1))
    full = np.mean((X @ r["W_hat"].T - Y) ** 2)
    assert full < np.mean((X @ S.rtn_asym(W, 3).T - Y) ** 2)
    # the result lies on its own grid: codes are integers within [0, 2^b − 1]
    wmax, wmin = np.maximum(W.max(1), 0) * r["alpha"], np.minimum(W.min(1), 0) * r["beta"]
    s = ((wmax - wmin) / 7)[:, None]
    zp = np.rint(-wmin[:, None] / s)
    codes = r["W_hat"] / s + zp
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-9)
    assert codes.min() > -1e-9 and codes.max() < 7 + 1e-9


def test_bad_inputs():
    with pytest.raises(ValueError, match="V"):
        S.signround_qdq(np.ones((2, 2)), np.zeros((2, 3)), [1, 1], [1, 1], 4)
    with pytest.raises(ValueError, match="iters"):
        S.signround(np.ones((2, 2)), None, np.ones((3, 2)), np.ones((3, 2)), 4, iters=0)
    with pytest.raises(ValueError, match="X"):
        S.signround(np.ones((2, 2)), None, np.ones((3, 5)), np.ones((3, 2)), 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_claim_holds(seed, demo_result):
    r = demo_result("signround", seed)
    m = r["metrics"]
    assert r["claim"]["holds"], r["table"]
    for b in (4, 3, 2):
        assert m[f"err_w{b}_signround"] < 0.7 * m[f"err_w{b}_rtn"]
    assert m["acc_w2_signround"] > m["acc_w2_rtn"] + 0.005
