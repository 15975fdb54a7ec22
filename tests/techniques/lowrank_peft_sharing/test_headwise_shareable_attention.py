"""Head-wise Shareable Attention (Cao, Yang, Zhao; arXiv 2402.11819) — DirectShare and PostShare on a tiny
causal transformer."""

import copy

import numpy as np
import pytest

import refimpl as rf
from refimpl.experiments import freshness, recorded
from refimpl.nn import ModuleList, functional_call
from refimpl.nn.layers.attention import MultiHeadAttention
from refimpl.nn.module import Module
from refimpl.techniques.lowrank_peft_sharing import headwise_shareable_attention as HS
from refimpl.techniques.lowrank_peft_sharing.headwise_shareable_attention.cases import reference_cases

SLUG = "headwise-shareable-attention"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _attns(n_layers=3, e=8, h=2, seed=0):
    rng = np.random.default_rng(seed)
    attns = [MultiHeadAttention(e, h, dtype=np.float64, rng=rng) for _ in range(n_layers)]
    for a in attns:  # non-zero biases, so that sharing them is checked too
        a.in_proj_bias.data[...] = rng.normal(size=a.in_proj_bias.shape)
        a.out_proj.bias.data[...] = rng.normal(size=a.out_proj.bias.shape)
    return attns


def test_cosine_matrix_by_hand_and_mask():
    S = HS.cosine_matrix([[3.0, 4.0], [4.0, 3.0], [-3.0, -4.0]])
    np.testing.assert_allclose(S, [[1, 24 / 25, -1], [24 / 25, 1, -24 / 25], [-1, -24 / 25, 1]], atol=1e-12)
    m = HS.earlier_layer_mask(2, 2)  # heads 0, 1 in layer 0; 2, 3 in layer 1
    np.testing.assert_array_equal(m, [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]])
    assert HS.n_shared(0.3, 4, 4) == 4 and HS.n_shared(0.3, 32, 32) == 307  # ⌊ρLH⌋ (LLaMA-2 7B)
    with pytest.raises(ValueError, match="share_ratio"):
        HS.n_shared(1.0, 2, 2)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_pairs_are_valid_and_start_at_the_best_candidate(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(12, 12))
    mask = HS.earlier_layer_mask(4, 3)
    pairs = HS.greedy_pairs(scores, mask, 4)
    targets, sources = [i for i, _ in pairs], {j for _, j in pairs}
    assert len(pairs) == 4  # 9 candidate targets, so 4 conflict-free pairs always exist
    assert all(mask[i, j] for i, j in pairs)
    assert len(set(targets)) == len(targets) and not set(targets) & sources
    best = np.unravel_index(np.argmax(np.where(mask, scores, -np.inf)), scores.shape)
    assert pairs[0] == tuple(int(b) for b in best)
    scores_of = [scores[i, j] for i, j in pairs]
    assert scores_of == sorted(scores_of, reverse=True)


def test_matching_vector_strategies_and_errors():
    a = _attns(1)[0]
    w, d = a.in_proj_weight.data, a.head_dim
    np.testing.assert_array_equal(HS.matching_vector(a, 1, "v"), w[16 + d : 16 + 2 * d].ravel())
    assert HS.matching_vector(a, 0, "qkv").size == 3 * d * 8
    with pytest.raises(ValueError, match="strategy"):
        HS.matching_vector(a, 0, "o")


def test_share_heads_copies_all_four_slices_and_nothing_else():
    attns = _attns()
    before = copy.deepcopy(attns)
    HS.share_heads(attns, [(5, 0)])  # layer 2 head 1 ← layer 0 head 0 (d_h = 4, E = 8)
    t, s = attns[2], before[0]
    for off in (0, 8, 16):  # q, k, v blocks
        np.testing.assert_array_equal(
            t.in_proj_weight.data[off + 4 : off + 8], s.in_proj_weight.data[off : off + 4]
        )
        np.testing.assert_array_equal(
            t.in_proj_bias.data[off + 4 : off + 8], s.in_proj_bias.data[off : off + 4]
        )
        np.testing.assert_array_equal(
            t.in_proj_weight.data[off : off + 4], before[2].in_proj_weight.data[off : off + 4]
        )
    np.testing.assert_array_equal(t.out_proj.weight.data[:, 4:8], s.out_proj.weight.data[:, 0:4])
    np.testing.assert_array_equal(t.out_proj.weight.data[:, 0:4], before[2].out_proj.weight.data[:, 0:4])
    np.testing.assert_array_equal(t.out_proj.bias.data, before[2].out_proj.bias.data)
    for a, b in zip(attns[:2], before[:2]):
        np.testing.assert_array_equal(a.in_proj_weight.data, b.in_proj_weight.data)


def test_sharing_an_identical_head_leaves_the_output_unchanged_and_directshare_finds_it():
    attns = _attns()
    HS.share_heads(attns, [(4, 1)])  # make layer 2 head 0 a copy of layer 0 head 1
    x = rf.tensor(np.random.default_rng(3).normal(size=(2, 5, 8)))
    y = [a(x).data.copy() for a in attns]
    pairs, S = HS.directshare_pairs(attns, 1 / 6, "qkv")  # k = 1
    assert pairs == [(4, 1)] and S[4, 1] == pytest.approx(1.0)
    HS.share_heads(attns, pairs)
    for a, y0 in zip(attns, y):
        np.testing.assert_allclose(a(x).data, y0, atol=1e-12)


def test_penalty_is_zero_for_identical_heads_and_gradchecks():
    attns = _attns(2)
    HS.share_heads(attns, [(2, 1)])
    assert float(HS.share_penalty(attns, [(2, 1)]).data) == pytest.approx(0.0, abs=1e-12)
    attns = _attns(2, seed=1)

    class Pen(Module):
        def __init__(self):
            super().__init__()
            self.a = ModuleList(attns)

        def forward(self, _):
            return HS.share_penalty(list(self.a), [(2, 1), (3, 0)])

    m = Pen()
    names = ["a.0.in_proj_weight", "a.1.in_proj_weight"]
    vals = [dict(m.named_parameters())[n].data.copy() for n in names]
    rf.gradcheck(lambda *t: functional_call(m, dict(zip(names, t)), None), *vals)


def test_shared_param_count_formula():
    attns = _attns()
    m = ModuleList(attns)
    total = sum(p.data.size for p in m.parameters())
    # one head: q, k, v rows 3·4·8, o columns 8·4, q/k/v biases 3·4
    assert HS.shared_param_count(m, attns, [(5, 0), (4, 1)]) == total - 2 * (3 * 32 + 32 + 12)


def test_quick_run_shares_four_heads(quick_result):
    r = quick_result(SLUG)
    params = {row["method"]: row["parameters"] for row in r.table}
    per_head = 4 * 8 * 32 + 3 * 8
    assert params["unshared"] - params["DirectShare"] == 4 * per_head
    assert params["random heads"] == params["DirectShare"] == params["PostShare"]
    assert r.smoke


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)
