"""Reference cases of Experts Weights Averaging: one averaging step under both readings of the rule, the
deployed average, and a random uniform partition's share sizes, all worked by hand."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import average_experts, ewa_update, random_uniform_partition

_PKG = "refimpl.techniques.merging_averaging.experts_weights_averaging"


def reference_cases() -> list:
    def step(experts, beta, exclude_self):
        out = ewa_update([np.asarray(e, dtype=np.float64) for e in experts], beta, exclude_self)
        return {"experts": np.stack(out), "deployed": average_experts(out)}

    def deploy(experts):
        return {"ffn": average_experts([np.asarray(e, dtype=np.float64) for e in experts])}

    def shares(n_tokens, n_experts, seed):
        parts = random_uniform_partition(n_tokens, n_experts, np.random.default_rng(seed))
        return {"sizes": np.array(sorted(len(p) for p in parts)), "covered": np.sort(np.concatenate(parts))}

    return [
        ReferenceCase(
            "ewa_mean_over_all",
            {"experts": [[0.0], [2.0], [4.0]], "beta": 0.5, "exclude_self": False},
            {"experts": np.array([[1.0], [2.0], [3.0]]), "deployed": np.array([2.0])},
            step,
            function=f"{_PKG}.ewa_update",
            note="by hand: mean 2; 0.5·E_i + 0.5·2 = 1, 2, 3; the mean stays 2",
            atol=1e-12,
        ),
        ReferenceCase(
            "ewa_mean_over_others",
            {"experts": [[0.0], [2.0], [4.0]], "beta": 0.5, "exclude_self": True},
            {"experts": np.array([[1.5], [2.0], [2.5]]), "deployed": np.array([2.0])},
            step,
            function=f"{_PKG}.ewa_update",
            note="by hand: 0.5·0 + 0.5·(2+4)/2 = 1.5; 0.5·2 + 0.5·(0+4)/2 = 2; 0.5·4 + 0.5·(0+2)/2 = 2.5",
            atol=1e-12,
        ),
        ReferenceCase(
            "deployed_ffn_is_the_expert_mean",
            {"experts": [[[1.0, 0.0]], [[3.0, 2.0]]]},
            {"ffn": np.array([[2.0, 1.0]])},
            deploy,
            function=f"{_PKG}.average_experts",
            note="by hand: ([1, 0] + [3, 2]) / 2 = [2, 1]",
            atol=1e-12,
        ),
        ReferenceCase(
            "partition_shares_differ_by_at_most_one",
            {"n_tokens": 10, "n_experts": 3, "seed": 0},
            {"sizes": np.array([3, 3, 4]), "covered": np.arange(10)},
            shares,
            function=f"{_PKG}.random_uniform_partition",
            note="by hand: 10 tokens in 3 shares → sizes 4, 3, 3; every token in exactly one share",
            atol=0,
        ),
    ]
