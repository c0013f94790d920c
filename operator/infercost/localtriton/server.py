"""A real tritonserver process serving synthetic python-backend models on loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from infercost.localtriton.synthetic import SyntheticModel, write_model

# Where `make triton-venv` puts the venv (from Debian's /usr/bin/python3, see docs/architecture.md section 10).
DEFAULT_VENV = Path(__file__).resolve().parents[3] / ".venv-triton"
VENV_ENV = "INFERCOST_TRITON_VENV"


class TritonNotInstalledError(RuntimeError):
    """The Triton virtualenv is missing; the message says how to make it."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_site_packages(venv: Path) -> Path:
    candidates = sorted(
        venv.glob("lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver")
    )
    if not candidates:
        raise TritonNotInstalledError(
            f"no tritonserver under {venv}; run `make triton-venv` (or set {VENV_ENV})"
        )
    return candidates[0].parents[3]


def restricted_repository_args(key: tuple[str, str] | None) -> list[str]:
    """Triton's flags that restrict the model-repository API to callers sending `key`."""
    if key is None:
        return []
    header, value = key
    return [
        f"--http-restricted-api=model-repository:{header}={value}",
        f"--grpc-restricted-protocol=model-repository:{header}={value}",
    ]


@dataclass
class TritonServer:
    """Context manager: start tritonserver with `models` loaded; `url` is its HTTP endpoint."""

    models: list[SyntheticModel]
    venv: Path = field(default_factory=lambda: Path(os.environ.get(VENV_ENV, DEFAULT_VENV)))
    startup_timeout: float = 120.0
    http_port: int = 0  # 0: a free port, chosen at start (as the other two)
    metrics_port: int = 0
    grpc_port: int = 0
    cache_bytes: int = 0  # > 0: start with Triton's local response cache of this size
    workdir: Path | None = None
    # (header, value): Triton refuses model-repository calls (load, unload, index) without
    # this header, over HTTP and gRPC, as the operator's Deployments start it.
    repository_key: tuple[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    _log_file: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _backends(self, site: Path, root: Path) -> Path:
        source = site / "pytriton" / "tritonserver"
        target = root / "backends" / "python"
        shutil.copytree(source / "backends" / "python", target)
        shutil.copy2(
            source / "python_backend_stubs" / "3.11" / "triton_python_backend_stub", target
        )
        return root / "backends"

    def start(self) -> TritonServer:
        site = find_site_packages(self.venv)
        self.workdir = Path(tempfile.mkdtemp(prefix="infercost-triton-"))
        repository = self.workdir / "models"
        for model in self.models:
            write_model(repository, model)
        backends = self._backends(site, self.workdir)
        # A port given is kept (a client that must know it before the server starts).
        self.http_port = self.http_port or _free_port()
        self.metrics_port = self.metrics_port or _free_port()
        self.grpc_port = self.grpc_port or _free_port()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = str(site / "nvidia_pytriton.libs")
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '')}"
        command = [
            str(site / "pytriton" / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *[f"--load-model={m.name}" for m in self.models],
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--metrics-config=summary_latencies=true",
            "--exit-timeout-secs=2",
            *restricted_repository_args(self.repository_key),
            *self._cache_args(site),
        ]
        self._log_file = open(self.workdir / "triton.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=self._log_file, stderr=subprocess.STDOUT, env=env
        )
        self._wait_ready()
        return self

    def _cache_args(self, site: Path) -> list[str]:
        """The wheel ships the local cache outside tritonserver's default cache directory."""
        if self.cache_bytes <= 0:
            return []
        return [
            f"--cache-directory={site / 'pytriton' / 'tritonserver' / 'caches'}",
            f"--cache-config=local,size={self.cache_bytes}",
        ]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://{self.url}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"tritonserver not ready after {self.startup_timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = (self.workdir or Path("/nonexistent")) / "triton.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
