"""Serve a built book on localhost (for the browser test and the README screenshot)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

__all__ = ["serving"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@contextlib.contextmanager
def serving(directory: str | Path):
    """Serve `directory` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise FileNotFoundError(f"directory: expected a built site with index.html, got {directory}")
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
