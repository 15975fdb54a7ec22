"""Reference cases of model soups: the greedy recipe on a table of held-out accuracies, worked by hand,
and an exact uniform average."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import greedy_soup, uniform_soup

_GREEDY = "refimpl.techniques.merging_averaging.model_soups.greedy_soup"


def _greedy_case(accs, strict):
    # three one-weight models A=1, B=2, C=4: the soup's single weight says which models are averaged
    states = [{"w": np.array([v])} for v in (1.0, 2.0, 4.0)]
    table = {
        1.0: accs["A"],
        2.0: accs["B"],
        4.0: accs["C"],
        1.5: accs["AB"],
        2.5: accs["AC"],
        3.0: accs["BC"],
        round(7 / 3, 6): accs["ABC"],
    }
    r = greedy_soup(states, lambda sd: table[round(float(sd["w"][0]), 6)], strict=bool(strict))
    return {"ingredients": np.array(r["ingredients"]), "soup": r["state"]["w"]}


def reference_cases() -> list:
    def uniform_case(w1, w2, w3):
        return {"w": uniform_soup([{"w": np.asarray(w1)}, {"w": np.asarray(w2)}, {"w": np.asarray(w3)}])["w"]}

    improve = {"A": 0.80, "B": 0.79, "C": 0.78, "AB": 0.82, "ABC": 0.81, "AC": 0.70, "BC": 0.70}
    tie = {"A": 0.80, "B": 0.79, "C": 0.78, "AB": 0.80, "ABC": 0.83, "AC": 0.70, "BC": 0.70}
    return [
        ReferenceCase(
            "greedy_accepts_improvement_rejects_drop",
            {"accs": improve, "strict": True},
            {"ingredients": np.array([0, 1]), "soup": np.array([1.5])},
            _greedy_case,
            function=_GREEDY,
            note="by hand: order A, B, C; acc(avg(A,B)) = 0.82 > 0.80 accepts B; acc(avg(A,B,C)) = 0.81 < "
            "0.82 rejects C; soup = (1+2)/2",
            atol=1e-12,
        ),
        ReferenceCase(
            "greedy_strict_rejects_a_tie",
            {"accs": tie, "strict": True},
            {"ingredients": np.array([0]), "soup": np.array([1.0])},
            _greedy_case,
            function=_GREEDY,
            note="by hand, main.py's '>': acc(avg(A,B)) = 0.80 equals 0.80, B rejected; acc(avg(A,C)) = 0.70 "
            "rejects C; the soup is A alone",
            atol=1e-12,
        ),
        ReferenceCase(
            "greedy_non_strict_accepts_a_tie",
            {"accs": tie, "strict": False},
            {"ingredients": np.array([0, 1, 2]), "soup": np.array([7 / 3])},
            _greedy_case,
            function=_GREEDY,
            note="by hand, the '≥' variant: the tie 0.80 accepts B; acc(avg(A,B,C)) = 0.83 ≥ 0.80 accepts "
            "C; soup = (1+2+4)/3",
            atol=1e-12,
        ),
        ReferenceCase(
            "uniform_soup_exact",
            {"w1": [1.0, -2.0], "w2": [4.0, 0.5], "w3": [-2.0, 3.0]},
            {"w": np.array([1.0, 0.5])},
            uniform_case,
            function="refimpl.techniques.merging_averaging.model_soups.uniform_soup",
            note="by hand: (1+4−2)/3 = 1, (−2+0.5+3)/3 = 0.5",
            atol=1e-12,
        ),
    ]
