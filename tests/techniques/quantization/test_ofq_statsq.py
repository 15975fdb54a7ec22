"""OFQ: StatsQ against its hand case and grid contract, the CGA mask and callback, the oscillation tracker,
QKR (scores, gradients, the coupled jolt), the per-channel LSQ baseline (gradients, init, the official
code's details), the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import Linear
from refimpl.nn.parametrize import register_parametrization
from refimpl.techniques.quantization import ofq_statsq as O
from refimpl.techniques.quantization.ofq_statsq.cases import reference_cases
from refimpl.techniques.quantization.quantizers import round_ste

SLUG = "ofq-statsq"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_statsq_grid_contract(bits):
    W = np.random.default_rng(bits).normal(size=(5, 40))
    q = O.statsq_quantize(W, bits)
    k = O.statsq_levels(W, bits)
    n = 2 ** (bits - 1)
    assert k.min() >= -n and k.max() <= n - 1  # 2^b codes
    s = O.statsq_scale(W)
    np.testing.assert_allclose(q, s * (k + 0.5) / n)  # on the zero-free grid
    inside = np.abs(W / s) < 1 - 1e-6
    assert np.all(np.abs(W - q)[inside] <= (s / (2 * n) * np.ones_like(W))[inside] + 1e-12)  # ≤ step/2
    # idempotent for a fixed scale: re-quantizing Ŵ/s on the same grid gives the same levels
    np.testing.assert_array_equal(np.rint(np.clip(q / s, -1, 1 - 1e-6) * n - 0.5), k)


def test_one_bit_is_rejected():
    with pytest.raises(ValueError, match="bits"):
        O.statsq_quantize(np.ones((2, 2)), 1)


def test_statsq_ste_gradient_is_identity():
    layer = Linear(4, 3, dtype=np.float64, rng=0)
    register_parametrization(layer, "weight", O.StatsQWeight(2))
    g = np.random.default_rng(0).normal(size=(5, 3))
    layer(Tensor(np.ones((5, 4)))).backward(g)
    np.testing.assert_allclose(layer.parametrizations.weight.original.grad, g.T @ np.ones((5, 4)))


def test_tracker_counts_match_brute_force():
    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.integers(-1, 2, size=(50, 6)), axis=0)
    got = O.count_oscillations(list(traj))
    brute = 0
    for j in range(6):  # independent: reversals of the sequence of non-zero changes
        d = np.sign(np.diff(traj[:, j]))
        d = d[d != 0]
        brute += int(np.sum(d[1:] * d[:-1] == -1))
    assert got == brute


def test_cga_callback_freezes_confident_weights_in_a_training_step():
    from refimpl.experiments import tasks, train
    from refimpl.nn import Sequential

    layer = Linear(64, 10, dtype=np.float64, rng=0)
    register_parametrization(layer, "weight", O.StatsQWeight(2))
    lat = layer.parametrizations.weight.original
    before = lat.data.copy()
    keep = O.cga_trainable_mask(before, 2, 0.05)
    assert 0 < keep.sum() < keep.size
    t = tasks.digits()
    xs, ys = t.x_train[:32].astype(np.float64), t.y_train[:32]
    cb = O.CGACallback([lat], 2, 0.05, start=0)
    train(Sequential(layer), t, lr=1e-2, epochs=1, seed=0, x=xs, y=ys, callbacks=[cb])
    np.testing.assert_array_equal(lat.data[~keep], before[~keep])  # confident weights did not move
    assert np.any(lat.data[keep] != before[keep])  # the undecided ones trained
    before = lat.data.copy()
    frozen = ~O.cga_trainable_mask(before, 2, 0.05)
    late = O.CGACallback([lat], 2, 0.05, start=10)  # before `start` nothing is frozen
    train(Sequential(layer), t, lr=1e-2, epochs=1, seed=0, x=xs, y=ys, callbacks=[late])
    assert np.any(lat.data[frozen] != before[frozen])


# --- query–key reparameterisation (QKR) -----------------------------------------------------------
def _scores_by_loop(x, Wq, Wk, H, scale):
    """Independent: per batch item and head, (x W_q^hᵀ)(x W_k^hᵀ)ᵀ·scale with explicit slicing."""
    B, N, C = x.shape
    d = Wq.shape[0] // H
    out = np.zeros((B, H, N, N))
    for b in range(B):
        for h in range(H):
            q = x[b] @ Wq[h * d : (h + 1) * d].T
            k = x[b] @ Wk[h * d : (h + 1) * d].T
            out[b, h] = q @ k.T * scale
    return out


@pytest.mark.parametrize("H", [1, 2, 4])
def test_qkr_scores_equal_original_when_not_quantized(H):
    rng = np.random.default_rng(H)
    x, Wq, Wk = rng.normal(size=(3, 5, 8)), rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    scale = (8 // H) ** -0.5
    expected = _scores_by_loop(x, Wq, Wk, H, scale)
    qkr = O.quantized_attention_scores(x, Wq, Wk, H, None, reparam=True).data
    plain = O.attention_scores(x, Wq, Wk, H).data
    assert qkr.dtype == np.float64
    np.testing.assert_allclose(qkr, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(plain, expected, rtol=0, atol=1e-10)
    Wqk = O.qk_reparam_weight(Wq, Wk, H)  # per head W_q^hᵀ W_k^h
    d = 8 // H
    for h in range(H):
        np.testing.assert_allclose(Wqk[h], Wq[h * d : (h + 1) * d].T @ Wk[h * d : (h + 1) * d], atol=1e-12)


def test_qkr_gradcheck():
    from refimpl import gradcheck

    rng = np.random.default_rng(0)
    arrays = (rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 4)), rng.normal(size=(4, 4)))
    x, Wq, Wk = (Tensor(a, requires_grad=True) for a in arrays)
    w = rng.normal(size=(2, 2, 3, 3))
    for reparam in (True, False):
        fn = lambda x, q, k: (O.quantized_attention_scores(x, q, k, 2, None, reparam=reparam) * w).sum()  # noqa: E731,B023
        assert gradcheck(fn, x, Wq, Wk)


def _hand_qk_grads(x, g, Wq_used_for_k, Wk_used_for_q, H, scale):
    """Hand derivation: scores_h = c·x W_q^hᵀ W_k^h xᵀ; with Ḡ_h = c·Σ_b x_bᵀ g_bh x_b,
    ∂/∂W_q^h = W_k^h Ḡ_hᵀ and ∂/∂W_k^h = W_q^h Ḡ_h (W_k^h, W_q^h being whatever enters the product)."""
    d = Wq_used_for_k.shape[0] // H
    gq, gk = np.zeros_like(Wq_used_for_k), np.zeros_like(Wq_used_for_k)
    for h in range(H):
        G = scale * sum(x[b].T @ g[b, h] @ x[b] for b in range(x.shape[0]))
        gq[h * d : (h + 1) * d] = Wk_used_for_q[h * d : (h + 1) * d] @ G.T
        gk[h * d : (h + 1) * d] = Wq_used_for_k[h * d : (h + 1) * d] @ G
    return gq, gk


@pytest.mark.parametrize("reparam", [False, True])
def test_qk_ste_gradients_match_hand_derivation(reparam):
    rng = np.random.default_rng(1)
    H, x = 2, rng.normal(size=(2, 5, 6))
    Wq = Tensor(rng.normal(size=(6, 6)), requires_grad=True)
    Wk = Tensor(rng.normal(size=(6, 6)), requires_grad=True)
    g = rng.normal(size=(2, H, 5, 5))
    O.quantized_attention_scores(x, Wq, Wk, H, 2, reparam=reparam).backward(g)
    scale = 3**-0.5
    if reparam:  # QKR: the gradient flows through the latent W_q, W_k
        gq, gk = _hand_qk_grads(x, g, Wq.data, Wk.data, H, scale)
    else:  # separate StatsQ: each one's gradient is computed through the *quantized* other
        Wq_hat, Wk_hat = O.statsq_quantize(Wq.data, 2), O.statsq_quantize(Wk.data, 2)
        gq, gk = _hand_qk_grads(x, g, Wq_hat, Wk_hat, H, scale)
    np.testing.assert_allclose(Wq.grad, gq, atol=1e-10)
    np.testing.assert_allclose(Wk.grad, gk, atol=1e-10)


def test_key_code_flip_jolts_query_gradient_only_without_qkr():
    """The coupling QKR removes: move one key weight across its rounding boundary by ±1e−7.  With
    separate quantization the query weights' gradient jumps (it goes through the flipped Ŵ_k); with QKR
    (upstream gradient fixed) it moves by O(1e−7)."""
    rng = np.random.default_rng(2)
    H, x, g = 1, rng.normal(size=(1, 4, 4)), rng.normal(size=(1, 1, 4, 4))
    Wq, Wk = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    # put W_k[0, 0] on the 2-bit boundary W/s = ½ (u = 2·W/s − ½ = ½); s = 2·mean|row| includes |W_k[0, 0]|:
    # w = ½·2·(w + R)/4  ⇒  w = R/3 with R = Σ_{j>0} |W_k[0, j]|
    Wk[0, 0] = np.abs(Wk[0, 1:]).sum() / 3
    assert abs(2 * Wk[0, 0] / O.statsq_scale(Wk)[0, 0] - 0.5 - 0.5) < 1e-12
    grads = {}
    for reparam in (False, True):
        for sign in (-1, 1):
            Wk2 = Wk.copy()
            Wk2[0, 0] += sign * 1e-7
            q = Tensor(Wq.copy(), requires_grad=True)
            O.quantized_attention_scores(x, q, Tensor(Wk2), H, 2, reparam=reparam).backward(g)
            grads[reparam, sign] = q.grad
    levels = []
    for sign in (-1, 1):
        Wk2 = Wk.copy()
        Wk2[0, 0] += sign * 1e-7
        levels.append(O.statsq_levels(Wk2, 2)[0, 0])
    assert levels[0] != levels[1]  # the key code did flip
    jump_sep = np.abs(grads[False, 1] - grads[False, -1]).max()
    jump_qkr = np.abs(grads[True, 1] - grads[True, -1]).max()
    assert jump_sep > 0.05
    assert jump_qkr < 1e-5


def test_qk_bad_input():
    with pytest.raises(ValueError, match="Wq"):
        O.qk_reparam_weight(np.ones((4, 3)), np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="num_heads"):
        O.qk_reparam_weight(np.ones((6, 4)), np.ones((6, 4)), 4)
    with pytest.raises(ValueError, match="Wqk"):
        O.qk_reparam_scores(np.ones((1, 2, 3)), np.ones((3, 3)), 1.0)


def test_qkr_attention_module_matches_separate_in_full_precision():
    x = Tensor(np.random.default_rng(3).normal(size=(2, 4, 8)))
    a = O.QKReparamAttention(8, 2, None, reparam=True, rng=5)(x).data
    b = O.QKReparamAttention(8, 2, None, reparam=False, rng=5)(x).data
    np.testing.assert_allclose(a, b, atol=1e-10)


# ---- the LSQ baseline's quantizer ---------------------------------------------------------------------
def test_lsq_gradients_by_hand():
    # s = 0.5, qmin = −2, qmax = 1: v = x/s = [0.3, −6, 4, −0.9]
    # ds per element: [round(.3) − .3, qmin, qmax, round(−.9) + .9] = [−0.3, −2, 1, −0.1]
    x = Tensor(np.array([0.15, -3.0, 2.0, -0.45]), requires_grad=True)
    s = Tensor(np.array(0.5), requires_grad=True)
    y = O.lsq_quantize(x, s, -2, 1, grad_scale=0.5)
    np.testing.assert_allclose(y.data, [0.0, -1.0, 0.5, -0.5])
    y.backward(np.ones(4))
    np.testing.assert_allclose(x.grad, [1, 0, 0, 1])
    np.testing.assert_allclose(s.grad, 0.5 * (-0.3 - 2 + 1 - 0.1))


def test_lsq_gradients_equal_the_engine_composition():
    # independent: autograd of s · round_STE(clip(x/s, qmin, qmax)) built from the engine's own ops (the
    # usual LSQ code: clamp v, round with the STE, rescale)
    from refimpl.autograd import ops

    rng = np.random.default_rng(0)
    xv, sv, g = rng.uniform(-1.5, 1.5, 30), np.array(0.13), rng.normal(size=30)
    x1, s1 = Tensor(xv, requires_grad=True), Tensor(sv, requires_grad=True)
    O.lsq_quantize(x1, s1, -8, 7).backward(g)
    x2, s2 = Tensor(xv, requires_grad=True), Tensor(sv, requires_grad=True)
    y2 = round_ste(ops.clip(x2 / s2, -8, 7)) * s2
    y2.backward(g)
    np.testing.assert_allclose(x1.grad, x2.grad, atol=1e-12)
    np.testing.assert_allclose(s1.grad, s2.grad, atol=1e-12)


def test_lsq_weight_is_per_channel_as_the_official_baseline():
    # LsqQuantizerWeight (nbasyl/OFQ lsq.py): s_i = 2·mean|W_i|/√Q_p, grad scale 1/√(Q_p·C_in), s ≥ 1e-5
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 12))
    q = O.LSQWeight(3, W)
    np.testing.assert_allclose(q.s.data, 2 * np.abs(W).mean(1, keepdims=True) / np.sqrt(3))
    assert q.g == pytest.approx(1 / np.sqrt(3 * 12))
    w = Tensor(W.copy(), requires_grad=True)
    g = rng.normal(size=W.shape)
    q(w).backward(g)
    # per-channel step gradient: row i collects only its own elements (independent loop)
    v = W / q.s.data
    expected = np.zeros((4, 1))
    for i in range(4):
        for j in range(12):
            t = v[i, j]
            d = -4 if t <= -4 else (3 if t >= 3 else np.rint(t) - t)
            expected[i, 0] += g[i, j] * d * q.g
    np.testing.assert_allclose(q.s.grad, expected, atol=1e-12)
    q.s.data[:] = -1.0  # the step is clamped at 1e-5, as the code's clip
    assert np.all(np.isfinite(q(Tensor(W)).data)) and np.all(q.s.data == 1e-5)
    assert O.LSQWeight(2, W, per_channel=False).s.data.shape == ()
    with pytest.raises(ValueError, match="2-D"):
        O.LSQWeight(2, np.ones(5))


def test_oscillation_callback_counts_like_the_tracker():
    layer = Linear(6, 3, dtype=np.float64, rng=0)
    q = O.StatsQWeight(2)
    register_parametrization(layer, "weight", q)
    lat = layer.parametrizations.weight.original
    cb = O.OscillationCallback([lat], [q])
    traj = [q.levels(lat.data)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        lat.data = lat.data + rng.normal(scale=0.2, size=lat.data.shape)
        traj.append(q.levels(lat.data))
        cb.on_step_end(None)
    assert sum(cb.per_step) == O.count_oscillations(traj) and cb.n_weights == 18


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premises(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert [p["metric"] for p in r.premises] == ["late_osc"] * 3
    for p in r.premises:
        assert all(np.isfinite(p["values"]))
    assert set(r.selected) == {f"{a}@digits-mlp" for a in ("LSQ", "StatsQ", "StatsQ+CGA")} | {
        "separate@attention-qk",
        "QKR@attention-qk",
    }
    assert all(np.isfinite(r.values("StatsQ+CGA@digits-mlp", "test_accuracy")))


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premises_measured():
    # with the official schedule (cosine, then the CGA stage at the minimal rate) the per-channel LSQ baseline
    # and StatsQ barely oscillate late on this toy: the premises are measured absent, on every seed
    r = full()
    assert len(r.seeds) >= 5
    assert max(r.values("LSQ@digits-mlp", "late_osc")) < 0.005
    assert max(r.values("StatsQ@digits-mlp", "late_osc")) < 0.01
    assert min(r.values("separate@attention-qk", "late_osc")) > 1.0  # the coupled Q/K codes do oscillate


def test_full_run_statsq_oscillates_less_than_per_channel_lsq_at_its_selected_rate():
    # With the grid widened to 1e-5 StatsQ selects 3e-5 (LSQ 3e-4) and then oscillates less than LSQ on every
    # seed, over the whole run and late; before the widening (StatsQ at 1e-3) it oscillated more.  Oscillation
    # follows the rate, so this compares each method at its own validation-chosen rate, as every claim here.
    # The verdict stays "premise absent": neither baseline oscillates late above the premise's threshold.
    r = full()
    whole = _paired(r, "osc", "StatsQ@digits-mlp", "LSQ@digits-mlp")
    assert np.all(whole < 0), whole
    claim = r.claim("StatsQ oscillates less than per-channel LSQ")
    assert claim["interval"]["high"] < 0 and claim["verdict"] == "premise absent"


def test_full_run_cga_and_accuracy_are_unresolved():
    # CGA's arm selects a higher rate (1e-4) than plain StatsQ (3e-5) and so oscillates a little *more* late
    # (well under a thousandth of an oscillation per weight); StatsQ + CGA vs LSQ accuracy stays within a
    # point (the interval straddles 0).  Both under an absent premise.
    r = full()
    cga = r.claim("Confidence-guided annealing lowers StatsQ's late oscillation")["interval"]
    assert 0 < cga["low"] and abs(cga["mean"]) < 1e-3, cga
    acc = r.claim("StatsQ + CGA reaches a higher 2-bit test accuracy")["interval"]
    assert acc["low"] < 0 < acc["high"] and abs(acc["mean"]) < 0.01, acc


def test_full_run_qkr_reduces_query_key_oscillation():
    r = full()
    d = _paired(r, "late_osc", "QKR@attention-qk", "separate@attention-qk")
    assert np.all(d < 0), d  # every seed
    assert r.claim("Quantizing W_qk")["interval"]["high"] < 0
    sep = np.array(r.values("separate@attention-qk", "late_osc"))
    assert np.sum(sep + d) < 0.75 * np.sum(sep)  # at least a quarter of the late code oscillations gone
