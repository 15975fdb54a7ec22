"""Growing Transformers (Bochkov, 2025; arXiv 2507.07129): hand cases, the frozen substrate, what a growth
stage trains, float64 gradient checks through frozen blocks, the merge, errors, the quick run's code path,
and the claims on the recorded full result."""

import numpy as np
import pytest

from refimpl.autograd.gradcheck import gradcheck
from refimpl.autograd.tensor import Tensor
from refimpl.experiments import freshness, recorded
from refimpl.nn import functional as F
from refimpl.nn import functional_call
from refimpl.techniques.growth_init_scaling import growing_transformers as GT
from refimpl.techniques.growth_init_scaling.growing_transformers.cases import reference_cases

SLUG = "growing-transformers"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _lm(n_layers=1, trainable=False, vocab=7, d=8, block=4, seed=0):
    table = GT.frozen_substrate(vocab, d, rng=np.random.default_rng(99), dtype=np.float64)
    sub = GT.TokenSubstrate(table, block, trainable=trainable)
    return GT.GrowingTransformer(
        sub, vocab, n_layers=n_layers, n_heads=2, d_ff=12, dtype=np.float64, rng=seed
    )


def _idx(n=3, t=4, vocab=7, seed=5):
    return np.random.default_rng(seed).integers(0, vocab, size=(n, t))


def test_frozen_substrate_rows_have_norm_sqrt_d_and_a_seed_fixes_the_table():
    e = GT.frozen_substrate(50, 16, rng=np.random.default_rng(3))
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 4.0, rtol=1e-5)
    np.testing.assert_array_equal(e, GT.frozen_substrate(50, 16, rng=np.random.default_rng(3)))


def test_binary_substrate_codes_are_distinct_and_invert_to_the_ids():
    e = GT.binary_substrate(73, 8)
    bits = (e[:, :7] > 0).astype(int)
    assert np.array_equal(bits @ (1 << np.arange(7)), np.arange(73))
    assert np.all(e[:, 7] == 0)


def test_a_growth_stage_freezes_earlier_blocks_and_the_table_and_trains_the_new_block_and_head():
    model = _lm(1)
    grown = GT.grow(model, np.random.default_rng(1))
    assert len(model.blocks) == 1 and len(grown.blocks) == 2  # grow works on a copy
    names = {id(p): n for n, p in grown.named_parameters()}
    trained = sorted(names[id(p)] for p in grown.trainable_parameters())
    assert all(n.startswith(("blocks.1.", "ln_f.", "head.")) for n in trained), trained
    assert any(n.startswith("blocks.1.") for n in trained) and "head.weight" in trained
    # one backward: gradients reach exactly the trainable parameters
    F.cross_entropy(grown(_idx()), np.array([0, 1, 2])).backward()
    for n, p in grown.named_parameters():
        assert (p.grad is not None) == p.requires_grad, n
    # the trainable-embedding ablation also trains the table, and growth keeps it trainable
    abl = GT.grow(_lm(1, trainable=True), np.random.default_rng(1))
    assert abl.substrate.emb.weight.requires_grad


def test_growth_changes_the_function_but_keeps_the_frozen_parts_bit_identical():
    model = _lm(1)
    grown = GT.grow(model, np.random.default_rng(1))
    x = _idx()
    assert np.max(np.abs(grown(x).data - model(x).data)) > 1e-6  # the fresh block is not zero-initialised
    np.testing.assert_array_equal(grown.blocks[0].linear1.weight.data, model.blocks[0].linear1.weight.data)
    np.testing.assert_array_equal(grown.substrate.emb.weight.data, model.substrate.emb.weight.data)


def test_float64_gradients_through_frozen_blocks_match_central_differences():
    """The loss of a 2-block grown model as a function of the new block's W₂ and of the (ablation's)
    trainable table: the gradient must flow through the frozen block 1 to reach the table."""
    model = GT.grow(_lm(1, trainable=True), np.random.default_rng(1))
    x, y = _idx(2, 3), np.array([1, 4])

    def loss(w2, table):
        z = functional_call(model, {"blocks.1.linear2.weight": w2, "substrate.emb.weight": table}, x)
        return F.cross_entropy(z, y)

    w2, table = model.blocks[1].linear2.weight.data.copy(), model.substrate.emb.weight.data.copy()
    assert gradcheck(loss, Tensor(w2, requires_grad=True), Tensor(table, requires_grad=True), mode="random")


def test_merged_model_is_the_mean_of_its_members_and_one_member_is_itself():
    a, b = _lm(1, seed=1), _lm(2, seed=2)
    x = _idx()
    np.testing.assert_allclose(GT.MergedModel([a, b])(x).data, (a(x).data + b(x).data) / 2, atol=1e-12)
    np.testing.assert_allclose(GT.MergedModel([a])(x).data, a(x).data, atol=0)
    np.testing.assert_allclose(GT.merge_logits([a(x), b(x)]), (a(x).data + b(x).data) / 2, atol=1e-12)


def test_forward_all_gives_every_position_and_forward_the_last():
    model = _lm(2)
    x = _idx(3, 4)
    z = model.forward_all(x).data
    assert z.shape == (3, 4, 7)
    np.testing.assert_allclose(model(x).data, z[:, -1], atol=0)
    # causal: the logits at position 1 do not depend on later tokens
    x2 = x.copy()
    x2[:, 3] = (x2[:, 3] + 1) % 7
    np.testing.assert_allclose(model.forward_all(x2).data[:, 1], z[:, 1], atol=1e-12)


def test_projection_substrate_is_the_docking_port_for_real_inputs():
    rng = np.random.default_rng(0)
    sub = GT.ProjectionSubstrate(6, 8, dtype=np.float64, rng=rng)
    model = GT.GrowingTransformer(sub, 3, n_layers=1, n_heads=2, dtype=np.float64, rng=rng)
    x = np.random.default_rng(1).normal(size=(5, 6))
    assert model(x).shape == (5, 3)
    assert not any(p is sub for p in model.trainable_parameters()) and len(list(sub.parameters())) == 0


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`d_model`"):
        GT.frozen_substrate(5, 0)
    with pytest.raises(ValueError, match="`d_model`=2 cannot hold 3 bits"):
        GT.binary_substrate(5, 2)
    with pytest.raises(ValueError, match="`length`"):
        GT.sinusoidal_positions(0, 4)
    with pytest.raises(ValueError, match="`table`"):
        GT.TokenSubstrate(np.zeros(4), 3)
    with pytest.raises(ValueError, match="`idx`"):
        _lm(1)(np.zeros((2, 9), dtype=np.int64))
    with pytest.raises(ValueError, match="`n_heads`=3"):
        _lm(0).__class__(_lm(0).substrate, 7, n_heads=3)
    with pytest.raises(ValueError, match="`substrate`"):
        GT.GrowingTransformer(object(), 3)
    with pytest.raises(TypeError, match="`model`"):
        GT.grow(object())
    with pytest.raises(ValueError, match="`logits`"):
        GT.merge_logits([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="`models`"):
        GT.MergedModel([])


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and r.premises[0]["metric"] == "test_loss"
    assert set(r.methods) == set(r.notes["arms"]) | set(r.notes["merged_arms"]) and len(r.methods) == 6
    stage = np.asarray(r.arrays["stage_test_loss"])
    assert stage.shape == (2, 3, len(r.seeds)) and np.all(np.isfinite(stage))
    # the last stage's test loss is the arm's final test loss
    np.testing.assert_allclose(stage[0, -1], r.values("grown (frozen substrate)", "test_loss"))
    # a growth stage trains fewer parameters than the jointly trained 3-block model
    p = {m: r.values(m, "trainable_params_last_stage")[0] for m in r.notes["arms"]}
    assert p["grown (frozen substrate)"] < p["end-to-end (frozen substrate)"]


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_depth_matters_at_this_budget():
    p = full().premises[0]
    assert p["present"] and p["interval"]["high"] < -0.03, p["interval"]


def test_full_run_growth_does_not_beat_one_block_trained_for_the_same_steps():
    """The paper's depth claim, fairly costed: the grown 3-block model against 1 block trained for as many
    steps.  Recorded (5 seeds): the grown model is *worse*, the interval excludes the claimed gain of 0.02
    nats.  Fails if the record moves to growth adding capability beyond more steps."""
    c = full().claim("Growth adds capability with depth")
    assert c["interval"]["low"] > -0.02 and c["interval"]["mean"] > 0, c["interval"]


def test_full_run_growth_falls_short_of_end_to_end_training_at_equal_steps():
    c = full().claim("Layer-wise growth substitutes")
    assert c["interval"]["low"] > 0.05, c["interval"]


def test_full_run_growth_stages_lower_the_loss_with_diminishing_returns():
    """Within growth, the second block lowers the test loss on every seed (the abstract's depth-capability
    correlation); the third adds less on average than the second (recorded: on one seed nothing)."""
    r = full()
    stage = np.asarray(r.arrays["stage_test_loss"])[0]  # (stage, seed), frozen substrate
    gains = -np.diff(stage, axis=0)  # (stage 1→2, stage 2→3) per seed
    assert np.all(gains[0] > 0.03), gains
    assert gains[1].mean() < gains[0].mean(), gains
    assert min(r.values("grown (frozen substrate)", "test_loss_gain")) > 0.05


def test_full_run_the_frozen_substrate_costs_growth_something():
    """Growing on the frozen table is worse than growing with trainable embeddings on every reading of the
    interval (its low end is above zero); the claimed margin of 0.05 nats sits inside or below it."""
    c = full().claim("The frozen substrate costs growth nothing")
    assert c["interval"]["low"] > 0, c["interval"]


def test_full_run_merging_by_logit_averaging_beats_the_experts():
    c = full().claim("Merging by logit averaging")
    assert c["interval"]["low"] > 0.02, c["interval"]


def test_full_run_the_frozen_substrate_does_not_make_the_merge_work_better():
    """Logit averaging only needs a shared output vocabulary: with trainable embeddings the merge gains as
    much (recorded: the paired interval of the gain difference contains 0 and is narrower than ±0.02)."""
    c = full().claim("The frozen substrate is what makes merging work")
    iv = c["interval"]
    assert iv["low"] < 0 < iv["high"] and iv["high"] - iv["low"] < 0.04, iv
