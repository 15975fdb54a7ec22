"""Export a technique's reference cases for cross-checking another framework.

Keys are `<case>/inputs/<name>` and `<case>/expected/<name>`; non-array inputs (strings, None) and each
case's tolerances and note go into the metadata.  Three formats:
- safetensors: written directly (8-byte header length, JSON header, raw little-endian bytes) so no
  extra package is needed to write; `safetensors.numpy.load_file` or `safetensors.torch.load_file` read it;
- npz: the arrays plus a `__metadata__` 0-d string array (JSON), loadable with allow_pickle=False;
- json: everything as nested lists.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

__all__ = ["case_arrays", "write_vectors", "FORMATS"]

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


def case_arrays(slug: str, cases) -> tuple[dict, dict]:
    """(arrays, metadata) for a list of ReferenceCase."""
    arrays, meta = {}, {"slug": slug, "cases": {}}
    for case in cases:
        info = {"note": case.note, "atol": case.atol, "rtol": case.rtol, "params": {}}
        for part in ("inputs", "expected"):
            for name, value in getattr(case, part).items():
                arr = _as_array(value)
                if arr is None:
                    info["params"][name] = value if isinstance(value, (str, type(None))) else repr(value)
                else:
                    arrays[f"{case.name}/{part}/{name}"] = np.ascontiguousarray(arr)
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
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def write_vectors(path, slug: str, cases, fmt: str = "safetensors") -> str:
    """Write `cases` of technique `slug` to `path` in format `fmt`; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"vectors: `format` must be one of {FORMATS}, got {fmt!r}")
    arrays, meta = case_arrays(slug, cases)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if fmt == "safetensors":
        _write_safetensors(path, arrays, meta)
    elif fmt == "npz":
        np.savez(path, __metadata__=np.array(json.dumps(meta)), **arrays)
    else:
        doc = {
            "metadata": meta,
            "arrays": {
                k: {"dtype": v.dtype.name, "shape": list(v.shape), "data": v.tolist()}
                for k, v in arrays.items()
            },
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
    return path
