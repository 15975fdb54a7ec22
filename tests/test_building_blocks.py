"""The building-block reference cases: they pass, name their function, and a user's PyTorch LoRA/DoRA is
checked against them (a wrong one is rejected)."""

import importlib

import numpy as np
import pytest

from refimpl import cli, vectors
from refimpl.building_blocks import BLOCKS, block_cases


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_cases_pass_and_name_their_function(name):
    cases = block_cases(name)
    assert cases and len({c.name for c in cases}) == len(cases)
    for case in cases:
        assert case.note
        module, _, attr = case.function.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr))
        case.check()


def test_unknown_block_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown building block 'lorax'; known: lora, dora"):
        block_cases("lorax")


def test_cli_exports_a_block(tmp_path, capsys):
    assert cli.main(["vectors", "dora", "--out", str(tmp_path), "--format", "npz"]) == 0
    assert (tmp_path / "dora.npz").is_file()
    cases = vectors.load(tmp_path / "dora.npz")
    assert "dora_layer_and_gradients_random" in cases


def test_a_pytorch_dora_is_checked_and_a_wrong_one_rejected():
    torch = pytest.importorskip("torch")

    def torch_dora(W, A, B, magnitude, alpha, r, x=None, G=None, detach=True):
        W, A, B, m = (torch.tensor(np.asarray(a, dtype=np.float64)) for a in (W, A, B, magnitude))
        A.requires_grad_(True), B.requires_grad_(True), m.requires_grad_(True)
        V = W + (alpha / r) * B @ A
        n = torch.linalg.norm(V, dim=1, keepdim=True)
        Wp = (m[:, None] / (n.detach() if detach else n)) * V
        out = {"weight": Wp.detach().numpy()}
        if x is not None:
            y = torch.tensor(np.asarray(x)) @ Wp.T
            (y * torch.tensor(np.asarray(G))).sum().backward()
            out.update(
                y=y.detach().numpy(),
                grad_A=A.grad.numpy(),
                grad_B=B.grad.numpy(),
                grad_magnitude=m.grad.numpy(),
            )
        return out

    assert all(r.passed for r in vectors.check(torch_dora, "dora"))
    wrong = vectors.check(lambda **kw: torch_dora(**kw, detach=False), "dora")
    assert [r.passed for r in wrong] == [True, False]  # same forward, different gradients
    assert "grad_" in wrong[1].message
