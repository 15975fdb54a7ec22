"""The catalogue: one entry per technique, declared next to the technique, found without importing it.

Every technique package `refimpl/techniques/<family>/<name>/__init__.py` declares, at module level,

    CATALOG_ENTRY = {                      # a pure literal: read with `ast`, never executed
        "slug": "ghost-batchnorm",         # as in shared/CATALOGUE.md; `refimpl run SLUG`
        "title": "Train longer, generalize better: ...",
        "authors": "Hoffer, Hubara, Soudry",
        "year": 2017,
        "arxiv": "1705.08741",
        "family": "regularization-normalization",
        "notebook": "notebooks/regularization-normalization/ghost-batchnorm.ipynb",
        "verified": "paper",               # "paper" | "official-code" | "reconstructed"
        "verification_note": "Algorithm 1 and Eq. 2-3 read in the paper; ...",
        "summary": "One paragraph: the idea.",
        "equations": ["x̂ = (x − μ_B)/√(σ²_B + ε) over each ghost batch of size B_ghost", ...],
    }

A technique is a **package** `refimpl/techniques/<family>/<name>/` (see CONTRIBUTING.md):

    __init__.py     the paper card (CATALOG_ENTRY), the derivation in the docstring, the method
    experiment.py   run(quick=False, seeds=None, progress=True) -> refimpl.experiments.Result, plot(result)
    cases.py        reference_cases() -> list[ReferenceCase]

Modules directly in a family directory are the family's shared code; one that declares a CATALOG_ENTRY
is an error (the single-module form of the first wave is gone).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "Technique",
    "ReferenceCase",
    "entries",
    "get",
    "families",
    "quick_mode",
    "UnknownTechniqueError",
    "VERIFIED_LEVELS",
]

VERIFIED_LEVELS = ("paper", "official-code", "reconstructed")
REQUIRED_FIELDS = (
    "slug",
    "title",
    "authors",
    "year",
    "arxiv",
    "family",
    "notebook",
    "verified",
    "verification_note",
    "summary",
    "equations",
)
PACKAGE_DIR = Path(__file__).resolve().parent
TECHNIQUES_DIR = PACKAGE_DIR / "techniques"
REPO_ROOT = PACKAGE_DIR.parent


def quick_mode() -> bool:
    """The project-wide quick switch: `REFIMPL_QUICK=1` (set by the test suite and CI) makes notebooks
    run their experiments with quick=True; unset or 0 runs the full experiment."""
    return os.environ.get("REFIMPL_QUICK", "0").strip().lower() not in ("", "0", "false", "no")


@dataclasses.dataclass
class ReferenceCase:
    """Small inputs and expected outputs for one function of a technique.

    `expected` must come from an independent computation (by hand, a closed form, brute force) and
    `note` says which; `compute(**inputs)` runs the code under test and returns a dict with the keys of
    `expected`.  `refimpl vectors SLUG` exports `inputs` and `expected` for other frameworks, with
    `function` (the import path of the function exercised, e.g.
    ``"refimpl.techniques.sparsity_pruning.global_magnitude_pruning.global_magnitude_masks"``) and the
    float32 tolerances `atol32`/`rtol32` for checking a float32 implementation as it is.

    `conventions` names, as plain strings, every convention that shapes the result and that another
    framework may do differently, e.g. ``{"rounding": "divide: round(x/s), half to even", "saturation":
    "clamp codes to [q_min, q_max]"}`` (keys in use: rounding, saturation, scheme, granularity,
    gradient); it is exported with the case.  Empty where no such choice is made.
    """

    name: str
    inputs: dict
    expected: dict
    compute: Callable[..., dict]
    note: str = ""
    atol: float = 1e-6
    rtol: float = 1e-6
    function: str = ""
    atol32: float = 1e-5
    rtol32: float = 1e-4
    conventions: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.conventions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.conventions.items()
        ):
            raise TypeError(f"ReferenceCase {self.name!r}: `conventions` must be a dict of str → str")

    def run(self) -> dict:
        got = self.compute(**self.inputs)
        return {k: np.asarray(getattr(got[k], "data", got[k])) for k in self.expected}

    def check(self) -> None:
        """Raise AssertionError with the max abs/rel error and its index if a value is off."""
        got = self.run()
        for key, exp in self.expected.items():
            exp = np.asarray(exp)
            val = got[key]
            if val.shape != exp.shape:
                raise AssertionError(f"{self.name}: '{key}' has shape {val.shape}, expected {exp.shape}")
            if not np.allclose(val, exp, atol=self.atol, rtol=self.rtol, equal_nan=False):
                err = np.abs(val.astype(np.float64) - exp.astype(np.float64))
                idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
                rel = err / np.maximum(np.abs(exp.astype(np.float64)), 1e-300)
                raise AssertionError(
                    f"{self.name}: '{key}' off by max abs {err.max():.3e} (max rel {rel.max():.3e}) at index "
                    f"{idx}: got {val[idx] if val.ndim else val}, expected {exp[idx] if exp.ndim else exp}"
                )


@dataclasses.dataclass(frozen=True)
class Technique:
    """A catalogue entry; `experiment`, `reference_cases` and `plot` import the package on first use."""

    slug: str
    title: str
    authors: str
    year: int
    arxiv: str
    family: str
    module: str
    notebook: str
    verified: str
    verification_note: str
    summary: str
    equations: tuple
    source_file: str

    @property
    def experiment(self):
        """The package's `experiment` module (its `run` returns a `refimpl.experiments.Result`)."""
        return importlib.import_module(self.module + ".experiment")

    @property
    def arxiv_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else ""

    def load(self):
        return importlib.import_module(self.module)

    @property
    def reference_cases(self) -> Callable[[], list]:
        return importlib.import_module(self.module + ".cases").reference_cases

    @property
    def plot(self):
        return getattr(self.experiment, "plot", None)


def _read_entry(path: Path) -> dict | None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CATALOG_ENTRY" for t in node.targets
        ):
            try:
                return ast.literal_eval(node.value)
            except ValueError as e:
                raise ValueError(f"{path}: CATALOG_ENTRY must be a pure literal ({e})") from None
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _technique_files():
    """techniques/<family>/<name>/__init__.py; a family's own modules are parsed only to refuse a card there."""
    for family in sorted(p for p in TECHNIQUES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for path in sorted(family.iterdir()):
            if path.suffix == ".py" and path.name != "__init__.py" and _read_entry(path) is not None:
                raise ValueError(
                    f"{path}: a CATALOG_ENTRY in a single module; a technique is a package "
                    f"{family.name}/{path.stem}/ with __init__.py, experiment.py and cases.py (CONTRIBUTING.md)"
                )
            if path.is_dir() and (path / "__init__.py").is_file():
                yield path / "__init__.py"


def _validate(entry: dict, path: Path) -> None:
    missing = [f for f in REQUIRED_FIELDS if f not in entry]
    if missing:
        raise ValueError(f"{path}: CATALOG_ENTRY lacks {missing}")
    if entry["verified"] not in VERIFIED_LEVELS:
        raise ValueError(f"{path}: 'verified' must be one of {VERIFIED_LEVELS}, got {entry['verified']!r}")


_CACHE: dict | None = None


def entries() -> dict:
    """slug → Technique for every technique module (modules are parsed, not imported)."""
    global _CACHE
    if _CACHE is None:
        found = {}
        for path in _technique_files():
            entry = _read_entry(path)
            if entry is None:
                continue
            _validate(entry, path)
            slug = entry["slug"]
            if slug in found:
                raise ValueError(f"duplicate slug {slug!r} in {path} and {found[slug].source_file}")
            fields = {k: entry[k] for k in REQUIRED_FIELDS}
            fields["equations"] = tuple(fields["equations"])
            found[slug] = Technique(module=_module_name(path), source_file=str(path), **fields)
        _CACHE = dict(sorted(found.items()))
    return _CACHE


def families() -> list:
    return sorted({t.family for t in entries().values()})


class UnknownTechniqueError(KeyError):
    def __str__(self):
        return str(self.args[0])


def get(slug: str) -> Technique:
    """The entry for `slug`; an unknown slug raises UnknownTechniqueError naming the closest matches."""
    table = entries()
    if slug in table:
        return table[slug]
    close = difflib.get_close_matches(slug, list(table), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(table) or '(none)'}"
    raise UnknownTechniqueError(f"unknown technique {slug!r}{hint} (see `refimpl list`)")


CARD_MARKER = (
    "<!-- card: generated from CATALOG_ENTRY by tools/sync_cards.py; edit the entry, not this cell -->"
)


def card_markdown(t: Technique) -> str:
    """The paper card as Markdown: the first cell of the technique's notebook (kept equal by a test)."""
    eqs = "\n".join(f"- `{e}`" for e in t.equations)
    return (
        f"# {t.title}\n\n"
        f"**{t.authors}** ({t.year}) · [arXiv:{t.arxiv}]({t.arxiv_url}) · family `{t.family}` · "
        f"`refimpl run {t.slug}`\n\n"
        f"{t.summary}\n\n"
        f"**Key equations**\n\n{eqs}\n\n"
        f"**Verified: {t.verified}.** {t.verification_note}\n\n"
        f"{CARD_MARKER}"
    )


def _verdict_summary(t: Technique) -> str:
    """'2 holds · 1 fails' from the technique's recorded full result ('not recorded' without one)."""
    from .experiments import recorded

    r = recorded(t.slug)
    if r is None:
        return "not recorded"
    counts: dict = {}
    for c in r.claims:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    return " · ".join(f"{n} {v}" for v, n in counts.items())


def markdown_table() -> str:
    """The README's catalogue table (kept true by a test; regenerate with tools/update_readme.py).
    `verdicts` counts the claims' verdicts in the recorded full result (techniques on the harness)."""
    lines = ["| slug | paper | family | verified | verdicts | notebook |", "|---|---|---|---|---|---|"]
    for t in entries().values():
        title = t.title.replace("|", "\\|")
        lines.append(
            f"| `{t.slug}` | [{title}]({t.arxiv_url}) ({t.year}) | {t.family} | {t.verified} | "
            f"{_verdict_summary(t)} | [notebook]({t.notebook}) |"
        )
    return "\n".join(lines)
