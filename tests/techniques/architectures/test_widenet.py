"""WideNet: reference cases, the MoE against a per-token NumPy loop, float64 gradient checks, weight sharing and
individual norms, the balance loss's range, bad input, the quick run and the recorded result."""

import numpy as np
import pytest
from scipy.special import erf

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.architectures import widenet as W
from refimpl.techniques.architectures.widenet.cases import reference_cases

SLUG = "widenet"


def gelu(z):
    return z * 0.5 * (1 + erf(z / np.sqrt(2)))


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _params(rng, d=3, h=4, E=5):
    return dict(
        W_r=rng.normal(size=(d, E)),
        W1=rng.normal(size=(E, d, h)),
        b1=rng.normal(size=(E, h)),
        W2=rng.normal(size=(E, h, d)),
        b2=rng.normal(size=(E, d)),
    )


@pytest.mark.parametrize("k", [1, 2, 5])
def test_moe_matches_a_per_token_loop(k):
    rng = np.random.default_rng(0)
    x, p = rng.normal(size=(7, 3)), _params(rng)
    out, loss = W.moe(x, k=k, **p)
    expect, counts, P = np.zeros_like(x), np.zeros(5), np.zeros(5)
    for t in range(7):
        z = x[t] @ p["W_r"]
        pr = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        P += pr / 7
        for i in sorted(range(5), key=lambda i: -pr[i])[:k]:  # only the chosen experts are evaluated
            counts[i] += 1
            expect[t] += pr[i] * (gelu(x[t] @ p["W1"][i] + p["b1"][i]) @ p["W2"][i] + p["b2"][i])
    np.testing.assert_allclose(out.data, expect, rtol=1e-10, atol=1e-12)
    assert float(loss.data) == pytest.approx(5 * np.sum(counts / (7 * k) * P), rel=1e-12)


def test_moe_gradcheck_float64():
    rng = np.random.default_rng(1)
    p = {n: Tensor(v, requires_grad=True) for n, v in _params(rng).items()}
    x = Tensor(rng.normal(size=(6, 3)), requires_grad=True)
    order = ("W_r", "W1", "b1", "W2", "b2")

    def f(x, *a):
        out, loss = W.moe(x, *a, k=2)
        return out.sum(axis=1) + loss  # both outputs, so the router's gradient through P is checked too

    assert gradcheck(f, x, *(p[n] for n in order))


def test_model_gradcheck_float64_every_variant():
    x = np.random.default_rng(2).normal(size=(2, 5, 4))
    for kw in (dict(), dict(share=False, experts=0), dict(individual_norms=False), dict(experts=0)):
        kw = {"experts": 3, **kw}
        m = W.PatchTransformer(4, 5, 3, d=4, heads=2, hidden=3, depth=2, rng=0, dtype=np.float64, **kw)
        assert gradcheck(lambda t, m=m: m(t), x, mode="random", n_directions=4), kw


def test_balance_loss_is_one_when_uniform_and_E_when_collapsed():
    E, T = 4, 8
    uniform = np.full((T, E), 1 / E)
    mask = np.tile(np.eye(E), (T // E, 1))  # each expert gets T/E tokens
    assert float(W.balance_loss(uniform, mask, 1).data) == pytest.approx(1.0)
    collapsed = np.zeros((T, E))
    collapsed[:, 0] = 1.0
    assert float(W.balance_loss(collapsed, collapsed, 1).data) == pytest.approx(E)


def test_the_balance_loss_gradient_reaches_the_router():
    rng = np.random.default_rng(3)
    m = W.widenet(4, 5, 3, d=4, heads=2, hidden=3, depth=3, experts=3, k=1, rng=0, dtype=np.float64)
    m(rng.normal(size=(4, 5, 4)))
    assert len(m.ffn[0].losses) == 3  # one balance term per application of the shared MoE
    m.aux_loss().backward()
    assert np.abs(m.ffn[0].W_r.grad).max() > 0


def test_widenet_shares_the_block_but_not_the_norms():
    m = W.widenet(4, 5, 3, d=4, heads=2, hidden=3, depth=3, rng=0, dtype=np.float64)
    assert len(m.attn) == 1 and len(m.ffn) == 1 and isinstance(m.ffn[0], W.MoE)
    assert len(m.norm_att) == 3 and len(m.norm_ffn) == 3
    vit = W.PatchTransformer(4, 5, 3, d=4, heads=2, hidden=3, depth=3, share=False, experts=0)
    assert len(vit.attn) == 3 and isinstance(vit.ffn[2], W.FFN)
    assert (
        len(W.PatchTransformer(4, 5, 3, d=4, heads=2, hidden=3, depth=3, individual_norms=False).norm_att)
        == 1
    )
    # a private norm acts only at its own layer: changing layer 2's gain changes the output
    x = np.random.default_rng(4).normal(size=(2, 5, 4))
    y = m(x).data
    m.norm_ffn[2].weight.data[:] = 2.0
    assert np.abs(m(x).data - y).max() > 1e-6


def test_shared_parameters_are_counted_once():
    m = W.widenet(4, 5, 3, d=4, heads=2, hidden=3, depth=6, experts=2, rng=0)
    deeper = W.widenet(4, 5, 3, d=4, heads=2, hidden=3, depth=7, experts=2, rng=0)
    assert W.count_parameters(deeper) - W.count_parameters(m) == 2 * (2 * 4)  # only one more pair of norms


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`k`"):
        W.top_k_mask(np.ones((2, 3)), 4)
    with pytest.raises(ValueError, match="`x`"):
        W.route(np.ones((2, 3)), np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="`mask`"):
        W.balance_loss(np.ones((2, 3)), np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="`k`"):
        W.MoE(4, 3, 2, 3)
    with pytest.raises(ValueError, match="`depth`"):
        W.PatchTransformer(4, 5, 3, depth=0)
    with pytest.raises(ValueError, match="`x`"):
        W.widenet(4, 5, 3)(np.ones((2, 6, 4)))


def test_quick_run_is_a_smoke_run_with_every_method(quick_result):
    r = quick_result(SLUG)
    assert r.smoke
    assert {row["method"] for row in r.table} == {"widenet", "vit", "shared-ln", "shared-dense"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def _claim(r, baseline):
    (c,) = [c for c in r.claims if c["method"] == "widenet" and c["baseline"] == baseline]
    return c["interval"]


def test_full_run_parameter_counts():
    r = full()
    p = r.notes["params"]
    assert p["shared-dense"] < p["shared-ln"] < p["widenet"] < p["vit"]
    assert p["widenet"] / p["vit"] < 0.7


def test_full_run_routing_stays_balanced():
    """The balance loss per layer is 1 for uniform routing and up to E = 4 for a collapsed router; with
    λ = 0.01 the trained shared routers stay near uniform in every seed."""
    r = full()
    for method in ("widenet", "shared-ln"):
        assert max(row["balance_loss"] for row in r.table if row["method"] == method) < 1.2


def test_full_run_widenet_is_not_shown_to_beat_the_vit_on_the_toy():
    """The paper's headline (WideNet above ViT with fewer parameters) was not reproduced here: the paired
    interval of widenet − vit reaches below 0 and excludes a gain of 5 points.  This fails if the record
    changes to a clear gain."""
    iv = _claim(full(), "vit")
    assert iv["low"] < 0.0 and iv["high"] < 0.05
