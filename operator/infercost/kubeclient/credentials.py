"""How to reach the API server, kept fresh: in-cluster service account or kubeconfig.

The `kubernetes` package's loaders do the parsing (kubeconfig contexts and merging, `exec`
credential plugins of client.authentication.k8s.io/v1 and v1beta1, client certificates and
CAs from files or base64 data, tokens); this module keeps their result current:

* in a pod, the projected service-account token is re-read whenever the kubelet replaces the
  file (a stat per request; the kubelet swaps it atomically), so a rotated token is used by
  the next request;
* from a kubeconfig, the library's refresh hook is consulted every `recheck_seconds` (it
  re-runs an exec plugin once the credential's expirationTimestamp is near);
* after a 401 the caller asks for `refresh()`: the token file is re-read, or the kubeconfig is
  loaded anew (the exec plugin runs again). kopf's login handler asks the same source.

The loaders block (files, subprocesses), so they run in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol


class CredentialsError(Exception):
    """No usable credentials; the message says what was looked for."""


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """One snapshot of how to reach the API server."""

    server: str
    token: str | None = None
    ca_path: str | None = None
    ca_data: str | None = None  # base64, as in kubeconfig
    insecure: bool = False
    certificate_path: str | None = None
    certificate_data: str | None = None  # base64
    private_key_path: str | None = None
    private_key_data: str | None = None  # base64

    def tls_key(self) -> tuple[object, ...]:
        """What the TLS context is built from: a change needs a new connection pool."""
        return (
            self.server,
            self.ca_path,
            self.ca_data,
            self.insecure,
            self.certificate_path,
            self.certificate_data,
            self.private_key_path,
            self.private_key_data,
        )


class CredentialSource(Protocol):
    async def current(self) -> Credentials:
        """The credentials to send now (cheap; refreshed as the source's rules say)."""
        ...

    async def refresh(self) -> Credentials:
        """Load again, now: the server refused the current ones (401)."""
        ...


class FixedCredentials:
    """Credentials that never change (tests, the sandbox's own tools)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def current(self) -> Credentials:
        return self._credentials

    async def refresh(self) -> Credentials:
        return self._credentials


class InClusterCredentials:
    """The pod's service account: API server from the environment, token file re-read on change."""

    def __init__(
        self,
        *,
        token_file: str | None = None,
        ca_file: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        from kubernetes.client import Configuration
        from kubernetes.config import ConfigException, incluster_config

        self._token_file = token_file or incluster_config.SERVICE_TOKEN_FILENAME
        loader = incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=self._token_file,
            cert_filename=ca_file or incluster_config.SERVICE_CERT_FILENAME,
            try_refresh_token=False,  # re-read here, on every change, not once a minute
            environ=environ,
        )
        config = Configuration()
        try:
            loader.load_and_set(config)  # type: ignore[no-untyped-call]
        except ConfigException as error:
            raise CredentialsError(f"in-cluster config: {error}") from None
        self._server, self._ca = str(config.host), str(config.ssl_ca_cert)
        self._stamp: tuple[int, int, int] | None = None
        self._credentials = self._read(force=True)

    def _read(self, *, force: bool) -> Credentials:
        try:
            stat = os.stat(self._token_file)
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if force or stamp != self._stamp:
                with open(self._token_file, encoding="utf-8") as file:
                    token = file.read().strip()
                self._stamp = stamp
                self._credentials = Credentials(server=self._server, token=token, ca_path=self._ca)
        except OSError as error:
            if self._stamp is None:  # never read: there is nothing to fall back on
                raise CredentialsError(
                    f"service-account token {self._token_file}: {error}"
                ) from None
            # Unreadable for a moment: the last token read is still the best one we have.
        return self._credentials

    async def current(self) -> Credentials:
        return self._read(force=False)

    async def refresh(self) -> Credentials:
        return self._read(force=True)


class KubeconfigCredentials:
    """A kubeconfig context (KUBECONFIG, ':'-separated files merged, or ~/.kube/config)."""

    def __init__(
        self,
        *,
        path: str | None = None,
        context: str | None = None,
        recheck_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The library reads KUBECONFIG once at import; read it now instead.
        self._path = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        self._context = context
        self._recheck = recheck_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._load()

    def _load(self) -> None:
        from kubernetes.client import Configuration
        from kubernetes.config import ConfigException, kube_config

        config = Configuration()
        try:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=self._path,
                context=self._context,
                client_configuration=config,
                persist_config=False,  # never write refreshed tokens into the user's file
            )
        except (ConfigException, OSError) as error:
            raise CredentialsError(f"kubeconfig {self._path}: {error}") from None
        self._config = config
        self._credentials = self._snapshot()

    def _snapshot(self) -> Credentials:
        config = self._config
        # Runs the library's refresh hook: an exec plugin runs again once its credential expires.
        authorization = config.get_api_key_with_prefix("BearerToken") or ""
        scheme, _, token = authorization.partition(" ")
        self._checked = self._clock()
        return Credentials(
            server=str(config.host),
            token=token if scheme.lower() == "bearer" and token else None,
            ca_path=config.ssl_ca_cert,
            insecure=not config.verify_ssl,
            certificate_path=config.cert_file,
            private_key_path=config.key_file,
        )

    async def current(self) -> Credentials:
        if self._clock() - self._checked >= self._recheck:
            async with self._lock:
                self._credentials = await asyncio.to_thread(self._snapshot)
        return self._credentials

    async def refresh(self) -> Credentials:
        async with self._lock:
            await asyncio.to_thread(self._load)
        return self._credentials


def discover(*, recheck_seconds: float = 10.0) -> CredentialSource:
    """In-cluster service account first (as client-go does), then the kubeconfig."""
    from kubernetes.config import incluster_config

    in_pod = os.environ.get(incluster_config.SERVICE_HOST_ENV_NAME) and os.path.exists(
        incluster_config.SERVICE_TOKEN_FILENAME
    )
    if in_pod:
        return InClusterCredentials()
    try:
        return KubeconfigCredentials(recheck_seconds=recheck_seconds)
    except CredentialsError as error:
        raise CredentialsError(
            f"no Kubernetes credentials: not in a pod, and {error}; "
            "run in a cluster or set KUBECONFIG to a kubeconfig file"
        ) from None


def ssl_context(credentials: Credentials) -> ssl.SSLContext | bool:
    """The TLS context for `credentials` (False: plain HTTP, or verification turned off)."""
    if not credentials.server.startswith("https") or credentials.insecure:
        return False
    ca_data = base64.b64decode(credentials.ca_data).decode() if credentials.ca_data else None
    context = ssl.create_default_context(cafile=credentials.ca_path, cadata=ca_data)
    cert, key = credentials.certificate_path, credentials.private_key_path
    with tempfile.TemporaryDirectory() as tmp:
        if credentials.certificate_data and credentials.private_key_data:
            cert, key = os.path.join(tmp, "cert"), os.path.join(tmp, "key")
            pairs = ((cert, credentials.certificate_data), (key, credentials.private_key_data))
            for target, data in pairs:
                with open(target, "wb") as file:
                    file.write(base64.b64decode(data))
        if cert and key:
            context.load_cert_chain(cert, key)
    return context
