"""The catalogue reader, the `refimpl` command and the reference-vector export."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from refimpl import catalog, cli
from refimpl.vectors import write_vectors

SLUG = "ghost-batchnorm"


def test_entries_are_found_without_importing_technique_modules():
    code = (
        "import sys, refimpl.catalog as c; e = c.entries(); "
        "assert e; assert not any(m.startswith('refimpl.techniques.') and m.count('.') > 2 for m in sys.modules), "
        "[m for m in sys.modules if m.startswith('refimpl.techniques')]; "
        "assert 'matplotlib' not in sys.modules and 'numba' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_refimpl_is_light():
    code = "import sys, refimpl; bad = [m for m in ('matplotlib', 'numba', 'scipy', 'torch') if m in sys.modules]; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_slug_suggests_close_matches(capsys):
    with pytest.raises(catalog.UnknownTechniqueError, match="ghost-batchnorm"):
        catalog.get("ghost-batchnrom")
    assert cli.main(["show", "ghost-batchnrom"]) == 2
    assert "did you mean ghost-batchnorm" in capsys.readouterr().err


def test_list_and_show(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert SLUG in out and "verified" in out
    assert cli.main(["list", "--family", "no-such-family"]) == 2
    assert cli.main(["show", SLUG]) == 0
    out = capsys.readouterr().out
    assert "arxiv.org/abs/1705.08741" in out and "Verified:" in out


def test_help_everywhere():
    for args in ([], ["list"], ["show"], ["run"], ["vectors"]):
        r = subprocess.run(
            [sys.executable, "-m", "refimpl.cli", *args, "--help"], capture_output=True, text=True
        )
        assert r.returncode == 0 and "usage:" in r.stdout


def test_format_table():
    text = cli.format_table([{"a": 1, "b": 0.123456}, {"a": 22, "b": "x"}])
    lines = text.splitlines()
    assert (
        lines[0].split() == ["a", "b"]
        and lines[2].split() == ["1", "0.1235"]
        and lines[3].split() == ["22", "x"]
    )


def _cases():
    return [
        catalog.ReferenceCase(
            "c1",
            {"x": np.arange(6.0).reshape(2, 3), "mode": "sym", "k": 3},
            {"y": np.array([1, 2], dtype=np.int64)},
            lambda **kw: {},
            note="n",
            atol=1e-9,
        )
    ]


def test_vectors_safetensors_layout_by_hand(tmp_path):
    path = write_vectors(tmp_path / "v.safetensors", "demo", _cases(), "safetensors")
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header.pop("__metadata__")["refimpl"])
    assert meta["cases"]["c1"]["params"] == {"mode": "sym"} and meta["cases"]["c1"]["atol"] == 1e-9
    x = header["c1/inputs/x"]
    assert x["dtype"] == "F64" and x["shape"] == [2, 3]
    a, b = x["data_offsets"]
    np.testing.assert_array_equal(
        np.frombuffer(raw[8 + n + a : 8 + n + b], "<f8").reshape(2, 3), np.arange(6.0).reshape(2, 3)
    )
    assert header["c1/inputs/k"]["dtype"] == "I64"


def test_vectors_readable_by_safetensors_and_npz_and_json(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    p = write_vectors(tmp_path / "v.safetensors", "demo", _cases(), "safetensors")
    loaded = st.load_file(p)
    np.testing.assert_array_equal(loaded["c1/expected/y"], [1, 2])
    p = write_vectors(tmp_path / "v.npz", "demo", _cases(), "npz")
    with np.load(p, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["c1/inputs/x"], np.arange(6.0).reshape(2, 3))
        assert json.loads(str(f["__metadata__"]))["slug"] == "demo"
    p = write_vectors(tmp_path / "v.json", "demo", _cases(), "json")
    doc = json.load(open(p))
    assert doc["arrays"]["c1/expected/y"]["data"] == [1, 2]


def test_cli_vectors_all_writes_index(tmp_path, capsys):
    assert cli.main(["vectors", "--all", "--out", str(tmp_path), "--format", "npz"]) == 0
    index = json.load(open(tmp_path / "index.json"))
    from refimpl.building_blocks import BLOCKS

    assert set(index) == set(catalog.entries()) | set(BLOCKS)
    for info in index.values():
        assert (tmp_path / info["file"]).is_file()


def test_cli_run_quick_writes_table_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert cli.main(["run", SLUG, "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test_acc" in out and ("claim:" in out or "premise" in out)  # demo module or package layout
    assert any((tmp_path / SLUG / f).is_file() for f in ("metrics.json", "result.json"))
    assert list((tmp_path / SLUG).glob("*.png"))


def test_cli_run_saves_a_single_figure_under_the_slug(tmp_path, capsys, monkeypatch):
    """A `plot(result)` that returns one Figure (not a dict of them) is saved under the technique's slug."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    slug = "dpp-weighted-least-squares"
    import matplotlib.figure

    t = catalog.get(slug)
    assert isinstance(t.plot(t.experiment.run(quick=True, progress=False)), matplotlib.figure.Figure)
    assert cli.main(["run", slug, "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    assert (tmp_path / slug / f"{slug}.png").is_file()


# --- vectors: read back, check, honest paths ---------------------------------------------------------------
GMP = "global-magnitude-pruning"


def _gmp_fn(l1, l2, sparsity, min_keep=0):
    from refimpl.techniques.sparsity_pruning.global_magnitude_pruning import global_magnitude_masks

    m = global_magnitude_masks([l1, l2], float(sparsity), min_keep=int(min_keep))
    return {"mask_l1": m[0], "mask_l2": m[1]}


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "json"])
def test_vectors_load_and_check_round_trip(tmp_path, fmt):
    from refimpl.vectors import check, load

    path = write_vectors(tmp_path / f"g.{fmt}", GMP, catalog.get(GMP).reference_cases(), fmt)
    cases = load(path)
    assert cases["global_60pct_collapses_l2"]["inputs"]["sparsity"].shape == ()  # 0-d stays 0-d
    names = ["global_60pct_collapses_l2", "global_60pct_mt1_keeps_l2"]
    assert all(r.passed for r in check(_gmp_fn, path, cases=names))
    wrong = check(
        lambda l1, l2, sparsity, min_keep: {"mask_l1": l1 * 0 + 1, "mask_l2": l2 * 0 + 1},
        path,
        cases=names[:1],
    )
    assert not wrong[0].passed and "'mask_l1' off by max abs 1.000e+00" in wrong[0].message
    crash = check(lambda **kw: 1 / 0, path, cases=names[:1])
    assert not crash[0].passed and "ZeroDivisionError" in crash[0].message


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "json"])
def test_conventions_round_trip_through_every_format(tmp_path, fmt):
    from refimpl.building_blocks import block_cases
    from refimpl.vectors import format_of, load

    conv = {"rounding": "divide: round(x/s), half to even", "saturation": "clamp to ±max"}
    cases = _cases() + [
        catalog.ReferenceCase(
            "c2", {"x": np.ones(2)}, {"y": np.ones(2)}, lambda x: {"y": x}, conventions=conv
        )
    ]
    path = write_vectors(tmp_path / f"v.{fmt}", "demo", cases, fmt)
    assert format_of(path) == fmt
    loaded = load(path)
    assert loaded["c2"]["conventions"] == conv and loaded["c1"]["conventions"] == {}
    if fmt == "json":  # plain JSON in the file: a dict of strings, no Python repr
        assert json.load(open(path))["metadata"]["cases"]["c2"]["conventions"] == conv
    fq = load(write_vectors(tmp_path / f"fq.{fmt}", "fake-quant", block_cases("fake-quant"), fmt))
    assert fq["per_tensor_symmetric_4bit_clipped_by_hand"]["conventions"]["saturation"] == (
        "codes clamped to [-8, 7]"
    )


def test_conventions_must_be_strings():
    with pytest.raises(TypeError, match="dict of str"):
        catalog.ReferenceCase("c", {}, {}, lambda: {}, conventions={"bits": 4})


def test_vectors_paths_are_honest(tmp_path, capsys):
    assert cli.main(["vectors", GMP, "--out", str(tmp_path / "x.npz")]) == 2  # suffix contradicts --format
    assert "says npz" in capsys.readouterr().err
    assert cli.main(["vectors", GMP, "--all"]) == 2
    assert cli.main(["vectors", GMP, "--out", str(tmp_path), "--format", "json"]) == 0  # into the folder
    assert (tmp_path / f"{GMP}.json").is_file()
    assert not list(tmp_path.glob(".tmp-*")), "atomic writes leave no temporary file"


def test_vectors_check_from_the_command_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.py").write_text(
        "from refimpl.techniques.sparsity_pruning.global_magnitude_pruning import global_magnitude_masks\n"
        "def masks(l1, l2, sparsity, min_keep=0):\n"
        "    m = global_magnitude_masks([l1, l2], float(sparsity), min_keep=int(min_keep))\n"
        "    return {'mask_l1': m[0], 'mask_l2': m[1]}\n"
    )
    monkeypatch.chdir(tmp_path)
    ok = ["vectors", GMP, "--check", "mine:masks", "--cases", "global_60pct_collapses_l2", "uniform_40pct"]
    assert cli.main(ok[:-1]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert cli.main(ok[:4]) == 1  # official_mt_procedure calls another function: reported, not crashed
    assert "FAIL official_mt_procedure" in capsys.readouterr().out
    assert cli.main(["vectors", GMP, "--check", "nomodule"]) == 2


def test_cli_user_mistakes_give_one_line_not_a_traceback(tmp_path):
    def run(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "refimpl.cli", *args], capture_output=True, text=True)

    r = run("run", GMP, "--seeds", "-1")
    assert r.returncode == 2 and "seed is a whole number" in r.stderr and "Traceback" not in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run("run", GMP, "--quick", "--out", str(blocker / "sub"))
    assert r.returncode == 2 and "cannot write to --out" in r.stderr and "Traceback" not in r.stderr
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("refimpl ")


@pytest.mark.parametrize(
    "slug", ["lrp-pruning", "weight-balancing-longtail", "lion-constrained", "robust-weight-perturbation"]
)
def test_show_fits_a_60_column_terminal(slug):
    """Slugs with equations of 90-150 characters: every line fits, and no word of an equation is lost."""
    import os

    env = {**os.environ, "COLUMNS": "60"}
    r = subprocess.run(
        [sys.executable, "-m", "refimpl.cli", "show", slug], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    too_long = [line for line in lines if len(line) > 60]
    assert not too_long, too_long
    t = catalog.get(slug)
    assert max(len(e) for e in t.equations) > 80  # the slug still exercises the wrapping
    block = lines[lines.index("Key equations:") + 1 :]
    block = block[: block.index("")]
    assert " ".join(" ".join(block).split()) == " ".join(" ".join(t.equations).split())
    starts = [line for line in block if not line.startswith("   ")]  # hanging indent marks continuations
    assert len(starts) == len(t.equations) < len(block)


def test_cli_closed_pipe_is_quiet(monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", ClosedPipe())  # `refimpl list | head -0`: the reader is gone
    assert cli.main(["list"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_cli_run_writes_svg_plots_for_slides(tmp_path, capsys):
    assert (
        cli.main(["run", GMP, "--quick", "--no-progress", "--out", str(tmp_path), "--plot-format", "svg"])
        == 0
    )
    svg = tmp_path / GMP / f"{GMP}.svg"
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert (tmp_path / GMP / "result.json").is_file()


def test_library_code_prints_progress_to_stderr_only():
    """stdout belongs to the result (tables a user may pipe); progress and chatter go to stderr."""
    import ast
    from pathlib import Path

    offenders = []
    for path in sorted((Path(__file__).resolve().parents[1] / "refimpl").rglob("*.py")):
        if path.name == "cli.py":  # the command's own output is its stdout
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                if not any(k.arg == "file" for k in node.keywords):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"print() to stdout in library code: {offenders}"


# --- interruptions, full disks, the pytest helper ------------------------------------------------------------
def test_ctrl_c_during_a_run_is_one_line_and_exit_code_130(tmp_path):
    import os
    import signal

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "refimpl.cli", "run", GMP, "--no-progress", "--out", str(tmp_path)]
    # a shell's background job starts with SIGINT ignored, and the child would inherit that: restore the default
    # so that Python installs its KeyboardInterrupt handler (the case of a user's terminal)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = proc.stdout.readline()  # "running … (full run)": the experiment has started
        assert first.startswith("running "), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "refimpl: interrupted" in err and "Traceback" not in err, err
    assert not (tmp_path / GMP / "result.json").exists(), "an interrupted run writes no result"


def _disk_full_after(monkeypatch, n_writes):
    """Patch the atomic writer so that the (n_writes + 1)-th file fails half-way, as on a full disk."""
    import errno

    from refimpl import vectors

    real_enter, count = vectors._atomic.__enter__, {"n": 0}

    def enter(self):
        f = real_enter(self)
        count["n"] += 1
        if count["n"] > n_writes:
            real_write = f.write

            def write(data):
                real_write(data[: max(1, len(data) // 2)])
                raise OSError(errno.ENOSPC, "No space left on device", self.path)

            f.write = write
        return f

    monkeypatch.setattr(vectors._atomic, "__enter__", enter)


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "json"])
def test_a_full_disk_leaves_no_partial_vectors_file(tmp_path, monkeypatch, fmt):
    _disk_full_after(monkeypatch, 0)
    with pytest.raises(OSError, match="No space left"):
        write_vectors(tmp_path / f"g.{fmt}", GMP, catalog.get(GMP).reference_cases(), fmt)
    assert list(tmp_path.iterdir()) == [], "neither the file nor its temporary remains"


def test_a_full_disk_during_vectors_all_leaves_no_index_and_no_traceback(tmp_path, monkeypatch, capsys):
    _disk_full_after(monkeypatch, 2)  # two files fit, the third does not
    assert cli.main(["vectors", "--all", "--out", str(tmp_path), "--format", "npz"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and "index.json" not in files, files  # whole files only, and no index


def test_pytest_cases_parametrizes_over_every_case(tmp_path):
    from refimpl.vectors import pytest_cases

    path = write_vectors(tmp_path / "g.npz", GMP, catalog.get(GMP).reference_cases(), "npz")
    items = pytest_cases(path)
    assert [c["name"] for c in items] == [c.name for c in catalog.get(GMP).reference_cases()]
    assert all({"inputs", "expected", "atol", "rtol", "function"} <= set(c) for c in items)
    assert pytest_cases(GMP)[0]["name"] == items[0]["name"]  # a slug works without a file


def test_exported_metadata_is_plain_json_without_python_reprs():
    """No `repr()` of Python objects and no NaN/Infinity in any case's metadata (a stranger's JSON parser
    must read it); every case records the refimpl version."""
    import json as _json

    from refimpl.building_blocks import BLOCKS
    from refimpl.vectors import case_arrays, cases_of

    for name in sorted(set(catalog.entries()) | set(BLOCKS)):
        slug, cases = cases_of(name)
        arrays, meta = case_arrays(slug, cases)
        text = _json.dumps(meta, allow_nan=False)
        assert meta["refimpl_version"] and "object at 0x" not in text, name
        for case, info in meta["cases"].items():
            for key, value in info["params"].items():
                assert _json.loads(_json.dumps(value)) == value, f"{name}/{case}: {key} = {value!r}"


def test_a_case_value_without_a_plain_json_form_is_an_error():
    from refimpl.catalog import ReferenceCase
    from refimpl.vectors import case_arrays

    ok = ReferenceCase(
        "c", {"x": np.ones(2), "mode": "a", "sizes": (3, 4), "opts": {"k": 1}}, {"y": np.ones(2)}, None
    )
    _, meta = case_arrays("s", [ok])
    assert meta["cases"]["c"]["params"] == {"mode": "a", "opts": {"k": 1}}  # (3, 4) is an int array
    bad = ReferenceCase("c", {"x": np.ones(2), "f": object()}, {"y": np.ones(2)}, None)
    with pytest.raises(TypeError, match="s/c/inputs/f"):
        case_arrays("s", [bad])


def test_show_names_a_selection_at_a_grid_edge_and_at_a_declared_limit(capsys):
    from refimpl.experiments import recorded

    slug = "rsq"  # GPTQ on the outlier attention chose damping 0.3, the top of its grid (documented)
    edges = recorded(slug).grid_edges()
    assert any(line.startswith("GPTQ@outlier-attn: percdamp = 0.3 is the highest") for line in edges)
    assert cli.main(["show", slug]) == 0
    assert "Grid edge: GPTQ@outlier-attn: percdamp = 0.3" in " ".join(capsys.readouterr().out.split())
    slug = "ipm-covariate-balancing"  # linear balancing chose λ = 100: declared, weights tend to uniform
    assert recorded(slug).grid_edges() == []
    assert cli.main(["show", slug]) == 0
    out = " ".join(capsys.readouterr().out.split())  # (show wraps lines to the terminal's width)
    assert "At a natural limit: linear balancing: lam = 100" in out and "the naive estimator" in out


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "json"])
def test_vectors_round_trip_a_list_of_arrays_of_different_shapes(tmp_path, fmt):
    """One input per parameter tensor (a list of arrays of different shapes) is stored as name/0, name/1, … and
    read back as the same list."""
    from refimpl import vectors

    path = tmp_path / f"ripple.{fmt}"
    assert cli.main(["vectors", "ripple-weight-poisoning", "--out", str(path), "--format", fmt]) == 0
    case = vectors.load(path)["restricted_inner_product_active"]
    got = case["inputs"]["g_p"]
    assert isinstance(got, list) and [a.shape for a in got] == [(2,), (1, 1)]
    np.testing.assert_array_equal(got[1], [[0.5]])
