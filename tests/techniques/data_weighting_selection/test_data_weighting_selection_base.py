"""The family's shared scores, selection, pools and plot: hand values, finite differences, brute force."""

import itertools

import numpy as np
import pytest

from refimpl import nn
from refimpl.experiments import tasks
from refimpl.nn import functional as F
from refimpl.optim import SGD
from refimpl.techniques.data_weighting_selection import pools, selection
from refimpl.techniques.data_weighting_selection import scores as S
from refimpl.techniques.data_weighting_selection.plots import curve_points, learning_curve
from refimpl.techniques.data_weighting_selection.text_pools import DOMAINS, text_pool
from refimpl.train import fit, predict


def _mlp(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(4, 5, dtype=np.float64, rng=rng), nn.Tanh(), nn.Linear(5, 3, dtype=np.float64, rng=rng)
    )


# --- scores -------------------------------------------------------------------------------------------
def test_el2n_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]])
    got = S.el2n(np.log(p) + 5.0, [0, 2])  # logits up to a constant
    np.testing.assert_allclose(
        got, [np.sqrt(0.3**2 + 0.2**2 + 0.1**2), np.sqrt(0.04 + 0.04 + 0.16)], rtol=1e-12
    )
    assert got[0] == pytest.approx(np.sqrt(0.14), rel=1e-12)
    with pytest.raises(ValueError, match="y"):
        S.el2n(p, [0, 3])


def test_grand_against_central_differences():
    model = _mlp()
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 4)), np.array([0, 2, 1])
    got = S.grand(model, x, y)
    for i in range(3):
        h = 1e-6
        # brute force by finite differences over every parameter
        grads = []
        for p in model.parameters():
            flat = p.data.reshape(-1)
            for j in range(flat.size):
                old = flat[j]
                flat[j] = old + h
                lp = float(F.cross_entropy(model(nn.Parameter(x[i : i + 1])), y[i : i + 1]).data)
                flat[j] = old - h
                lm = float(F.cross_entropy(model(nn.Parameter(x[i : i + 1])), y[i : i + 1]).data)
                flat[j] = old
                grads.append((lp - lm) / (2 * h))
        g2 = np.sqrt(np.sum(np.square(grads)))
        assert got[i] == pytest.approx(g2, rel=1e-7)


def test_grand_of_a_linear_model_is_the_last_layer_closed_form():
    rng = np.random.default_rng(2)
    lin = nn.Linear(4, 3, dtype=np.float64, rng=rng)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    np.testing.assert_allclose(S.grand(lin, x, y), S.last_layer_grand(predict(lin, x), y, x), rtol=1e-12)
    # the closed form itself: ‖p − e_y‖ from a softmax written out here, times √(‖x‖² + 1)
    z = predict(lin, x)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    e = np.sqrt(((p - np.eye(3)[y]) ** 2).sum(1))
    np.testing.assert_allclose(S.last_layer_grand(z, y, x), e * np.sqrt((x**2).sum(1) + 1), rtol=1e-12)


def test_grand_restores_gradients_and_mode():
    model = _mlp()
    model.train()
    for p in model.parameters():
        p.grad = np.full_like(p.data, 7.0)
    S.grand(model, np.ones((2, 4)), np.array([0, 1]))
    assert model.training and all(np.all(p.grad == 7.0) for p in model.parameters())


def test_forgetting_events_by_hand():
    fe = S.ForgettingEvents(4)
    fe.update([0, 1], [1, 1])
    fe.update([0, 1], [0, 1])  # 0 forgotten once
    fe.update([0, 3], [1, 0])
    fe.update([0, 3], [0, 0])  # 0 forgotten twice; 3 never correct
    np.testing.assert_array_equal(fe.scores(), [2.0, 0.0, np.inf, np.inf])


def test_forgetting_events_in_fit_and_score_recorder():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 4)), rng.integers(0, 3, size=20)
    model = _mlp()
    fe = S.ForgettingEvents(20)
    rec = S.ScoreRecorder(lambda m: S.el2n(predict(m, x), y), epochs=[0, 2])
    at0 = S.el2n(predict(model, x), y)
    fit(
        model,
        F.cross_entropy,
        (x, y),
        SGD(model.parameters(), lr=0.5),
        3,
        batch_size=6,
        progress=False,
        callbacks=[fe, rec],
    )
    assert sorted(rec.scores) == [0, 2]
    np.testing.assert_array_equal(rec.scores[0], at0)
    s = fe.scores()
    assert s.shape == (20,) and np.all((s >= 0) | np.isinf(s))
    with pytest.raises(ValueError, match="epochs"):
        S.ScoreRecorder(lambda m: None, epochs=[])


def test_mean_over_runs():
    np.testing.assert_array_equal(S.mean_over_runs([[1.0, 2.0], [3.0, 6.0]]), [2.0, 4.0])
    with pytest.raises(ValueError, match="scores"):
        S.mean_over_runs([1.0, 2.0])


# --- selection -----------------------------------------------------------------------------------------
def _brute_keep(s, size, order, offset):
    """Rank by definition: the number of examples before i (more extreme, or as extreme with a lower index)."""
    n = len(s)
    better = (lambda a, b: a > b) if order == "highest" else (lambda a, b: a < b)
    rank = [sum(better(s[j], s[i]) or (s[j] == s[i] and j < i) for j in range(n)) for i in range(n)]
    return [i for i in range(n) if offset <= rank[i] < offset + size]


@pytest.mark.parametrize("seed", range(20))
def test_keep_by_score_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    s = rng.integers(0, 4, size=n).astype(float)  # many ties
    for order in ("highest", "lowest"):
        size = int(rng.integers(0, n + 1))
        offset = int(rng.integers(0, n - size + 1))
        got = selection.keep_by_score(s, size, order, offset)
        assert got.tolist() == _brute_keep(s, size, order, offset)


def test_keep_by_score_matches_the_official_offset_window():
    """data_diet/data.py:158: argsort()[o:o+size] ascending = order "highest" with offset n − o − size."""
    s = np.random.default_rng(0).permutation(30).astype(float)
    for o, size in [(0, 10), (5, 10), (20, 10), (3, 1)]:
        official = np.sort(s.argsort()[o : o + size])
        np.testing.assert_array_equal(selection.keep_by_score(s, size, "highest", 30 - o - size), official)
    np.testing.assert_array_equal(selection.keep_by_score(s, 7), np.sort(s.argsort()[-7:]))  # keep_max_scores


def test_keep_count_and_errors():
    assert [selection.keep_count(10, f) for f in (0.0, 0.25, 0.35, 0.5, 1.0)] == [0, 3, 4, 5, 10]
    with pytest.raises(ValueError, match="fraction"):
        selection.keep_count(10, 1.5)
    with pytest.raises(ValueError, match="offset"):
        selection.keep_by_score([1.0, 2.0], 2, offset=1)
    with pytest.raises(ValueError, match="order"):
        selection.keep_by_score([1.0, 2.0], 1, order="top")
    with pytest.raises(ValueError, match="scores"):
        selection.keep_by_score([1.0, np.nan], 1)


def test_class_balanced_keep_by_brute_force():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=25)
    s = rng.normal(size=25)
    got = selection.class_balanced_keep(s, y, 0.4, "lowest")
    expect = []
    for c in range(3):
        members = [i for i in range(25) if y[i] == c]
        k = int(np.floor(0.4 * len(members) + 0.5))
        expect += sorted(members, key=lambda i: s[i])[:k]
    assert got.tolist() == sorted(expect)


def test_random_subset():
    a, b, c = (selection.random_subset(50, 20, s) for s in (1, 1, 2))
    assert len(a) == 20 and len(set(a.tolist())) == 20 and a.min() >= 0 and a.max() < 50
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_weighted_resample_frequencies():
    w = np.array([1.0, 2.0, 0.0, 5.0])
    draws = selection.weighted_resample(w, 40000, seed=0, replace=True)
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 40000, w / w.sum(), atol=0.01)
    # without replacement (Gumbel-top-k): P({i, j}) = wᵢ/W · wⱼ/(W − wᵢ) + wⱼ/W · wᵢ/(W − wⱼ), by hand
    w = np.array([1.0, 2.0, 3.0])
    W = w.sum()
    counts = {}
    for seed in range(6000):
        pair = tuple(selection.weighted_resample(w, 2, seed, replace=False).tolist())
        counts[pair] = counts.get(pair, 0) + 1
    for i, j in itertools.combinations(range(3), 2):
        p = w[i] / W * w[j] / (W - w[i]) + w[j] / W * w[i] / (W - w[j])
        assert counts.get((i, j), 0) / 6000 == pytest.approx(p, abs=0.025)
    with pytest.raises(ValueError, match="size"):
        selection.weighted_resample([1.0, 0.0], 2, seed=0, replace=False)


# --- pools ------------------------------------------------------------------------------------------
def test_with_label_noise_plants_a_known_subset():
    task = tasks.digits()
    noisy = pools.with_label_noise(task, 0.1, seed=3)
    mask = noisy.meta["noisy"]
    assert mask.sum() == round(0.1 * len(task.y_train))
    np.testing.assert_array_equal(noisy.y_train != task.y_train, mask)
    np.testing.assert_array_equal(noisy.y_val, task.y_val)
    np.testing.assert_array_equal(noisy.y_test, task.y_test)


def test_with_duplicates():
    task = tasks.digits()
    dup = pools.with_duplicates(task, 0.2, copies=2, seed=1)
    n, d = len(task.y_train), dup.meta["duplicate_of"]
    assert len(dup.y_train) == n + 2 * round(0.2 * n)
    assert np.all(d[:n] == -1)
    np.testing.assert_array_equal(dup.x_train[n:], task.x_train[d[n:]])
    np.testing.assert_array_equal(dup.y_train[n:], task.y_train[d[n:]])


def test_long_tail_pool():
    counts = pools.long_tail(10).meta["train_counts"]
    assert counts[0] > counts[-1]


# --- plot -----------------------------------------------------------------------------------------------
def test_curve_points_by_hand():
    mean, low, high = curve_points([[1.0, 0.0], [3.0, 0.0]])
    half = 12.706204736174698 * np.sqrt(2.0) / np.sqrt(2.0)  # t(0.975, 1) · std / √n
    np.testing.assert_allclose([mean[0], low[0], high[0]], [2.0, 2.0 - half, 2.0 + half], rtol=1e-9)
    fig = learning_curve([0.3, 0.5], {"a": [[0.5, 0.6], [0.6, 0.7]]}, reference={"full": [0.8, 0.9]})
    assert fig.axes[0].get_xlabel().startswith("fraction")
    with pytest.raises(ValueError, match="points"):
        learning_curve([0.3], {"a": [[0.5, 0.6], [0.6, 0.7]]})


# --- text pools ------------------------------------------------------------------------------------------
def test_text_pool_domains_and_disjoint_target():
    pool = text_pool(per_domain=20, target_docs=5, eval_blocks=3)
    assert len(pool.docs) == 20 * len(DOMAINS) and np.bincount(pool.domain).tolist() == [20] * 4
    prose, shuffled = pool.docs[:20], pool.docs[20:40]
    assert not set(pool.target) & set(prose)
    # shuffled prose keeps its words: the unigram counts of a shuffled doc are those of some prose block
    assert all(len(d.split()) == 30 for d in shuffled)
    with pytest.raises(ValueError, match="per_domain"):
        text_pool(per_domain=0)
