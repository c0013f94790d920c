"""A real Prometheus (Debian's package, `make prometheus`) on loopback, and a static exposition.

`LocalPrometheus` runs `prometheus` with a temporary TSDB, a 1 s scrape interval and
`file_sd_configs`, so a test adds scrape targets (with the contract labels) while it runs.
`Exposition` serves Prometheus text format that a test writes: series Prometheus really
scrapes, to produce NaN, missing and stale samples on purpose.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCRAPE_INTERVAL = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError("prometheus is not installed: run `make prometheus` (Debian package)")
    return found


class LocalPrometheus:
    """A Prometheus process; `stop()` and `start()` again keep its TSDB (a restart)."""

    def __init__(self, *, web_config: Mapping[str, Any] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="infercost-prom-"))
        self.port = free_port()
        self.targets: list[dict[str, Any]] = []
        self.web_config = web_config
        self.process: subprocess.Popen[bytes] | None = None
        (self.dir / "targets.json").write_text("[]")
        (self.dir / "prometheus.yml").write_text(
            json.dumps(
                {
                    "global": {
                        "scrape_interval": f"{SCRAPE_INTERVAL:g}s",
                        "evaluation_interval": f"{SCRAPE_INTERVAL:g}s",
                    },
                    "scrape_configs": [
                        {
                            "job_name": "triton",
                            "file_sd_configs": [
                                {
                                    "files": [str(self.dir / "targets.json")],
                                    "refresh_interval": "1s",
                                }
                            ],
                        }
                    ],
                }
            )
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.web_config and "tls_server_config" in self.web_config else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def add_target(self, address: str, labels: Mapping[str, str]) -> None:
        """Scrape `address` (host:port, path /metrics) with these target labels."""
        self.targets.append({"targets": [address], "labels": dict(labels)})
        temporary = self.dir / "targets.json.tmp"
        temporary.write_text(json.dumps(self.targets))
        temporary.replace(self.dir / "targets.json")  # atomic: Prometheus never reads half

    def start(self, timeout: float = 60) -> LocalPrometheus:
        command = [
            prometheus_binary(),
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        if self.web_config is not None:
            (self.dir / "web.yml").write_text(json.dumps(self.web_config))
            command.append(f"--web.config.file={self.dir / 'web.yml'}")
        with open(self.dir / "prometheus.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.process.returncode}: {self.log()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"prometheus did not listen within {timeout}s: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        path = self.dir / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def query(self, promql: str) -> list[dict[str, Any]]:
        """A plain HTTP query from the test (not through the adapter under test)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            return list(json.load(response)["data"]["result"])

    def wait_for(self, promql: str, *, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        """Poll until the query returns at least `count` series (scrapes take a few seconds)."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                result = self.query(promql)
            except (urllib.error.URLError, OSError):
                result = []
            if len(result) >= count:
                return result
            time.sleep(0.5)
        raise AssertionError(f"{promql!r}: {len(result)} series after {timeout}s: {self.log()}")


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
