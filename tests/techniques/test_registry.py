"""Contract tests every catalogue entry must pass (driven by the registry, not by a hand list)."""

import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

from refimpl import catalog

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = catalog.entries()
SLUGS = sorted(ENTRIES)


def test_registry_is_not_empty_and_slugs_are_kebab_case():
    assert SLUGS, "no technique registered"
    for slug in SLUGS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug), slug


@pytest.mark.parametrize("slug", SLUGS)
def test_metadata_complete(slug):
    t = ENTRIES[slug]
    assert t.title and t.authors and t.summary and t.verification_note
    assert 1950 < int(t.year) <= 2026
    assert re.fullmatch(r"\d{4}\.\d{4,5}", t.arxiv), f"arXiv id {t.arxiv!r}"
    assert t.verified in catalog.VERIFIED_LEVELS
    assert len(t.equations) >= 1
    assert (ROOT / t.notebook).is_file(), f"notebook {t.notebook} is missing"
    assert t.notebook == f"notebooks/{t.family}/{slug}.ipynb"
    assert Path(t.source_file).name == "__init__.py", "a technique is a package"
    assert Path(t.source_file).parent.parent.name == t.family.replace("-", "_")
    mod = t.load()  # the card is CATALOG_ENTRY alone; the experiment and cases sit beside the method
    assert callable(t.experiment.run) and callable(t.reference_cases)
    assert not hasattr(mod, "demo") and not hasattr(mod, "run"), "the method module holds no experiment"


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_cases_pass(slug):
    cases = ENTRIES[slug].reference_cases()
    assert cases, "at least one reference case"
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    for case in cases:
        assert case.note, f"{case.name}: say how the expected values were derived"
        case.check()


@pytest.mark.parametrize("family", catalog.families())
def test_family_declares_its_contract_tests_in_the_one_form(family):
    """tests/techniques/<family>/test_<family>_contract.py declares FAMILY, CONTRACTS and EXEMPT (see
    tests/techniques/contracts.py), covers every technique of the family, and parametrizes its properties
    over the declared contracts."""
    import contracts

    name = family.replace("-", "_")
    path = ROOT / "tests" / "techniques" / name / f"test_{name}_contract.py"
    assert path.is_file(), f"{family}: no contract test file {path.relative_to(ROOT)}"
    spec = importlib.util.spec_from_file_location(f"_contract_form_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert getattr(mod, "FAMILY", None) == family, f"{path.name}: FAMILY must be {family!r}"
    assert isinstance(getattr(mod, "CONTRACTS", None), dict), f"{path.name}: CONTRACTS must be a dict"
    assert isinstance(getattr(mod, "EXEMPT", None), dict), f"{path.name}: EXEMPT must be a dict"
    contracts.check(family, mod.CONTRACTS, mod.EXEMPT)
    keys = set(mod.CONTRACTS)
    properties = [
        test
        for attr, test in vars(mod).items()
        if attr.startswith("test_")
        and any(
            mark.name == "parametrize" and {getattr(v, "id", None) for v in mark.args[1]} & keys
            for mark in getattr(test, "pytestmark", [])
        )
    ]
    assert properties, (
        f"{path.name}: no test is parametrized over contracts.params(FAMILY, CONTRACTS, EXEMPT)"
    )


@pytest.mark.parametrize("slug", [s for s in SLUGS if ENTRIES[s].verified == "reconstructed"])
def test_reconstructed_entries_say_so_in_their_notebook(slug):
    nb = json.loads((ROOT / ENTRIES[slug].notebook).read_text(encoding="utf-8"))
    markdown = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown").lower()
    assert "reconstruct" in markdown, "a reconstructed entry's notebook must say what was assumed"


# --- techniques on the harness (package layout) ---------------------------------------------------------
@pytest.mark.parametrize("slug", SLUGS)
def test_quick_run_is_a_deterministic_smoke_result(slug, quick_result):
    first = quick_result(slug)
    first.validate()
    assert first.quick
    assert first.premises, "a harness experiment measures its premise"
    again = ENTRIES[slug].experiment.run(quick=True, progress=False)
    assert again.table == first.table, "two quick runs with the same seeds differ"
    assert again.selected == first.selected


@pytest.mark.parametrize("slug", SLUGS)
def test_every_reference_case_names_its_function_and_more_than_a_seed(slug):
    """A stranger reading the exported vectors must know what is exercised and with which arguments."""
    for case in ENTRIES[slug].reference_cases():
        assert case.function.startswith("refimpl."), (
            f"{case.name}: name the function exercised (function=...)"
        )
        module, _, name = case.function.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name, None)), f"{case.name}: {case.function}"
        assert set(case.inputs) - {"seed", "rng"}, f"{case.name}: a case whose only input is a seed"


@pytest.mark.parametrize("slug", SLUGS)
def test_recorded_full_result_is_fresh_and_well_formed(slug):
    from refimpl.experiments import freshness, recorded

    state = freshness(slug)
    assert state == "fresh", f"{slug}: recorded result is {state}; run `refimpl record {slug}`"
    r = recorded(slug)
    r.validate()
    assert not r.quick and not r.smoke and len(r.seeds) >= 3
    for method, hp in r.selected.items():  # every tuned choice is one of its grid's validation winners
        scores = [row for row in r.selection if row["method"] == method]
        if scores:
            pick = max if r.maximize else min
            best = pick(scores, key=lambda row: row["score"])
            assert all(hp[k] == best[k] for k in best if k not in ("method", "score")), method


@pytest.mark.parametrize("slug", SLUGS)
def test_notebook_header_is_the_paper_card(slug):
    t = ENTRIES[slug]
    nb = json.loads((ROOT / t.notebook).read_text(encoding="utf-8"))
    first = "".join(nb["cells"][0]["source"])
    assert first == catalog.card_markdown(t), f"{t.notebook}: run `python tools/sync_cards.py`"
    # one card, and no stub left from a template (a second title cell, a placeholder)
    later = ["".join(c["source"]) for c in nb["cells"][1:] if c["cell_type"] == "markdown"]
    stubs = [
        s[:40]
        for s in later
        if s.lstrip().startswith("# ") or "placeholder" in s.lower() or len(s.strip()) < 12  # "(card)", ""
    ]
    assert not stubs, f"{t.notebook}: a second title or placeholder cell after the card: {stubs}"


@pytest.mark.parametrize("slug", SLUGS)
def test_notebook_renders_the_recorded_verdict(slug):
    t = ENTRIES[slug]
    nb = json.loads((ROOT / t.notebook).read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert f'recorded("{slug}")' in code, "the last cells render the recorded full result"


@pytest.mark.parametrize("slug", SLUGS)
def test_notebook_shows_each_figure_once(slug):
    """A cell that ends with a figure object shows it twice in Jupyter (inline backend + the cell's value)."""
    nb = json.loads((ROOT / ENTRIES[slug].notebook).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        lines = "".join(cell["source"]).strip().splitlines()
        if cell["cell_type"] == "code" and lines and "plot(" in lines[-1]:
            assert lines[-1].split("#")[0].rstrip().endswith(";"), f"end the cell with `;`: {lines[-1]!r}"


def test_a_card_in_a_single_module_is_refused(tmp_path, monkeypatch):
    """The single-module form is gone: a CATALOG_ENTRY outside a package is an error that says what to do,
    while a family's shared module (no card) is ignored."""
    family = tmp_path / "some_family"
    (family / "good").mkdir(parents=True)
    (family / "shared.py").write_text("X = 1\n")
    (family / "good" / "__init__.py").write_text("X = 2\n")  # a package without a card: not a technique
    monkeypatch.setattr(catalog, "TECHNIQUES_DIR", tmp_path)
    monkeypatch.setattr(catalog, "_CACHE", None)
    assert catalog.entries() == {}
    (family / "old.py").write_text('CATALOG_ENTRY = {"slug": "old"}\n')
    monkeypatch.setattr(catalog, "_CACHE", None)
    with pytest.raises(ValueError, match="a technique is a package"):
        catalog.entries()
