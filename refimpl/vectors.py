"""Export a technique's reference cases for cross-checking another framework.

Keys are `<case>/inputs/<name>` and `<case>/expected/<name>`; non-array inputs (strings, None) and each
case's tolerances, note and conventions (rounding rule, saturation...: a dict of strings) go into the
metadata.  Three formats:
- safetensors: written directly (8-byte header length, JSON header, raw little-endian bytes) so no
  extra package is needed to write; `safetensors.numpy.load_file` or `safetensors.torch.load_file` read it;
- npz: the arrays plus a `__metadata__` 0-d string array (JSON), loadable with allow_pickle=False;
- json: everything as nested lists.

Reading them back and checking a function against them needs no refimpl internals:
`load(path)` returns the cases (inputs, expected outputs, tolerances, parameters), and
`check(fn, path_or_slug)` calls a user's function on every case and reports pass/fail with the largest
error and where; `pytest_cases(path_or_slug)` parametrizes a user's test over the cases.  Writes are
atomic: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import tempfile

import numpy as np

__all__ = [
    "case_arrays",
    "write_vectors",
    "FORMATS",
    "load",
    "check",
    "CaseResult",
    "pytest_cases",
    "format_of",
    "cases_of",
]

FORMATS = ("safetensors", "npz", "json")
_ST_DTYPES = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
    "uint16": "U16",
    "uint32": "U32",
    "uint64": "U64",
}


def _as_array(value):
    value = getattr(value, "data", value)
    if isinstance(value, (str, type(None))):
        return None
    arr = np.asarray(value)
    return arr if arr.dtype.kind in "fiub" else None


def _ragged(value):
    """A list or tuple of numeric arrays that differ in shape (one gradient per parameter tensor, say) as a list
    of arrays, stored under `name/0`, `name/1`, …; None for anything else."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    try:
        arrs = [np.asarray(getattr(v, "data", v)) for v in value]
    except ValueError:
        return None
    if any(a.dtype.kind not in "fiub" for a in arrs) or len({a.shape for a in arrs}) < 2:
        return None
    return arrs


def _plain(value, where: str):
    """A non-array case value as plain JSON (strings, numbers, booleans, None, lists and dicts of them);
    anything else is an error, never a Python repr a stranger's parser cannot read."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where) for k, v in value.items()}
    raise TypeError(f"vectors: {where} is a {type(value).__name__}, which has no plain JSON form")


def case_arrays(slug: str, cases) -> tuple[dict, dict]:
    """(arrays, metadata) for a list of ReferenceCase."""
    from . import __version__

    arrays, meta = {}, {"slug": slug, "refimpl_version": __version__, "cases": {}}
    for case in cases:
        info = {
            "note": case.note,
            "function": getattr(case, "function", ""),
            "atol": case.atol,
            "rtol": case.rtol,
            "atol_float32": getattr(case, "atol32", None),
            "rtol_float32": getattr(case, "rtol32", None),
            "conventions": dict(getattr(case, "conventions", None) or {}),
            "params": {},
        }
        for part in ("inputs", "expected"):
            for name, value in getattr(case, part).items():
                parts = _ragged(value)
                if parts is not None:
                    for i, a in enumerate(parts):
                        arrays[f"{case.name}/{part}/{name}/{i}"] = np.require(a, requirements="C")
                    info.setdefault("sequences", {})[f"{part}/{name}"] = len(parts)
                    continue
                arr = _as_array(value)
                if arr is None:
                    info["params"][name] = _plain(value, f"{slug}/{case.name}/{part}/{name}")
                else:
                    arrays[f"{case.name}/{part}/{name}"] = np.require(
                        arr, requirements="C"
                    )  # (0-d stays 0-d)
        meta["cases"][case.name] = info
    return arrays, meta


def _write_safetensors(path, arrays: dict, meta: dict) -> None:
    header, offset, blobs = {}, 0, []
    for key, arr in arrays.items():
        if arr.dtype.name not in _ST_DTYPES:
            raise TypeError(f"safetensors cannot hold dtype {arr.dtype} (key {key!r})")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[key] = {
            "dtype": _ST_DTYPES[arr.dtype.name],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"refimpl": json.dumps(meta)}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # align the data section to 8 bytes
    with _atomic(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


class _atomic:
    """open(path, mode) into a temporary file beside `path`, renamed over it only when the block succeeds:
    an interrupted or failed write (a full disk) leaves no partial file."""

    def __init__(self, path, mode):
        self.path, self.mode = os.fspath(path), mode

    def __enter__(self):
        folder = os.path.dirname(self.path) or "."
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(self.path))
        self.f = os.fdopen(fd, self.mode, **({} if "b" in self.mode else {"encoding": "utf-8"}))
        return self.f

    def __exit__(self, exc_type, exc, tb):
        self.f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return False


def atomic_write_text(path, text: str) -> None:
    """Write `text` to `path` atomically (see `_atomic`)."""
    with _atomic(path, "w") as f:
        f.write(text)


def format_of(path) -> str | None:
    """The format a file name's suffix names ('safetensors', 'npz', 'json'), or None."""
    ext = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    return ext if ext in FORMATS else None


def write_vectors(path, slug: str, cases, fmt: str = "safetensors") -> str:
    """Write `cases` of technique `slug` to `path` in format `fmt` (atomically); returns the path.
    A suffix that names another format is an error (`x.npz` with fmt="json")."""
    if fmt not in FORMATS:
        raise ValueError(f"vectors: `format` must be one of {FORMATS}, got {fmt!r}")
    named = format_of(path)
    if named is not None and named != fmt:
        raise ValueError(f"vectors: the file name {os.fspath(path)!r} says {named} but the format is {fmt}")
    arrays, meta = case_arrays(slug, cases)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if fmt == "safetensors":
        _write_safetensors(path, arrays, meta)
    elif fmt == "npz":
        with _atomic(path, "wb") as f:
            np.savez(f, __metadata__=np.array(json.dumps(meta)), **arrays)
    else:
        doc = {
            "metadata": meta,
            "arrays": {
                k: {"dtype": v.dtype.name, "shape": list(v.shape), "data": v.tolist()}
                for k, v in arrays.items()
            },
        }
        atomic_write_text(path, json.dumps(doc))
    return path


# --- reading and checking ------------------------------------------------------------------------------
_ST_NUMPY = {v: k for k, v in _ST_DTYPES.items()}


def _read_safetensors(path) -> tuple[dict, dict]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = json.loads(header.pop("__metadata__")["refimpl"])
    arrays = {}
    for key, info in header.items():
        a, b = info["data_offsets"]
        dtype = np.dtype(_ST_NUMPY[info["dtype"]]).newbyteorder("<")
        arrays[key] = (
            np.frombuffer(data[a:b], dtype=dtype).reshape(info["shape"]).astype(dtype.newbyteorder("="))
        )
    return arrays, meta


def _read(path) -> tuple[dict, dict]:
    fmt = format_of(path)
    if fmt == "safetensors":
        return _read_safetensors(path)
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "__metadata__"}
            meta = json.loads(str(z["__metadata__"]))
        return arrays, meta
    if fmt == "json":
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        arrays = {
            k: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in doc["arrays"].items()
        }
        return arrays, doc["metadata"]
    raise ValueError(
        f"vectors: cannot tell the format of {os.fspath(path)!r} (expected .safetensors, .npz or .json)"
    )


def cases_of(name: str) -> tuple[str, list]:
    """(name, reference cases) of a technique's slug or of a building block (`refimpl.building_blocks`)."""
    from .building_blocks import BLOCKS
    from .catalog import get

    if name in BLOCKS:
        return name, BLOCKS[name]()
    t = get(name)
    return t.slug, t.reference_cases()


def load(path_or_slug) -> dict:
    """The cases of a vectors file (or, given a slug, of that technique, computed in memory):
    {case: {"inputs": {name: array or value}, "expected": {name: array}, "atol", "rtol", "function",
    "conventions", "note"}}."""
    if not os.path.exists(os.fspath(path_or_slug)) and format_of(path_or_slug) is None:
        name, cases = cases_of(str(path_or_slug))
        arrays, meta = case_arrays(name, cases)
    else:
        arrays, meta = _read(path_or_slug)
    cases = {}
    for name, info in meta["cases"].items():
        case = {
            "inputs": {},
            "expected": {},
            "atol": info["atol"],
            "rtol": info["rtol"],
            "atol_float32": info.get("atol_float32"),
            "rtol_float32": info.get("rtol_float32"),
            "function": info.get("function", ""),
            "conventions": dict(info.get("conventions") or {}),
            "note": info["note"],
        }
        for key, arr in arrays.items():
            c, part, field = key.split("/", 2)
            if c == name and "/" not in field:
                case[part][field] = arr
        for where, count in (info.get("sequences") or {}).items():  # a list of arrays of different shapes
            part, field = where.split("/", 1)
            case[part][field] = [arrays[f"{name}/{part}/{field}/{i}"] for i in range(count)]
        case["inputs"].update(info.get("params", {}))
        cases[name] = case
    return cases


@dataclasses.dataclass
class CaseResult:
    """One case checked: `passed`, and where it failed the output, max abs/rel error and the index."""

    case: str
    passed: bool
    message: str = ""

    def __str__(self):
        return f"{'PASS' if self.passed else 'FAIL'} {self.case}" + (
            f": {self.message}" if self.message else ""
        )


def _to_numpy(x):
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu().numpy()
    return np.asarray(getattr(x, "data", x))


def check(
    fn, path_or_slug, adapter=None, atol=None, rtol=None, cases=None, float32=False
) -> list[CaseResult]:
    """Call `fn` on every case and compare with the expected outputs.

    By default `fn(**inputs)` must return a dict with the expected keys (or, for a case with one expected
    output, that array); `adapter(fn, inputs) -> outputs` changes how it is called (convert to torch
    tensors, rename arguments...).  Outputs may be NumPy, PyTorch or JAX arrays.  `float32=True` uses the
    cases' float32 tolerances (an implementation computing in float32); `atol`/`rtol` override the
    tolerances outright; `cases` limits the check
    to these case names (a file may exercise several functions)."""
    results = []
    table = load(path_or_slug)
    unknown = sorted(set(cases or ()) - set(table))
    if unknown:
        raise KeyError(f"vectors.check: no case named {unknown}; cases: {list(table)}")
    for name, case in table.items():
        if cases is not None and name not in cases:
            continue
        try:
            out = adapter(fn, dict(case["inputs"])) if adapter is not None else fn(**case["inputs"])
        except Exception as e:  # a crash is a failure of that case, reported with its cause
            results.append(CaseResult(name, False, f"raised {type(e).__name__}: {e}"))
            continue
        if not isinstance(out, dict):
            if len(case["expected"]) != 1:
                results.append(
                    CaseResult(name, False, f"returned one value; expected keys {list(case['expected'])}")
                )
                continue
            out = {next(iter(case["expected"])): out}
        problems = []
        for key, want in case["expected"].items():
            if key not in out:
                problems.append(f"no output {key!r}")
                continue
            got = _to_numpy(out[key]).astype(np.float64)
            want = np.asarray(want, dtype=np.float64)
            if got.shape != want.shape:
                problems.append(f"{key!r} has shape {got.shape}, expected {want.shape}")
                continue
            loose = float32 and case.get("atol_float32") is not None
            a = atol if atol is not None else case["atol_float32"] if loose else case["atol"]
            r = rtol if rtol is not None else case["rtol_float32"] if loose else case["rtol"]
            err = np.abs(got - want)
            bad = ~(err <= a + r * np.abs(want))
            if bad.any():
                idx = (
                    tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
                    if err.ndim
                    else ()
                )
                nonzero = np.abs(want) > 0
                rel = float((err[nonzero] / np.abs(want[nonzero])).max()) if nonzero.any() else float("inf")
                problems.append(
                    f"{key!r} off by max abs {err.max():.3e} (rel {rel:.3e}) at {idx}: "
                    f"got {float(got[idx])!r}, expected {float(want[idx])!r}"
                )
        results.append(CaseResult(name, not problems, "; ".join(problems)))
    return results


def pytest_cases(path_or_slug):
    """`@pytest.mark.parametrize("case", pytest_cases("gbn.safetensors"), ids=lambda c: c["name"])`:
    each item is a case dict (see `load`) with its "name"."""
    return [{"name": name, **case} for name, case in load(path_or_slug).items()]
