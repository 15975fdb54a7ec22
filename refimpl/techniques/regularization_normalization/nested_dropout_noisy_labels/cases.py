"""Reference cases of nested dropout and co-teaching: the mask, the truncation distributions, the prefix
logits of a bias-free classifier, the best-K rule, the forget-rate schedule and the small-loss selection —
each worked by hand."""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....catalog import ReferenceCase
from . import (
    best_k,
    co_teaching_select,
    forget_rate_schedule,
    gaussian_truncation_dist,
    geometric_truncation_dist,
    nested_dropout,
    prefix_logits,
)

_PKG = "refimpl.techniques.regularization_normalization.nested_dropout_noisy_labels"


def reference_cases() -> list:
    def trunc(h, k):
        return {"h": nested_dropout(Tensor(np.asarray(h, dtype=np.float64)), k).data}

    def geo(p, d):
        return {"pmf": geometric_truncation_dist(p, d)}

    def gauss(mu, sigma, d):
        return {"pmf": gaussian_truncation_dist(mu, sigma, d)}

    def prefix(h, w):
        return {"logits": prefix_logits(np.asarray(h, dtype=np.float64), np.asarray(w, dtype=np.float64))}

    def bestk(acc):
        return {"k": np.array(best_k(acc))}

    def schedule(epochs, tau, n_gradual):
        return {"rate": forget_rate_schedule(epochs, tau, n_gradual)}

    def select(loss1, loss2, rate):
        a, b = co_teaching_select(loss1, loss2, rate)
        return {"idx1": a, "idx2": b}

    e1, e4 = np.exp(-1.0), np.exp(-4.0)
    z = 1 + e1 + e4
    return [
        ReferenceCase(
            "truncate_keep_2",
            {"h": [1.0, 2.0, 3.0, 4.0], "k": 2},
            {"h": np.array([1.0, 2.0, 0.0, 0.0])},
            trunc,
            function=f"{_PKG}.nested_dropout",
            note="by hand: keep the first 2 units, no rescaling",
            atol=0.0,
        ),
        ReferenceCase(
            "geometric_p_half",
            {"p": 0.5, "d": 2},
            {"pmf": np.array([2 / 3, 1 / 3])},
            geo,
            function=f"{_PKG}.geometric_truncation_dist",
            note="by hand: P(1)=0.5, P(2)=0.25, renormalised over {1, 2} → 2/3, 1/3",
            atol=1e-12,
        ),
        ReferenceCase(
            "gaussian_mu1_sigma1",
            {"mu": 1.0, "sigma": 1.0, "d": 3},
            {"pmf": np.array([1 / z, e1 / z, e4 / z])},
            gauss,
            function=f"{_PKG}.gaussian_truncation_dist",
            note="by hand: exp(−0), exp(−1), exp(−4) normalised",
            atol=1e-12,
        ),
        ReferenceCase(
            "prefix_logits_one_sample",
            {"h": [[1.0, 2.0, 3.0]], "w": [[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]},
            {"logits": np.array([[[1.0, 0.0]], [[1.0, 2.0]], [[-2.0, 5.0]]])},
            prefix,
            function=f"{_PKG}.prefix_logits",
            note="by hand: K=1: 1·(1, 0); K=2: + 2·(0, 1); K=3: + 3·(−1, 1)",
            atol=1e-12,
        ),
        ReferenceCase(
            "best_k_ties_to_smaller",
            {"acc": [0.5, 0.7, 0.7, 0.6]},
            {"k": np.array(2)},
            bestk,
            function=f"{_PKG}.best_k",
            note="by hand: K = 2 and K = 3 tie at 0.7; the −1e−5·index penalty picks K = 2",
            atol=0.0,
        ),
        ReferenceCase(
            "forget_rate_ramp_then_constant",
            {"epochs": 6, "tau": 0.4, "n_gradual": 3},
            {"rate": np.array([0.0, 0.2, 0.4, 0.4, 0.4, 0.4])},
            schedule,
            function=f"{_PKG}.forget_rate_schedule",
            note="by hand: linspace(0, 0.4, 3) over the first 3 epochs, then 0.4 (n_gradual = 0: constant)",
            atol=1e-12,
        ),
        ReferenceCase(
            "co_teaching_keep_half",
            {"loss1": [0.9, 0.1, 0.5, 0.3], "loss2": [0.2, 0.8, 0.1, 0.6], "rate": 0.5},
            {"idx1": np.array([1, 3]), "idx2": np.array([2, 0])},
            select,
            function=f"{_PKG}.co_teaching_select",
            note="by hand: the 2 smallest losses of each network, in increasing order",
            atol=0.0,
        ),
    ]
