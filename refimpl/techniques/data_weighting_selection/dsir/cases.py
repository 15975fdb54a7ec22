"""Reference cases of DSIR, worked by hand: the catalogue's two-bucket log-importance weight, the hashed
unigram+bigram counts of a short string (bucket of each n-gram from sha256 mod 8, listed in the note),
the bag-of-ngrams fit with a pseudo-count, Gumbel-top-k with the noise given, and a KL reduction in
closed form."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import fit_bag_of_ngrams, gumbel_top_k, hashed_ngram_counts, kl_reduction, log_importance_weights

_MOD = "refimpl.techniques.data_weighting_selection.dsir"
_EXACT = {"atol": 0.0, "rtol": 0.0, "atol32": 0.0, "rtol32": 0.0}


def reference_cases() -> list:
    def logw_case(z, p_target, q_raw):
        return {"log_w": log_importance_weights(np.asarray(z), np.asarray(p_target), np.asarray(q_raw))}

    def counts_case(text, num_buckets, ngrams):
        return {"z": hashed_ngram_counts(text, num_buckets, ngrams)}

    def fit_case(z, smoothing):
        return {"p": fit_bag_of_ngrams(np.asarray(z), smoothing)}

    def gumbel_case(log_w, k, gumbel):
        return {"kept": gumbel_top_k(np.asarray(log_w), k, gumbel=np.asarray(gumbel))}

    def kl_case(p_target, q_raw, s_selected):
        return {"kl_reduction": np.array([kl_reduction(p_target, q_raw, s_selected)])}

    hashes = "sha256 mod 8: to→1, be→5, ','→7, or→6, 'to be'→7, 'be ,'→1, ', or'→5"
    conv = {"scheme": "lower-case, tokens \\w+|[^\\w\\s]+, bigrams joined by one space, sha256(utf-8) mod m"}
    return [
        ReferenceCase(
            "log_w_two_buckets",
            {"z": np.array([[3.0, 1.0]]), "p_target": np.array([0.8, 0.2]), "q_raw": np.array([0.5, 0.5])},
            {"log_w": np.array([3 * np.log(1.6) + np.log(0.4)])},
            logw_case,
            note="3·ln(0.8/0.5) + 1·ln(0.2/0.5) = 3·ln 1.6 + ln 0.4 = 0.493720 (the 1e-8 inside the logs "
            "moves it by < 1e-7)",
            function=f"{_MOD}.log_importance_weights",
            conventions={"saturation": "1e-8 added to p̂ and q̂ inside both logs"},
        ),
        ReferenceCase(
            "counts_unigrams_bigrams",
            {"text": "To be, or", "num_buckets": 8, "ngrams": 2},
            {"z": np.array([0, 2, 0, 0, 0, 2, 1, 2])},
            counts_case,
            note=f"tokens to, be, ',', or; bigrams 'to be', 'be ,', ', or'; {hashes}",
            function=f"{_MOD}.hashed_ngram_counts",
            conventions=conv,
            **_EXACT,
        ),
        ReferenceCase(
            "counts_unigrams_only",
            {"text": "To be, or", "num_buckets": 8, "ngrams": 1},
            {"z": np.array([0, 1, 0, 0, 0, 1, 1, 1])},
            counts_case,
            note=f"the four unigrams only; {hashes}",
            function=f"{_MOD}.hashed_ngram_counts",
            conventions=conv,
            **_EXACT,
        ),
        ReferenceCase(
            "bag_of_ngrams_pseudo_count",
            {"z": np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]]), "smoothing": 1.0},
            {"p": np.array([2.0, 1.0, 4.0]) / 7.0},
            fit_case,
            note="column sums (1, 0, 3) + 1 = (2, 1, 4), over 7",
            function=f"{_MOD}.fit_bag_of_ngrams",
        ),
        ReferenceCase(
            "gumbel_top_k_fixed_noise",
            {"log_w": np.array([0.0, 1.0, 2.0, 3.0]), "k": 2, "gumbel": np.array([2.5, 0.0, 0.1, -2.0])},
            {"kept": np.array([0, 2])},
            gumbel_case,
            note="keys log w + G = (2.5, 1.0, 2.1, 1.0): the two largest are indices 0 and 2",
            function=f"{_MOD}.gumbel_top_k",
            conventions={"rounding": "indices returned sorted; equal keys: lower index first"},
            **_EXACT,
        ),
        ReferenceCase(
            "kl_reduction_closed_form",
            {
                "p_target": np.array([0.5, 0.5]),
                "q_raw": np.array([0.9, 0.1]),
                "s_selected": np.array([0.6, 0.4]),
            },
            {"kl_reduction": np.array([0.5 * np.log(8.0 / 3.0)])},
            kl_case,
            note="KL(p‖q) = ½ ln(25/9), KL(p‖s) = ½ ln(25/24); difference ½ ln(24/9) = ½ ln(8/3) = 0.490415",
            function=f"{_MOD}.kl_reduction",
        ),
    ]
