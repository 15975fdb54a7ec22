"""The `refimpl` command: list, show, run and export the catalogue's techniques.

refimpl list [--family F]
refimpl show SLUG
refimpl run SLUG [--quick] [--seeds N ...] [--seed N] [--out DIR] [--no-progress]
refimpl record [SLUG ...] [--all] [--family F] [--stale]
refimpl vectors SLUG|BLOCK [--out PATH|DIR] [--format safetensors|npz|json] [--check MODULE:FUNCTION [--cases NAME ...]]
refimpl vectors --all [--out DIR] [--format ...]
refimpl book [--full] [--only SLUG ...] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import textwrap
import time

from . import catalog

__all__ = ["main", "format_table"]


def format_table(rows: list, columns=None) -> str:
    """A plain-text table of row dicts (numbers to 4 significant digits)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(str(c).ljust(w) for c, w in zip(columns, widths))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, rule, *body])


def _cmd_list(args) -> int:
    table = catalog.entries()
    rows = [
        {
            "slug": t.slug,
            "family": t.family,
            "verified": t.verified,
            "arXiv": t.arxiv,
            "verdicts": catalog._verdict_summary(t),
            "title": textwrap.shorten(t.title, 60, placeholder="…"),
        }
        for t in table.values()
        if args.family is None or t.family == args.family
    ]
    if args.family is not None and not rows:
        known = ", ".join(catalog.families()) or "(none)"
        print(f"refimpl: no technique in family {args.family!r}; families: {known}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


def _width() -> int:
    return max(40, min(110, shutil.get_terminal_size((100, 24)).columns - 1))


_OPEN, _CLOSE = "([{⟨", ")]}⟩"


def _wrap_formula(text: str, width: int, indent: str = "  ", hang: str = "      ") -> list:
    """Lines of at most `width` characters for one equation (or a label and a path), breaking where the
    meaning survives: first at a wide gap (two or more spaces: the catalogue's separator between
    equations) or a space outside brackets, then inside brackets, then before a `.` or after a `/` of a
    long name; continuation lines get the hanging indent `hang`, deeper than the first line's `indent`."""
    lines, prefix, text = [], indent, text.strip()
    while len(prefix) + len(text) > width:
        room = width - len(prefix)
        spaces, depth = [], 0  # (priority, index of the space)
        for i, ch in enumerate(text[: room + 1]):
            if ch in _OPEN:
                depth += 1
            elif ch in _CLOSE:
                depth = max(depth - 1, 0)
            elif ch == " " and i > 0 and text[i - 1] != " ":
                spaces.append((2 if text[i : i + 2] == "  " else 1 if depth == 0 else 0, i))
        enough = [(p, i) for p, i in spaces if i >= 0.4 * room]  # leave no stub of a line
        in_name = [i + (text[i] == "/") for i in range(1, room) if text[i] in "./" and text[i - 1] != " "]
        if enough:
            best = max(p for p, _ in enough)
            cut = max(i for p, i in enough if p == best)
        elif in_name and in_name[-1] >= 0.4 * room:
            cut = in_name[-1]
        else:
            cut = spaces[-1][1] if spaces else (in_name[-1] if in_name else room)
        lines.append(prefix + text[:cut].rstrip())
        text, prefix = text[cut:].lstrip(), hang
    return lines + [prefix + text]


def _cmd_show(args) -> int:
    t = catalog.get(args.slug)
    width = _width()

    def fill(text, hang="  "):
        return textwrap.fill(text, width, subsequent_indent=hang, break_on_hyphens=False)

    def field(text):
        return "\n".join(_wrap_formula(text, width, indent="", hang="    "))

    eqs = "\n".join(line for e in t.equations for line in _wrap_formula(e, width))
    note = fill(f"Verified: {t.verified} — {t.verification_note}")
    print(
        f"{fill(t.title)}\n{fill(f'{t.authors} ({t.year})')}\n{field(f'arXiv: {t.arxiv}  {t.arxiv_url}')}\n"
        f"{field(f'family: {t.family}   module: {t.module}')}\n{field(f'notebook: {t.notebook}')}\n\n"
        f"{fill(t.summary, '')}\n\nKey equations:\n{eqs}\n\n{note}"
    )
    from .experiments import freshness, recorded

    state, r = freshness(t.slug), recorded(t.slug)
    print(
        "\n"
        + fill(
            f"Recorded full result: {state}" + ("" if r is None else f" (seeds {r.seeds}, {r.seconds:.0f} s)")
        )
    )
    if r is not None and r.environment:
        env = r.environment
        print(
            fill(
                f"Recorded with numpy {env.get('numpy')}, {env.get('blas', 'BLAS unknown')}, on {env.get('cpu')}"
            )
        )
    for line in [] if r is None else r.verdict_lines():
        print(fill(line))
    for line in [] if r is None else r.grid_edges():
        print(fill(f"Grid edge: {line}"))
    for line in [] if r is None else r.declared_limits():
        print(fill(f"At a natural limit: {line}"))
    return 0


def _run_package(t, args, out_dir) -> int:
    """`refimpl run` for a technique on the harness: its Result, printed, saved as result.json, plotted."""
    seeds = args.seeds if args.seeds else None
    print(f"running {t.slug} ({'quick' if args.quick else 'full'} run) — {t.title}")
    result = t.experiment.run(quick=args.quick, seeds=seeds, progress=not args.no_progress)
    result.validate()
    print()
    for p in result.premises:
        iv = p["interval"]
        state = "present" if p["present"] else "ABSENT"
        print(f"premise {state}: {p['statement']} ({p['metric']} of {p['method']} = {iv['mean']:.4g})")
    print("\nselected on the validation split:")
    for m, hp in result.selected.items():
        chosen = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in hp.items())
        print(f"  {m}: {chosen or 'nothing to tune'}")
    print()
    print(format_table(result.summary_rows()))
    print()
    for line in result.verdict_lines():
        print(textwrap.fill(line, 110, subsequent_indent="  "))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "result.json")
    from .vectors import atomic_write_text

    atomic_write_text(path, result.to_json())
    written = []
    if t.plot is not None:
        from .plotting import save

        figures = t.plot(result)
        if not isinstance(figures, dict):  # a single figure is named after the technique
            figures = {t.slug: figures}
        for name, fig in figures.items():
            written.append(save(fig, os.path.join(out_dir, f"{name}.{args.plot_format}"), dpi=args.dpi))
    print(f"\n{result.seconds:.1f} s; wrote {path}")
    for p in written:
        print(f"plot: {p}")
    return 0


def _cmd_record(args) -> int:
    from .experiments import freshness, record, recorded

    table = catalog.entries()
    if args.all or args.family:
        slugs = [s for s, t in table.items() if not args.family or t.family == args.family]
    else:
        slugs = [catalog.get(s).slug for s in args.slugs]
    if not slugs:
        print(
            "refimpl record: give SLUGs, --family F or --all",
            file=sys.stderr,
        )
        return 2
    for slug in slugs:
        if args.stale and freshness(slug) == "fresh":
            print(f"{slug}: fresh, skipped")
            continue
        start = time.perf_counter()
        path = record(slug, progress=not args.no_progress)
        print(f"{slug}: recorded in {time.perf_counter() - start:.0f} s -> {path}")
        for line in recorded(slug).grid_edges():
            print(f"  warning: grid edge — {line}; widen the grid and record again")
    return 0


def _writable_dir(path: str) -> None:
    """Create `path` if needed and prove it writable, before any long computation."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".refimpl-write-test")
        with open(probe, "w") as f:
            f.write("")
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"cannot write to --out {path!r}: {e.strerror or e}") from None


class UserError(Exception):
    """A mistake in the command line: printed as one line, exit status 2, no traceback."""


def _cmd_run(args) -> int:
    t = catalog.get(args.slug)
    _writable_dir(os.path.join(args.out, t.slug))
    return _run_package(t, args, os.path.join(args.out, t.slug))


def _cmd_book(args) -> int:
    from . import book

    t0 = time.perf_counter()
    try:
        home = book.build(args.out, full=args.full, only=args.only, jobs=args.jobs, quiet=not args.verbose)
    except (RuntimeError, ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    print(f"book built in {time.perf_counter() - t0:.0f} s: {home}")
    print(f"serve it: python -m http.server -d {home.parent} 8000  (then open http://localhost:8000)")
    return 0


def _cmd_vectors(args) -> int:
    from .vectors import atomic_write_text, format_of, write_vectors

    ext = args.format
    if args.all:
        if args.slug:
            raise UserError("vectors: give a SLUG or --all, not both")
        if args.check:
            raise UserError("vectors: --check takes one SLUG (or a vectors file), not --all")
        out_dir = args.out or "refimpl-vectors"
        if format_of(out_dir):
            raise UserError(f"vectors --all writes a folder; --out {out_dir!r} looks like a file")
        _writable_dir(out_dir)
        index = {}
        for slug, t in catalog.entries().items():
            path = write_vectors(
                os.path.join(out_dir, f"{slug}.{ext}"), slug, t.reference_cases(), args.format
            )
            index[slug] = {
                "file": os.path.basename(path),
                "title": t.title,
                "arxiv": t.arxiv,
                "family": t.family,
            }
        from .building_blocks import BLOCKS

        for name, make in BLOCKS.items():
            path = write_vectors(os.path.join(out_dir, f"{name}.{ext}"), name, make(), args.format)
            index[name] = {"file": os.path.basename(path), "building_block": True}
        atomic_write_text(os.path.join(out_dir, "index.json"), json.dumps(index, indent=2))  # the index last
        n_blocks = len(BLOCKS)
        print(
            f"wrote {len(index) - n_blocks} techniques' and {n_blocks} building blocks' reference vectors "
            f"and index.json to {out_dir}"
        )
        return 0
    if not args.slug:
        raise UserError("vectors: give a SLUG or --all")
    if args.check:
        return _check_vectors(args)
    from .vectors import cases_of

    name, cases = cases_of(args.slug)
    out = args.out or f"{name}.{ext}"
    if os.path.isdir(out):  # --out DIR writes into the folder
        out = os.path.join(out, f"{name}.{ext}")
    named = format_of(out)
    if named is not None and named != args.format:
        raise UserError(f"vectors: --out {out!r} says {named} but --format is {args.format}")
    path = write_vectors(out, name, cases, args.format)
    print(f"wrote {path}")
    return 0


def _check_vectors(args) -> int:
    """`refimpl vectors SLUG|FILE --check module:function`: call the function on every case."""
    from .vectors import check

    module, _, name = args.check.partition(":")
    if not module or not name:
        raise UserError(f"--check wants MODULE:FUNCTION, got {args.check!r}")
    sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"--check: cannot load {args.check!r}: {e}") from None
    results = check(fn, args.slug, cases=args.cases)
    for r in results:
        print(textwrap.fill(str(r), _width(), subsequent_indent="  "))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="refimpl", description="Reference implementations of deep-learning techniques."
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"refimpl {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="table of techniques", description="List the catalogue.")
    s.add_argument("--family", help="only this family")
    s.set_defaults(fn=_cmd_list)

    s = sub.add_parser(
        "show", help="the paper card of a technique", description="Show a technique's paper card."
    )
    s.add_argument("slug")
    s.set_defaults(fn=_cmd_show)

    s = sub.add_parser(
        "run",
        help="run a technique's toy experiment",
        description="Run the experiment, print its table and verdicts, save plots.",
    )
    s.add_argument("slug")
    s.add_argument(
        "--seeds", type=_seed, nargs="+", help="seeds of an experiment on the harness (default: its own)"
    )
    s.add_argument("--quick", action="store_true", help="the few-second version used by the tests")
    s.add_argument("--out", default="refimpl-out", help="folder for plots and metrics (default: refimpl-out)")
    s.add_argument(
        "--plot-format",
        choices=("png", "svg", "pdf"),
        default="png",
        help="plot file format (svg/pdf for slides)",
    )
    s.add_argument("--dpi", type=_positive_int, default=110, help="resolution of PNG plots (default 110)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(fn=_cmd_run)

    s = sub.add_parser(
        "record",
        help="record full results",
        description="Run full experiments and write refimpl/results/<slug>.json (the tests check freshness).",
    )
    s.add_argument("slugs", nargs="*", metavar="SLUG")
    s.add_argument("--all", action="store_true", help="every technique on the harness")
    s.add_argument("--family", help="every technique of this family on the harness")
    s.add_argument("--stale", action="store_true", help="only results that are missing or stale")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(fn=_cmd_record)

    s = sub.add_parser(
        "vectors", help="export reference cases", description="Write reference cases for cross-checking."
    )
    s.add_argument(
        "slug",
        nargs="?",
        help="a technique's slug, or a building block: lora, dora, fake-quant, fp-cast, magnitude-mask, "
        "lamb-step, lion-step (see refimpl.building_blocks)",
    )
    s.add_argument(
        "--all", action="store_true", help="every technique and building block, into a folder with index.json"
    )
    s.add_argument("--out", help="output file (or folder with --all)")
    s.add_argument(
        "--format", choices=("safetensors", "npz", "json"), default="safetensors", help="file format to write"
    )
    s.add_argument("--check", metavar="MODULE:FUNCTION", help="check this function against the cases instead")
    s.add_argument("--cases", nargs="+", metavar="NAME", help="with --check: only these cases")
    s.set_defaults(fn=_cmd_vectors)

    s = sub.add_parser(
        "book",
        help="build the rendered book (a static site)",
        description="Execute the notebooks (quick mode unless --full; cached) and build the site with Sphinx.",
    )
    s.add_argument(
        "--out", default="build/book", help="build folder; the site is OUT/html (default: build/book)"
    )
    s.add_argument("--full", action="store_true", help="execute the notebooks in full mode (slow)")
    s.add_argument(
        "--only", nargs="+", metavar="SLUG", help="only these techniques (chapters and API always)"
    )
    s.add_argument("--jobs", type=_positive_int, default=2, help="notebooks executed at once (default 2)")
    s.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    s.set_defaults(fn=_cmd_book)
    return p


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number ≥ 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a whole number ≥ 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {value}")
    return value


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (catalog.UnknownTechniqueError, UserError) as e:
        print(f"refimpl: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refimpl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `refimpl show … | head`: the reader left; say nothing more
        try:  # and let Python's exit-time flush of stdout go nowhere instead of raising again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        return 0
    except OSError as e:  # a full disk, a folder without permission: say what and where, no traceback
        print(f"refimpl: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
