"""The rendered book: every technique as a web page, built offline by one command (`refimpl book`).

Generator: Sphinx with MyST-NB and the Furo theme.  MyST-NB renders a notebook as a page — Markdown cells
with LaTeX, code, and the outputs (plots, the verdict table) of an execution kept in a jupyter-cache, so a
rebuild re-executes only the notebooks whose key changed; Sphinx's autodoc renders the engine and layer
API from the docstrings, and its search index works offline; MathJax is served from the build
(`sphinx-mathjax-offline` bundles it), so no page fetches anything from the network.

`build(out)` writes a Sphinx source tree under `out/src` (`source.write_source`), executes the notebooks
into `out/cache` (`execute.execute_all`), and runs Sphinx into `out/html`.  Open `out/html/index.html`, or
serve it: `python -m http.server -d build/book/html`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .execute import execute_all
from .source import ROOT, write_source

__all__ = ["build", "DEFAULT_OUT"]

DEFAULT_OUT = ROOT / "build" / "book"


def build(
    out: str | Path = DEFAULT_OUT,
    *,
    full: bool = False,
    only: list[str] | None = None,
    jobs: int = 1,
    quiet: bool = True,
) -> Path:
    """Build the book into `out/html` and return the path of its home page.

    full: execute the notebooks in full mode (the recorded experiments' regime) instead of quick mode.
    only: technique slugs to include (default: every technique); the four chapters and the API are always in.
    jobs: notebooks executed at once.
    """
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as e:
        raise RuntimeError(
            f"the book needs its generator: pip install -e '.[book]' (missing: {e.name})"
        ) from None
    if jobs < 1:
        raise ValueError(f"jobs: expected a count ≥ 1, got {jobs}")
    out = Path(out).resolve()
    src, cache, html = out / "src", out / "cache", out / "html"
    notebooks = write_source(src, only=only, full=full)
    execute_all(notebooks, cache, full=full, jobs=jobs)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(out / "doctrees"), str(src), str(html)]
    if quiet:
        cmd.append("-q")
    env = dict(os.environ, REFIMPL_BOOK_CACHE=str(cache))
    subprocess.run(cmd, check=True, env=env)
    return html / "index.html"
