"""A real Prometheus for the tests (shared with the sandbox) and a static exposition.

`LocalPrometheus` lives in `infercost.sandbox.prometheus` (the sandbox runs the same one).
`Exposition` serves Prometheus text format that a test writes: series Prometheus really
scrapes, to produce NaN, missing and stale samples on purpose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infercost.sandbox.prometheus import (
    SCRAPE_INTERVAL,
    LocalPrometheus,
    free_port,
    prometheus_binary,
)

__all__ = ["SCRAPE_INTERVAL", "Exposition", "LocalPrometheus", "free_port", "prometheus_binary"]


class Exposition:
    """An HTTP server on loopback whose /metrics body is `render()` at each scrape."""

    def __init__(self, render: Callable[[], str]) -> None:
        self.render = render
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
