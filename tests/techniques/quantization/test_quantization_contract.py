"""The quantization family's contract over the registry (the form: `tests/techniques/contracts.py`).

Every technique registers a quantizer: `CONTRACTS[slug]["quantize"](x)` quantizes x and returns a dict

    q        the quantized values
    again    y ↦ q(y) with the quantization parameters fixed at those of x
    grid     q ↦ its coordinates on the quantizer's own grid (integers when on the grid)
    error, bound, inside   |x − q| in the quantizer's own domain, half its grid step there, and where x
             lies inside the range (`inside` defaults to everywhere; a quantizer whose rounding is not
             one nearest-value step says `"half_step": False` in its CONTRACTS entry, and why)

and, where the quantizer has a gradient, `CONTRACTS[slug]["ste"]()` returns (f, x, inside, exact):
f(Tensor) → Tensor, the mask where the gradient must pass, and optionally the exact gradient.

Properties: q(q(x)) = q(x) for fixed parameters; values on the grid; |x − q(x)| ≤ step/2 inside the range;
the STE passes the gradient inside the clipping range only.
"""

import numpy as np
import pytest
from contracts import params

from refimpl import Tensor
from refimpl.techniques.quantization import adaquant_calibtip as AQ
from refimpl.techniques.quantization import eq_net as EQ
from refimpl.techniques.quantization import fp_formats as FPF
from refimpl.techniques.quantization import is_vit_sulq as IS
from refimpl.techniques.quantization import layerwise_mixed_bits as LMB
from refimpl.techniques.quantization import llm_fp4 as FP4
from refimpl.techniques.quantization import nupes as NU
from refimpl.techniques.quantization import ofq_statsq as OFQ
from refimpl.techniques.quantization import qfx as QFX
from refimpl.techniques.quantization import rsq as RSQ
from refimpl.techniques.quantization import signround as SR

FAMILY = "quantization"
X = np.random.default_rng(0).normal(size=(6, 32))


def c_signround(x):
    s = (np.maximum(x.max(1), 0) - np.minimum(x.min(1), 0))[:, None] / 7
    zp = np.rint(-np.minimum(x.min(1), 0)[:, None] / s)
    f = lambda y: SR.round_with_offset(y, np.zeros_like(y), s, zp, 0, 7)  # noqa: E731
    q = f(x)
    return {"q": q, "again": f, "grid": lambda v: v / s + zp, "error": np.abs(x - q), "bound": s / 2}


def _nearest_index(v, vals):
    """The index of the nearest format value, plus the distance to it ×10⁴ (so that the grid test's 1e-8
    tolerance on the index is 1e-12 on the value)."""
    i = np.argmin(np.abs(v[..., None] - vals), axis=-1)
    return i + (v - vals[i]) * 1e4


def c_llm_fp4(x):
    f = lambda y: FP4.fpq(y, 2, 1, 1.3)  # noqa: E731
    vals = FPF.E2M1.values() * 2.0 ** (1 - 1.3)  # E2M1 (bias 1) shifted to the real-valued bias 1.3
    q = f(x)
    upper = np.clip(np.searchsorted(vals, x), 1, len(vals) - 1)  # the two format values around x
    return {
        "q": q,
        "again": f,
        "grid": lambda v: _nearest_index(v, vals),
        "error": np.abs(x - q),
        "bound": (vals[upper] - vals[upper - 1]) / 2,
        "inside": (x >= vals[0]) & (x <= vals[-1]),
    }


def c_ofq(x):
    s = OFQ.statsq_scale(x)
    q = OFQ.statsq_quantize(x, 3)
    f = lambda y: s * (np.rint(np.clip(y / s, -1, 1 - 1e-6) * 4 - 0.5) + 0.5) / 4  # noqa: E731
    return {
        "q": q,
        "again": f,
        "grid": lambda v: v / s * 4 - 0.5,
        "error": np.abs(x - q),
        "bound": s / 8,  # levels (k + ½)·s/4: step s/4
        "inside": np.abs(x / s) < 1 - 1e-6,
    }


def c_nupes(x):
    q = NU.power_quantize(x, 0.6, 3)
    y = NU.power_map(x, 0.6)  # uniform symmetric grid in the power-mapped domain t_a(x)
    s = np.abs(y).max(axis=-1, keepdims=True) / 3
    return {
        "q": q,
        "again": lambda v: NU.power_quantize(v, 0.6, 3),
        "grid": lambda v: NU.power_map(v, 0.6) / s,
        "error": np.abs(y - NU.power_map(q, 0.6)),
        "bound": s / 2,
    }


def c_adaquant(x):
    lo, rng = AQ.minmax_range(x)
    f = lambda y: AQ.affine_quant(y, lo, rng, 3)  # noqa: E731
    q = f(x)
    return {
        "q": q,
        "again": f,
        "grid": lambda v: (v - lo) / (rng / 7),
        "error": np.abs(x - q),
        "bound": rng / 14,
    }


def c_rsq(x):
    q = RSQ.sym_grid_quantizer(x, 3)[1]
    s = np.abs(x).max(axis=1, keepdims=True) / 3
    return {
        "q": q,
        "again": lambda y: RSQ.sym_grid_quantizer(y, 3)[1],
        "grid": lambda v: v / s,
        "error": np.abs(x - q),
        "bound": s / 2,
    }


def c_is_vit(x):
    # the input is a softmax-like distribution; the grid is 2^k − η (k integer)
    p = np.abs(x) / np.abs(x).sum(1, keepdims=True)
    y = np.log2(p + 0.01)
    f = lambda z: IS.sulq(z, 3, 0.01, y.min(), y.max())  # noqa: E731
    return {"q": f(p), "again": f, "grid": lambda v: np.log2(v + 0.01)}


def c_layerwise(x):
    q = LMB.rtn_quantize_weight(x, 3)
    s = np.abs(x).max(axis=1, keepdims=True) / 3
    return {
        "q": q,
        "again": lambda y: LMB.rtn_quantize_weight(y, 3),
        "grid": lambda v: v / s,
        "error": np.abs(x - q),
        "bound": s / 2,
    }


def c_eq_net(x):
    s = EQ.init_step(x, 4)  # EQ-Net's 4-bit step sizes at their min–max start, per output channel
    q = EQ.quantize_weight(x, s, 4)
    v = x / s
    return {
        "q": q,
        "again": lambda y: EQ.quantize_weight(y, s, 4),
        "grid": lambda u: u / s,
        "error": np.abs(x - q),
        "bound": s / 2,
        "inside": (v >= -8) & (v <= 7),
    }


def c_qfx(x):
    f = lambda y: QFX.fixed_point_cast(y, 5, 3)  # noqa: E731  (w = 5, f = 3: range [−2, 1.875])
    q = f(x)
    return {
        "q": q,
        "again": f,
        "grid": lambda v: v * 8,
        "error": np.abs(x - q),
        "bound": np.full_like(x, 1 / 16),
        "inside": (x >= -2) & (x <= 15 / 8),
    }


STE_X = np.array([0.1, -0.3, 5.0, -7.0, 0.6])


def ste_qfx():
    # QFX cast: w = 4, f = 2 → range [−2, 1.75]
    return (lambda t: QFX.fixed_point_t(t, Tensor(np.array(2.0)), 4)), STE_X, [1, 1, 0, 0, 1], None


def ste_adaquant():
    # AdaQuant's learnable affine grid [lo, lo + range] = [−1, 1]
    f = lambda t: AQ.affine_quant_t(t, Tensor(np.array(-1.0)), Tensor(np.array(2.0)), 3)  # noqa: E731
    return f, STE_X, [1, 1, 0, 0, 1], None


def ste_eq_net():
    # EQ-Net's elastic quantizer at 2 bits, step 1: range [−2, 1]
    f = lambda t: EQ.lsq_quantize_t(t, Tensor(np.array(1.0)), 2)  # noqa: E731
    return f, STE_X, [1, 1, 0, 0, 1], [1.0, 1.0, 0.0, 0.0, 1.0]


def ste_ofq():
    # documented exception: the official StatsQ passes the gradient everywhere (no clipping mask)
    x = np.array([[0.1, 5.0, -7.0, 0.2]])
    return OFQ.StatsQWeight(2), x, np.ones((1, 4)), np.ones((1, 4))


CONTRACTS = {
    "adaquant-calibtip": {"quantize": c_adaquant, "ste": ste_adaquant},
    # SULQ rounds twice (to the Δ-grid of log₂(x + η), then to an integer exponent): no single step/2 bound
    "eq-net": {"quantize": c_eq_net, "ste": ste_eq_net},
    "is-vit-sulq": {"quantize": c_is_vit, "half_step": False},
    "layerwise-mixed-bits": {"quantize": c_layerwise},
    "llm-fp4": {"quantize": c_llm_fp4},
    "nupes": {"quantize": c_nupes},
    "ofq-statsq": {"quantize": c_ofq, "ste": ste_ofq},
    "qfx": {"quantize": c_qfx, "ste": ste_qfx},
    "rsq": {"quantize": c_rsq},
    "signround": {"quantize": c_signround},
}
EXEMPT = {}

QUANTIZERS = params(FAMILY, CONTRACTS, EXEMPT)


@pytest.mark.parametrize("slug, adapter", QUANTIZERS)
def test_requantizing_changes_nothing(slug, adapter):
    r = adapter["quantize"](X)
    np.testing.assert_allclose(r["again"](r["q"]), r["q"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("slug, adapter", QUANTIZERS)
def test_values_are_on_the_grid(slug, adapter):
    r = adapter["quantize"](X)
    k = r["grid"](r["q"])
    np.testing.assert_allclose(k, np.rint(k), atol=1e-8, err_msg=f"{slug}: values off the grid")


@pytest.mark.parametrize(
    "slug, adapter", params(FAMILY, CONTRACTS, EXEMPT, where=lambda a: a.get("half_step", True))
)
def test_error_is_at_most_half_a_step_inside_the_range(slug, adapter):
    r = adapter["quantize"](X)
    inside = np.broadcast_to(r.get("inside", True), X.shape)
    bound = np.broadcast_to(r["bound"], X.shape)
    excess = (r["error"] - bound * (1 + 1e-9) - 1e-12)[inside]
    assert inside.any() and excess.max() <= 0, f"{slug}: |x − q| exceeds step/2 by {excess.max():.3e}"


@pytest.mark.parametrize("slug, adapter", params(FAMILY, CONTRACTS, EXEMPT, where=lambda a: "ste" in a))
def test_ste_passes_the_gradient_inside_the_clip_only(slug, adapter):
    fn, x, inside, exact = adapter["ste"]()
    t = Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    fn(t).backward(np.ones_like(t.data))
    np.testing.assert_array_equal(t.grad != 0, np.asarray(inside, bool))
    if exact is not None:
        np.testing.assert_array_equal(t.grad, exact)


# --- every reference case states its rounding rule -----------------------------------------------------------
# Functions whose cases do not round anything (a knapsack, a score, a loss, an index map...), so there is no
# rounding rule to state.  A new quantization case outside this list must say how it rounds.
NO_ROUNDING = {
    "allocate_bits",
    "class_embeddings",
    "kl_bias_loss",
    "lim_score",
    "zd_score",
    "allocation",
    "bias_from_maxval",
    "power_map",
    "count_oscillations",
    "cga_trainable_mask",
    "khot_values",
    "random_hadamard",
    "attention_concentration",
    "sequence_importance",
    "signsgd_step",
}


def test_every_quantization_case_states_its_rounding_rule():
    from refimpl import catalog

    missing, exempt_seen = [], set()
    for slug, technique in catalog.entries().items():
        if technique.family != FAMILY:
            continue
        for case in technique.reference_cases():
            fn = case.function.rsplit(".", 1)[-1]
            if fn in NO_ROUNDING:
                exempt_seen.add(fn)
                continue
            if not case.conventions.get("rounding"):
                missing.append(f"{slug}/{case.name} ({fn})")
    assert not missing, f"cases without conventions['rounding']: {missing}"
    assert exempt_seen == NO_ROUNDING, f"stale exemptions: {sorted(NO_ROUNDING - exempt_seen)}"
