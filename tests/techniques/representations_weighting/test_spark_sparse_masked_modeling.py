"""SparK: reference cases (hand upsampling and densify, the encoder against a brute-force submanifold sparse
conv), re-mask invariance, the dense ablation's mask pattern vanishing, the mask sampler, the loss, a float64
finite-difference check of the whole model's gradient, bad input, the quick run and the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.techniques.representations_weighting import spark_sparse_masked_modeling as S
from refimpl.techniques.representations_weighting.spark_sparse_masked_modeling.cases import reference_cases

SLUG = "spark-sparse-masked-modeling"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_brute_force_case_is_not_trivial():
    case = [c for c in reference_cases() if c.name.startswith("sparse_encoder")][0]
    e = case.expected
    A8 = np.kron(case.inputs["a"], np.ones((2, 2)))
    assert np.count_nonzero(e["S1"][A8 > 0]) >= 5 and np.count_nonzero(e["S2"]) >= 2


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 8, 8)).astype(np.float64)
    a = S.random_patch_masks(n, 4, 0.6, rng)
    return x, a


def test_remask_invariance_masked_sites_zero_and_visible_sites_blind_to_masked_pixels():
    x, a = _batch()
    enc = S.SparseEncoder(sparse=True, seed=3, dtype=np.float64)
    A8 = S.upsample_mask(a, 8)
    x2 = np.where(A8 > 0, x, np.random.default_rng(9).normal(0, 5, x.shape))  # change only masked pixels
    out, out2 = enc(Tensor(x), a), enc(Tensor(x2), a)
    for s, s2, side in zip(out, out2, (8, 4)):
        hidden = np.broadcast_to(S.upsample_mask(a, side) < 0.5, s.shape)
        assert np.all(s.data[hidden] == 0.0) and np.all(s2.data[hidden] == 0.0)
        np.testing.assert_array_equal(s.data, s2.data)


def test_dense_ablation_fills_the_masked_sites_and_equals_sparse_when_all_visible():
    x, a = _batch()
    sp = S.SparseEncoder(sparse=True, seed=3, dtype=np.float64)
    de = S.SparseEncoder(sparse=False, seed=3, dtype=np.float64)
    assert S.masked_position_activity(de, x, a) > 0.9  # mask pattern vanishing
    assert S.masked_position_activity(sp, x, a) == 0.0
    ones = np.ones_like(a)
    for u, v in zip(sp(Tensor(x), ones), de(Tensor(x), ones)):
        np.testing.assert_array_equal(u.data, v.data)  # downstream (A ≡ 1) the two are one network


def test_random_patch_masks_keep_round_f2_times_one_minus_r():
    a = S.random_patch_masks(500, 4, 0.6, np.random.default_rng(0))
    assert set(np.unique(a)) == {0.0, 1.0}
    assert np.all(a.reshape(500, -1).sum(1) == round(16 * 0.4))
    np.testing.assert_allclose(a.mean(0), 6 / 16, atol=0.06)  # every patch equally likely


def test_forward_mean_is_the_masked_pixel_loss():
    x, a = _batch(4)
    m = S.SparKModel(sparse=True, seed=1, dtype=np.float64)
    rows = np.concatenate([x.reshape(4, -1), a.reshape(4, -1)], 1)
    loss = float(S.masked_reconstruction_loss(m(Tensor(rows))).data)
    rec = m.reconstruct(Tensor(x), a).data
    hidden = 1 - S.upsample_mask(a, 8)
    np.testing.assert_allclose(
        loss, np.sum(hidden * (rec - x) ** 2) / hidden.sum(), rtol=1e-6
    )  # scale is float32


def test_model_gradient_matches_finite_differences_in_float64():
    x, a = _batch(3, seed=2)
    m = S.SparKModel(sparse=True, seed=4, dtype=np.float64)
    rows = np.concatenate([x.reshape(3, -1), a.reshape(3, -1)], 1)

    def f():
        return float(S.masked_reconstruction_loss(m(Tensor(rows))).data)

    m.zero_grad() if hasattr(m, "zero_grad") else None
    S.masked_reconstruction_loss(m(Tensor(rows))).backward()
    rng, eps = np.random.default_rng(0), 1e-6
    for p in (m.encoder.w1, m.encoder.b3, m.token1, m.token2, m.p1w, m.hw):
        g = np.asarray(p.grad, dtype=np.float64).copy()
        u = rng.normal(size=p.data.shape)
        p.data = p.data + eps * u
        fp = f()
        p.data = p.data - 2 * eps * u
        fm = f()
        p.data = p.data + eps * u
        np.testing.assert_allclose((fp - fm) / (2 * eps), np.sum(g * u), rtol=1e-5, atol=1e-9)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`mask_ratio`"):
        S.random_patch_masks(3, 4, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="`side`"):
        S.upsample_mask(np.ones((1, 4, 4)), 6)
    with pytest.raises(ValueError, match="`a`"):
        S.upsample_mask(np.ones((4, 4)), 8)


def test_quick_run_is_a_smoke_run_with_every_arm(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and {row["method"] for row in r.table} == {"SparK", "dense", "no pretraining"}


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_measures_mask_pattern_vanishing_only_in_the_dense_arm():
    r = full()
    act = {
        m: [row["masked_site_activity"] for row in r.table if row["method"] == m] for m in ("SparK", "dense")
    }
    assert max(act["SparK"]) == 0.0 and min(act["dense"]) > 0.5


def test_full_run_claims_are_judged_on_five_seeds():
    r = full()
    assert len(r.seeds) == 5 and all(c["interval"]["n"] == 5 for c in r.claims)
