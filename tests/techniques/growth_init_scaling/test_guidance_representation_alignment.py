"""Guidance (Subramaniam et al., 2024; arXiv 2410.20035): hand cases, CKA against a brute-force HSIC with
the explicit centring matrix, invariances, float64 gradient checks, the layer mapping against a loop
transcription of the official rule, errors, the quick run's code path, and the claims on the recorded full
result."""

import numpy as np
import pytest

from refimpl.autograd import Tensor
from refimpl.autograd.gradcheck import GradcheckError, gradcheck
from refimpl.experiments import freshness, recorded
from refimpl.techniques.growth_init_scaling import guidance_representation_alignment as GRA
from refimpl.techniques.growth_init_scaling.guidance_representation_alignment.cases import reference_cases

SLUG = "guidance-representation-alignment"


@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: c.name)
def test_reference_cases(case):
    case.check()


def _cka_brute(X, Y):
    """The official n×n form (rep_sims.py:18-38) with the explicit centring matrix H, in float64."""
    n = len(X)
    H = np.eye(n) - np.ones((n, n)) / n

    def hsic(A, B):
        return np.sum((H @ A @ A.T @ H) * (H @ B @ B.T @ H))

    return hsic(X, Y) / np.sqrt(hsic(X, X) * hsic(Y, Y))


def test_cka_matches_the_explicit_centring_matrix_form_and_its_invariances():
    rng = np.random.default_rng(0)
    for n, p, q in [(5, 3, 7), (16, 20, 4), (2, 1, 1)]:
        X, Y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
        got = float(GRA.linear_cka(X, Y).data)
        assert got == pytest.approx(_cka_brute(X, Y), rel=1e-12, abs=1e-12)
        Q, _ = np.linalg.qr(rng.normal(size=(q, q)))
        moved = 3.7 * Y @ Q + rng.normal(size=(1, q))  # orthogonal map, isotropic scale, offset
        assert float(GRA.linear_cka(X, moved).data) == pytest.approx(got, rel=1e-10, abs=1e-12)
        assert float(GRA.linear_cka(Y, X).data) == pytest.approx(got, rel=1e-12, abs=1e-12)  # symmetric
        assert -1e-12 <= got <= 1 + 1e-12


def test_cka_is_not_invariant_to_a_non_isotropic_scaling():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [2.0, 0.5]])
    Y = X @ np.diag([1.0, 10.0])
    assert float(GRA.linear_cka(X, Y).data) < 0.99


def test_cka_flattens_feature_maps_per_example():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(6, 2, 3, 3)), rng.normal(size=(6, 5))
    assert float(GRA.linear_cka(X, Y).data) == pytest.approx(_cka_brute(X.reshape(6, -1), Y), rel=1e-12)


def test_float64_gradient_checks_of_cka_and_the_guidance_loss():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    assert gradcheck(GRA.linear_cka, X, Y, mode="full")
    assert gradcheck(GRA.cka_distance, X, Y, mode="full")
    T0, T1, G0 = rng.normal(size=(6, 5)), rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    assert gradcheck(lambda a, b: GRA.guidance_loss([a, b], [G0, Y], [(0, 0), (1, 1)]), T0, T1, mode="full")
    z, y = rng.normal(size=(6, 3)), np.array([0, 1, 2, 0, 1, 2])
    assert gradcheck(lambda a, b: GRA.guided_loss(a, y, [b], [G0], alpha=0.7), z, T1, mode="full")


def test_the_gradient_checker_catches_a_wrong_cka_gradient():
    """The same value with Y cut from the graph (its gradient lost): the checker must say so."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a, b: GRA.linear_cka(a, b.detach()), X, Y, mode="full")


def _mapping_loop(G, T):
    """layer_sim.py:19-28 and :66-78 transcribed: a dict keyed by the target layer, later guide layers
    overwriting earlier ones."""
    step = (T - 1) / (G - 1) if G > 1 else 1
    by_target = {}
    for i in range(G):
        by_target[min(round(i * step), T - 1)] = i
    return sorted((g, t) for t, g in by_target.items())


def test_layer_mapping_matches_the_official_rule_for_small_depths():
    for G in range(1, 12):
        for T in range(1, 12):
            pairs = GRA.layer_mapping(G, T)
            assert sorted(pairs) == _mapping_loop(G, T), (G, T)
            ts = [t for _, t in pairs]
            assert len(set(ts)) == len(ts) and all(0 <= t < T for t in ts)
            if 1 < G <= T:  # every guide layer is used, the first and last layers meet
                assert len(pairs) == G and pairs[0] == (0, 0) and pairs[-1] == (G - 1, T - 1)


def test_alpha_zero_is_plain_cross_entropy_and_the_guided_loss_adds_the_sum():
    from refimpl.nn import functional as F

    rng = np.random.default_rng(4)
    z, y = Tensor(rng.normal(size=(8, 3))), np.arange(8) % 3
    T, G = [rng.normal(size=(8, 4))], [rng.normal(size=(8, 6))]
    ce = float(F.cross_entropy(z, y).data)
    assert float(GRA.guided_loss(z, y, T, G, 0.0).data) == pytest.approx(ce, rel=1e-12)
    d = 1 - _cka_brute(T[0], G[0])
    assert float(GRA.guided_loss(z, y, T, G, 2.5).data) == pytest.approx(ce + 2.5 * d, rel=1e-10)


def test_models_expose_the_layer_outputs_the_official_extractor_records():
    rng = np.random.default_rng(5)
    x = Tensor(rng.normal(size=(3, 144)).astype(np.float32))
    fcn = GRA.FCN([144, 20, 20, 10], rng=rng)
    z = fcn(x)
    assert [r.shape for r in fcn.representations] == [(3, 20), (3, 20), (3, 10)]
    np.testing.assert_array_equal(fcn.representations[-1].data, z.data)  # the logits are the last layer
    np.testing.assert_allclose(  # pre-activation: the first representation is W x + b
        fcn.representations[0].data,
        x.data @ fcn.layers[0].weight.data.T + fcn.layers[0].bias.data,
        rtol=1e-5,
        atol=1e-5,
    )
    cnn = GRA.SmallCNN((4, 6, 6), side=12, rng=rng)
    reps = cnn.representations(x)
    assert [r.shape for r in reps] == [(3, 4, 12, 12), (3, 6, 12, 12), (3, 6, 6, 6), (3, 10)]
    np.testing.assert_array_equal(reps[-1].data, cnn(x).data)


def test_guidance_pulls_the_target_toward_the_guide():
    """A few Adam steps on the guidance term alone raise the CKA of every mapped pair."""
    from refimpl.optim import Adam

    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 144)).astype(np.float32)
    guide = GRA.SmallCNN((4, 6, 6), side=12, rng=rng)
    g = [r.data for r in guide.representations(Tensor(x))]
    fcn = GRA.FCN([144, 32, 32, 32, 10], rng=rng)
    opt = Adam(fcn.parameters(), lr=3e-3)
    before = None
    for _ in range(30):
        opt.zero_grad()
        fcn(Tensor(x))
        loss = GRA.guidance_loss(fcn.representations, g)
        before = float(loss.data) if before is None else before
        loss.backward()
        opt.step()
    fcn(Tensor(x))
    assert float(GRA.guidance_loss(fcn.representations, g).data) < 0.7 * before


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`X` and `Y` must hold the same examples"):
        GRA.linear_cka(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="`X` must have a batch axis"):
        GRA.linear_cka(np.zeros(3), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="`Y` must be floating point"):
        GRA.linear_cka(np.ones((3, 2)), np.ones((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="at least 2 examples"):
        GRA.linear_cka(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="`n_guide`"):
        GRA.layer_mapping(0, 3)
    with pytest.raises(ValueError, match="`n_target`"):
        GRA.layer_mapping(3, 1.5)
    with pytest.raises(ValueError, match="`mapping` pair"):
        GRA.guidance_loss([np.ones((3, 2))], [np.ones((3, 2))], [(0, 1)])
    with pytest.raises(ValueError, match="`alpha`"):
        GRA.guided_loss(Tensor(np.zeros((2, 2))), np.array([0, 1]), [], [], -1.0)
    with pytest.raises(ValueError, match="`sizes`"):
        GRA.FCN([4])
    with pytest.raises(ValueError, match="`side`"):
        GRA.SmallCNN(side=7)


def test_quick_run_code_path(quick_result):
    r = quick_result(SLUG)
    assert r.smoke and r.premises[0]["baseline"] == "FCN"
    assert r.notes["train_examples"] == 200 and r.notes["arms"][0] == "CNN (guide)"
    cka = np.asarray(r.arrays["cka_layers"])
    assert cka.shape == (3, 4) and np.all((cka > -1e-9) & (cka < 1 + 1e-9))
    # the guidance term did its job even in the short run: the guided FCN is closer to its trained guide
    assert np.mean(r.values("FCN + trained CNN guide", "cka_to_trained_guide")) > np.mean(
        r.values("FCN", "cka_to_trained_guide")
    )


def full():
    assert freshness(SLUG) == "fresh", f"run `refimpl record {SLUG}`"
    return recorded(SLUG)


def test_full_run_premise_the_cnn_prior_matters_on_shifted_digits():
    """The CNN trained alone beats the unguided FCN by more than five points over the whole interval."""
    p = full().premises[0]
    assert p["present"] and p["interval"]["low"] > 0.05, p["interval"]


def test_full_run_trained_guidance_does_not_deliver_two_points():
    """The paper's claim at the pre-set margin is not supported: the paired gain of the trained-CNN
    guidance over the tuned unguided FCN has an interval containing zero whose upper end is below the
    two-point margin (recorded verdict: fails; it was inconclusive before the α grid was widened).  Fails if
    the recorded result moves either way."""
    c = full().claim("Guidance by a trained CNN")
    iv = c["interval"]
    assert c["verdict"] == "fails" and iv["low"] < 0 < iv["high"] < 0.02, iv


def test_full_run_untrained_guidance_does_not_help():
    iv = full().claim("Guidance by an untrained CNN")["interval"]
    assert iv["low"] < 0 < iv["high"] and iv["mean"] < 0.01, iv


def test_full_run_trained_and_untrained_guides_are_not_separated():
    iv = full().claim("A trained guide transfers more")["interval"]
    assert iv["low"] < 0 < iv["high"], iv


def test_full_run_the_alignment_itself_works():
    """Post hoc (not a declared claim): guidance does move the FCN's representations toward the trained
    guide's — mean CKA over the mapped layers on the test split is higher than the unguided FCN's in every
    seed, by more than 0.2 — so the null result is not a failure to align."""
    r = full()
    gap = np.subtract(
        r.values("FCN + trained CNN guide", "cka_to_trained_guide"), r.values("FCN", "cka_to_trained_guide")
    )
    assert gap.min() > 0.2, gap


def test_full_run_the_selected_guidance_leaves_the_training_fit_alone():
    """Post hoc: the unguided FCN fits its 200 examples in every seed, and so does the FCN with the trained
    guide at the α it selects (0.1, the grid's lowest): a weaker guide term no longer stops it short of the
    training set, as α = 0.3 did on one seed before the α grid was widened."""
    r = full()
    assert min(r.values("FCN", "train_accuracy")) == 1.0
    assert r.selected["FCN + trained CNN guide"]["alpha"] == 0.1
    assert min(r.values("FCN + trained CNN guide", "train_accuracy")) == 1.0
