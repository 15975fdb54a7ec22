r"""CAT_n: concatenate the penultimate representations of n networks trained with different seeds, then
fit one linear probe on the concatenation.

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.
Official code: github.com/TjuJianyu/RRL (read, not copied): `src/models.py` (`Kmodel.get_feature`, the
concatenation; `RegLog`, the linear probe with an optional BatchNorm1d on the features; `load_classifier`
with ``headinit == "cat_weights"``, the concatenated head) and the linear-probing scripts
`scripts/supervised_transfer/imagenet/to_cifar/linear_probing/cat_cifar_bn.sh` (weight decay swept over
{1e-4, …, 5e-2}, ``--use_bn True``).

The idea
--------
One training episode (data, architecture, algorithm, hyperparameters, seed) gives a representation
φ_θ(x) ∈ R^h that is good enough for the training task and little more: the optimizer has no reason to
keep features that do not lower the training loss.  Episodes that differ only by their seed land on
different such representations.  For the training task they are interchangeable; for a new task or a
new distribution the union of what they found can be richer than what any one network — even one n times
as wide, trained once — has kept.  The paper's construction is deliberately naive (its "CAT_n" networks):

$$ \Phi_{\mathrm{cat}}(x) = \big[\varphi_{\theta_1}(x);\; \varphi_{\theta_2}(x);\; \dots;\;
   \varphi_{\theta_n}(x)\big] \in \mathbb R^{n h}, $$

the seeds θ_1 … θ_n trained independently on the same data, and a new task is solved by a linear probe on
Φ_cat (or by fine-tuning it; linear probing is what this package implements).  The probe is multinomial
logistic regression on the standardized features, with an L2 penalty λ chosen on the new task's validation
split:

$$ \min_{W, b}\; \frac1m \sum_{j=1}^m -\log \operatorname{softmax}\!\big(W^\top z_j + b\big)_{y_j}
   + \frac\lambda2 \lVert W\rVert_F^2, \qquad z_j = (\Phi(x_j) - \mu) \oslash \sigma . $$

Its gradient (closed form, checked by finite differences in the tests), with P the softmax
probabilities and Y the one-hot labels: ∇_W = Zᵀ(P − Y)/m + λW, ∇_b = 1ᵀ(P − Y)/m.

Concatenated heads.  The official code can start the probe from the concatenation of the n training
heads divided by n (``cat_weights``): W_cat = [W_1, …, W_n]/n, b_cat = (1/n) Σ b_i.  Then
W_cat Φ_cat(x) + b_cat = (1/n) Σ_i (W_i φ_i(x) + b_i): the concatenated representation with that head *is*
the logit-averaging ensemble of the n networks (`concatenated_head`, `ensemble_logits`).  This is why the
family's output-space contract (one model → itself, identical models → the same outputs) applies.

Equation numbers.  We could read the paper's abstract and the official code but not the full text: the
construction is written in the paper's prose (the CAT_n networks), not as a numbered equation, so the
formula lines below cite the official code's functions instead of equation numbers.

Read against the official code
------------------------------
* `Kmodel.get_feature`: ``torch.cat([model(x) for model in self.models], dim=1)`` — the concatenation in
  the order the models are listed (our `concat_representations`);
* each `model(x)` is the backbone with its classification head removed (ResNet after global pooling): for
  our MLPs, the activations after the last hidden ReLU (`penultimate_features`);
* `RegLog`: optional BatchNorm1d on the features, then one Linear; the linear-probing scripts turn the
  BatchNorm on and sweep the weight decay.  Deviation: we standardize with the exact mean and standard
  deviation of the probe's training features (what BatchNorm's running statistics estimate; no learned
  affine, which a linear probe absorbs) and solve the convex probe deterministically (full-batch Nesterov
  gradient descent) instead of SGD with Nesterov momentum for a number of epochs;
* `load_classifier(..., "cat_weights")`: the concatenated heads averaged over n (our `concatenated_head`).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/merging-averaging/concat-seed-representations.ipynb
"""

from __future__ import annotations

import numpy as np

from ..state import check_compatible, linear_layers

CATALOG_ENTRY = {
    "slug": "concat-seed-representations",
    "title": "Learning useful representations for shifting tasks and distributions",
    "authors": "Jianyu Zhang, Léon Bottou",
    "year": 2023,
    "arxiv": "2212.07346",
    "family": "merging-averaging",
    "notebook": "notebooks/merging-averaging/concat-seed-representations.ipynb",
    "verified": "official-code",
    "verification_note": (
        "Concatenation and probe checked against the official code github.com/TjuJianyu/RRL: src/models.py "
        "(Kmodel.get_feature concatenates the backbones' pooled features along dim 1; RegLog is an optional "
        "BatchNorm1d then a Linear; load_classifier 'cat_weights' concatenates the heads and divides by n) "
        "and the linear-probing scripts (weight-decay sweep, use_bn True). The paper's abstract was read; "
        "its full text was not available here, so formula lines cite code functions, not equation numbers. "
        "Deviations: exact standardization instead of BatchNorm, a deterministic full-batch convex probe "
        "solver instead of SGD epochs."
    ),
    "summary": (
        "Train n networks that differ only by their random seed, concatenate their penultimate "
        "representations and fit one linear probe on the concatenation for a new task or distribution. "
        "The concatenation adds little on the training task but transfers better than one network of the "
        "same total representation size trained in a single episode: seeds find different features."
    ),
    "equations": [
        "Φ_cat(x) = [φ_θ1(x); φ_θ2(x); …; φ_θn(x)] ∈ R^{n·h}, θ_i trained independently (seed i)",
        "z = (Φ(x) − μ) ⊘ σ  (feature standardization: the probe's BatchNorm)",
        "(W, b) = argmin (1/m) Σ_j −log softmax(Wᵀ z_j + b)_{y_j} + (λ/2) ‖W‖²_F,  λ chosen on validation",
        "W_cat = [W_1, …, W_n]/n, b_cat = (1/n) Σ b_i ⇒ W_cat Φ_cat + b_cat = (1/n) Σ_i (W_i φ_i + b_i)",
    ],
}

__all__ = [
    "penultimate_features",
    "concat_representations",
    "Standardizer",
    "probe_loss_and_grad",
    "LinearProbe",
    "fit_linear_probe",
    "concatenated_head",
    "ensemble_logits",
]


def penultimate_features(sd, x) -> np.ndarray:
    """φ_θ(x): the activations after the last hidden ReLU of the ReLU MLP the state dict `sd` describes
    (every Linear but the last, each followed by ReLU), in float64, shape (m, h)."""
    layers = linear_layers(sd)
    if len(layers) < 2:
        raise ValueError(
            f"penultimate_features: the MLP needs a hidden layer, got {len(layers)} Linear layer(s)"
        )
    h = np.asarray(x, dtype=np.float64)
    for wk, bk in layers[:-1]:  # the backbone: the head (last Linear) removed
        h = np.maximum(h @ np.asarray(sd[wk], np.float64).T + (0.0 if bk is None else sd[bk]), 0.0)
    return h


def concat_representations(states, x) -> np.ndarray:
    """Φ_cat(x) = [φ_θ1(x); …; φ_θn(x)]: the networks' penultimate features side by side, in the order of
    `states`, shape (m, Σ_i h_i)."""
    states = list(states)
    if not states:
        raise ValueError("concat_representations: `states` must hold at least one network")
    feats = [penultimate_features(sd, x) for sd in states]
    return np.concatenate(feats, axis=1)  # Φ_cat = [φ_1; …; φ_n] (Kmodel.get_feature: cat along dim 1)


class Standardizer:
    """z = (Φ − μ) ⊘ σ with μ, σ the per-feature mean and standard deviation of the probe's training
    features (σ of a constant feature, e.g. a dead ReLU, is taken as 1: the feature stays 0)."""

    def __init__(self, features):
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or len(f) < 2:
            raise ValueError(f"Standardizer: `features` must be (m ≥ 2, d), got {f.shape}")
        self.mu = f.mean(axis=0)
        sd = f.std(axis=0)
        self.sigma = np.where(sd > 1e-12 * (1.0 + np.abs(self.mu)), sd, 1.0)

    def __call__(self, features) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.mu) / self.sigma  # z (RegLog's BatchNorm1d)


def probe_loss_and_grad(W, b, Z, y, lam: float) -> tuple:
    """(loss, ∇_W, ∇_b) of the probe objective (1/m) Σ_j −log softmax(Wᵀz_j + b)_{y_j} + (λ/2)‖W‖²_F.
    W: (d, K), b: (K,), Z: (m, d), y: (m,) integer labels in 0..K−1."""
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y)
    m = len(Z)
    S = Z @ W + b
    S = S - S.max(axis=1, keepdims=True)
    logZ = np.log(np.exp(S).sum(axis=1))
    loss = float(np.mean(logZ - S[np.arange(m), y]) + 0.5 * lam * np.sum(W * W))
    P = np.exp(S - logZ[:, None])
    R = P
    R[np.arange(m), y] -= 1.0  # P − Y
    return loss, Z.T @ R / m + lam * W, R.sum(axis=0) / m  # ∇_W = Zᵀ(P − Y)/m + λW, ∇_b = 1ᵀ(P − Y)/m


class LinearProbe:
    """A fitted probe: `logits(features)` = standardize, then Wᵀz + b; `predict` = argmax."""

    def __init__(self, standardizer: Standardizer, W, b):
        self.standardizer, self.W, self.b = standardizer, W, b

    def logits(self, features) -> np.ndarray:
        return self.standardizer(features) @ self.W + self.b

    def predict(self, features) -> np.ndarray:
        return self.logits(features).argmax(axis=1)

    def accuracy(self, features, y) -> float:
        return float(np.mean(self.predict(features) == np.asarray(y)))


def fit_linear_probe(
    features, y, lam: float, num_classes: int | None = None, iters: int = 800
) -> LinearProbe:
    """Fit the L2-penalized multinomial logistic probe on standardized `features` by full-batch Nesterov
    gradient descent from zero, step 1/L with L = ‖[Z, 1]‖²₂/(2m) + λ (a bound on the objective's
    curvature: the softmax Hessian is ⪯ ½ I).  Deterministic; `iters` steps."""
    if lam < 0:
        raise ValueError(f"fit_linear_probe: `lam` must be ≥ 0, got {lam}")
    y = np.asarray(y)
    K = int(num_classes if num_classes is not None else y.max() + 1)
    std = Standardizer(features)
    Z = std(features)
    m, d = Z.shape
    L = 0.5 * np.linalg.norm(np.c_[Z, np.ones(m)], 2) ** 2 / m + lam
    W, b = np.zeros((d, K)), np.zeros(K)
    VW, Vb = W.copy(), b.copy()
    for k in range(iters):
        _, gW, gb = probe_loss_and_grad(VW, Vb, Z, y, lam)
        W_new, b_new = VW - gW / L, Vb - gb / L
        beta = k / (k + 3.0)  # Nesterov's momentum for a convex objective
        VW, Vb = W_new + beta * (W_new - W), b_new + beta * (b_new - b)
        W, b = W_new, b_new
    return LinearProbe(std, W, b)


def concatenated_head(states) -> tuple:
    """(W_cat, b_cat) = ([W_1, …, W_n]/n, (1/n) Σ b_i) from the networks' last Linear layers (W_i of shape
    (K, h_i), as stored), so that W_cat Φ_cat + b_cat is the mean of the networks' logits."""
    sds = check_compatible(list(states), "states")
    heads = [linear_layers(sd)[-1] for sd in sds]
    n = len(sds)
    W = np.concatenate([np.asarray(sd[wk], np.float64) for sd, (wk, _) in zip(sds, heads)], axis=1) / n
    b = sum(np.asarray(sd[bk], np.float64) if bk else 0.0 for sd, (_, bk) in zip(sds, heads)) / n
    return W, b  # load_classifier "cat_weights": cat(heads, dim=1)/n, Σ biases / n


def ensemble_logits(states, x) -> np.ndarray:
    """The concatenated representation read by the concatenated head: W_cat Φ_cat(x) + b_cat, which equals
    (1/n) Σ_i logits_i(x) (the logit-averaging ensemble)."""
    W, b = concatenated_head(states)
    return concat_representations(states, x) @ W.T + b
