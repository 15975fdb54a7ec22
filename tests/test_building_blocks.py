"""The building-block reference cases: they pass, name their function, and a user's PyTorch LoRA/DoRA is
checked against them (a wrong one is rejected)."""

import importlib
import json

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
    with pytest.raises(KeyError, match="unknown building block 'lorax'; known: lora, dora, fake-quant"):
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


def test_block_names_do_not_shadow_a_technique():
    from refimpl import catalog

    assert not set(BLOCKS) & set(catalog.entries()), "`refimpl vectors NAME` must mean one thing"


def test_every_block_case_names_each_argument_and_more_than_a_seed():
    import inspect

    for name in BLOCKS:
        for case in block_cases(name):
            params = inspect.signature(case.compute).parameters
            # every argument that shapes the result is in `inputs`; only optional extra inputs
            # (default None: more outputs, not different ones) may be left out
            shaping = {n for n, p in params.items() if p.default is p.empty or p.default is not None}
            missing = shaping - set(case.inputs)
            assert not missing, f"{name}/{case.name}: {sorted(missing)} hidden in code"
            assert set(case.inputs) - {"seed", "rng"}


def test_cli_exports_and_checks_the_new_blocks_through_subprocess(tmp_path):
    import subprocess
    import sys

    for name in ("fake-quant", "fp-cast", "lion-step"):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "refimpl.cli",
                "vectors",
                name,
                "--out",
                str(tmp_path),
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        cases = vectors.load(tmp_path / f"{name}.json")
        assert cases and all(c["function"].startswith("refimpl.") for c in cases.values())
    fq = vectors.load(tmp_path / "fake-quant.json")["per_channel_affine_2bit_by_hand"]
    assert fq["inputs"]["granularity"] == "channel" and int(fq["inputs"]["bits"]) == 2


def _numpy_fake_quant(clip_mask=True):
    """A user's NumPy fake quantization with a straight-through gradient (clipped or not)."""

    def fn(x, bits, symmetric, granularity, axis, clip_ratio, G):
        x, G = np.asarray(x, dtype=np.float64), np.asarray(G, dtype=np.float64)
        axes = None if granularity == "tensor" else tuple(i for i in range(x.ndim) if i != int(axis))
        lo = np.minimum(x.min(axis=axes, keepdims=True), 0) * clip_ratio
        hi = np.maximum(x.max(axis=axes, keepdims=True), 0) * clip_ratio
        if symmetric:
            qmin, qmax = -(2 ** (int(bits) - 1)), 2 ** (int(bits) - 1) - 1
            s, z = np.maximum(-lo, hi) / qmax, 0.0
        else:
            qmin, qmax = 0, 2 ** int(bits) - 1
            s = (hi - lo) / qmax
            z = np.clip(np.rint(-lo / s), qmin, qmax)
        code = np.rint(x / s) + z
        inside = (code >= qmin) & (code <= qmax) if clip_mask else np.ones_like(x, dtype=bool)
        return {"x_hat": s * (np.clip(code, qmin, qmax) - z), "grad_x": G * inside}

    return fn


def test_fake_quant_vectors_accept_a_clipped_ste_and_reject_a_plain_one():
    assert all(r.passed for r in vectors.check(_numpy_fake_quant(), "fake-quant"))
    wrong = {r.case: r for r in vectors.check(_numpy_fake_quant(clip_mask=False), "fake-quant")}
    assert wrong["per_channel_affine_2bit_by_hand"].passed  # nothing clipped: the two agree
    bad = wrong["per_tensor_symmetric_4bit_clipped_by_hand"]
    assert not bad.passed and "'grad_x' off by" in bad.message


def test_fp_cast_vectors_check_a_pytorch_float8_cast():
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "float8_e4m3fn"):
        pytest.skip("this torch has no float8")

    def torch_e4m3(x, fmt, saturate):
        t = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(torch.float32)
        if saturate:
            t = t.clamp(-448.0, 448.0)  # torch's cast itself saturates; the clamp says so
        f8 = t.to(torch.float8_e4m3fn)
        return {"code": f8.view(torch.uint8).numpy(), "value": f8.to(torch.float64).numpy()}

    cases = ["e4m3fn_saturating_by_hand", "e4m3fn_saturating_random_8x16"]
    assert all(r.passed for r in vectors.check(torch_e4m3, "fp-cast", cases=cases))


@pytest.mark.parametrize("name", ["fake-quant", "fp-cast"])
def test_quantization_blocks_state_rounding_and_saturation(name):
    for case in BLOCKS[name]():
        assert case.conventions.get("rounding") and case.conventions.get("saturation"), case.name
    exported = vectors.load(name)
    assert all(c["conventions"].get("rounding") for c in exported.values())


def test_cli_checks_a_user_fake_quant_and_exports_its_conventions(tmp_path):
    """`refimpl vectors fake-quant --check module:function` through a subprocess, as a user runs it."""
    import inspect
    import subprocess
    import sys
    import textwrap

    src = textwrap.dedent(inspect.getsource(_numpy_fake_quant))
    (tmp_path / "mine.py").write_text(f"import numpy as np\n\n{src}\nfq = _numpy_fake_quant()\n")
    cmd = [sys.executable, "-m", "refimpl.cli", "vectors", "fake-quant"]
    r = subprocess.run([*cmd, "--check", "mine:fq"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "4 passed, 0 failed" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(
        [*cmd, "--out", str(tmp_path / "fq.json"), "--format", "json"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "fq.json").read_text())["metadata"]["cases"]
    conv = meta["per_channel_affine_2bit_by_hand"]["conventions"]
    assert conv["rounding"].startswith("divide") and conv["saturation"] == "codes clamped to [0, 3]"
