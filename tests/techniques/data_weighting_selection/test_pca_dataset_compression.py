"""PCA (Prune, Combine, Augment; arXiv 2502.06434, reconstructed): hand cases of the storage format and the
selection, round trips, the augmentation, the distribution-matching gradient against float64 finite
differences, the soft-label loss's gradient against its closed form, errors, the quick run, and the recorded
full result (downscaling's premise absent on 8×8 digits; the soft-label finding measured)."""

import numpy as np
import pytest

from refimpl.experiments import freshness, recorded
from refimpl.techniques.data_weighting_selection import pca_dataset_compression as P
from refimpl.techniques.data_weighting_selection.pca_dataset_compression.cases import reference_cases

SLUG = "pca-dataset-compression"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_decoding_combined_tiles_is_downscale_then_upsample_per_image():
    x = np.random.default_rng(0).uniform(size=(8, 8, 8))
    np.testing.assert_array_equal(P.decode(P.combine(P.downscale(x))), P.upsample(P.downscale(x)))
    # a constant-per-block image survives the round trip exactly
    blocky = P.upsample(np.random.default_rng(1).uniform(size=(4, 4, 4)))
    np.testing.assert_allclose(P.decode(P.combine(P.downscale(blocky))), blocky, rtol=0, atol=1e-15)


def test_shift_augment_moves_each_image_by_at_most_one_pixel_and_keeps_the_mass_inside():
    x = np.zeros((50, 8, 8))
    x[:, 3:5, 3:5] = 1.0  # a blob away from the border: a shift keeps all of it
    out = P.shift_augment(x, np.random.default_rng(0))
    assert out.shape == x.shape and np.allclose(out.sum(axis=(1, 2)), 4.0)
    for o in out:
        r, c = np.argwhere(o > 0).min(axis=0)
        assert abs(r - 3) <= 1 and abs(c - 3) <= 1
    assert len({tuple(np.argwhere(o > 0).min(axis=0)) for o in out}) > 1  # not all the same shift


def test_dm_gradient_matches_float64_finite_differences():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(size=(12, 5)), np.repeat([0, 1, 2], 4)
    syn, labels = rng.uniform(size=(6, 5)), np.repeat([0, 1, 2], 2)
    w, b = rng.normal(size=(5, 7)), rng.normal(0, 0.1, size=7)
    _, g = P.dm_loss_and_grad(syn, labels, x, y, w, b)
    fd, h = np.zeros_like(syn), 1e-6
    for k in np.ndindex(syn.shape):
        up, down = syn.copy(), syn.copy()
        up[k] += h
        down[k] -= h
        fd[k] = (
            P.dm_loss_and_grad(up, labels, x, y, w, b)[0] - P.dm_loss_and_grad(down, labels, x, y, w, b)[0]
        ) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
    assert np.abs(g).max() > 1e-3


def test_distribution_matching_moves_one_image_per_class_towards_the_class_mean():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0, 0.5, size=(30, 6)), rng.uniform(0.5, 1, size=(30, 6))])
    y = np.repeat([0, 1], 30)
    s0, _ = P.distribution_match(x, y, 1, steps=0, lr=0.3, seed=0)
    s1, labels = P.distribution_match(x, y, 1, steps=300, lr=0.3, seed=0)
    means = np.stack([x[y == c].mean(0) for c in (0, 1)])
    assert list(labels) == [0, 1]
    assert np.linalg.norm(s1 - means) < 0.5 * np.linalg.norm(s0 - means)


def test_kd_loss_gradient_is_the_tempered_softmax_minus_the_soft_label_float64():
    """d/dz of mean_i −Σ_c p_ic log softmax(z_i/T)_c is (softmax(z/T) − p) / (T·N), by hand."""
    from refimpl import tensor

    rng = np.random.default_rng(4)
    z, t = rng.normal(size=(5, 4)) * 3, 2.5
    p = rng.dirichlet(np.ones(4), size=5)
    zt = tensor(z, requires_grad=True)
    P.kd_loss(zt, p, t).backward()
    q = np.exp(z / t - (z / t).max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    assert zt.grad.dtype == np.float64
    np.testing.assert_allclose(zt.grad, (q - p) / (t * len(z)), rtol=1e-10, atol=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="factor"):
        P.downscale(np.zeros((1, 6, 6)), 4)
    with pytest.raises(ValueError, match="square"):
        P.downscale(np.zeros((1, 6, 4)))
    with pytest.raises(ValueError, match="multiple"):
        P.combine(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="per_class"):
        P.select_per_class(np.zeros(4), np.array([0, 0, 1, 1]), 3)
    with pytest.raises(ValueError, match="float"):
        P.upsample(np.zeros((1, 2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="temperature"):
        P.soft_labels(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="logits"):
        P.soft_labels(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="steps"):
        P.distribution_match(np.zeros((4, 2)), np.array([0, 0, 1, 1]), 1, steps=-1, lr=0.1)


def test_quick_run_is_a_smoke_run():
    from refimpl import catalog

    r = catalog.get(SLUG).experiment.run(quick=True, progress=False)
    assert r.quick and r.smoke
    assert "PCA @IPC1" in r.selected and "DM @IPC1" in r.selected and "full data, downscaled" in r.selected
    assert "random, soft labels @IPC1" in r.selected and "DM, soft labels @IPC1" in r.selected


# --- the recorded full result -----------------------------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_absent_downscaling_costs_too_much_at_8x8():
    """At 8×8 a 2× downscaled digit keeps 16 pixels: the decoded full training set loses about eight points
    of test accuracy against the full-resolution one, so combining cannot pay here: the three claims that rest
    on it (PCA vs random, combining, PCA vs DM) are judged "premise absent"."""
    r = full()
    p = r.premises[0]
    assert not p["present"] and p["interval"]["high"] < -0.05, p["interval"]
    for c in r.claims:
        assert (c["verdict"] == "premise absent") == (p["statement"] in (c["premises"] or ())), c["statement"]


def test_full_run_soft_labels_leave_a_random_subset_far_behind_distillation_at_ipc_1():
    """The benchmark's finding (a random subset is competitive with soft labels) is contradicted at IPC 1 on
    digits: the soft labels lift the random subset by several points (its premise), yet it stays more than five
    points behind DM with the same soft labels on every seed."""
    r = full()
    lift = np.subtract(
        r.values("random, soft labels @IPC1", "test_accuracy"), r.values("random @IPC1", "test_accuracy")
    )
    assert lift.mean() > 0.05, lift
    gap = np.subtract(
        r.values("random, soft labels @IPC1", "test_accuracy"),
        r.values("DM, soft labels @IPC1", "test_accuracy"),
    )
    assert gap.mean() < -0.05 and (gap < 0).all(), gap
    # the teacher behind the soft labels is about as good as the full-resolution full-data arm
    assert np.mean(r.values("random, soft labels @IPC1", "teacher_test_accuracy")) > 0.9


def test_full_run_soft_labels_narrow_the_random_to_distillation_gap_at_both_budgets():
    """What the soft labels do, measured beside the claim: the DM − random gap is smaller with soft labels
    than with hard labels, at IPC 1 and at IPC 2 (by at least five points each)."""
    r = full()

    def acc(a):
        return float(np.mean(r.values(a, "test_accuracy")))

    for ipc in (1, 2):
        hard = acc(f"DM @IPC{ipc}") - acc(f"random @IPC{ipc}")
        soft = acc(f"DM, soft labels @IPC{ipc}") - acc(f"random, soft labels @IPC{ipc}")
        assert soft < hard - 0.05, (ipc, hard, soft)


def test_full_run_what_the_toy_shows_beside_the_absent_premise():
    r = full()

    def acc(a):
        return float(np.mean(r.values(a, "test_accuracy")))

    # distribution matching (≈ the class means at IPC 1) is the strongest hard-label compressed set
    for ipc in (1, 2):
        dm = acc(f"DM @IPC{ipc}")
        assert all(
            dm > acc(f"{k} @IPC{ipc}")
            for k in ("random", "easy", "random + combine", "easy + combine", "PCA")
        )
    # easy real images beat random ones at the same storage, without combining
    assert acc("easy @IPC1") > acc("random @IPC1") + 0.1
    # the one-pixel shift augmentation hurts the decoded tiles here (judged: its own premise-free claim)
    c = r.claim("At IPC 1, the constrained augmentation pays")
    assert c["interval"]["high"] < -0.02, c["interval"]
