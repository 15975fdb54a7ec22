"""Reference cases of DEPICT: the frequency-regularised target, DEC's target and the hard target on a hand
example whose column sums are perfect squares."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import dec_target, depict_target, hard_target

_P = "refimpl.techniques.representations_weighting.depict."
_HAND = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])  # column sums 4 and 1


def reference_cases() -> list:
    return [
        ReferenceCase(
            "depict_target_hand",
            {"P": _HAND},
            {"Q": np.array([[1, 0], [1, 0], [1, 0], [1 / 3, 2 / 3], [1 / 3, 2 / 3]])},
            lambda P: {"Q": depict_target(P)},
            function=_P + "depict_target",
            note="by hand: column sums 4 and 1, square roots 2 and 1; an undecided row (½, ½) becomes "
            "(¼, ½) → (1/3, 2/3): the small cluster is raised",
            atol=1e-12,
        ),
        ReferenceCase(
            "dec_target_hand",
            {"P": _HAND},
            {"Q": np.array([[1, 0], [1, 0], [1, 0], [0.2, 0.8], [0.2, 0.8]])},
            lambda P: {"Q": dec_target(P)},
            function=_P + "dec_target",
            note="by hand: (½)²/4 = 1/16 and (½)²/1 = 1/4 → (0.2, 0.8)",
            atol=1e-12,
        ),
        ReferenceCase(
            "hard_target_ties_go_to_the_first_cluster",
            {"P": _HAND},
            {"Q": np.array([[1, 0], [1, 0], [1, 0], [1, 0], [1, 0]])},
            lambda P: {"Q": hard_target(P)},
            function=_P + "hard_target",
            note="by hand: argmax of (½, ½) is the first index (numpy's argmax convention)",
            atol=0,
            conventions={"ties": "argmax returns the first maximal index"},
        ),
    ]
