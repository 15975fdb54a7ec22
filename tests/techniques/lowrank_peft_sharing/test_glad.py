"""GLAD — LoRA with a gradient regulariser (Peng et al., 2025; arXiv 2507.13089; reconstructed): the
gradient-norm penalty and its exact double-backward gradient against central differences in float64, a wrong
gradient failing that check, the SAM-referenced first-order form against the exact one, argument errors, the
quick run, and the claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd import ops
from refimpl.autograd.tensor import enable_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear, ReLU, Sequential
from refimpl.nn import functional as F
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import adapters as B
from refimpl.techniques.lowrank_peft_sharing import glad as G
from refimpl.techniques.lowrank_peft_sharing.glad.cases import reference_cases

SLUG = "glad"
RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])


def _loss(W1, W2):
    """A smooth two-layer classifier's cross-entropy (tanh: no kinks for the finite differences)."""
    return F.cross_entropy(ops.tanh(rf.tensor(X) @ W1) @ W2, Y)


def _objective(lam):
    def J(W1, W2):  # gradcheck evaluates under no_grad; the regulariser needs the graph of ∇L anyway
        with enable_grad():
            return G.glad_objective(_loss(W1, W2), [W1, W2], lam)

    return J


def _leaf(a):
    return rf.tensor(a, requires_grad=True)


def _numeric_grad(fn, arrays, eps=1e-6):
    out = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            up = [b.copy() for b in arrays]
            dn = [b.copy() for b in arrays]
            up[i][j] += eps
            dn[i][j] -= eps
            g[j] = (float(fn(*map(_leaf, up)).data) - float(fn(*map(_leaf, dn)).data)) / (2 * eps)
        out.append(g)
    return out


W1_0, W2_0 = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 3))


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("lam", [0.0, 0.3, 2.0])
def test_regulariser_gradient_matches_finite_differences_float64(lam):
    rf.gradcheck(_objective(lam), W1_0, W2_0)


def test_gradient_norm_value_and_its_gradient_by_hand_route():
    # R = ‖∇L‖ from a plain first-order backward; its gradient against central differences of R itself
    W1, W2 = rf.tensor(W1_0, requires_grad=True), rf.tensor(W2_0, requires_grad=True)
    _loss(W1, W2).backward()
    expect = np.sqrt(np.sum(W1.grad**2) + np.sum(W2.grad**2))
    W1, W2 = rf.tensor(W1_0, requires_grad=True), rf.tensor(W2_0, requires_grad=True)
    R = G.gradient_norm(_loss(W1, W2), [W1, W2])
    assert abs(float(R.data) - expect) < 1e-12
    R.backward()
    num = _numeric_grad(lambda a, b: G.gradient_norm(_loss(a, b), [a, b]), [W1_0, W2_0])
    np.testing.assert_allclose(W1.grad, num[0], atol=1e-6)
    np.testing.assert_allclose(W2.grad, num[1], atol=1e-6)


def test_a_wrong_gradient_fails_the_check():
    """Dropping the Hessian term (treating ∇L as a constant, a first-order-only implementation) must fail."""
    lam = 0.5
    W1, W2 = rf.tensor(W1_0, requires_grad=True), rf.tensor(W2_0, requires_grad=True)
    _loss(W1, W2).backward()  # the wrong gradient: g alone, as if R did not depend on φ
    num = _numeric_grad(_objective(lam), [W1_0, W2_0])
    err = max(np.abs(W1.grad - num[0]).max(), np.abs(W2.grad - num[1]).max())
    assert err > 1e-3, err


def test_sam_referenced_form_converges_to_the_exact_gradient():
    lam = 0.2
    W1, W2 = rf.tensor(W1_0, requires_grad=True), rf.tensor(W2_0, requires_grad=True)
    G.glad_objective(_loss(W1, W2), [W1, W2], lam).backward()
    exact = [W1.grad.copy(), W2.grad.copy()]

    def grads(a, b):
        A, Bt = rf.tensor(a, requires_grad=True), rf.tensor(b, requires_grad=True)
        _loss(A, Bt).backward()
        return [A.grad, Bt.grad]

    errs = []
    for rho in (1e-2, 1e-3, 1e-4):
        g = grads(W1_0, W2_0)
        eps = G.sam_perturbation(g, rho)
        g_sam = grads(W1_0 + eps[0], W2_0 + eps[1])
        approx = G.sam_referenced_gradient(g, g_sam, lam / rho)
        errs.append(max(np.abs(a - e).max() for a, e in zip(approx, exact)))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-4, errs  # O(ρ) error


def test_lambda_zero_is_plain_loss_and_bad_arguments_are_named():
    W1, W2 = rf.tensor(W1_0, requires_grad=True), rf.tensor(W2_0, requires_grad=True)
    loss = _loss(W1, W2)
    assert G.glad_objective(loss, [W1, W2], 0.0) is loss
    with pytest.raises(ValueError, match="`lam`"):
        G.glad_objective(loss, [W1, W2], -1.0)
    with pytest.raises(ValueError, match="`rho`"):
        G.sam_perturbation([np.ones(2)], 0.0)
    with pytest.raises(ValueError, match="`beta`"):
        G.sam_referenced_gradient([np.ones(2)], [np.ones(2)], float("nan"))
    with pytest.raises(ValueError, match="`g` has 1"):
        G.sam_referenced_gradient([np.ones(2)], [np.ones(2), np.ones(2)], 0.5)
    with pytest.raises(TypeError, match="`params`"):
        G.GLADLoss([], 0.1)
    with pytest.raises(ValueError, match="one-element"):
        G.gradient_norm(W1, [W1])


def test_glad_loss_trains_only_the_lora_factors():
    model = Sequential(
        Linear(4, 5, dtype=np.float64, rng=np.random.default_rng(1)),
        ReLU(),
        Linear(5, 3, dtype=np.float64, rng=np.random.default_rng(2)),
    )
    w0 = [m.weight.data.copy() for m in (model[0], model[2])]
    B.attach(model, lambda n, layer: G.ADAPTER_FACTORIES["lora-r2"](layer, np.random.default_rng(3)))
    params = B.freeze_base(model)
    loss_fn, opt = G.GLADLoss(params, 0.5), Adam(params, lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        loss_fn(model(rf.tensor(X)), Y).backward()
        opt.step()
    for m, w in zip((model[0], model[2]), w0):
        np.testing.assert_array_equal(m.parametrizations.weight.original.data, w)
    assert all(np.abs(p.data).sum() > 0 for p in params)


def test_quick_run_is_well_formed(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and set(r.notes["arms"]) == {"GLAD", "LoRA r=2", "full FT"}
    rows = {(t["method"], t["seed"]): t for t in r.table}
    # by hand: LoRA r = 2 on 64→128 and 128→128: (64 + 128)·2 + (128 + 128)·2 = 896 trainable
    assert (
        rows[("GLAD", 0)]["trainable_trunk_parameters"]
        == 896
        == rows[("LoRA r=2", 0)]["trainable_trunk_parameters"]
    )
    assert all(p["values"] for p in r.premises)


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premises_present():
    """Few-shot LoRA overfits and the noise shift hurts it, both with the whole interval past the threshold."""
    for p in full().premises:
        assert p["present"] and p["interval"]["low"] > p["threshold"], (p["statement"], p["interval"])


def test_full_run_glad_gain_over_lora_is_small_on_this_toy():
    """Measured (5 seeds): GLAD's accuracy gain over LoRA, clean and noisy, is within about a point or two —
    no interval reaches +3 points, and GLAD is never worse than LoRA by more than a point."""
    for c in full().claims:
        if c["metric"] in ("test_accuracy", "shifted_test_accuracy"):
            assert -0.01 < c["interval"]["low"] and c["interval"]["high"] < 0.03, (
                c["statement"],
                c["interval"],
            )


def test_full_run_glad_is_not_flatter_by_sam_sharpness():
    """Measured contradiction: at the selected λ the SAM sharpness on the training shots is slightly higher
    than LoRA's (the whole interval above zero), so the flatness mechanism does not show on this toy."""
    c = next(c for c in full().claims if c["metric"] == "sharpness")
    assert c["interval"]["low"] > 0, c["interval"]
