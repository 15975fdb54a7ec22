"""Results on record: the full multi-seed result of each technique, committed as
`refimpl/results/<slug>.json`, written by `refimpl record SLUG` and checked for staleness.

A recorded result carries the hash of the sources it came from: every file of the technique's package
except `cases.py` (reference cases do not change results), plus the family's shared modules.  When any
of them changes, the hash no longer matches and the registry test fails until the result is recorded
again.  The harness itself (`refimpl.experiments`, `refimpl.train`, the engine) is not hashed: a change
there that moves results is re-recorded by `refimpl record --all`.
"""

from __future__ import annotations

import hashlib
import platform
import time
from pathlib import Path

import numpy as np

from .. import catalog
from .result import Result

__all__ = [
    "RESULTS_DIR",
    "source_files",
    "source_hash",
    "digest",
    "result_path",
    "recorded",
    "freshness",
    "record",
    "environment",
]

RESULTS_DIR = catalog.PACKAGE_DIR / "results"


def source_files(slug: str) -> list[Path]:
    """The files whose content a recorded result of `slug` depends on (see the module docstring)."""
    t = catalog.get(slug)
    package = Path(t.source_file).parent
    own = [p for p in package.rglob("*.py") if p.name != "cases.py" and "__pycache__" not in p.parts]
    family = [p for p in package.parent.glob("*.py") if catalog._read_entry(p) is None]
    return sorted(own) + sorted(family)


def digest(paths, root: Path = catalog.PACKAGE_DIR, extra: str = "") -> str:
    """16 hex digits of sha256 over `extra`, then each file's path relative to `root` and its bytes (line
    endings normalised), in the order given."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(str(p.relative_to(root)).replace("\\", "/").encode())
        h.update(b"\0")
        h.update(p.read_bytes().replace(b"\r\n", b"\n"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def source_hash(slug: str) -> str:
    return digest(source_files(slug))


def result_path(slug: str) -> Path:
    return RESULTS_DIR / f"{slug}.json"


def recorded(slug: str) -> Result | None:
    """The recorded full result of `slug`, or None if there is none (fresh or not: see `freshness`)."""
    path = result_path(slug)
    if not path.is_file():
        return None
    return Result.from_json(path.read_text(encoding="utf-8"))


def freshness(slug: str) -> str:
    """'fresh', 'stale' (sources changed since it was recorded) or 'missing'."""
    r = recorded(slug)
    if r is None:
        return "missing"
    return "fresh" if r.source_hash == source_hash(slug) else "stale"


def environment() -> dict:
    """Where a full run is recorded: library versions, the BLAS and the CPU kernel it chose, the CPU.

    The source hash ties a record to its code, not to this: the same code gives other last digits under
    another BLAS kernel (seen: re-recording the quantization family on another machine moved selected
    learning rates and two verdicts), so a record says where it was made."""
    import numba
    import scipy

    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
    }
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        blas = []
    if blas:
        env["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} {blas[0].get('architecture')}"
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def record(slug: str, progress: bool = True) -> Path:
    """Run the full experiment of `slug` and write its result (with the source hash) to RESULTS_DIR."""
    t = catalog.get(slug)
    start = time.perf_counter()
    result = t.experiment.run(quick=False, progress=progress)
    if result.quick or result.smoke:
        raise RuntimeError(f"{slug}: the recorded result must come from a full run")
    result.seconds = round(time.perf_counter() - start, 1)
    result.source_hash = source_hash(slug)
    result.environment = environment()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = result_path(slug)
    from ..vectors import atomic_write_text

    atomic_write_text(path, result.to_json())
    return path
