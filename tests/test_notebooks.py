"""Every notebook runs top to bottom (quick mode: REFIMPL_QUICK=1) and ends without an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("REFIMPL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_notebook_imports_no_private_module_or_name(path):
    """A teacher's notebook uses public entry points only (no `_module`, no `_name`)."""
    import json
    import re

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    private = re.findall(
        r"^\s*(?:from\s+\S*\._\w+\s+import.*|from\s+\S+\s+import\s+.*\b_\w+.*|import\s+\S*\._\w+.*)$",
        code,
        flags=re.M,
    )
    assert not private, f"private imports: {private}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_no_cell_ends_with_a_bare_figure(path):
    """Jupyter shows a cell's last value: a figure left there is drawn twice (inline backend + the value)."""
    import ast
    import json

    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] != "code" or not src.strip():
            continue
        try:
            body = ast.parse(src).body
        except SyntaxError:  # IPython magics: not ours to judge
            continue
        last = body[-1] if body else None
        if not isinstance(last, ast.Expr):
            continue
        after = src.splitlines()[last.end_lineno - 1][last.end_col_offset :]
        if after.lstrip().startswith(";"):  # `plot(result);  # comment` shows nothing
            continue
        value, line = last.value, src.strip().splitlines()[-1]
        names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(value) if isinstance(n, ast.Attribute)
        }
        bare_name = isinstance(value, ast.Name) and value.id in {"fig", "figure", "f"}
        plotting = isinstance(value, ast.Call) and names & {"plot", "curves", "figure", "subplots", "gcf"}
        assert not (bare_name or plotting), f"end the cell with `;` (or plt.show()): {line!r}"
