"""The family's multi-domain text pool: a raw pool of short documents from several domains and a small
target sample, built from the bundled Shakespeare (nothing downloads); first used by `dsir`.

The bundled text is whitespace-normalised (words joined by single spaces) and cut into blocks of
`doc_words` words; a seeded permutation assigns the blocks to roles, so every role samples all three
plays.  The raw pool has four domains of `per_domain` short documents each:

* ``prose``    — Shakespeare blocks as they are (the target domain);
* ``shuffled`` — other Shakespeare blocks with their word order permuted: the same unigram statistics as
  prose, but its word bigrams (and the characters across word boundaries) are broken;
* ``code``     — generated code-like lines: short identifiers, brackets, colons and semicolons;
* ``tables``   — generated number tables: digits 1-5, decimal points, commas and semicolons.

All characters are in the bundled text's vocabulary, so one character tokenizer covers every domain.
The target sample (`target_docs` blocks) and the language-model validation and test texts come from
Shakespeare blocks disjoint from the pool and from each other.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

DOMAINS = ("prose", "shuffled", "code", "tables")


@dataclasses.dataclass(frozen=True)
class TextPool:
    """`docs` (raw pool) with their `domain` ids (index into DOMAINS); `target` documents; `val_text`
    and `test_text` of the target domain for language-model evaluation."""

    docs: tuple
    domain: np.ndarray
    target: tuple
    val_text: str
    test_text: str


def _code_line(rng) -> str:
    names = ["x", "y", "idx", "buf", "node", "val", "acc", "tmp", "arr", "key", "f", "g"]
    a, b, c = (names[i] + str(rng.integers(1, 6)) for i in rng.integers(0, len(names), size=3))
    forms = [
        f"let {a} : [{b}, {c}];",
        f"if ({a}) [ {b}({c}); ]",
        f"for {a} in {b}: {c}[{a}];",
        f"return {a}({b}, {c});",
        f"def {a}({b}): {c};",
    ]
    return forms[int(rng.integers(0, len(forms)))]


def _table_line(rng) -> str:
    cells = [f"{rng.integers(1, 6)}{rng.integers(1, 6)}.{rng.integers(1, 6)}" for _ in range(4)]
    return ", ".join(cells) + " ;"


def _generated(kind: str, rng, n_words: int) -> str:
    line = _code_line if kind == "code" else _table_line
    out = []
    while sum(len(s.split()) for s in out) < n_words:
        out.append(line(rng))
    return " ".join(out)


@functools.cache
def text_pool(
    per_domain: int = 150, target_docs: int = 40, doc_words: int = 30, eval_blocks: int = 60, seed: int = 0
) -> TextPool:
    """The pool described in the module docstring (deterministic for the arguments)."""
    from ...data import load_text

    for name, v in (
        ("per_domain", per_domain),
        ("target_docs", target_docs),
        ("doc_words", doc_words),
        ("eval_blocks", eval_blocks),
    ):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"text_pool: `{name}` must be a positive int, got {v!r}")
    words = load_text().split()
    blocks = [" ".join(words[i : i + doc_words]) for i in range(0, len(words) - doc_words + 1, doc_words)]
    need = 2 * per_domain + target_docs + 2 * eval_blocks
    if need > len(blocks):
        raise ValueError(
            f"text_pool: asks for {need} blocks of {doc_words} words, the text has {len(blocks)}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(blocks))
    take = iter(np.split(order[:need], np.cumsum([per_domain, per_domain, target_docs, eval_blocks])))
    prose, shuf, tgt, val, test = ([blocks[i] for i in idx] for idx in take)
    shuffled = []
    for b in shuf:
        w = b.split()
        shuffled.append(" ".join(w[j] for j in rng.permutation(len(w))))
    code = [_generated("code", rng, doc_words) for _ in range(per_domain)]
    tables = [_generated("tables", rng, doc_words) for _ in range(per_domain)]
    docs = prose + shuffled + code + tables
    domain = np.repeat(np.arange(len(DOMAINS)), per_domain)
    return TextPool(tuple(docs), domain, tuple(tgt), " ".join(val), " ".join(test))
