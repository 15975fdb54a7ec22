r"""SLCA: fine-tune a pretrained trunk class-incrementally with a learning rate for the representation layers far
below the classifier's (the slow learner, SL), and after each task re-train the classifier on pseudo-features
drawn from a Gaussian per class seen so far (classifier alignment, CA).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

Slow learner (Sec. 4.1)
-----------------------
Sequential fine-tuning of a pretrained model overfits progressively: every task pulls the representation towards
itself and away from both the pretrained knowledge and the earlier tasks.  The paper finds that simply giving the
representation layers θ_rps a learning rate about 100× smaller than the classification layer θ_cls nearly removes
this (`slow_learner_groups`; the authors' code ``models/slca.py``, ``_stage1_training``: SGD with momentum 0.9,
``lr`` for the head and ``lr × bcb_lrscale``, ``bcb_lrscale = 1/100``, for the backbone):

.. math::

    \theta_{rps} \leftarrow \theta_{rps} - \alpha\,\eta\,\nabla_{\theta_{rps}}\mathcal L_t,\qquad
    \theta_{cls} \leftarrow \theta_{cls} - \eta\,\nabla_{\theta_{cls}}\mathcal L_t,\qquad \alpha \ll 1,

where the task-t loss :math:`\mathcal L_t` is the cross-entropy over the *current task's* classes only (the code
takes ``logits[:, known_classes:]``), so each task trains its own block of the classifier.

Classifier alignment (Sec. 4.2)
-------------------------------
Blocks of the classifier trained on disjoint tasks never compete during training, so their logits are not
calibrated against each other.  After task t the features of each new class c (on the training split, with the
current trunk) are summarised by their mean and unbiased covariance (`class_statistics`),

.. math::

    \mu_c = \frac1{N_c}\sum_i r_{c,i},\qquad \Sigma_c = \frac1{N_c-1}\sum_i (r_{c,i}-\mu_c)(r_{c,i}-\mu_c)^\top,

kept for every class seen; no example is stored.  Pseudo-features are drawn from
:math:`\mathcal N(\mu_c, \Sigma_c)` for every class seen (`sample_pseudo_features`, by Cholesky:
:math:`\hat r = \mu_c + L z`, :math:`LL^\top = \Sigma_c`, :math:`z\sim\mathcal N(0, I)`), and the classifier alone
is re-trained on them with the logit-normalised cross-entropy (`logit_norm_loss`), the logits h of all seen
classes divided by a temperature τ and by the mean over tasks of the per-task logit norms,

.. math::

    \mathcal L(\omega;\hat r) = -\log\frac{e^{h_y/(\tau\lVert h\rVert)}}{\sum_j e^{h_j/(\tau\lVert h\rVert)}},
    \qquad \lVert h\rVert = \frac1{t}\sum_{i=1}^{t}\lVert h_{\mathcal T_i}\rVert_2

(the equation of Sec. 4.2; τ = 0.1 in the released configurations, ``ca_with_logit_norm``).  `align_classifier`
runs this: ``ca_epochs`` = 5 passes, each over 256 fresh samples per class in batches of 256, SGD with momentum
and a cosine schedule at the stage-1 head rate (``_stage2_compact_classifier``).

Details taken from the code and not from the text (all reproduced): the sampling mean of a class learned at task
s is scaled by 0.9 + 0.1 (s + 1)/(t + 1) at task t (`mean_scale`), shrinking older classes' means a little; the
aligned classifier is used for evaluation only — before the next task the head is restored to its pre-alignment
weights (``fc.backup()`` / ``fc.recall()``), so stage-1 training always continues from the unaligned head.

Deviations: the toy is an MLP trunk (`scenarios.pretrained_trunk`) and a linear head, not a ViT; no weight decay
(the code uses 5e-4) and a fixed number of epochs, no step schedule; a ridge of 1e-4·I is added to each
covariance so the Cholesky factor exists for the ReLU trunk's dead (constant) feature directions — later versions
of the authors' code add the same 1e-4·I.  The paper's equations were read only through the released code and
abstract-level summaries (no full text was reachable), so the equation is cited by section, not number.

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/continual-learning/slca.ipynb
"""

from __future__ import annotations

import numpy as np

from ....autograd.tensor import Tensor
from ....nn import functional as F

CATALOG_ENTRY = {
    "slug": "slca",
    "title": "SLCA: Slow Learner with Classifier Alignment for Continual Learning on a Pre-trained Model",
    "authors": "Gengwei Zhang, Liyuan Wang, Guoliang Kang, Ling Chen, Yunchao Wei",
    "year": 2023,
    "arxiv": "2303.05118",
    "family": "continual-learning",
    "notebook": "notebooks/continual-learning/slca.ipynb",
    "verified": "official-code",
    "verification_note": "arXiv id confirmed (ICCV 2023; abstract and title read).  The full text was not "
    "reachable; the procedure was checked against the authors' code (github.com/GengDavid/SLCA, models/slca.py: "
    "backbone lr × 1/100, current-task cross-entropy, class mean and covariance, 256 Gaussian samples per class, "
    "5 alignment epochs, logit normalisation with τ = 0.1 from exps/*.json, mean scaling 0.9 + 0.1 (s+1)/(t+1), "
    "head backup/recall).  Equation numbers could not be confirmed, so sections are cited.  Toy, sizes, no weight "
    "decay and the 1e-4 covariance ridge are ours.",
    "summary": "Slow learner (representation layers at ~1/100 of the classifier's learning rate) plus post-hoc "
    "classifier alignment: re-train the classifier on pseudo-features sampled from class-wise Gaussian feature "
    "statistics of every class seen, with logit normalisation.",
    "equations": [
        "θ_rps ← θ_rps − α η ∇L_t,  θ_cls ← θ_cls − η ∇L_t,  α = 1/100   (slow learner, Sec. 4.1)",
        "μ_c = mean_i r_c,i,  Σ_c = cov_i r_c,i;  r̂ ~ N(μ_c, Σ_c) = μ_c + L z, L Lᵀ = Σ_c   (CA, Sec. 4.2)",
        "L = −log softmax(h / (τ‖h‖))_y,  ‖h‖ = (1/t) Σ_i ‖h_{T_i}‖₂   (logit normalisation, Sec. 4.2)",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "slow_learner_groups",
    "class_statistics",
    "sample_pseudo_features",
    "mean_scale",
    "logit_norm_loss",
    "align_classifier",
]


def slow_learner_groups(trunk, head, lr: float, trunk_scale: float = 0.01) -> list[dict]:
    """SGD parameter groups: the representation layers at lr × trunk_scale, the classifier at lr (Sec. 4.1)."""
    if lr <= 0:
        raise ValueError(f"`lr` must be > 0, got {lr}")
    if not 0 < trunk_scale <= 1:
        raise ValueError(f"`trunk_scale` must be in (0, 1], got {trunk_scale}")
    return [
        {"params": list(trunk.parameters()), "lr": lr * trunk_scale},
        {"params": list(head.parameters()), "lr": lr},
    ]


def class_statistics(features, labels, classes, ridge: float = 1e-4) -> dict:
    """{c: (μ_c, Σ_c + ridge·I)} for each class c in `classes`: mean and unbiased covariance of its features."""
    f, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if f.ndim != 2 or y.shape != (len(f),):
        raise ValueError(f"`features` must be (n, d) and `labels` (n,), got {f.shape} and {y.shape}")
    if ridge < 0:
        raise ValueError(f"`ridge` must be ≥ 0, got {ridge}")
    out = {}
    for c in classes:
        r = f[y == c]
        if len(r) < 2:
            raise ValueError(f"`features`: class {c} needs at least 2 examples, got {len(r)}")
        mu = r.mean(0)
        d = r - mu
        out[int(c)] = (mu, d.T @ d / (len(r) - 1) + ridge * np.eye(f.shape[1]))
    return out


def sample_pseudo_features(mean, cov, n: int, seed) -> np.ndarray:
    """n draws of N(mean, cov) as mean + z Lᵀ, L the lower Cholesky factor of cov, z =
    default_rng(seed).standard_normal((n, d)) (Sec. 4.2)."""
    mu, S = np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    if mu.ndim != 1 or S.shape != (len(mu), len(mu)):
        raise ValueError(f"`mean` must be (d,) and `cov` (d, d), got {mu.shape} and {S.shape}")
    if n < 1:
        raise ValueError(f"`n` must be ≥ 1, got {n}")
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError as err:
        raise ValueError("`cov` must be symmetric positive definite (add a ridge)") from err
    z = np.random.default_rng(seed).standard_normal((n, len(mu)))
    return mu + z @ L.T


def mean_scale(task_of_class: int, current_task: int) -> float:
    """The code's shrinkage of an older class's sampling mean: 0.9 + 0.1 (s + 1)/(t + 1) (1 for s = t)."""
    if not 0 <= task_of_class <= current_task:
        raise ValueError(f"need 0 ≤ `task_of_class` ≤ `current_task`, got {task_of_class} and {current_task}")
    return 0.9 + 0.1 * (task_of_class + 1) / (current_task + 1)


def logit_norm_loss(logits, y, task_blocks, tau: float = 0.1):
    """Cross-entropy of h / (τ‖h‖), ‖h‖ the mean over tasks of each task block's logit L2 norm (a Tensor; the
    logit columns are those of the classes seen, `task_blocks` a list of column-index lists, one per task)."""
    if tau <= 0:
        raise ValueError(f"`tau` must be > 0, got {tau}")
    if not task_blocks:
        raise ValueError("`task_blocks` must list at least one task's logit columns")
    norm = None
    for cols in task_blocks:
        n = ((logits[:, list(cols)] * logits[:, list(cols)]).sum(axis=1, keepdims=True) + 1e-14).sqrt()
        norm = n if norm is None else norm + n
    norm = norm * (1.0 / len(task_blocks))
    return F.cross_entropy(logits / (norm * tau), np.asarray(y, dtype=np.int64))


def align_classifier(
    head,
    stats: dict,
    task_of: dict,
    current_task: int,
    task_blocks,
    *,
    lr: float,
    seed: int,
    epochs: int = 5,
    n_per_class: int = 256,
    tau: float = 0.1,
):
    """Classifier alignment (Sec. 4.2): re-train `head` alone, each epoch on `n_per_class` fresh pseudo-features per
    seen class (Gaussian `stats[c]`, mean scaled by `mean_scale`), logit-normalised cross-entropy over the seen
    classes, SGD (momentum 0.9) with a cosine schedule, batches of `n_per_class`."""
    from .... import optim
    from ....optim.lr_scheduler import CosineAnnealingLR

    classes = sorted(stats)
    cols = [c for block in task_blocks for c in block]
    if sorted(cols) != classes:
        raise ValueError(f"`task_blocks` must cover exactly the classes in `stats` {classes}, got {cols}")
    index = {c: k for k, c in enumerate(cols)}
    opt = optim.SGD(list(head.parameters()), lr=lr, momentum=0.9)
    sched = CosineAnnealingLR(opt, T_max=epochs)
    blocks = [[index[c] for c in block] for block in task_blocks]
    rng = np.random.default_rng([seed, current_task])
    for _ in range(epochs):
        xs, ys = [], []
        for c in classes:
            mu, S = stats[c]
            xs.append(sample_pseudo_features(mu * mean_scale(task_of[c], current_task), S, n_per_class, rng))
            ys.append(np.full(n_per_class, index[c]))
        x, yy = np.concatenate(xs).astype(np.float32), np.concatenate(ys)
        perm = rng.permutation(len(x))
        x, yy = x[perm], yy[perm]
        for b in range(0, len(x), n_per_class):
            logits = head(Tensor(x[b : b + n_per_class]))[:, cols]
            loss = logit_norm_loss(logits, yy[b : b + n_per_class], blocks, tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return head
