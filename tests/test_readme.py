"""README.md stays true: its catalogue table matches the registry and its Quickstart has the three lines."""

import re
from pathlib import Path

from refimpl.catalog import entries, markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart_lines():
    section = README.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_catalogue_table_matches_registry():
    table = README.split("<!-- catalogue:start -->", 1)[1].split("<!-- catalogue:end -->", 1)[0].strip()
    assert table == markdown_table(), "README's catalogue table is stale: run `python tools/update_readme.py`"


def test_quickstart_installs_runs_a_real_technique_and_tests():
    install, run, test = quickstart_lines()
    assert install == 'pip install -e ".[dev]"'
    slug = re.match(r"refimpl run ([a-z0-9-]+)", run).group(1)
    assert slug in entries()
    assert test.startswith("python -m pytest")


def test_ci_runs_the_readme_block():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "## Quickstart" in ci, ".ci/run must take its commands from README's Quickstart block"


def test_readme_says_how_to_make_a_venv_and_open_the_notebooks():
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "python3 -m venv .venv" in quick and "source .venv/bin/activate" in quick
    assert "jupyter lab notebooks/" in quick
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"jupyter[>=<~ ]', pyproject), "the dev extra installs what the README opens"


def test_readme_book_commands_are_real():
    """The book section's commands parse, and its screenshot is in the repository."""
    from refimpl.cli import build_parser

    book = README.split("## The book", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"^(refimpl book.*?)\s+#", book, flags=re.M).group(1)
    args = build_parser().parse_args(command.split()[1:])
    assert args.out == "build/book" and not args.full
    assert f"-d {args.out}/html" in book, "the serve line points at the folder the build writes"
    for flag in re.findall(r"(--[a-z]+)", book.split("refimpl book", 1)[1].splitlines()[0]):
        build_parser().parse_args(["book", flag] + (["dcls"] if flag == "--only" else []))
    image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", book).group(1)
    assert (ROOT / image).is_file(), f"README's screenshot {image} is missing"
