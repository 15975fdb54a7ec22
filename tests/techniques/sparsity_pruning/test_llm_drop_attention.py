"""LLM-Drop (attention drop): the score by hand, the scores of a model against its own blocks run whole
(independent of the method's branch helpers), a dropped sublayer equal to a zeroed one, selection and
errors, the quick run's code path, and the paper's claims on the recorded full result."""

import numpy as np
import pytest
from tiny_lm import tiny_lm, token_ids, zero_linear

from refimpl.autograd.tensor import Tensor, no_grad
from refimpl.experiments import freshness, recorded
from refimpl.nn.layers.transformer import TransformerBlock
from refimpl.techniques.sparsity_pruning import llm_drop_attention as lda
from refimpl.techniques.sparsity_pruning.llm_drop_attention import experiment
from refimpl.techniques.sparsity_pruning.llm_drop_attention.cases import reference_cases

SLUG = "llm-drop-attention"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _cos_score(x, y):  # 1 − mean cosine, written out again for the test
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    return 1 - np.mean(np.sum(x * y, 1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)))


def test_scores_match_the_blocks_run_whole():
    """Y = X + Attn(LN₁X) is the block with its MLP output zeroed; Z is the block as it is."""
    model, idx = tiny_lm(), token_ids()
    s = lda.sublayer_importances(model, idx)
    ref = tiny_lm()
    with no_grad():
        h = ref.tok_emb(idx) + ref.pos_emb(np.arange(idx.shape[1]))
        for i, block in enumerate(ref.blocks):
            z = block(h, is_causal=True).data
            no_mlp = tiny_lm().blocks[i]
            zero_linear(no_mlp.linear2)
            y = no_mlp(h, is_causal=True).data
            hx = h.data
            assert s["attn"][i] == pytest.approx(_cos_score(hx, y), abs=1e-12)
            assert s["mlp"][i] == pytest.approx(_cos_score(y, z), abs=1e-12)
            assert s["block"][i] == pytest.approx(_cos_score(hx, z), abs=1e-12)
            h = Tensor(z)


@pytest.mark.parametrize("attn, mlp", [((1,), ()), ((), (0, 2)), ((2,), (2,)), ((0, 1, 2), (1,))])
def test_dropping_a_sublayer_equals_zeroing_its_output(attn, mlp):
    idx = token_ids()
    dropped = lda.drop_layers(tiny_lm(), attn=attn, mlp=mlp)
    zeroed = tiny_lm()
    for i in attn:
        zero_linear(zeroed.blocks[i].self_attn.out_proj)
    for i in mlp:
        zero_linear(zeroed.blocks[i].linear2)
    with no_grad():
        np.testing.assert_allclose(dropped(idx).data, zeroed(idx).data, rtol=1e-12, atol=1e-12)
    kept = tiny_lm()
    with no_grad():  # and it changes the output when something is dropped
        assert not np.allclose(dropped(idx).data, kept(idx).data)


def test_a_zero_branch_scores_zero_and_is_dropped_first():
    model = tiny_lm(seed=4, n_layers=4)
    zero_linear(model.blocks[2].self_attn.out_proj)
    s = lda.sublayer_importances(model, token_ids())
    assert s["attn"][2] == pytest.approx(0.0, abs=1e-12) and np.all(np.delete(s["attn"], 2) > 1e-6)
    assert lda.attention_drop(model, token_ids(), 1) == [2]
    assert isinstance(model.blocks[2], lda.LayerDroppedBlock) and model.blocks[2].drop_attn


def test_drop_helpers_agree_with_scores_and_accumulate():
    model, idx = tiny_lm(seed=5, n_layers=4), token_ids(7)
    s = lda.sublayer_importances(model, idx)
    attn, mlp = lda.joint_layer_drop(model, idx, 3)
    both = np.concatenate([s["attn"], s["mlp"]])
    assert sorted(attn + [4 + i for i in mlp]) == sorted(np.argsort(both)[:3].tolist())
    again = lda.sublayer_importances(model, idx)  # scores read through the wrapper: the undropped model
    np.testing.assert_allclose(again["attn"], s["attn"], rtol=1e-12)
    lda.drop_layers(model, mlp=attn)  # dropping more of a wrapped block keeps what was dropped
    for i in attn:
        assert model.blocks[i].drop_attn and model.blocks[i].drop_mlp
    b = tiny_lm(seed=5, n_layers=4)
    assert lda.block_drop(b, idx, 2) == lda.select_drop(s["block"], 2)
    m = tiny_lm(seed=5, n_layers=4)
    assert lda.mlp_drop(m, idx, 1) == lda.select_drop(s["mlp"], 1)


def test_scoring_restores_the_training_mode():
    model = tiny_lm()
    model.train()
    lda.sublayer_importances(model, token_ids())
    assert model.training


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="k"):
        lda.select_drop([0.1, 0.2], 3)
    with pytest.raises(ValueError, match="1-D"):
        lda.select_drop(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="score"):
        lda.joint_select([0.1], [0.1, 0.2], 1)
    with pytest.raises(ValueError, match="shape"):
        lda.token_cosine(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="block indices"):
        lda.drop_layers(tiny_lm(), attn=[3])
    with pytest.raises(ValueError, match="pre-norm"):
        lda.LayerDroppedBlock(TransformerBlock(8, 2, 16, norm_first=False, rng=0))


# --- the quick run: code path, determinism, the premises measured -------------------------------------------
def test_quick_run_is_deterministic_and_measures_the_premises(quick_result):
    r = quick_result(SLUG)
    r.validate()
    assert r.quick and r.smoke
    assert {p["metric"] for p in r.premises} == {
        "attn_minus_mlp_S",
        "deep_minus_shallow_attn_S",
        "loss_increase",
    }
    assert all(len(p["values"]) == len(r.seeds) for p in r.premises)
    experiment._evaluated.cache_clear()
    experiment._trained.cache_clear()
    again = experiment.run(quick=True, progress=False)
    assert again.table == r.table and again.selected == r.selected


def test_quick_run_dense_arm_costs_nothing_and_random_is_the_mean_over_pairs(quick_result):
    r = quick_result(SLUG)
    assert r.values("dense", "loss_increase") == [0.0] * len(r.seeds)
    assert all(v > 0 for v in r.values("dense", "attn_S0"))


# --- the claims, on the recorded full result ----------------------------------------------------------------
def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    r = recorded(SLUG)
    assert not r.quick and len(r.seeds) >= 5
    return r


def test_full_run_the_score_beats_random_attention_choices():
    # random pairs include the first attention layer a third of the time, which the score never drops
    iv = full().claim("Dropping the 2 attention layers with the lowest score")["interval"]
    assert iv["high"] < -0.3, iv


def test_full_run_premise_attention_more_redundant_than_mlp_is_absent():
    # the measured contradiction: the first attention layer scores far above every MLP layer
    r = full()
    iv = [p for p in r.premises if p["metric"] == "attn_minus_mlp_S"][0]["interval"]
    assert iv["low"] > 0.05, iv
    assert min(r.values("dense", "attn_S0")) > 0.5


def test_full_run_attention_drop_beats_block_drop_but_costs_more_than_2_5_percent():
    r = full()
    assert (
        r.claim("Dropping 2 attention layers by the score costs less test loss than dropping 2 blocks")[
            "interval"
        ]["high"]
        < -0.05
    )
    assert (
        r.claim("Dropping 2 of the 6 attention layers")["interval"]["low"] > 0.025
    )  # the paper's bar missed


def test_full_run_attention_drop_is_not_shown_better_than_mlp_drop_nor_joint_than_attention():
    r = full()
    assert (
        r.claim("Dropping 2 attention layers by the score costs less test loss than dropping 2 MLP")[
            "interval"
        ]["mean"]
        > 0.0
    )
    iv = r.claim("Joint Layer Drop of 4 layers")["interval"]
    assert iv["mean"] < 0.0 and iv["high"] > 0.0, iv
