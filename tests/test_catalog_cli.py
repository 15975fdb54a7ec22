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
    assert set(index) == set(catalog.entries())
    for info in index.values():
        assert (tmp_path / info["file"]).is_file()


def test_cli_run_quick_writes_table_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert cli.main(["run", SLUG, "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test_acc" in out and "claim:" in out
    assert (tmp_path / SLUG / "metrics.json").is_file()
    assert list((tmp_path / SLUG).glob("*.png"))
