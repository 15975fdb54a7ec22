"""The README's PyTorch example of `refimpl.vectors.check` runs as written, and the checker rejects a
deliberately wrong PyTorch function."""

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from refimpl import catalog
from refimpl.vectors import check, write_vectors

ROOT = Path(__file__).resolve().parents[2]


def _readme_example():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Checking a PyTorch implementation", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_readme_vectors_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md", "exec"), {})
    assert "PASS global_60pct_collapses_l2" in capsys.readouterr().out


def test_checker_rejects_a_wrong_torch_function(tmp_path):
    path = write_vectors(
        tmp_path / "gmp.npz",
        "global-magnitude-pruning",
        catalog.get("global-magnitude-pruning").reference_cases(),
        "npz",
    )

    def keeps_everything(l1, l2, sparsity):  # forgets to prune
        return {"mask_l1": torch.ones_like(l1), "mask_l2": torch.ones_like(l2)}

    as_torch = lambda fn, i: fn(torch.as_tensor(i["l1"]), torch.as_tensor(i["l2"]), i["sparsity"])
    (result,) = check(keeps_everything, path, adapter=as_torch, cases=["global_60pct_collapses_l2"])
    assert not result.passed and "mask_l1" in result.message and "max abs 1.000e+00" in result.message
