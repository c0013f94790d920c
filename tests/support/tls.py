"""TLS for the sandbox API server in tests: a throwaway CA, server and client certificates
(made with the openssl command line), and a kmock server class that serves HTTPS."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.test_utils


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _issue(directory: Path, *, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    ext = directory / f"{name}.ext"
    ext.write_text(extensions)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", subject,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", directory / "ca.crt", "-CAkey", directory / "ca.key",
        "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", ext,
    )  # fmt: skip
    return cert, key


def make_pki(directory: Path) -> Pki:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", directory / "ca.key", "-out", directory / "ca.crt", "-days", "1",
        "-subj", "/CN=sandbox-ca",
    )  # fmt: skip
    server = _issue(
        directory,
        name="server",
        subject="/CN=127.0.0.1",
        extensions="subjectAltName=IP:127.0.0.1\n",
    )
    # Kubernetes maps a client certificate's CN to the user and O to its groups.
    client = _issue(
        directory,
        name="client",
        subject="/O=infercost/CN=infercost",
        extensions="extendedKeyUsage=clientAuth\n",
    )
    return Pki(directory / "ca.crt", *server, *client)


def server_context(pki: Pki, *, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
    return context


def tls_server_class(context: ssl.SSLContext) -> type[aiohttp.test_utils.RawTestServer]:
    """A server class for `kmock.Server(handler, server_cls=...)` that serves HTTPS."""

    class TlsServer(aiohttp.test_utils.RawTestServer):
        async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
            await super().start_server(loop=loop, ssl=context, **kwargs)

    return TlsServer
