"""A real Prometheus (Debian's package, `make prometheus`) on loopback, scraping with file_sd.

`LocalPrometheus` runs `prometheus` with a temporary TSDB, a 1 s scrape interval and
`file_sd_configs`, so targets (with the contract labels) come and go while it runs: the
sandbox's node agent adds each Triton pod as it starts and removes it when it goes; the
e2e tests add theirs. Shared by `infercost sandbox` and tests/support/prometheus.py.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SCRAPE_INTERVAL = 1.0
Starter = Callable[[list[str], Path], subprocess.Popen[bytes]]


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

    def __init__(
        self,
        *,
        web_config: Mapping[str, Any] | None = None,
        directory: Path | None = None,
        starter: Starter | None = None,
    ) -> None:
        # `starter` starts the process (the sandbox's, in its own process group); default Popen.
        self.dir = directory or Path(tempfile.mkdtemp(prefix="infercost-prom-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.starter = starter
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
        self._write_targets()

    def remove_target(self, address: str) -> None:
        self.targets = [t for t in self.targets if t["targets"] != [address]]
        self._write_targets()

    def _write_targets(self) -> None:
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
        if self.starter is not None:
            self.process = self.starter(command, self.dir / "prometheus.log")
        else:
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
