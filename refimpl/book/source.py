"""Write the book's Sphinx source tree from the repository: home page, chapters, technique pages, API.

Every page is generated from the one copy of what it shows: the paper card is the notebook's first cell
(written from the catalogue entry by tools/sync_cards.py), the verdicts come from `refimpl/results/*.json`,
the code pages embed the technique's files as they are.  Files are rewritten only when their content
changes, so Sphinx re-reads only what changed.
"""

from __future__ import annotations

import html
import json
import tempfile
from pathlib import Path

from .. import catalog
from ..experiments.store import digest, result_path, source_files

__all__ = ["ROOT", "write_source", "FAMILY_TITLES", "CHAPTERS", "book_key"]

ROOT = catalog.PACKAGE_DIR.parent
HERE = Path(__file__).resolve().parent
CHAPTERS = ["00-autograd", "01-training", "02-higher-order", "03-tracing"]
FAMILY_TITLES = {
    "regularization-normalization": "Reparameterization, regularization and normalization",
    "sparsity-pruning": "Sparsity and pruning",
    "quantization": "Quantization",
    "lowrank-peft-sharing": "Low-rank adapters and parameter sharing",
    "merging-averaging": "Model merging and averaging",
    "optimizers-training-rules": "Optimizers and learning rules",
    "growth-init-scaling": "Growth, initialization and scaling",
    "data-weighting-selection": "Data and sample weighting",
    "architectures": "Architectures",
    "diffusion-generative": "Diffusion and generative models",
    "theory-dynamics": "Theory: training dynamics",
    "theory-generalization": "Theory: generalization",
    "representations-weighting": "Representations and statistical weighting",
    "continual-learning": "Continual learning",
}
_LAYERS = sorted(p.stem for p in (catalog.PACKAGE_DIR / "nn" / "layers").glob("[a-z]*.py"))
API_PAGES = {  # page -> (title, the modules that define the names, in reading order)
    "tensor": (
        "Tensors and autograd",
        [
            "refimpl.autograd.tensor",
            "refimpl.autograd.function",
            "refimpl.autograd.factory",
            "refimpl.autograd.higher_order",
            "refimpl.autograd.gradcheck",
            "refimpl.func",
        ],
    ),
    "nn": (
        "Layers (refimpl.nn)",
        ["refimpl.nn.module"]
        + [f"refimpl.nn.layers.{m}" for m in _LAYERS]
        + ["refimpl.nn.init", "refimpl.nn.parametrize", "refimpl.nn.parametrizations"],
    ),
    "functional": ("Functions (refimpl.nn.functional)", ["refimpl.nn.functional"]),
    "optim": ("Optimizers (refimpl.optim)", ["refimpl.optim"]),
    "compile": ("Recording and replaying a step (refimpl.compile)", ["refimpl.autograd.trace"]),
    "experiments": ("Experiments (refimpl.experiments)", ["refimpl.experiments"]),
}


def family_title(family: str) -> str:
    return FAMILY_TITLES.get(family, family.replace("-", " ").capitalize())


def _digest(paths, extra: str = "") -> str:
    return digest(sorted(paths), root=ROOT, extra=extra)


def _engine_files() -> list[Path]:
    """The package without the techniques, plus how the book executes a page (execute.py)."""
    skip = {catalog.PACKAGE_DIR / "techniques", HERE, catalog.PACKAGE_DIR / "results"}
    return [
        p
        for p in catalog.PACKAGE_DIR.rglob("*.py")
        if "__pycache__" not in p.parts and not any(s in p.parents for s in skip)
    ] + [HERE / "execute.py"]


def book_key(slug: str | None, *, full: bool, engine: str | None = None) -> str:
    """What a page's execution depends on: the engine, and for a technique its package, family modules and
    recorded result; quick and full mode have different keys."""
    engine = engine or _digest(_engine_files())
    files = []
    if slug is not None:
        files = source_files(slug) + [p for p in [result_path(slug)] if p.is_file()]
    return _digest(files, extra=f"{engine}:{'full' if full else 'quick'}")


class _Tree:
    """Files written under `root`; what was not written this time is deleted by `prune`."""

    def __init__(self, root: Path):
        self.root, self.written = root, set()

    def write(self, rel: str, content: str | bytes) -> Path:
        path = self.root / rel
        data = content.encode("utf-8") if isinstance(content, str) else content
        if not (path.is_file() and path.read_bytes() == data):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.written.add(path)
        return path

    def prune(self) -> None:
        for p in sorted(self.root.rglob("*"), reverse=True):
            if p.is_file() and p not in self.written:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()


def _key_cell(key: str) -> dict:
    """A hidden code cell: its text is part of the notebook's cache hash (see execute.py)."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["remove-cell"]},
        "outputs": [],
        "source": [f"# book key {key}: the page is executed again when this changes"],
        "id": "bookkey0",
    }


def _notebook(path: Path, key: str, header: str | None) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    if header is not None:  # after the paper card
        cells.insert(1, {"cell_type": "markdown", "metadata": {}, "source": [header], "id": "bookhead"})
    cells.insert(0, _key_cell(key))
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _fence(text: str) -> str:
    n = 3
    while "`" * n in text:
        n += 1
    return "`" * n


def _verdicts(slug: str) -> list[str]:
    """The verdict of each claim in the recorded full result (empty without one)."""
    from ..experiments import recorded

    r = recorded(slug)
    return [] if r is None else [c["verdict"] for c in r.claims]


def _header(t, code_page: str, vectors: str | None) -> str:
    """The cell after the paper card: links to the code, then the recorded verdicts as `refimpl show` prints them."""
    from ..experiments import recorded

    links = [f"[its module and tests]({code_page})"]
    if vectors:
        links.append(
            f"{{download}}`reference vectors (JSON) <{vectors}>` — what `refimpl vectors {t.slug}` writes"
        )
    out = [
        "**On this page**: the derivation, the code run step by step, then the toy experiment and its "
        "verdicts. **Code**: " + " · ".join(links) + "."
    ]
    r = recorded(t.slug)
    if r is None:
        out.append("\nNo recorded full result yet.")
    else:
        out.append(f"\n**Recorded verdicts** (full run, `refimpl/results/{t.slug}.json`)\n")
        out.extend(f"- {line}" for line in r.verdict_lines())
    return "\n".join(out) + "\n"


def _code_page(t) -> str:
    package = Path(t.source_file).parent
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    family_dir = t.family.replace("-", "_")
    tests = sorted((ROOT / "tests" / "techniques" / family_dir).glob(f"test_{t.slug.replace('-', '_')}*.py"))
    out = [
        "---\norphan: true\n---\n",
        f"# {t.title}: code and tests\n",
        f"Back to [the technique's page]({t.slug}.ipynb).\n",
        "## Module\n",
    ]
    for group, paths in (("", files), ("## Tests\n", tests)):
        if group:
            out.append(group)
        for p in paths:
            text = p.read_text(encoding="utf-8")
            fence = _fence(text)
            out.append(f"### `{p.relative_to(ROOT).as_posix()}`\n\n{fence}python\n{text}{fence}\n")
    if not tests:
        out.append("(no test file found)\n")
    return "\n".join(out)


def _vectors(t) -> bytes | None:
    """The technique's reference cases as `refimpl vectors SLUG --format json` writes them."""
    from .. import vectors

    try:
        cases = t.reference_cases()
    except ModuleNotFoundError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{t.slug}.json"
        vectors.write_vectors(path, t.slug, cases, fmt="json")
        return path.read_bytes()


def _catalogue_table(entries) -> str:
    rows = []
    for t in entries:
        counts = dict.fromkeys(_verdicts(t.slug))
        verdict = catalog._verdict_summary(t)
        href = f"techniques/{t.family}/{t.slug}.html"
        rows.append(
            f'<tr data-family="{t.family}" data-verified="{t.verified}" '
            f'data-verdicts="{" ".join(v.replace(" ", "-") for v in counts) or "not-recorded"}">'
            f'<td><a href="{href}">{html.escape(t.title)}</a><br><code>{t.slug}</code></td>'
            f"<td>{t.year}</td><td>{html.escape(family_title(t.family))}</td>"
            f"<td>{t.verified}</td><td>{html.escape(verdict)}</td></tr>"
        )
    families = sorted({t.family for t in entries})
    verified = sorted({t.verified for t in entries})
    verdicts = ["holds", "fails", "inconclusive", "premise-absent", "not-recorded"]

    def select(name, label, values, titles=None):
        opts = "".join(
            f'<option value="{html.escape(v)}">{html.escape((titles or {}).get(v, v))}</option>'
            for v in values
        )
        return (
            f'<label>{label} <select id="filter-{name}"><option value="">all</option>{opts}</select></label>'
        )

    return (
        '<div class="catalogue-filters">'
        '<label>Search <input id="filter-text" type="search" placeholder="title, slug, family…"></label>'
        + select("family", "Family", families, FAMILY_TITLES)
        + select("verified", "Verified", verified)
        + select("verdict", "A claim that", verdicts, {v: v.replace("-", " ") for v in verdicts})
        + '<span id="filter-count"></span></div>\n'
        '<table id="catalogue" class="catalogue"><thead><tr><th>paper</th><th>year</th><th>family</th>'
        "<th>verified</th><th>verdicts</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
    )


def _home(entries) -> str:
    fams = sorted({t.family for t in entries})
    n_claims = sum(len(_verdicts(t.slug)) for t in entries)
    intro = (
        "# refimpl: what deep-learning papers do to a network's weights\n\n"
        "Each technique is implemented in NumPy in one readable module, derived step by step in a notebook, "
        "pinned by tests to small reference values, and judged by a seeded toy experiment: every method tuned "
        "on a validation split, at least three seeds, a 95 % interval deciding each claim. "
        f"This book renders {len(entries)} techniques and their {n_claims} recorded claims. "
        "Start with the chapters on the autograd engine, then filter the catalogue below.\n\n"
        "Each page is a notebook executed when the book was built; its card says how the implementation was "
        "verified (`paper`, `official-code` or `reconstructed`).\n\n"
    )
    toc = [
        "```{toctree}\n:caption: Chapters\n:maxdepth: 1\n\n" + "\n".join(f"chapters/{c}" for c in CHAPTERS)
    ]
    toc.append(
        "```\n\n```{toctree}\n:caption: Techniques\n:maxdepth: 1\n\n"
        + "\n".join(f"techniques/{f}/index" for f in fams)
    )
    toc.append(
        "```\n\n```{toctree}\n:caption: API reference\n:maxdepth: 1\n\n"
        + "\n".join(f"api/{p}" for p in API_PAGES)
    )
    toc.append("```\n")
    return (
        intro + "## The catalogue\n\n```{raw} html\n" + _catalogue_table(entries) + "```\n\n" + "\n".join(toc)
    )


def _family_page(family: str, entries) -> str:
    lines = [f"# {family_title(family)}\n"]
    lines.extend(f"- [{t.title}]({t.slug}.ipynb) (`{t.slug}`, {t.year}, {t.verified})" for t in entries)
    lines.append("\n```{toctree}\n:hidden:\n\n" + "\n".join(t.slug for t in entries) + "\n```\n")
    return "\n".join(lines)


def _api_page(title: str, modules: list[str]) -> str:
    out = [f"# {title}\n"]
    for m in modules:
        heading = f"## `{m}`\n\n" if len(modules) > 1 else ""
        out.append(f"{heading}```{{eval-rst}}\n.. automodule:: {m}\n   :members:\n```\n")
    return "\n".join(out)


def write_source(src: Path, *, only: list[str] | None = None, full: bool = False) -> list[Path]:
    """Write the source tree into `src`; return the notebook pages (to be executed)."""
    if not (ROOT / "notebooks").is_dir():
        raise FileNotFoundError(
            f"the book is built from a checkout of the repository: no {ROOT / 'notebooks'}"
        )
    entries = list(catalog.entries().values())
    if only:
        unknown = sorted(set(only) - {t.slug for t in entries})
        if unknown:
            raise ValueError(f"only: unknown technique slug(s) {unknown}; `refimpl list` shows them")
        entries = [t for t in entries if t.slug in set(only)]
    entries.sort(key=lambda t: (t.family, t.title.lower()))
    engine = _digest(_engine_files())
    tree = _Tree(Path(src))
    tree.write("conf.py", (HERE / "conf.py").read_text(encoding="utf-8"))
    for p in (HERE / "static").iterdir():
        tree.write(f"_static/{p.name}", p.read_bytes())
    tree.write("index.md", _home(entries))
    notebooks = []
    for c in CHAPTERS:
        notebooks.append(
            tree.write(
                f"chapters/{c}.ipynb",
                _notebook(ROOT / "notebooks" / f"{c}.ipynb", book_key(None, full=full, engine=engine), None),
            )
        )
    for name, (title, modules) in API_PAGES.items():
        tree.write(f"api/{name}.md", _api_page(title, modules))
    for family in sorted({t.family for t in entries}):
        members = [t for t in entries if t.family == family]
        tree.write(f"techniques/{family}/index.md", _family_page(family, members))
        for t in members:
            base = f"techniques/{family}/{t.slug}"
            data = _vectors(t)
            if data is not None:
                tree.write(f"{base}-vectors.json", data)
            tree.write(f"{base}-code.md", _code_page(t))
            header = _header(t, f"{t.slug}-code.md", f"{t.slug}-vectors.json" if data is not None else None)
            key = book_key(t.slug, full=full, engine=engine)
            notebooks.append(tree.write(f"{base}.ipynb", _notebook(ROOT / t.notebook, key, header)))
    tree.prune()
    return notebooks
