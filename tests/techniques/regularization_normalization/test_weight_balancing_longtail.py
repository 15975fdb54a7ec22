"""Weight balancing on long-tailed data (Hasegawa & Sato, 2024; arXiv 2305.16573; WB of Alshammari et al.)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.autograd.tensor import Tensor
from refimpl.techniques.regularization_normalization import weight_balancing_longtail as wb


@pytest.mark.parametrize("case", wb.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_cb_weights_tend_to_inverse_frequency_and_uniform():
    w = wb.class_balanced_weights([100, 10, 1], beta=0.9999)
    inv = np.array([1 / 100, 1 / 10, 1.0])
    assert np.allclose(w, inv / inv.sum() * 3, rtol=1e-2)  # β → 1: ∝ 1/n_c
    assert np.allclose(wb.class_balanced_weights([100, 10, 1], beta=0.0), 1.0)  # β = 0: uniform
    with pytest.raises(ValueError, match="counts"):
        wb.class_balanced_weights([0, 3])


def test_cb_softmax_loss_matches_numpy_and_gradcheck():
    rng = np.random.default_rng(0)
    z, y, w = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2]), np.array([0.5, 1.0, 1.5])
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    t = np.eye(3)[y]
    ref = np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)) * w[y][:, None])
    assert float(wb.cb_softmax_loss(Tensor(z), y, w).data) == pytest.approx(ref, rel=1e-12)
    rf.gradcheck(lambda z: wb.cb_softmax_loss(z, y, w), z)


def test_maxnorm_projection_is_idempotent_and_caps_norms():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 5)) * rng.uniform(0.1, 3, size=(6, 1))
    d = wb.maxnorm_threshold(w, 0.3)
    once = wb.maxnorm_project(w.copy(), d)
    assert np.all(np.linalg.norm(once, axis=1) <= d + 1e-12)
    assert np.allclose(wb.maxnorm_project(once.copy(), d), once)


def test_fdr_is_scale_invariant_and_grows_with_separation():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 20)
    h = rng.normal(size=(60, 3)) + np.eye(3)[y] * 2
    f = wb.fisher_discriminant_ratio(h, y)
    assert wb.fisher_discriminant_ratio(5 * h, y) == pytest.approx(f)
    assert wb.fisher_discriminant_ratio(rng.normal(size=(60, 3)) + np.eye(3)[y] * 4, y) > f


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_second_stage_lifts_tail_and_balances_norms(seed, demo_result):
    r = wb.demo(seed=seed, quick=True) if seed else demo_result("weight-balancing-longtail", 0)
    rf.catalog.check_demo_result(r)
    m = r["metrics"]
    assert m["tail_acc_wb"] > m["tail_acc_ce_wd"] + 0.03
    assert m["norm_ratio_wb"] < m["norm_ratio_ce_wd"]
    assert r["claim"]["holds"] == all(r["checks"].values())
