"""CompactifAI — MPO / tensor-train compression of weight matrices (arXiv 2401.14109), reconstructed
TT-SVD."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.nn import Linear
from refimpl.techniques.lowrank_peft_sharing import compactifai_mpo as M

SLUG = "compactifai-mpo"
DIMS = ((2, 3, 2), (3, 2, 2))  # 12 × 12


@pytest.mark.parametrize("case", M.reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def test_full_bond_reconstructs_exactly():
    W = np.random.default_rng(0).normal(size=(12, 12))
    cores, disc = M.mpo_decompose(W, *DIMS)
    np.testing.assert_allclose(M.mpo_contract(cores).data, W, atol=1e-10)
    assert np.allclose(disc, 0)


def _naive_contract(cores, out_dims, in_dims):
    """Independent oracle: an explicit loop over every index tuple."""
    K = len(cores)
    W = np.zeros((int(np.prod(out_dims)), int(np.prod(in_dims))))
    for i in np.ndindex(*out_dims):
        for j in np.ndindex(*in_dims):
            v = np.ones((1, 1))
            for k in range(K):
                v = v @ cores[k][:, i[k], j[k], :]
            W[np.ravel_multi_index(i, out_dims), np.ravel_multi_index(j, in_dims)] = v[0, 0]
    return W


@pytest.mark.parametrize("chi", [1, 2, 3])
def test_truncated_mpo_obeys_tt_svd_bound_and_matches_loop(chi):
    W = np.random.default_rng(1).normal(size=(12, 12))
    cores, disc = M.mpo_decompose(W, *DIMS, chi=chi)
    W_hat = M.mpo_contract(cores).data
    np.testing.assert_allclose(W_hat, _naive_contract(cores, *DIMS), atol=1e-12)
    assert np.linalg.norm(W - W_hat) ** 2 <= sum(d * d for d in disc) * (1 + 1e-9) + 1e-12
    assert all(c.shape[3] <= chi for c in cores[:-1])
    for c in cores[:-1]:  # left-orthonormal cores
        Q = c.reshape(-1, c.shape[3])
        np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-10)
    assert sum(c.size for c in cores) == M.mpo_param_count(*DIMS, chi)


def test_error_does_not_grow_with_chi():
    W = np.random.default_rng(2).normal(size=(12, 12))
    errs = [
        np.linalg.norm(W - M.mpo_contract(M.mpo_decompose(W, *DIMS, chi=c)[0]).data) for c in (1, 2, 4, 6, 36)
    ]
    assert all(a >= b - 1e-9 for a, b in zip(errs, errs[1:])) and errs[-1] < 1e-9


def test_contract_gradcheck_and_mpo_linear():
    cores, _ = M.mpo_decompose(np.random.default_rng(3).normal(size=(12, 12)), *DIMS, chi=2)
    rf.gradcheck(lambda a, b, c: M.mpo_contract([a, b, c]), *cores)
    layer = Linear(12, 12, dtype=np.float64, rng=np.random.default_rng(4))
    mpo = M.MPOLinear.from_linear(layer, *DIMS, chi=None)
    x = np.random.default_rng(5).normal(size=(3, 12))
    np.testing.assert_allclose(mpo(rf.tensor(x)).data, layer(rf.tensor(x)).data, atol=1e-10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="multiply"):
        M.mpo_decompose(np.ones((12, 12)), (2, 2), (3, 4))
    with pytest.raises(ValueError, match="same length"):
        M.mpo_decompose(np.ones((12, 12)), (12,), (3, 4))
    with pytest.raises(ValueError, match="chi"):
        M.mpo_decompose(np.ones((12, 12)), *DIMS, chi=0)


def test_demo_claims_over_seeds(demo_result):
    for seed in (0, 1):
        r = demo_result(SLUG, seed)
        errs = [row["mpo_rel_error"] for row in r["table"]]
        assert all(a >= b - 1e-9 for a, b in zip(errs, errs[1:])) and errs[-1] < 1e-5
        m = r["metrics"]
        for chi in (4, 8):  # healing recovers a large part of what compression lost
            assert m[f"mpo_acc_healed_chi{chi}"] > m[f"mpo_acc_chi{chi}"] + 0.2
