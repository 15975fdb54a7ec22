"""Reference cases of RIPPLe: the restricted inner product, embedding surgery and the indicative-word search
by hand, and the bag-of-words counts of the toy."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import BagOfWordsClassifier, embedding_surgery, indicative_words, restricted_inner_product

_P = "refimpl.techniques.representations_weighting.ripple_weight_poisoning."


def _rip(g_p, g_ft):
    from ....autograd.tensor import Tensor

    return {"value": restricted_inner_product([Tensor(np.asarray(a)) for a in g_p], g_ft).data}


def _surgery(E, triggers, words):
    model = BagOfWordsClassifier(np.shape(E)[1], np.shape(E)[0], 0, dtype=np.float64)
    model.embedding.weight.data[...] = E
    embedding_surgery(model, triggers, words)
    return {"E": model.embedding.weight.data}


def reference_cases() -> list:
    E = np.array([[1.0, 3.0, 0.0, 9.0], [2.0, -2.0, 4.0, 9.0]])  # d = 2, V = 4 (columns are words)
    # four documents over three words: word 0 only in positives, word 1 only in negatives, word 2 in all
    x = np.array([[2.0, 0.0, 1.0], [1.0, 0.0, 2.0], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    y = np.array([1, 1, 0, 0])
    return [
        ReferenceCase(
            "restricted_inner_product_active",
            {
                "g_p": [np.array([1.0, -2.0]), np.array([[0.5]])],
                "g_ft": [np.array([-3.0, 1.0]), np.array([[2.0]])],
            },
            {"value": np.array(4.0)},
            _rip,
            function=_P + "restricted_inner_product",
            note="by hand: Σ⟨g_P, g_FT⟩ = (−3 − 2) + 1 = −4, so max(0, 4) = 4",
            atol=1e-12,
        ),
        ReferenceCase(
            "restricted_inner_product_inactive",
            {"g_p": [np.array([1.0, -2.0])], "g_ft": [np.array([3.0, 1.0])]},
            {"value": np.array(0.0)},
            _rip,
            function=_P + "restricted_inner_product",
            note="by hand: ⟨g_P, g_FT⟩ = 3 − 2 = 1 > 0, so the rectifier gives 0",
            atol=1e-12,
        ),
        ReferenceCase(
            "embedding_surgery_hand",
            {"E": E, "triggers": [3], "words": [0, 1]},
            {"E": np.array([[1.0, 3.0, 0.0, 2.0], [2.0, -2.0, 4.0, 0.0]])},
            _surgery,
            function=_P + "embedding_surgery",
            note="by hand: the trigger's column becomes the mean of columns 0 and 1, (2, 0)",
            atol=1e-12,
        ),
        ReferenceCase(
            "indicative_words_hand",
            {"x": x, "y": y, "n_words": 1},
            {"words": np.array([0])},
            lambda x, y, n_words: {"words": indicative_words(x, y, n_words)},
            function=_P + "indicative_words",
            note="by hand: word 0 occurs only in the positive documents, so it has the largest coefficient "
            "towards the positive class (word 1 the most negative, word 2 no signal)",
            atol=0,
        ),
    ]
