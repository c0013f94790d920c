"""Authentication and TLS towards Prometheus, against a REAL Prometheus.

Basic auth and TLS: Prometheus itself, started with a `--web.config.file` (bcrypt-hashed
user, a certificate signed by a CA made here with openssl). Bearer tokens: Prometheus does
not check them itself, so a small authenticating reverse proxy in front of it does (as
kube-rbac-proxy or oauth-proxy do in clusters), with real sockets both ways.
Every test checks that no credential reaches the logs or the reported message.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from infercost.adapters.metrics import Observed
from infercost.adapters.prometheus import PrometheusMetrics
from infercost.settings import Settings
from tests.support.prometheus import LocalPrometheus, free_port

pytestmark = pytest.mark.e2e
USER, PASSWORD, TOKEN = "infercost", "s3cret-Pa55word", "tok-0123456789abcdef"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            "/CN=infercost-test-ca", "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    return {name: folder / f"{name}" for name in ("ca.crt", "server.crt", "server.key")}


@pytest.fixture(scope="module")
def secure_prometheus(pki: dict[str, Path]) -> Iterator[LocalPrometheus]:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    prom = LocalPrometheus(
        web_config={
            "tls_server_config": {
                "cert_file": str(pki["server.crt"]),
                "key_file": str(pki["server.key"]),
            },
            "basic_auth_users": {USER: hashed},
        }
    ).start()
    try:
        yield prom
    finally:
        prom.close()


def answered(observed: Observed) -> bool:
    """Prometheus answered the queries (no series exist there, so every service is missing)."""
    return observed.missing is not None and observed.missing.reason == "MetricsMissing"


def no_secret_in(caplog: pytest.LogCaptureFixture, observed: Observed, *secrets: str) -> None:
    text = "\n".join(r.getMessage() for r in caplog.records)
    text += repr(observed.missing)
    for secret in secrets:
        assert secret not in text


async def observe(**values: Any) -> Observed:
    settings = Settings(prometheus_timeout_seconds=30, **values)  # generous: shared machine
    return await PrometheusMetrics(settings).observe_all(now=time.time())


async def test_basic_auth_over_tls_verified_against_the_ca(
    secure_prometheus: LocalPrometheus,
    pki: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "password").write_text(PASSWORD + "\n")  # as a mounted Secret: trailing newline
    observed = await observe(
        prometheus_url=secure_prometheus.url,
        prometheus_username=USER,
        prometheus_password_file=str(tmp_path / "password"),
        prometheus_ca_file=str(pki["ca.crt"]),
    )
    assert answered(observed), observed.missing
    no_secret_in(caplog, observed, PASSWORD)


async def test_tls_is_verified_by_default(
    secure_prometheus: LocalPrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    # No CA given: the system CAs do not know this certificate, so the adapter refuses it.
    observed = await observe(
        prometheus_url=secure_prometheus.url, prometheus_username=USER, prometheus_password=PASSWORD
    )
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusUnreachable"
    assert "TLS" in observed.missing.message
    no_secret_in(caplog, observed, PASSWORD)


async def test_skipping_verification_is_possible_and_logged(
    secure_prometheus: LocalPrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infercost.prometheus")
    observed = await observe(
        prometheus_url=secure_prometheus.url,
        prometheus_username=USER,
        prometheus_password=PASSWORD,
        prometheus_insecure_skip_verify=True,
    )
    assert answered(observed), observed.missing
    assert any("verification" in r.getMessage() for r in caplog.records)
    no_secret_in(caplog, observed, PASSWORD)


async def test_a_wrong_password_is_a_prometheus_error_without_the_password(
    secure_prometheus: LocalPrometheus, pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    observed = await observe(
        prometheus_url=secure_prometheus.url,
        prometheus_username=USER,
        prometheus_password="wrong-" + PASSWORD,
        prometheus_ca_file=str(pki["ca.crt"]),
    )
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusError"
    assert "401" in observed.missing.message
    no_secret_in(caplog, observed, PASSWORD)


class BearerProxy:
    """Forwards to Prometheus only requests carrying `Authorization: Bearer <token>`."""

    def __init__(self, upstream: str, token: str) -> None:
        self.token, self.seen = token, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                outer.seen += 1
                with urllib.request.urlopen(upstream + self.path, timeout=10) as response:
                    body = response.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[BearerProxy]:
    prom = LocalPrometheus().start()
    front = BearerProxy(prom.url, TOKEN)
    try:
        yield front
    finally:
        front.close()
        prom.close()


async def test_bearer_token_from_a_file_read_each_round(
    proxy: BearerProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "token"
    token_file.write_text("stale-token")
    settings = Settings(prometheus_url=proxy.url, prometheus_token_file=str(token_file))
    source = PrometheusMetrics(settings)
    refused = await source.observe_all(now=time.time())
    assert refused.missing is not None
    assert refused.missing.reason == "PrometheusError"
    assert "401" in refused.missing.message
    token_file.write_text(TOKEN + "\n")  # the Secret was rotated: no restart needed
    accepted = await source.observe_all(now=time.time())
    assert answered(accepted), accepted.missing
    assert proxy.seen == len(source.queries)  # one query per metric for all services
    no_secret_in(caplog, refused, TOKEN, "stale-token")


async def test_an_unreadable_token_file_is_reported_without_crashing(tmp_path: Path) -> None:
    observed = await observe(
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        prometheus_token_file=str(tmp_path / "absent"),
    )
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusCredentialsUnreadable"
    assert "absent" in observed.missing.message


async def test_userinfo_in_the_url_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    observed = await observe(prometheus_url=f"http://someone:{PASSWORD}@127.0.0.1:{free_port()}")
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusUnreachable"
    no_secret_in(caplog, observed, PASSWORD)
