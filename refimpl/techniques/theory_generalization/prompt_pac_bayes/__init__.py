r"""Prompt engineering seen through an Occam / PAC-Bayes bound: a prompt is one discrete hypothesis, a language
model over prompts is the prior, and the bound charges a selected prompt only its surprisal −log P(prompt).

The paper card (title, authors, arXiv id, verification) is `CATALOG_ENTRY` below: the one copy.

The bound
---------
Let a prior P over prompts be fixed before the data (the paper: the language model's probability of the prompt
text).  For a point-mass posterior on a prompt θ the KL divergence is :math:`\log(1/P(\theta))`, and with
probability at least 1 − δ over n i.i.d. examples, *simultaneously for every prompt*,

.. math::

    \mathrm{kl}\big(\hat R(\theta)\,\big\|\,R(\theta)\big) \le \frac{\log\frac1{P(\theta)} + \log\frac{2\sqrt n}{\delta}}{n}
    \qquad\Rightarrow\qquad R(\theta) \le \mathrm{kl}^{-1}\Big(\hat R(\theta),\ \tfrac{\log(1/P(\theta)) + \log(2\sqrt n/\delta)}{n}\Big)

(`kl_bound`; Maurer's form of the Langford–Seeger bound), and its relaxation by Pinsker (`mcallester_bound`)
:math:`R \le \hat R + \sqrt{(\log(1/P) + \log(2\sqrt n/\delta))/(2n)}`.  Because the bound holds for every prompt at
once, it still holds for the prompt a search picked on the training set — however large the space searched.  A
*uniform* prior over token strings of length T from a vocabulary V (the comparison the authors draw: context length
× log vocabulary) charges every prompt :math:`T\log|V|`; a language model charges short, natural prompts far less.

The toy
-------
Inputs :math:`x \in \{0,1\}^d`; a prompt is a boolean rule written in prefix tokens over ``x0 … x{d−1}``, ``NOT``,
``AND``, ``OR`` (e.g. ``OR AND x1 NOT x4 x7``).  The stand-in for the language model is a probabilistic grammar
(`log_prior`, `sample_prompts`): each token is a variable with probability `P_LEAF` (then one of the d variables
uniformly), ``NOT`` with `P_NOT`, ``AND`` / ``OR`` with `P_AND` / `P_OR` each — a proper (terminating) generative
model whose probabilities sum to at most one over all finite prompts, so it is a valid prior.  Prompt engineering:
an exhaustive search over every prompt of up to a few tokens (`enumerate_prompts`, bit-packed truth tables built
size by size), keeping the one with the lowest training error; the structural-risk variant keeps the one with the
lowest bound.

What is reconstructed
---------------------
From the abstract and the first author's description: the bound family (McAllester's PAC-Bayes bound with an LM
prior, point-mass posteriors), the uniform-prior comparison and the use of the bound for selection.  The exact
bound the paper tabulates (constants, kl or square-root form) was not read; we give both standard forms.  The
rule language, the grammar prior and the sampling search stand in for CLIP prompts, an LLM prior and greedy
token search (the paper's search is greedy; ours is exhaustive, which can only fit the training set better).

The experiment (`experiment.py`) and the reference cases (`cases.py`) sit beside this file.

Notebook: notebooks/theory-generalization/prompt-pac-bayes.ipynb
"""

from __future__ import annotations

import numpy as np

from ..bounds import kl_bernoulli, kl_bound, kl_inverse_upper, mcallester_bound

CATALOG_ENTRY = {
    "slug": "prompt-pac-bayes",
    "title": "Understanding prompt engineering may not require rethinking generalization",
    "authors": "Victor Akinwande, Yiding Jiang, Dylan Sam, J. Zico Kolter",
    "year": 2023,
    "arxiv": "2310.03957",
    "family": "theory-generalization",
    "notebook": "notebooks/theory-generalization/prompt-pac-bayes.ipynb",
    "verified": "reconstructed",
    "verification_note": "arXiv id confirmed (ICLR 2024).  The full text was not read: the bound family (classical "
    "PAC-Bayes with a language-model prior and a point-mass posterior, KL = −log P(prompt)), the comparison with a "
    "uniform prior (context length × log vocabulary) and bound-based selection are from the abstract and the first "
    "author's public summary; the kl-inverse and square-root forms are the standard ones (Maurer; McAllester).  The "
    "boolean-rule prompts and the grammar prior are our stand-ins for CLIP prompts and an LLM.",
    "summary": "A prompt is one discrete hypothesis; with a language model as the PAC-Bayes prior, the bound charges "
    "a prompt found by search only its surprisal −log P(prompt), and the resulting bounds are close to the test "
    "error — so fitting a training set by prompt search need not overfit.",
    "equations": [
        "KL(δ_θ ‖ P) = log 1/P(θ)   (point-mass posterior on prompt θ)",
        "kl(R̂(θ) ‖ R(θ)) ≤ [log 1/P(θ) + log(2√n/δ)] / n   for all θ, w.p. ≥ 1 − δ",
        "R(θ) ≤ R̂(θ) + √([log 1/P(θ) + log(2√n/δ)] / (2n))   (Pinsker relaxation)",
        "uniform prior over T-token strings: log 1/P = T log |V|",
    ],
}

__all__ = [
    "CATALOG_ENTRY",
    "P_LEAF",
    "P_NOT",
    "P_AND",
    "P_OR",
    "kl_bernoulli",
    "kl_inverse_upper",
    "kl_bound",
    "mcallester_bound",
    "log_prior",
    "uniform_log_prior",
    "sample_prompts",
    "evaluate",
    "PromptTable",
    "enumerate_prompts",
]

P_LEAF, P_NOT, P_AND, P_OR = 0.5, 0.1, 0.2, 0.2  # mean number of children 0.1 + 2·0.4 = 0.9 < 1: terminates
_ARITY = {"NOT": 1, "AND": 2, "OR": 2}
_P_OP = {"NOT": P_NOT, "AND": P_AND, "OR": P_OR}


def _parse(tokens, n_vars):
    """Yield (token, is_leaf, variable index) in prefix order; raise if the string is not one whole rule."""
    need, out = 1, []
    for t in tokens:
        if need == 0:
            raise ValueError(f"prompt {' '.join(tokens)!r} has tokens after a complete rule")
        if t in _ARITY:
            need += _ARITY[t] - 1
            out.append((t, False, -1))
        elif t.startswith("x") and t[1:].isdigit() and int(t[1:]) < n_vars:
            need -= 1
            out.append((t, True, int(t[1:])))
        else:
            raise ValueError(f"prompt token {t!r} is not NOT, AND, OR or x0 … x{n_vars - 1}")
    if need != 0:
        raise ValueError(f"prompt {' '.join(tokens)!r} is incomplete")
    return out


def log_prior(prompt, n_vars: int) -> float:
    """log P(prompt) under the grammar: Σ over tokens of log P(token kind) (+ log 1/d for a variable)."""
    tokens = prompt.split() if isinstance(prompt, str) else list(prompt)
    total = 0.0
    for t, leaf, _ in _parse(tokens, n_vars):
        total += np.log(P_LEAF / n_vars) if leaf else np.log(_P_OP[t])
    return float(total)


def uniform_log_prior(max_tokens: int, n_vars: int) -> float:
    """log P of any prompt under the uniform prior on strings of `max_tokens` tokens: −T log |V|, |V| = d + 3."""
    return float(-max_tokens * np.log(n_vars + 3))


def sample_prompts(n_prompts: int, n_vars: int, rng, max_tokens: int | None = None) -> list[tuple[str, ...]]:
    """Draw prompts from the grammar (rejecting any longer than `max_tokens`, if given).  Token kinds and variables
    are drawn in blocks of uniforms; each token consumes one of each."""
    rng = np.random.default_rng(rng)
    edges = np.cumsum([P_LEAF, P_NOT, P_AND])  # u < P_LEAF: variable; < +P_NOT: NOT; < +P_AND: AND; else OR
    names = [f"x{j}" for j in range(n_vars)]
    out: list[tuple[str, ...]] = []
    kinds, vars_, k = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), 0
    while len(out) < n_prompts:
        tokens, need = [], 1
        while need and (max_tokens is None or len(tokens) <= max_tokens):
            if k == kinds.size:
                kinds, vars_, k = (
                    np.searchsorted(edges, rng.uniform(size=4096), side="right"),
                    rng.integers(0, n_vars, 4096),
                    0,
                )
            kind, var = kinds[k], vars_[k]
            k += 1
            if kind == 0:
                tokens.append(names[var])
                need -= 1
            else:
                tokens.append(("NOT", "AND", "OR")[kind - 1])
                need += 0 if kind == 1 else 1
        if need == 0 and (max_tokens is None or len(tokens) <= max_tokens):
            out.append(tuple(tokens))
    return out


def evaluate(prompt, X) -> np.ndarray:
    """The rule's predictions (bool) on the rows of the binary matrix X."""
    X = np.asarray(X).astype(bool)
    tokens = prompt.split() if isinstance(prompt, str) else list(prompt)
    parsed = _parse(tokens, X.shape[1])
    stack: list[np.ndarray] = []
    for t, leaf, j in reversed(parsed):
        if leaf:
            stack.append(X[:, j])
        elif t == "NOT":
            stack.append(~stack.pop())
        else:
            a, b = stack.pop(), stack.pop()
            stack.append(a & b if t == "AND" else a | b)
    return stack.pop()


class PromptTable:
    """Every prompt of 1 … `max_tokens` tokens over d variables, with its log prior and its predictions on X packed
    into bits (`bits[i]` is the row of prompt i).  Built size by size: NOT of every prompt one token shorter, AND /
    OR of every pair whose sizes add up to one less.  `prompt(i)` spells prompt i out."""

    def __init__(self, X, max_tokens: int):
        X = np.asarray(X).astype(bool)
        if X.ndim != 2:
            raise ValueError(f"`X` must be a 2-D binary matrix, got shape {X.shape}")
        if not 1 <= max_tokens <= 7:
            raise ValueError(
                f"`max_tokens` must be in 1..7 (the table grows ~10× per token), got {max_tokens}"
            )
        self.n, self.d = X.shape
        leaf = np.log(P_LEAF / self.d)
        levels = {1: (np.packbits(X.T, axis=1), np.full(self.d, leaf), [("x", j) for j in range(self.d)])}
        for size in range(2, max_tokens + 1):
            bits, logp, refs = (
                [~levels[size - 1][0]],
                [levels[size - 1][1] + np.log(P_NOT)],
                [("NOT", size - 1, i) for i in range(len(levels[size - 1][1]))],
            )
            for op in ("AND", "OR"):
                for a in range(1, size - 1):
                    (ba, la, _), (bb, lb, _) = levels[a], levels[size - 1 - a]
                    pair = (
                        (ba[:, None, :] & bb[None, :, :])
                        if op == "AND"
                        else (ba[:, None, :] | bb[None, :, :])
                    )
                    bits.append(pair.reshape(-1, ba.shape[1]))
                    logp.append((la[:, None] + lb[None, :]).ravel() + np.log(_P_OP[op]))
                    refs.extend((op, a, i, size - 1 - a, j) for i in range(len(la)) for j in range(len(lb)))
            levels[size] = (np.concatenate(bits), np.concatenate(logp), refs)
        self._levels = levels
        self._offsets = np.cumsum([0] + [len(levels[s][1]) for s in sorted(levels)])
        self.bits = np.concatenate([levels[s][0] for s in sorted(levels)])
        self.log_prior = np.concatenate([levels[s][1] for s in sorted(levels)])
        self.n_tokens = np.concatenate([np.full(len(levels[s][1]), s) for s in sorted(levels)])

    def __len__(self) -> int:
        return len(self.log_prior)

    def errors(self, y) -> np.ndarray:
        """The training error of every prompt against labels y (bit-packed XOR, popcount)."""
        y = np.asarray(y).astype(bool)
        if y.shape != (self.n,):
            raise ValueError(f"`y` must have shape ({self.n},), got {y.shape}")
        valid = np.packbits(
            np.ones(self.n, dtype=bool)
        )  # NOT sets the padding bits of the last byte: mask them
        wrong = (self.bits ^ np.packbits(y)[None, :]) & valid[None, :]
        return np.bitwise_count(wrong).sum(1) / self.n

    def prompt(self, i: int) -> str:
        size = int(np.searchsorted(self._offsets, i, side="right"))
        return " ".join(self._spell(size, int(i - self._offsets[size - 1])))

    def _spell(self, size, i):
        ref = self._levels[size][2][i]
        if ref[0] == "x":
            return [f"x{ref[1]}"]
        if ref[0] == "NOT":
            return ["NOT", *self._spell(ref[1], ref[2])]
        return [ref[0], *self._spell(ref[1], ref[2]), *self._spell(ref[3], ref[4])]


def enumerate_prompts(X, max_tokens: int) -> PromptTable:
    """All prompts of up to `max_tokens` tokens with their log priors and packed predictions on X."""
    return PromptTable(X, max_tokens)
