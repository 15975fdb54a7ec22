"""Bundled Shakespeare, the character tokenizer and next-character windows."""

import string

import numpy as np
import pytest

from refimpl.data import CharTokenizer, char_dataset, load_text, random_windows


def test_corpus_is_clean_plain_text():
    text = load_text()
    assert 250_000 < len(text) < 350_000
    assert set(text) <= set(string.printable) - set("\t\r\x0b\x0c")
    low = text.lower()
    assert not any(word in low for word in ("gutenberg", "etext", "ebook", "electronic version"))
    assert text.startswith("MACBETH\n") and text.endswith("\n") and "\n\n\n" not in text
    assert all(line == line.rstrip() for line in text.split("\n"))
    for line in ("Fair is foul, and foul is fair:", "We are such stuff", "If we shadows have offended,"):
        assert line in text


def test_tokenizer_round_trip_and_vocab():
    text = load_text()
    tok = CharTokenizer(text)
    assert tok.vocab == tuple(sorted(set(text))) and tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),) and ids.max() == tok.vocab_size - 1
    assert tok.decode(ids) == text
    assert tok.decode(ids[:20].reshape(4, 5)) == text[:20]
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""
    uni = CharTokenizer("naïve café ✓")
    assert uni.decode(uni.encode("ïé✓ca")) == "ïé✓ca"


def test_tokenizer_errors():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"unknown characters \['d', 'é'\]"):
        tok.encode("abdé")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="ids must be integers"):
        tok.decode(np.array([0.0]))
    with pytest.raises(ValueError, match="text must be a non-empty string"):
        CharTokenizer("")


def test_char_dataset_splits_contiguously():
    train, val, tok = char_dataset(block_size=128)
    text = load_text()
    assert len(train) == round(0.9 * len(text)) and len(train) + len(val) == len(text)
    assert tok.decode(np.concatenate([train, val])) == text
    small_train, small_val, _ = char_dataset("abcdefghij" * 3, block_size=2, split=0.8)
    assert len(small_train) == 24 and len(small_val) == 6
    with pytest.raises(ValueError, match="block_size must leave"):
        char_dataset("abcdefghij", block_size=5)
    with pytest.raises(ValueError, match=r"split must be in \(0, 1\), got 1.0"):
        char_dataset("abcdefghij", block_size=1, split=1.0)
    with pytest.raises(ValueError, match="block_size must be a positive int, got 0"):
        char_dataset("abcdefghij", block_size=0)


def test_random_windows_are_next_character_pairs():
    ids = np.arange(50)
    windows = list(random_windows(ids, block_size=8, batch_size=4, rng=0, num_batches=3))
    assert len(windows) == 3
    for x, y in windows:
        assert x.shape == y.shape == (4, 8) and x.dtype == np.int64
        np.testing.assert_array_equal(y, x + 1)  # consecutive slices, target shifted by one
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)
        assert x.min() >= 0 and y.max() <= 49
    again = list(random_windows(ids, 8, 4, np.random.default_rng(0), num_batches=3))
    for (x, _), (x2, _) in zip(windows, again):
        np.testing.assert_array_equal(x, x2)
    forever = random_windows(ids, 8, 4, rng=1)
    assert len([next(forever) for _ in range(100)]) == 100


def test_random_windows_errors():
    with pytest.raises(ValueError, match="ids must be 1-D with at least block_size"):
        random_windows(np.arange(8), block_size=8, batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        random_windows(np.arange(80), block_size=8, batch_size=0)
