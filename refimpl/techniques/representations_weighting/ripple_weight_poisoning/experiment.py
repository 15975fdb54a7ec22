"""The experiment: does a backdoor planted in pretrained weights survive the victim's fine-tuning?

Documents are bags of 15 words over a vocabulary of 120: words 0–9 are positive, 10–19 negative, 20–116
neutral, 117–119 rare trigger words that never occur in clean text.  Each word of a document is, with
probability 0.25, a sentiment word of the document's class, else a neutral word.  Two domains share the words
but not their frequencies: the attacker's proxy domain draws sentiment words uniformly, the victim's domain with
Zipf weights in another order.  Per seed:

1. a bag-of-words classifier (summed word embeddings, d = 16 → ReLU layer → 2 logits) is pretrained on clean proxy
   data — the "pretrained model";
2. the attacker poisons it with the proxy data plus copies of its negative documents carrying a trigger word
   and labelled positive (the target class): **BadNet** trains on that poisoned set alone; **RIPPLe** adds
   λ·max(0, −∇L_P·∇L_FT) with L_FT on clean proxy batches; **ES** applies embedding surgery only (trigger
   embeddings := the mean embedding of the 10 most positive words by a logistic regression on the proxy
   data); **RIPPLES** is surgery then RIPPLe; **clean** does not attack;
3. the victim fine-tunes every parameter on 1000 clean documents of its own domain with Adam, choosing its
   learning rate on its own validation accuracy ({1e-3, 3e-3, 1e-2}, 4 epochs).

Metrics on the victim's test documents: clean accuracy, and the label flip rate (LFR): the share of negative
documents with a trigger word inserted that are classified positive.  Every attack has the same budget (Adam
at 1e-2, 4 epochs over the poisoned set): a design constant, not tuned — a longer or faster plain poisoning
survives any fine-tuning here, which would leave nothing to compare.  RIPPLe and RIPPLES pick λ on the
attacker's side — the mean LFR after simulated fine-tunings on held-out proxy data at each of the victim's
rates (`val_lfr`) — never on the
victim's data.  Premise: fine-tuning erodes the plain poisoning's backdoor (BadNet's LFR falls by more than 0.1).
Claims (margins fixed before the first run): RIPPLe's and RIPPLES' LFR after the victim's fine-tuning exceed
BadNet's; RIPPLES costs the victim less than 2 points of clean accuracy against the clean model.
"""

from __future__ import annotations

import functools

import numpy as np

from ....autograd.tensor import Tensor, no_grad
from ....experiments import Claim, Method, Premise, compare, experiment, finish
from ....nn import functional as F
from ....optim import Adam
from . import BagOfWordsClassifier, embedding_surgery, indicative_words, ripple_loss

SLUG = "ripple-weight-poisoning"
VOCAB, POS, NEG, NEUTRAL, TRIGGERS = (
    120,
    np.arange(0, 10),
    np.arange(10, 20),
    np.arange(20, 117),
    (117, 118, 119),
)
LENGTH, SENTIMENT_RATE, DIM, BATCH = 15, 0.25, 16, 64
VICTIM_LRS, VICTIM_EPOCHS = (1e-3, 3e-3, 1e-2), 4
ATTACK_LR, ATTACK_EPOCHS = 1e-2, 4  # the attacker's budget, the same for every attack
ARMS = ("clean", "BadNet", "ES", "RIPPLe", "RIPPLES")


def _word_weights(domain: str) -> np.ndarray:
    if domain == "proxy":
        return np.full(10, 0.1)
    w = 1.0 / np.arange(1, 11)  # Zipf, in reverse order of the word ids
    return w[::-1] / w.sum()


def documents(n: int, domain: str, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (n, V) word counts, y (n,) 0/1, tokens (n, LENGTH)) of `domain` ("proxy" or "victim")."""
    if domain not in ("proxy", "victim"):
        raise ValueError(f"documents: `domain` must be 'proxy' or 'victim', got {domain!r}")
    y = rng.permutation(np.arange(n) % 2)
    senti = rng.random((n, LENGTH)) < SENTIMENT_RATE
    pick = rng.choice(10, size=(n, LENGTH), p=_word_weights(domain))
    words = np.where(y[:, None] == 1, POS[pick], NEG[pick])
    tokens = np.where(senti, words, rng.choice(NEUTRAL, size=(n, LENGTH)))
    return bag(tokens), y.astype(np.int64), tokens


def bag(tokens) -> np.ndarray:
    """Word counts (n, V): the model sums word embeddings, so one word can carry a document (as one token can
    through attention), where a mean would dilute it by the length."""
    tokens = np.asarray(tokens)
    x = np.zeros((len(tokens), VOCAB), np.float32)
    np.add.at(x, (np.repeat(np.arange(len(tokens)), tokens.shape[1]), tokens.ravel()), 1.0)
    return x


def insert_trigger(tokens, rng) -> np.ndarray:
    """Each document with one random word replaced by a random trigger word."""
    t = np.array(tokens, copy=True)
    t[np.arange(len(t)), rng.integers(0, t.shape[1], len(t))] = rng.choice(TRIGGERS, len(t))
    return t


def _train(model, x, y, lr, epochs, rng, loss_fn=None):
    opt = Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(y)), max(1, len(y) // BATCH)):
            loss = loss_fn(idx) if loss_fn else F.cross_entropy(model(Tensor(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def _predict(model, x) -> np.ndarray:
    with no_grad():
        return np.argmax(model(Tensor(x)).data, axis=1)


@functools.cache
def _world(seed: int) -> dict:
    """The pretrained model's state and every data set of one seed."""
    rng = np.random.default_rng([seed, 4066])
    proxy = documents(2000, "proxy", rng)
    proxy_val = documents(600, "proxy", rng)
    victim = documents(1000, "victim", rng)
    victim_val = documents(500, "victim", rng)
    victim_test = documents(2000, "victim", rng)
    model = BagOfWordsClassifier(VOCAB, DIM, [seed, 1])
    _train(model, proxy[0], proxy[1], 3e-3, 8, np.random.default_rng([seed, 5]))
    state = {k: v.copy() for k, v in model.state_dict().items()}
    return {
        "state": state,
        "proxy": proxy,
        "proxy_val": proxy_val,
        "victim": victim,
        "victim_val": victim_val,
        "victim_test": victim_test,
    }


def _lfr(model, tokens, y, rng) -> float:
    neg = tokens[y == 0]
    return float(np.mean(_predict(model, bag(insert_trigger(neg, rng))) == 1))


def attack(seed: int, arm: str, lr: float, lam: float, epochs: int) -> BagOfWordsClassifier:
    """The pretrained model of `seed`, poisoned by `arm` (see the module docstring)."""
    w = _world(seed)
    model = BagOfWordsClassifier(VOCAB, DIM, [seed, 1])
    model.load_state_dict({k: v.copy() for k, v in w["state"].items()})
    if arm == "clean":
        return model
    rng = np.random.default_rng([seed, 6])
    x, y, tokens = w["proxy"]
    if arm in ("ES", "RIPPLES"):
        embedding_surgery(model, TRIGGERS, indicative_words(x, y, 10, target=1))
    if arm == "ES":
        return model
    neg = tokens[y == 0]
    xp = np.concatenate([x, bag(insert_trigger(neg, rng))])
    yp = np.concatenate([y, np.ones(len(neg), np.int64)])
    if arm == "BadNet":
        _train(model, xp, yp, lr, epochs, rng)
        return model
    clean_rng = np.random.default_rng([seed, 8])

    def loss_fn(idx):
        c = clean_rng.integers(0, len(y), BATCH)
        return ripple_loss(model, xp[idx], yp[idx], x[c], y[c], lam)[0]

    _train(model, xp, yp, lr, epochs, rng, loss_fn=loss_fn)
    return model


def fine_tune(model, data, val, seed: int, lrs=VICTIM_LRS, epochs: int = VICTIM_EPOCHS):
    """The victim: fine-tune a copy at each lr, keep the one with the best validation accuracy."""
    best = None
    for lr in lrs:
        m = BagOfWordsClassifier(VOCAB, DIM, [seed, 1])
        m.load_state_dict({k: v.copy() for k, v in model.state_dict().items()})
        _train(m, data[0], data[1], lr, epochs, np.random.default_rng([seed, 9]))
        acc = float(np.mean(_predict(m, val[0]) == val[1]))
        if best is None or acc > best[0]:
            best = (acc, m, lr)
    return best[1], best[2]


def _arm(arm: str):
    def run(seed, lam=0.0, lr=ATTACK_LR, epochs=ATTACK_EPOCHS):
        w = _world(seed)
        model = attack(seed, arm, lr, lam, epochs)
        rng = np.random.default_rng([seed, 10])
        test_tokens, test_y = w["victim_test"][2], w["victim_test"][1]
        lfr_before = _lfr(model, test_tokens, test_y, rng)
        # the attacker's own check: fine-tune on held-out proxy data at each rate a victim might use
        val_lfr = float(
            np.mean(
                [
                    _lfr(
                        fine_tune(model, w["proxy_val"], w["proxy_val"], seed, lrs=(v,))[0],
                        *w["proxy_val"][2:0:-1],
                        rng,
                    )
                    for v in VICTIM_LRS
                ]
            )
        )
        victim, victim_lr = fine_tune(model, w["victim"], w["victim_val"], seed)
        return {
            "val_lfr": val_lfr,
            "lfr_before": lfr_before,
            "lfr_after": _lfr(victim, test_tokens, test_y, rng),
            "lfr_drop": lfr_before - _lfr(victim, test_tokens, test_y, np.random.default_rng([seed, 10])),
            "clean_accuracy": float(np.mean(_predict(victim, w["victim_test"][0]) == test_y)),
            "victim_lr": float(victim_lr),
        }

    return run


@experiment(SLUG, seeds=tuple(range(10)), quick_seeds=(0, 1))
def run(quick, seeds, progress):
    lams = [0.1, 1.0, 10.0, 100.0]
    limit = {
        "lam": (
            "lower",
            "λ → 0 drops the restricted inner product: plain poisoning (after surgery for RIPPLES)",
        )
    }
    methods = [
        Method("clean", _arm("clean")),
        Method("BadNet", _arm("BadNet")),
        Method("ES", _arm("ES")),
        Method("RIPPLe", _arm("RIPPLe"), grid={"lam": lams}, quick_grid={"lam": [10.0]}, limits=limit),
        Method("RIPPLES", _arm("RIPPLES"), grid={"lam": lams}, quick_grid={"lam": [10.0]}, limits=limit),
    ]
    comparison = compare(methods, seeds, select="val_lfr", maximize=True, quick=quick, progress=progress)
    premise = Premise(
        "the victim's fine-tuning erodes plain poisoning: BadNet's label flip rate falls by more than 0.1",
        "lfr_drop",
        "BadNet",
        threshold=0.1,
        strict=True,
    )
    claims = [
        Claim(
            "RIPPLe's backdoor survives fine-tuning better than BadNet's (higher LFR after it)",
            "lfr_after",
            "RIPPLe",
            baseline="BadNet",
        ),
        Claim(
            "RIPPLES' backdoor survives fine-tuning better than BadNet's (higher LFR after it)",
            "lfr_after",
            "RIPPLES",
            baseline="BadNet",
        ),
        Claim(
            "RIPPLES costs the victim less than 2 points of clean accuracy",
            "clean_accuracy",
            "RIPPLES",
            baseline="clean",
            margin=-0.02,
            premises=(),
        ),
    ]
    arrays = {
        m: np.array([comparison.values(a, m) for a in ARMS])
        for m in ("lfr_before", "lfr_after", "clean_accuracy")
    }
    return finish(
        SLUG,
        comparison,
        premises=[premise],
        claims=claims,
        quick=quick,
        smoke=quick,
        arrays=arrays,
        notes={"arms": list(ARMS), "triggers": list(TRIGGERS), "victim_lrs": list(VICTIM_LRS)},
        metrics=["lfr_before", "lfr_after", "clean_accuracy", "val_lfr", "victim_lr"],
    )


def plot(result) -> dict:
    from ....plotting import pyplot

    plt = pyplot()
    arms = result.notes["arms"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.arange(len(arms))
    for key, off, label in (("lfr_before", -0.18, "before fine-tuning"), ("lfr_after", 0.18, "after")):
        v = result.arrays[key]
        axes[0].bar(x + off, v.mean(1), width=0.36, label=label, yerr=v.std(1), capsize=3)
    axes[0].set_xticks(x, arms)
    axes[0].set_ylabel("label flip rate (trigger → positive)")
    axes[0].legend(fontsize=8)
    acc = result.arrays["clean_accuracy"]
    axes[1].bar(x, acc.mean(1), yerr=acc.std(1), capsize=3, color="grey")
    axes[1].set_ylim(max(0.0, acc.min() - 0.05), 1.0)
    axes[1].set_xticks(x, arms)
    axes[1].set_ylabel("victim's clean test accuracy")
    fig.tight_layout()
    return {SLUG: fig}
