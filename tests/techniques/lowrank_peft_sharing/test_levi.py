"""LEVI — layer-wise ensemble of a frozen pre-trained model and a small model trained from scratch (Roh et
al., 2024; arXiv 2402.04644): the ensemble by hand and against an independent NumPy forward pass, what
trains and what stays frozen, a float64 gradient check, argument errors, the stamped task, the quick run,
and the claims on the recorded full result."""

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.optim import Adam
from refimpl.techniques.lowrank_peft_sharing import levi as L
from refimpl.techniques.lowrank_peft_sharing.levi import experiment as E
from refimpl.techniques.lowrank_peft_sharing.levi.cases import reference_cases
from refimpl.techniques.lowrank_peft_sharing.transfer import make_backbone

SLUG = "levi"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _model(seed=0, taps=(1, 3)):
    bb = make_backbone((6, 5, 4), seed)
    for p in bb.parameters():
        p.data = p.data.astype(np.float64)
    g = L.small_model(6, 3, seed=seed + 1, dtype=np.float64)
    dims = {1: 5, 3: 4}
    return L.LEVI(bb, g, 3, list(taps), [dims[t] for t in taps], 2, seed=seed + 2, dtype=np.float64)


def test_module_matches_an_independent_numpy_forward():
    m = _model()
    x = np.random.default_rng(3).normal(size=(7, 6))
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    (l1, _, l2, _), (gl, _) = list(m.backbone), list(m.small)
    f1 = relu(x @ l1.weight.data.T + l1.bias.data)
    f2 = relu(f1 @ l2.weight.data.T + l2.bias.data)
    g = relu(x @ gl.weight.data.T + gl.bias.data)
    # each adapting layer split into its f-part and g-part: W_l [f; g] = W_l^f f + W_l^g g
    z = []
    for f, a in zip((f1, f2), m.heads()):
        d = f.shape[1]
        z.append(f @ a.weight.data[:, :d].T + g @ a.weight.data[:, d:].T + a.bias.data)
    np.testing.assert_allclose(m(rf.tensor(x)).data, (z[0] + z[1]) / 2, atol=1e-12)


def test_only_small_model_and_adapting_layers_train_and_the_backbone_stays_fixed():
    m = _model()
    before = [p.data.copy() for p in m.backbone.parameters()]
    trainable = [p for p in m.parameters() if p.requires_grad]
    ids = {id(p) for p in trainable}
    assert ids == {id(p) for p in (*m.small.parameters(), *[q for a in m.heads() for q in a.parameters()])}
    opt = Adam(trainable, lr=1e-2)
    x = rf.tensor(np.random.default_rng(4).normal(size=(5, 6)))
    for _ in range(3):
        opt.zero_grad()
        (m(x) ** 2).sum().backward()
        opt.step()
    for b, p in zip(before, m.backbone.parameters()):
        np.testing.assert_array_equal(b, p.data)
    assert all(p.grad is not None and np.any(p.grad != 0) for p in trainable)


def test_gradcheck_float64_through_the_ensemble():
    m = _model()
    x = np.random.default_rng(5).normal(size=(4, 6))
    head = m.heads()[0]
    assert rf.gradcheck(lambda w: _with_weight(m, w, x), head.weight.data.copy())
    assert rf.gradcheck(lambda xx: m(xx) * rf.tensor(np.arange(8.0).reshape(4, 2)), x)


def _with_weight(m, w, x):
    from refimpl.nn import functional_call

    return functional_call(m, {"adapt0.weight": w}, rf.tensor(x)) * rf.tensor(np.arange(8.0).reshape(4, 2))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="features"):
        L.levi_logits([], np.ones((1, 1)), [], [])
    with pytest.raises(ValueError, match="one weight and bias per layer"):
        L.levi_logits([np.ones((1, 2))], np.ones((1, 1)), [], [])
    with pytest.raises(ValueError, match="taps"):
        L.layer_outputs(make_backbone((4, 3), 0), rf.tensor(np.ones((1, 4))), [7])
    with pytest.raises(ValueError, match="width"):
        L.small_model(4, 0)
    with pytest.raises(ValueError, match="tap_dims"):
        L.LEVI(make_backbone((4, 3), 0), L.small_model(4, 2), 2, [1], [], 2)


def test_stamp_puts_the_pixel_at_the_label_row_or_at_random():
    y = np.array([0, 1, 2, 3, 4] * 20)
    x = np.zeros((len(y), 64), np.float32)
    col = lambda a: a[:, E.STAMP_ROW0 * 8 : (E.STAMP_ROW0 + 5) * 8 : 8]  # noqa: E731
    s = E.stamp(x, y, 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(col(s).argmax(1), y)
    assert s.sum() == len(y) and col(s).sum() == len(y)  # exactly one pixel each, in the stamp column
    r = E.stamp(x, y, 0.0, np.random.default_rng(0))
    agree = (col(r).argmax(1) == y).mean()
    assert 0.05 < agree < 0.4  # chance is 1/5


def test_quick_run_counts_and_premise(quick_result):
    r = quick_result(SLUG)
    params = dict(zip(r.notes["arms"], r.arrays["params"]))
    # by hand: g 64·16 + 16 = 1040; adapting layers (128 + 16)·5 + 5 = 725 each
    assert params["small model"] == 1040 + 16 * 5 + 5
    assert params["LEVI"] == 1040 + 2 * 725 and params["LEVI last layer"] == 1040 + 725
    assert params["linear probe"] == 128 * 5 + 5
    assert r.premises[0]["values"] and r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_full_fine_tuning_drops_out_of_distribution():
    p = full().premises[0]
    assert p["present"] and p["interval"]["low"] > 0.03, p["interval"]


def test_full_run_levi_keeps_id_accuracy_within_two_points():
    c = next(c for c in full().claims if c["metric"] == "test_accuracy")
    assert c["interval"]["low"] > -0.02, c["interval"]


def test_full_run_levi_does_not_beat_full_fine_tuning_ood_on_this_toy():
    """Honest negative (5 seeds): LEVI's OOD accuracy equals full fine-tuning's within about a point — the
    interval straddles zero and lies within ±3 points."""
    c = next(
        c
        for c in full().claims
        if c["method"] == "LEVI" and c["baseline"] == "full FT" and c["metric"] == "ood_accuracy"
    )
    iv = c["interval"]
    assert iv["low"] < 0 < iv["high"] and -0.03 < iv["low"] and iv["high"] < 0.03, iv
