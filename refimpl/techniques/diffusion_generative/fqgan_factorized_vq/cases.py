"""Reference cases by hand: nearest-code assignment on a 2-code example, the usage perplexity, the
disentanglement term for orthogonal and parallel vectors."""

from __future__ import annotations

import numpy as np

from ....catalog import ReferenceCase
from . import disentangle_loss, perplexity, quantize

_PATH = "refimpl.techniques.diffusion_generative.fqgan_factorized_vq"


def _assign(z, codebook):
    idx, q = quantize(np.array(z, dtype=float), np.array(codebook, dtype=float))
    return {"idx": idx.astype(float), "q": q.ravel()}


def _ppl(idx, n_codes):
    return {"perplexity": [perplexity(np.array(idx), n_codes)]}


def _dis(z1, z2):
    return {"loss": [disentangle_loss([np.array(z1, dtype=float), np.array(z2, dtype=float)])[0]]}


def reference_cases() -> list:
    return [
        ReferenceCase(
            name="nearest_code_two_codes",
            inputs={"z": [[0.4, 0.0], [0.6, 1.0]], "codebook": [[0.0, 0.0], [1.0, 1.0]]},
            expected={"idx": [0.0, 1.0], "q": [0.0, 0.0, 1.0, 1.0]},
            compute=_assign,
            function=f"{_PATH}.quantize",
            note="(0.4,0): distances 0.16 vs 1.36 → code 0; (0.6,1): 1.36 vs 0.16 → code 1.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="perplexity_half_half",
            inputs={"idx": [0, 0, 1, 1], "n_codes": 4},
            expected={"perplexity": [2.0]},
            compute=_ppl,
            function=f"{_PATH}.perplexity",
            note="p = (½, ½, 0, 0): exp(ln 2) = 2.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="perplexity_skewed",
            inputs={"idx": [0, 0, 0, 1], "n_codes": 2},
            expected={"perplexity": [float(np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))))]},
            compute=_ppl,
            function=f"{_PATH}.perplexity",
            note="p = (¾, ¼): exp(−¾ ln ¾ − ¼ ln ¼) ≈ 1.7548.",
            atol=1e-12,
        ),
        ReferenceCase(
            name="disentangle_orthogonal_and_parallel",
            inputs={"z1": [[1.0, 0.0], [2.0, 0.0]], "z2": [[0.0, 3.0], [1.0, 0.0]]},
            expected={"loss": [0.5]},
            compute=_dis,
            function=f"{_PATH}.disentangle_loss",
            note="row 1 orthogonal: cos² = 0; row 2 parallel: cos² = 1; mean over rows ½.",
            atol=1e-12,
        ),
    ]
