"""Relaxed Recursive Transformers (Bae et al.; arXiv 2410.20672) — reconstructed, on a residual MLP."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import functional_call
from refimpl.techniques.lowrank_peft_sharing import relaxed_recursive as R

SLUG = "relaxed-recursive"


@pytest.mark.parametrize("case", R.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_init_shared_by_hand():
    Ws = [np.full((2, 2), float(l)) for l in range(6)]  # layer ℓ is all ℓ
    avg = R.init_shared(Ws, 2, "average")
    np.testing.assert_array_equal(avg[0], np.full((2, 2), (0 + 2 + 4) / 3))
    np.testing.assert_array_equal(avg[1], np.full((2, 2), (1 + 3 + 5) / 3))
    assert [w[0, 0] for w in R.init_shared(Ws, 2, "lower")] == [0, 1]
    assert [w[0, 0] for w in R.init_shared(Ws, 2, "stepwise")] == [2, 3]
    with pytest.raises(ValueError, match="method"):
        R.init_shared(Ws, 2, "median")
    with pytest.raises(ValueError, match="multiple"):
        R.tied_layers(6, 4, 0)


def test_svd_lora_init_is_eckart_young():
    Rm = np.random.default_rng(0).normal(size=(6, 4))
    S = np.linalg.svd(Rm, compute_uv=False)
    for r in (1, 2, 4):
        Bm, Am = R.svd_lora_init(Rm, r)
        assert Bm.shape == (6, r) and Am.shape == (r, 4)
        np.testing.assert_allclose(np.linalg.norm(Rm - Bm @ Am), np.sqrt(np.sum(S[r:] ** 2)), atol=1e-10)


def _deep(seed=0):
    return R.ResidualMLP(d_in=5, d=4, d_ff=6, n_blocks=4, n_out=3, seed=seed, dtype=np.float64)


def test_full_rank_recovers_the_original_and_rank0_is_strict_tying():
    deep = _deep()
    x = rf.tensor(np.random.default_rng(1).normal(size=(7, 5)))
    full = R.RelaxedRecursiveMLP(deep, B=2, init="average", rank=4)
    np.testing.assert_allclose(full(x).data, deep(x).data, atol=1e-10)
    tied = R.RelaxedRecursiveMLP(deep, B=1, init="average", rank=0)
    Wu = np.mean([m.weight.data for m in deep.up], axis=0)
    Wd = np.mean([m.weight.data for m in deep.down], axis=0)
    h = np.maximum(x.data @ deep.embed.weight.data.T + deep.embed.bias.data, 0)
    for _ in range(4):  # one averaged block looped 4 times, by hand
        h = h + np.maximum(h @ Wu.T, 0) @ Wd.T
    np.testing.assert_allclose(tied(x).data, h @ deep.head.weight.data.T + deep.head.bias.data, atol=1e-12)


def test_parameter_count_formula():
    deep = _deep()
    d, dff, L, B, r = 4, 6, 4, 2, 2
    m = R.RelaxedRecursiveMLP(deep, B=B, rank=r)
    outer = (5 * d + d) + (d * 3 + 3)
    assert R.n_params(m) == outer + B * 2 * d * dff + L * 2 * r * (d + dff)
    assert R.n_params(deep) == outer + L * 2 * d * dff


def test_gradcheck_through_shared_weights_and_lora():
    deep = _deep()
    m = R.RelaxedRecursiveMLP(deep, B=2, rank=1)
    x = rf.tensor(np.random.default_rng(2).normal(size=(3, 5)))
    names = ["up.0.weight", "lora_up.1.A", "lora_down.3.B"]
    vals = [dict(m.named_parameters())[n].data.copy() for n in names]
    rf.gradcheck(lambda *t: functional_call(m, dict(zip(names, t)), x), *vals)


def test_demo_claims_over_seeds(demo_result):
    for seed in (0, 1):
        m = demo_result(SLUG, seed)["metrics"]
        dists = [m[f"logit_mse_avg_r{r}"] for r in (0, 2, 8, 32)]
        assert all(a >= b for a, b in zip(dists, dists[1:])) and dists[-1] < 1e-8
        assert abs(m["loss_init_avg_r32"] - m["loss_original"]) < 1e-4
        assert m["share_recovered_r8"] > 0.5
