"""Execute the book's notebooks into a jupyter-cache, so that Sphinx (MyST-NB, cache mode) only reads them.

A notebook is matched in the cache by the hash of its code cells; `source.write_source` puts a hidden cell
with the key of everything the page depends on (its technique's package, the engine, its recorded result,
quick or full mode) into each copy, so an edit anywhere in that set re-executes the page and nothing else.
Executing here rather than inside Sphinx runs `jobs` kernels at once and names the notebook that failed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["execute_all", "NotebookError"]


class NotebookError(RuntimeError):
    """A notebook of the book raised while it ran; the message carries its path and traceback."""


def _run(path: Path, timeout: int):
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(
        nb, cwd=str(path.parent), allow_errors=False, timeout=timeout, meta_override=True
    )
    return nb, result


def execute_all(notebooks: list[Path], cache_dir: Path, *, full: bool, jobs: int = 1) -> list[Path]:
    """Execute every notebook of `notebooks` that has no matching execution in `cache_dir`; return those run.

    The kernels inherit REFIMPL_QUICK=1 (quick mode) unless `full`, the inline figure backend, and no
    progress bars."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    todo = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    if not todo:
        return []
    saved = {k: os.environ.get(k) for k in ("REFIMPL_QUICK", "MPLBACKEND", "TQDM_DISABLE")}
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures become page images
    os.environ["TQDM_DISABLE"] = "1"  # a progress widget has nothing to show on a static page
    if full:
        os.environ.pop("REFIMPL_QUICK", None)
    else:
        os.environ["REFIMPL_QUICK"] = "1"
    timeout = 3600 if full else 300
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {path: pool.submit(_run, path, timeout) for path in todo}
            for path, future in futures.items():
                nb, result = future.result()
                if result.err is not None:
                    raise NotebookError(f"{path.name} failed while the book was built:\n{result.exc_string}")
                cache.cache_notebook_bundle(
                    CacheBundleIn(nb, str(path), data={"execution_seconds": result.time}),
                    check_validity=False,
                    overwrite=True,
                )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return todo
