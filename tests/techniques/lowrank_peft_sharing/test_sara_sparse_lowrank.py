"""SaRA — progressive sparse low-rank adaptation (Hu et al., 2024; arXiv 2409.06633)."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import Linear, ReLU, Sequential
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import adapters as B
from refimpl.techniques.lowrank_peft_sharing import sara_sparse_lowrank as S

SLUG = "sara-sparse-lowrank"


@pytest.mark.parametrize("case", S.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_nuclear_norm_matches_numpy_and_gradcheck():
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(S.nuclear_norm(rf.tensor(X)).data, np.linalg.norm(X, "nuc"), atol=1e-12)
    rf.gradcheck(lambda x: S.nuclear_norm(x), X)
    with pytest.raises(ValueError, match="matrix"):
        S.nuclear_norm(rf.tensor(np.ones(3)))


def test_small_mask_modes():
    W = np.array([[0.5, -0.01, 0.3], [2.0, 0.02, -0.004]])
    np.testing.assert_array_equal(S.small_mask(W, threshold=0.05), np.abs(W) < 0.05)
    m = S.small_mask(W, k=2)
    assert m.sum() == 2 and m[0, 1] and m[1, 2]
    with pytest.raises(ValueError, match="exactly one"):
        S.small_mask(W)
    with pytest.raises(ValueError, match="exactly one"):
        S.small_mask(W, k=1, threshold=0.1)


def _model():
    rng = np.random.default_rng(1)
    return Sequential(
        Linear(6, 8, dtype=np.float64, rng=rng), ReLU(), Linear(8, 3, dtype=np.float64, rng=rng)
    )


def test_progressive_reselect_keeps_the_weight_and_uses_the_same_threshold():
    model = _model()
    S.attach_sara(model, lora_rank=1)
    ads = [a for _, _, a in B.adapters_of(model)]
    eps = [np.abs(l.weight.data.reshape(-1)[a.idx]).max() for l, a in zip((model[0], model[2]), ads)]
    rng = np.random.default_rng(2)
    for a in ads:
        a.delta_values.data[...] = rng.normal(scale=0.2, size=a.delta_values.shape)
    before = [model[0].weight.data.copy(), model[2].weight.data.copy()]
    S.progressive_reselect(model)
    for l, w, a, e in zip((model[0], model[2]), before, ads, eps):
        np.testing.assert_allclose(l.weight.data, w, atol=1e-12)
        np.testing.assert_array_equal(np.sort(a.idx), np.flatnonzero(np.abs(w) < e * (1 + 1e-6)))
        assert np.all(a.delta_values.data == 0)


def test_nuclear_penalty_lowers_the_rank_of_the_update():
    model = _model()
    S.attach_sara(model, lora_rank=2)
    ads = [a for _, _, a in B.adapters_of(model)]
    rng = np.random.default_rng(3)
    for a in ads:
        a.delta_values.data[...] = rng.normal(size=a.delta_values.shape)
    start = float(S.rank_penalty(model).data)
    opt = Adam([a.delta_values for a in ads], lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        S.rank_penalty(model).backward()
        opt.step()
    assert float(S.rank_penalty(model).data) < 0.5 * start


def test_demo_claims_over_seeds(demo_result):
    for seed in (0, 1):
        m = demo_result(SLUG, seed)["metrics"]
        assert m["trainable_sara"] == m["trainable_lora"]
        assert m["acc_old_sara"] > m["acc_old_lora"] + 0.03  # the sparse update forgets less
        assert m["acc_new_sara"] > 0.75
