"""The family contract, driven by the registry: every quantization technique registers a quantizer here
(a new technique without one fails `test_every_technique_has_a_contract_quantizer`), and each must satisfy
q(q(x)) = q(x) for fixed parameters, produce values on its own grid, and (where its STE is clipped) pass
gradient inside the clipping range only."""

import numpy as np
import pytest

from refimpl import Tensor, catalog
from refimpl.techniques.quantization import _base as B
from refimpl.techniques.quantization import adaquant_calibtip as AQ
from refimpl.techniques.quantization import is_vit_sulq as IS
from refimpl.techniques.quantization import layerwise_mixed_bits as LMB
from refimpl.techniques.quantization import llm_fp4 as FP4
from refimpl.techniques.quantization import nupes as NU
from refimpl.techniques.quantization import ofq_statsq as OFQ
from refimpl.techniques.quantization import qfx as QFX
from refimpl.techniques.quantization import rsq as RSQ
from refimpl.techniques.quantization import signround as SR

FAMILY = sorted(s for s, t in catalog.entries().items() if t.family == "quantization")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 32))


def _on_grid(codes):
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-8)


def c_signround(x):
    s = (np.maximum(x.max(1), 0) - np.minimum(x.min(1), 0))[:, None] / 7
    zp = np.rint(-np.minimum(x.min(1), 0)[:, None] / s)
    q = SR.round_with_offset(x, np.zeros_like(x), s, zp, 0, 7)
    _on_grid(q / s + zp)
    return q, (lambda y: SR.round_with_offset(y, np.zeros_like(y), s, zp, 0, 7))


def c_llm_fp4(x):
    f = lambda y: FP4.fpq(y, 2, 1, 1.3)  # noqa: E731
    q = f(x)
    vals = B.FPFormat(2, 1).values() * 2.0 ** (1 - 1.3)
    assert np.all(np.min(np.abs(q.ravel()[:, None] - vals[None]), axis=1) < 1e-12)
    return q, f


def c_ofq(x):
    s = OFQ.statsq_scale(x)
    q = OFQ.statsq_quantize(x, 3)
    _on_grid(q / s * 4 - 0.5)
    return q, (lambda y: s * (np.rint(np.clip(y / s, -1, 1 - 1e-6) * 4 - 0.5) + 0.5) / 4)


def c_nupes(x):
    q = NU.power_quantize(x, 0.6, 3)
    return q, (lambda y: NU.power_quantize(y, 0.6, 3))


def c_adaquant(x):
    lo, rng = AQ.minmax_range(x)
    f = lambda y: AQ.affine_quant(y, lo, rng, 3)  # noqa: E731
    q = f(x)
    _on_grid((q - lo) / (rng / 7))
    return q, f


def c_rsq(x):
    q = RSQ.sym_grid_quantizer(x, 3)[1]
    return q, (lambda y: RSQ.sym_grid_quantizer(y, 3)[1])


def c_is_vit(x):
    p = np.abs(x) / np.abs(x).sum(1, keepdims=True)
    y = np.log2(p + 0.01)
    f = lambda z: IS.sulq(z, 3, 0.01, y.min(), y.max())  # noqa: E731
    q = f(p)
    _on_grid(np.log2(q + 0.01))
    return q, f


def c_layerwise(x):
    q = LMB.rtn_quantize_weight(x, 3)
    return q, (lambda y: LMB.rtn_quantize_weight(y, 3))


def c_qfx(x):
    f = lambda y: QFX.fixed_point_cast(y, 5, 3)  # noqa: E731
    q = f(x)
    _on_grid(q * 8)
    return q, f


CONTRACT = {
    "signround": c_signround,
    "llm-fp4": c_llm_fp4,
    "ofq-statsq": c_ofq,
    "nupes": c_nupes,
    "adaquant-calibtip": c_adaquant,
    "rsq": c_rsq,
    "is-vit-sulq": c_is_vit,
    "layerwise-mixed-bits": c_layerwise,
    "qfx": c_qfx,
}


def test_every_technique_has_a_contract_quantizer():
    assert FAMILY, "no quantization technique registered"
    missing = [s for s in FAMILY if s not in CONTRACT]
    assert not missing, f"add a contract quantizer for {missing}"


@pytest.mark.parametrize("slug", FAMILY)
def test_idempotent_and_on_grid(slug):
    q, f = CONTRACT[slug](X)
    np.testing.assert_allclose(f(q), q, rtol=1e-10, atol=1e-12)


def _ste_mask(fn, x, expected_inside):
    t = Tensor(x.copy(), requires_grad=True)
    fn(t).backward(np.ones_like(x))
    np.testing.assert_array_equal(t.grad != 0, expected_inside)


def test_clipped_ste_passes_inside_only():
    x = np.array([0.1, -0.3, 5.0, -7.0, 0.6])
    # base FakeQuantWeight-style quantizer: range ±0.75 (3 bits, s = 0.25)
    qp = B.QParams(np.array([0.25]), np.array([0.0]), -4, 3)
    _ste_mask(lambda t: B.fake_quant_ste(t, qp), x, [True, True, False, False, True])
    # QFX cast: w = 4, f = 2 → range [−2, 1.75]
    _ste_mask(lambda t: QFX.fixed_point_t(t, Tensor(np.array(2.0)), 4), x, [True, True, False, False, True])
    # AdaQuant's learnable affine grid [lo, lo + range] = [−1, 1]
    _ste_mask(
        lambda t: AQ.affine_quant_t(t, Tensor(np.array(-1.0)), Tensor(np.array(2.0)), 3),
        x,
        [True, True, False, False, True],
    )


def test_statsq_uses_the_plain_ste_by_design():
    # documented exception: the official StatsQ passes the gradient everywhere (no clipping mask)
    t = Tensor(np.array([[0.1, 5.0, -7.0, 0.2]]), requires_grad=True)
    OFQ.StatsQWeight(2)(t).backward(np.ones((1, 4)))
    np.testing.assert_array_equal(t.grad, np.ones((1, 4)))
