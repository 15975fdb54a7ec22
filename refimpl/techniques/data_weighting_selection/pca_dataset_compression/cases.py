"""Reference cases of PCA's storage format and selection, worked by hand on 4×4 images: 2× average pooling,
tiling four 2×2 tiles into one slot (row-major), decoding a slot back into four upsampled tiles, and the
easiest / hardest examples per class; and, for the benchmark's soft-label contrast, the tempered softmax and the
distillation loss in closed form."""

from __future__ import annotations

import numpy as np

from . import combine, decode, downscale, kd_loss, select_per_class, soft_labels

_MOD = "refimpl.techniques.data_weighting_selection.pca_dataset_compression"


def reference_cases() -> list:
    from ....catalog import ReferenceCase

    img = np.arange(16, dtype=np.float64).reshape(1, 4, 4)  # rows 0-3, 4-7, 8-11, 12-15
    tiles = np.stack([np.full((2, 2), v, dtype=np.float64) for v in (1.0, 2.0, 3.0, 4.0)])
    slot = np.array([[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]], dtype=np.float64)
    mixed = np.array([[[0, 1, 5, 5], [2, 3, 5, 5], [6, 6, 7, 7], [6, 6, 7, 7]]], dtype=np.float64)
    return [
        ReferenceCase(
            "downscale_4x4",
            {"x": img, "factor": 2},
            {"out": np.array([[[2.5, 4.5], [10.5, 12.5]]])},
            lambda x, factor: {"out": downscale(x, factor)},
            note="each 2×2 block averaged: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, (8+9+12+13)/4 = 10.5, "
            "(10+11+14+15)/4 = 12.5",
            function=f"{_MOD}.downscale",
        ),
        ReferenceCase(
            "combine_four_tiles",
            {"small": tiles, "factor": 2},
            {"out": slot},
            lambda small, factor: {"out": combine(small, factor)},
            note="tiles 1, 2, 3, 4 go top-left, top-right, bottom-left, bottom-right",
            function=f"{_MOD}.combine",
        ),
        ReferenceCase(
            "decode_slot",
            {"slots": mixed, "factor": 2},
            {
                "out": np.stack(
                    [
                        np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]], dtype=np.float64),
                        np.full((4, 4), 5.0),
                        np.full((4, 4), 6.0),
                        np.full((4, 4), 7.0),
                    ]
                )
            },
            lambda slots, factor: {"out": decode(slots, factor)},
            note="the top-left tile [[0, 1], [2, 3]] upsampled by pixel repetition; the other three tiles "
            "are constant",
            function=f"{_MOD}.decode",
        ),
        ReferenceCase(
            "select_easy_and_hard_per_class",
            {"scores": np.array([0.5, 0.1, 0.9, 0.3, 0.3, 0.8]), "y": np.array([0, 0, 0, 1, 1, 1])},
            {"easy": np.array([1, 3]), "hard": np.array([2, 5])},
            lambda scores, y: {
                "easy": select_per_class(scores, y, 1),
                "hard": select_per_class(scores, y, 1, easy=False),
            },
            note="class 0 scores (0.5, 0.1, 0.9): easiest index 1, hardest 2; class 1 (0.3, 0.3, 0.8): the tie "
            "goes to the lower index 3, hardest 5",
            function=f"{_MOD}.select_per_class",
        ),
        ReferenceCase(
            "soft_labels_temperature_2",
            {"logits": np.array([[0.0, 2.0 * np.log(3.0)], [4.0, 4.0]]), "temperature": 2.0},
            {"p": np.array([[0.25, 0.75], [0.5, 0.5]])},
            lambda logits, temperature: {"p": soft_labels(logits, temperature)},
            note="row 1: z/T = (0, ln 3), softmax = (1, 3)/4; row 2: equal logits give (1/2, 1/2)",
            function=f"{_MOD}.soft_labels",
        ),
        ReferenceCase(
            "kd_loss_temperature_2",
            {
                "output": np.array([[0.0, 0.0], [0.0, 2.0 * np.log(3.0)]]),
                "target": np.array([[0.25, 0.75], [0.25, 0.75]]),
                "temperature": 2.0,
            },
            {"loss": np.array(0.5 * (np.log(2.0) + (0.25 * np.log(4.0) + 0.75 * np.log(4.0 / 3.0))))},
            lambda output, target, temperature: {"loss": kd_loss(_tensor(output), target, temperature)},
            note="row 1: softmax(0, 0) = (1/2, 1/2), cross-entropy ln 2; row 2: softmax(0, ln 3) = (1/4, 3/4) "
            "equals the target, so the cross-entropy is its entropy 0.25 ln 4 + 0.75 ln(4/3); the mean of the "
            "two rows",
            function=f"{_MOD}.kd_loss",
            conventions={"reduction": "mean over the batch of −Σ p log softmax(z/T); no T² factor"},
        ),
    ]


def _tensor(a):
    from .... import tensor

    return tensor(a)
