"""EQ-Net: hand cases, the nested grids at the min–max start (brute force), the LSQ step-size gradient against
its closed form, float64 gradient checks of the WDR and GPG losses, the supernet's switching and sandwich
chain, the quick run's code path and the recorded full result."""

import numpy as np
import pytest

from refimpl import Tensor
from refimpl.autograd.gradcheck import gradcheck
from refimpl.experiments import freshness, recorded
from refimpl.techniques.quantization import eq_net as E
from refimpl.techniques.quantization.eq_net.cases import reference_cases

SLUG = "eq-net"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


@pytest.mark.parametrize("low, high", [(2, 4), (2, 8), (4, 8)])
def test_low_bit_levels_are_high_bit_levels_at_the_minmax_start(low, high):
    # brute force over every code: at ρ = 1, s_low = s_high·(2^high − 1)/(2^low − 1), an integer ratio
    m = 1.37
    s_lo, s_hi = 2 * m / (2**low - 1), 2 * m / (2**high - 1)
    qn, qp = E.code_range(low)
    hn, hp = E.code_range(high)
    hi_levels = np.arange(hn, hp + 1) * s_hi
    for k in range(qn, qp + 1):
        on_grid = np.isclose(hi_levels, k * s_lo, atol=1e-12).any()
        assert on_grid == (k != qn), (low, high, k)  # only the most negative code falls outside


def test_quantize_weight_is_idempotent_and_on_the_grid():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(8, 20))
    for b in E.BITS:
        s = E.init_step(W, b)
        q = E.quantize_weight(W, s, b)
        np.testing.assert_allclose(E.quantize_weight(q, s, b), q, atol=1e-12)
        k = q / s
        np.testing.assert_allclose(k, np.rint(k), atol=1e-9)
        qn, qp = E.code_range(b)
        assert k.min() >= qn - 1e-9 and k.max() <= qp + 1e-9
        assert np.all(np.abs(s / (2 * np.abs(W).max(1, keepdims=True) / (2**b - 1)) - 1) <= 0.04 + 1e-12)


def test_lsq_gradients_match_the_closed_form():
    rng = np.random.default_rng(1)
    W, bits = rng.normal(size=(5, 7)), 4
    s = np.abs(rng.normal(size=(5, 1))) * 0.2 + 0.05
    qn, qp = E.code_range(bits)
    wt, st = Tensor(W, requires_grad=True), Tensor(s, requires_grad=True)
    G = rng.normal(size=W.shape)
    E.lsq_quantize_t(wt, st, bits).backward(G)
    v = W / s
    inside = (v >= qn) & (v <= qp)
    local = np.where(inside, np.rint(v) - v, np.clip(v, qn, qp))
    g = 2 / np.sqrt(qp * W.shape[0])
    np.testing.assert_allclose(st.grad, g * (G * local).sum(1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(wt.grad, G * inside, atol=1e-12)


def test_wdr_loss_gradcheck_float64():
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(size=(4, 3)), rng.laplace(size=(5, 4)), rng.normal(size=(3, 5)) ** 3
    assert gradcheck(lambda x, y, z: E.wdr_loss([x, y, z]), a, b, c)
    assert gradcheck(lambda y: E.kurtosis_t(y) + E.skewness_t(y), b)


def test_wdr_loss_first_layer_excluded_and_zero_at_uniform_symmetric():
    big = Tensor(np.random.default_rng(3).standard_t(2, size=100))
    u = np.linspace(-1, 1, 2001)  # kurtosis → 1.8, skewness 0
    assert float(E.wdr_loss([big, Tensor(u)]).data) < 1e-6
    assert float(E.wdr_loss([Tensor(u), big]).data) > 1e-3
    with pytest.raises(ValueError, match="two layers"):
        E.wdr_loss([big])


def test_gpg_loss_gradcheck_float64_and_teacher_is_constant():
    rng = np.random.default_rng(4)
    z1, z2, z3 = (rng.normal(size=(6, 4)) for _ in range(3))
    y = rng.integers(0, 4, size=6)
    # the teachers are detached (stop-gradient), so central differences agree only for the last subnet's
    # logits, which teach nobody, and for the student of one KL term with its teacher held fixed
    assert gradcheck(lambda c: E.gpg_loss([Tensor(z1), Tensor(z2), c], y), z3)
    assert gradcheck(lambda b: E.soft_kl(b, z1, 0.5, y), z2)
    # the teacher's logits are detached: the loss of subnet k sends no gradient to subnet k − 1
    t1, t2 = Tensor(z1, requires_grad=True), Tensor(z2, requires_grad=True)
    E.soft_kl(t2, t1.detach(), 1.0).backward()
    assert t1.grad is None or not np.any(t1.grad)


def test_supernet_switching_reads_only_the_step_row():
    rng = np.random.default_rng(5)
    lin = [(rng.normal(size=(6, 4)), rng.normal(size=6)), (rng.normal(size=(3, 6)), rng.normal(size=3))]
    net = E.ElasticMLP(lin)
    for layer in net.layers:  # off the min–max start, where max|w|/s = (2^b − 1)/2 is an exact rounding tie
        for b in E.BITS:
            layer.step(b).data *= 1.013
    x = rng.normal(size=(5, 4)).astype(np.float32)
    for config in [(2, 8), (8, 2), (4, 4)]:
        net.set_config(config)
        h = x
        for i, ((W, b), bits) in enumerate(zip(lin, config)):
            s = net.layers[i].step(bits).data
            h = (np.maximum(h, 0) if i else h) @ E.quantize_weight(W.astype(np.float32), s, bits).T + b
        np.testing.assert_allclose(net(Tensor(x)).data, h, rtol=1e-5, atol=1e-5)
    assert len(net.configs()) == 9 and net.config == (4, 4)
    with pytest.raises(ValueError, match="widths"):
        net.set_config((3, 8))


def test_sandwich_chain_is_largest_random_smallest():
    rng = np.random.default_rng(6)
    net = E.ElasticMLP([(rng.normal(size=(4, 3)), np.zeros(4)), (rng.normal(size=(2, 4)), np.zeros(2))] * 1)
    sw = E.Sandwich(net, n_random=2, seed=0)
    chain = sw.chain()
    assert chain[0] == (8, 8) and chain[-1] == (2, 2) and len(chain) == 4
    out = sw(Tensor(rng.normal(size=(3, 3)).astype(np.float32)))
    assert out.shape == (4, 3, 2)
    loss = E.eq_net_loss(net)(out, np.array([0, 1, 0]))
    loss.backward()
    assert all(net.layers[1].step(b).grad is not None for b in (2, 8))


# ---- the experiment ---------------------------------------------------------------------------------------
def test_quick_run_code_path_and_premises(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    r.validate()
    assert [p["metric"] for p in r.premises] == ["switch_drop_2", "kurtosis"]
    assert len(r.claims) == 5
    per = np.asarray(r.arrays["per_config"])
    assert per.shape == (5, 27) and np.all((per >= 0) & (per <= 1))
    # a QAT-b net's own-width accuracy is its test accuracy
    assert r.values("QAT-4", "test_accuracy") == r.values("QAT-4", "acc_w4")


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _paired(r, metric, a, b):
    return np.array(r.values(a, metric)) - np.array(r.values(b, metric))


def test_full_run_premises_measured():
    r = full()
    assert len(r.seeds) >= 5 and all(p["present"] for p in r.premises)
    assert min(r.values("QAT-8", "switch_drop_2")) > 0.05  # every seed: switching 8 → 2 bits costs > 5 points
    assert min(r.values("no WDR/GPG", "kurtosis")) > 2.6  # every seed: far from uniform (1.8)


def test_full_run_subnets_match_their_static_counterparts():
    r = full()
    for b in (2, 4, 8):
        iv = r.claim(f"An EQ-Net subnet with every layer at {b} bits")["interval"]
        assert iv["low"] > -0.02, (b, iv)  # the whole interval above −2 points
        assert iv["mean"] > -0.005, (b, iv)  # on average no more than half a point below
    # the one-shot gain: over all 27 subnets the supernet beats every fixed-width net switched without
    # retraining, on every seed
    for b in (2, 4, 8):
        d = _paired(r, "mixed_mean", "EQ-Net", f"QAT-{b}")
        assert d.min() > 0.01, (b, d)


def test_full_run_wdr_gpg_do_not_measurably_help_here():
    # the measured result, not the paper's: WDR does flatten the weights (kurtosis near 1.8), but the
    # supernet trained without WDR and GPG is as accurate on this toy; both intervals straddle zero and
    # the mean gain is under half a point
    r = full()
    assert max(r.values("EQ-Net", "kurtosis")) < 2.1 < 2.6 < min(r.values("no WDR/GPG", "kurtosis"))
    for start in ("WDR and GPG raise the supernet's test accuracy", "WDR and GPG raise the accuracy"):
        iv = r.claim(start)["interval"]
        assert iv["low"] < 0 < iv["high"] and abs(iv["mean"]) < 0.005, (start, iv)
