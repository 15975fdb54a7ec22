"""The experiment: select a quarter of a multi-domain raw text pool towards a small Shakespeare target by
DSIR, and train a tiny character language model on the selection; judge by the target domain's held-out
perplexity and by the paper's KL reduction.

Setup.  The raw pool (the family's `text_pools.text_pool`): 600 documents of 30 words, 150 each of Shakespeare prose
(the target domain), the same kind of prose with its word order shuffled, generated code-like lines and
generated number tables.  The target sample: 150 further prose documents.  Each arm keeps k = 150
documents (25 %); a character model (the 6 previous characters → embedding 16 → 128 tanh → next
character) is trained with Adam on the windows of the kept documents for a fixed number of epochs (the
kept documents differ a little in length, so the step counts do too), its learning rate chosen on the
target-domain validation text from {1e-3, 3e-3, 1e-2, 3e-2} (1e-3 added after the first recording
selected 3e-3, the grid's lower edge, for every arm); the test text (disjoint Shakespeare) is read once.  Arms: DSIR (hashed unigrams + bigrams, 10 000 buckets as the official default, target pseudo-count
1, Gumbel-top-k with the seed) · DSIR with unigrams only (the ablation without the hashed bigrams; same
buckets) · random selection · a heuristic filter (keep the documents with the largest fraction of purely
alphabetic tokens, ties broken at random by the seed; it needs no target).  Seeds vary the Gumbel noise,
the random and tie-breaking draws, the initialisation and the batch order.
KL reduction: KL(p̂ ‖ q̂) − KL(p̂ ‖ ŝ) on the hashed unigram+bigram features (pseudo-count 1 on all three).
Premises.  The raw pool is mostly off-target: a random selection keeps less than half target-domain
documents.  For the bigram claims: unigram features are blind to word order, so unigram-only DSIR keeps
more than 40 % word-shuffled documents.
Claims (margins fixed before the first full run).  (1) DSIR lowers the target test loss (log perplexity)
against random selection; (2) and against the heuristic filter; (3) the hashed bigrams matter: DSIR
lowers the test loss against unigram-only DSIR; (4) DSIR's KL reduction exceeds that of unigram-only DSIR.
"""

from __future__ import annotations

import functools

import numpy as np

from ....experiments import Claim, Method, Premise, compare, experiment, finish, train
from ....experiments.tasks import Task
from ..text_pools import DOMAINS, text_pool
from . import featurize, fit_bag_of_ngrams, gumbel_top_k, kl_reduction, log_importance_weights, tokenize

SLUG = "dsir"
PER_DOMAIN, TARGET_DOCS, K = 150, 150, 150
BUCKETS, SMOOTHING = 10000, 1.0
CONTEXT, EMB, HIDDEN, BATCH = 6, 16, 128, 64
EPOCHS, QUICK_EPOCHS = 4, 1
LRS, QUICK_LRS = [1e-3, 3e-3, 1e-2, 3e-2], [1e-2]
ARMS = ["DSIR", "DSIR unigrams", "random", "heuristic"]


@functools.cache
def _pool():
    return text_pool(per_domain=PER_DOMAIN, target_docs=TARGET_DOCS)


@functools.cache
def _tok():
    from ....data import CharTokenizer, load_text

    return CharTokenizer(load_text())


@functools.cache
def _features(ngrams: int):
    """(z_raw, p̂ target, q̂ raw) on `ngrams`-hashed features; p̂ with the target pseudo-count."""
    pool = _pool()
    z = featurize(pool.docs, BUCKETS, ngrams)
    return z, fit_bag_of_ngrams(featurize(pool.target, BUCKETS, ngrams), SMOOTHING), fit_bag_of_ngrams(z)


@functools.cache
def _kl_space():
    """The KL-reduction space: unigram+bigram buckets, pseudo-count 1 on target, raw and selection."""
    z, _, _ = _features(2)
    p = fit_bag_of_ngrams(featurize(_pool().target, BUCKETS, 2), 1.0)
    return z, p, fit_bag_of_ngrams(z, 1.0)


def _alpha_fraction(doc: str) -> float:
    toks = tokenize(doc)
    return float(np.mean([t.isalpha() for t in toks])) if toks else 0.0


def select(arm: str, seed: int) -> np.ndarray:
    """Sorted indices of the K documents the arm keeps for `seed`."""
    n = len(_pool().docs)
    if arm in ("DSIR", "DSIR unigrams"):
        z, p, q = _features(2 if arm == "DSIR" else 1)
        return gumbel_top_k(log_importance_weights(z, p, q), K, seed=seed)
    if arm == "random":
        return np.sort(np.random.default_rng(seed).permutation(n)[:K])
    if arm == "heuristic":
        score = np.array([_alpha_fraction(d) for d in _pool().docs])
        tie = np.random.default_rng(seed).uniform(size=n) * 1e-6
        return np.sort(np.argsort(-(score + tie), kind="stable")[:K])
    raise ValueError(f"select: `arm` must be one of {ARMS}, got {arm!r}")


def _windows(text: str):
    ids = _tok().encode(text)
    w = np.lib.stride_tricks.sliding_window_view(ids, CONTEXT + 1)
    return w[:, :CONTEXT].astype(np.int64), w[:, CONTEXT].astype(np.int64)


@functools.cache
def _eval_task() -> Task:
    pool = _pool()
    xv, yv = _windows(pool.val_text)
    xt, yt = _windows(pool.test_text)
    return Task("dsir-target-text", xv[:0], yv[:0], xv, yv, xt, yt, num_classes=_tok().vocab_size)


def _model(seed):
    from ....nn import Embedding, Flatten, Linear, Sequential, Tanh

    rng = np.random.default_rng(seed)
    v = _tok().vocab_size
    return Sequential(
        Embedding(v, EMB, rng=rng),
        Flatten(),
        Linear(CONTEXT * EMB, HIDDEN, rng=rng),
        Tanh(),
        Linear(HIDDEN, v, rng=rng),
    )


def _loss(model, x, y) -> float:
    from ....nn import functional as F
    from ....train import evaluate

    return float(evaluate(model, x, y, loss_fn=F.cross_entropy)["loss"])


def _arm(name: str, quick: bool) -> Method:
    def run(seed, lr):
        pool, task = _pool(), _eval_task()
        keep = select(name, seed)
        xs, ys = zip(*(_windows(pool.docs[i]) for i in keep))
        model = _model(seed + 100)
        train(
            model,
            task,
            lr=lr,
            epochs=QUICK_EPOCHS if quick else EPOCHS,
            seed=seed,
            batch_size=BATCH,
            x=np.concatenate(xs),
            y=np.concatenate(ys),
        )
        val, test = _loss(model, task.x_val, task.y_val), _loss(model, task.x_test, task.y_test)
        z, p, q = _kl_space()
        dom = pool.domain[keep]
        return {
            "val_loss": val,
            "test_loss": test,
            "test_perplexity": float(np.exp(test)),
            "kl_reduction": kl_reduction(p, q, fit_bag_of_ngrams(z[keep], 1.0)),
            "target_fraction": float(np.mean(dom == 0)),
            "shuffled_fraction": float(np.mean(dom == 1)),
        }

    return Method(name, run, grid={"lr": LRS}, quick_grid={"lr": QUICK_LRS})


@experiment(SLUG, seeds=(0, 1, 2, 3, 4), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    methods = [_arm(a, quick) for a in ARMS]
    comparison = compare(methods, seeds, select="val_loss", maximize=False, quick=quick, progress=progress)
    premise = Premise(
        "The raw pool is mostly off-target: a random selection keeps less than half target-domain documents",
        metric="target_fraction",
        method="random",
        threshold=0.5,
        direction="less",
    )
    blind = Premise(
        "Unigram features cannot tell prose from word-shuffled prose: unigram-only DSIR keeps more than 40 % "
        "shuffled documents",
        metric="shuffled_fraction",
        method="DSIR unigrams",
        threshold=0.4,
    )
    P1, P2 = (premise.statement,), (premise.statement, blind.statement)
    claims = [
        Claim(
            "DSIR lowers the target test loss against random selection",
            "test_loss",
            "DSIR",
            "random",
            direction="less",
            premises=P1,
        ),
        Claim(
            "DSIR lowers the target test loss against the heuristic filter",
            "test_loss",
            "DSIR",
            "heuristic",
            direction="less",
            premises=P1,
        ),
        Claim(
            "The hashed bigrams matter: DSIR lowers the target test loss against unigram-only DSIR",
            "test_loss",
            "DSIR",
            "DSIR unigrams",
            direction="less",
            premises=P2,
        ),
        Claim(
            "DSIR's KL reduction exceeds that of unigram-only DSIR",
            "kl_reduction",
            "DSIR",
            "DSIR unigrams",
            premises=P2,
        ),
    ]
    z, p, q = _features(2)
    lw = log_importance_weights(z, p, q)
    return finish(
        SLUG,
        comparison,
        premises=[premise, blind],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays={"log_w": lw, "domain": _pool().domain.astype(np.int64)},
        notes={
            "domains": list(DOMAINS),
            "arms": ARMS,
            "k": K,
            "pool": len(_pool().docs),
            "target_docs": TARGET_DOCS,
            "buckets": BUCKETS,
        },
        metrics=[
            "test_loss",
            "val_loss",
            "test_perplexity",
            "kl_reduction",
            "target_fraction",
            "shuffled_fraction",
        ],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    lw, dom = np.asarray(result.arrays["log_w"]), np.asarray(result.arrays["domain"])
    ax = axes[0]
    for d, name in enumerate(result.notes["domains"]):
        ax.hist(lw[dom == d], bins=30, alpha=0.6, label=name)
    ax.set_xlabel("log importance weight (unigrams + bigrams)")
    ax.set_ylabel("documents")
    ax.set_title("DSIR weights by domain of the raw pool")
    ax.legend(fontsize=8)
    ax = axes[1]
    arms = result.notes["arms"]
    for i, a in enumerate(arms):
        v = np.asarray(result.values(a, "test_perplexity"))
        ax.scatter(np.full(len(v), i), v, s=18)
        ax.errorbar(i + 0.15, v.mean(), yerr=v.std(), fmt="o", color="k")
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("target test perplexity (characters)")
    ax.set_title(f"k = {result.notes['k']} of {result.notes['pool']} documents")
    fig.tight_layout()
    return {SLUG: fig}
