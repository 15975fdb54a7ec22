"""Reference cases of the corrupted modular-addition study, by hand: the IPR of a pure cosine and of a flat
spectrum, the dataset's size and exact corruption count, and the expected IPR of random weights."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import ipr, modular_addition_data, random_ipr

_PATH = "refimpl.techniques.theory_dynamics.grok_corrupted_modular"


def _ipr_cosine(p, k):
    a = np.arange(p)
    w = np.concatenate([np.cos(2 * np.pi * k * a / p), np.cos(2 * np.pi * k * a / p + 0.7)])
    return {"ipr": ipr(w[None, :], p)}


def _ipr_flat(p):
    # a spike at position 0 has |DFT|² = 1 at every k: a flat spectrum
    w = np.zeros(2 * p)
    w[0], w[p] = 1.0, 1.0
    return {"ipr": ipr(w[None, :], p)}


def _data(p, train_fraction, val_fraction, xi):
    d = modular_addition_data(p, train_fraction, val_fraction, xi, 0)
    changed = np.sum(d["y_train"] != d["y"][d["train"]])
    return {
        "sizes": np.array(
            [d["train"].size, d["val"].size, d["test"].size, d["corrupted"].sum(), changed], dtype=float
        )
    }


def _random(p):
    return {"ipr": np.array([random_ipr(p)])}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="ipr_pure_cosine",
            inputs={"p": 11, "k": 3},
            expected={"ipr": [1.0]},
            compute=_ipr_cosine,
            function=f"{_PATH}.ipr",
            note="All the power of each half sits at k = 3: Σ P² / (Σ P)² = 1.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="ipr_flat_spectrum",
            inputs={"p": 11},
            expected={"ipr": [1 / 5]},
            compute=_ipr_flat,
            function=f"{_PATH}.ipr",
            note="A unit spike has equal power at k = 1 … 5: 5 · 1 / 5² = 1/5 = 1/⌊p/2⌋.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="dataset_sizes_and_corruption",
            inputs={"p": 10, "train_fraction": 0.6, "val_fraction": 0.2, "xi": 0.25},
            expected={"sizes": [60, 20, 20, 15, 15]},
            compute=_data,
            function=f"{_PATH}.modular_addition_data",
            note="p² = 100 pairs: 60 / 20 / 20; ξ · 60 = 15 corrupted labels, each changed to a different residue.",
            atol=0.0,
        ),
        ReferenceCase(
            name="random_ipr_p31",
            inputs={"p": 31},
            expected={"ipr": [2 / 16]},
            compute=_random,
            function=f"{_PATH}.random_ipr",
            note="K = 15 i.i.d. exponential powers: E Σ w_k² for w ~ Dirichlet(1, …, 1) is K · 2/(K(K + 1)) = 2/16.",
            atol=1e-15,
        ),
    ]
