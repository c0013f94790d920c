"""Credentials that change under a running operator, against the sandbox API server over real
HTTP(S): kubeconfig `exec` plugins whose tokens expire, client certificates over TLS with
client-certificate verification, and the in-cluster token file rotated by the kubelet.

The API server accepts a set of bearer tokens (`ApiServer.tokens`) and answers 401 to any
other, as the real token authenticator does; the tests revoke tokens by changing the set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from infercost.adapters.fake_metrics import FakeMetrics
from infercost.controller.runner import run_operator
from infercost.kubeclient import (
    ApiError,
    Credentials,
    CredentialSource,
    InClusterCredentials,
    KubeconfigCredentials,
    Transport,
)
from infercost.sandbox.apiserver import ApiServer
from infercost.settings import Settings
from tests.integration import objects as o
from tests.integration.conftest import eventually
from tests.support.tls import Pki, make_pki, server_context, tls_server_class

pytestmark = pytest.mark.integration
ADMIN = "admin-token"  # the test's own requests

PLUGIN = """
import datetime, json, pathlib, sys
state = pathlib.Path(sys.argv[1])
with (state / "runs").open("a") as runs:
    runs.write("x")
life = float((state / "lifetime").read_text())
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=life)
print(json.dumps({
    "apiVersion": sys.argv[2],
    "kind": "ExecCredential",
    "status": {
        "token": (state / "token").read_text().strip(),
        "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
    },
}))
"""


def write_kubeconfig(
    path: Path, *, server: str, user: dict[str, Any], ca: Path | None = None
) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "sandbox",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": "me", "user": user}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "me"}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def operator(source: CredentialSource) -> AsyncIterator[None]:
    settings = Settings(control_interval_seconds=1.0, metrics_port=0)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_operator(
            settings=settings,
            connection=source,
            metrics=FakeMetrics(),
            stop_flag=stop,
            ready_flag=ready,
        )
    )
    started = asyncio.create_task(ready.wait())
    await asyncio.wait([task, started], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if task.done():
        task.result()  # raises what stopped it
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


class Admin:
    """The test's own client (not counted as the operator's requests)."""

    def __init__(self, credentials: Credentials) -> None:
        self.transport = Transport(credentials, user_agent="test-admin/1")

    async def create_service(self, name: str) -> None:
        await self.transport.call("POST", o.ISVC, body=o.service(name, o.NEURON_VARIANT))

    async def finalizers(self, service: str) -> list[str]:
        """kopf's finalizer on a service: written with kopf's own credentials."""
        found = await self.transport.call("GET", f"{o.ISVC}/{service}")
        return list(found["metadata"].get("finalizers") or [])

    async def deployments(self, service: str) -> list[dict[str, Any]]:
        params = {"labelSelector": f"infercost.io/service={service}"}
        listed = await self.transport.call("GET", o.DEPLOYMENTS, params=params)
        return list(listed["items"])


@pytest.fixture
async def admin(api: ApiServer) -> AsyncIterator[Admin]:
    api.tokens = {ADMIN}
    client = Admin(Credentials(server=str(api.url), token=ADMIN))
    await client.transport.call("POST", o.POOLS, body=o.INF2)
    yield client
    await client.transport.close()


def runs(state: Path) -> int:
    path = state / "runs"
    return len(path.read_text()) if path.exists() else 0


@pytest.mark.parametrize(
    "api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
)
async def test_exec_plugin_token_is_refreshed_on_expiry_and_after_401(
    api: ApiServer, admin: Admin, tmp_path: Path, api_version: str
) -> None:
    state = tmp_path / "plugin"
    state.mkdir()
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (state / "token").write_text("exec-1")
    # Expiring within the kubernetes package's 5-minute skew: due for refresh after ~5 s.
    (state / "lifetime").write_text("305")
    exec_config: dict[str, Any] = {
        "apiVersion": api_version,
        "command": sys.executable,
        "args": [str(tmp_path / "plugin.py"), str(state), api_version],
    }
    if api_version.endswith("/v1"):
        exec_config["interactiveMode"] = "Never"  # required by v1
    config = write_kubeconfig(
        tmp_path / "config", server=str(api.url).rstrip("/"), user={"exec": exec_config}
    )
    api.tokens = {ADMIN, "exec-1"}
    source = KubeconfigCredentials(path=str(config), recheck_seconds=0.2)
    assert (await source.current()).token == "exec-1"
    async with operator(source):
        await admin.create_service("first")
        await eventually(lambda: admin.deployments("first"), what="children with the exec token")

        # The plugin's credential expires: it runs again and its new token is used.
        (state / "token").write_text("exec-2")
        (state / "lifetime").write_text("3600")
        api.tokens = {ADMIN, "exec-1", "exec-2"}

        async def renewed() -> bool:
            return (await source.current()).token == "exec-2"

        await eventually(renewed, what="the exec plugin run again at expiry")
        api.tokens = {ADMIN, "exec-2"}  # the old token is revoked
        await admin.create_service("second")
        await eventually(lambda: admin.deployments("second"), what="children after expiry")

        # Revoked before it expires: the 401 makes the operator (kopf too) load it anew.
        before = runs(state)
        (state / "token").write_text("exec-3")
        api.tokens = {ADMIN, "exec-3"}
        await admin.create_service("third")
        await eventually(lambda: admin.deployments("third"), what="children after a 401")
        await eventually(lambda: admin.finalizers("third"), what="kopf logged in again")
        assert runs(state) > before


@contextlib.asynccontextmanager
async def tls_api(pki: Pki, *, require_client_cert: bool) -> AsyncIterator[ApiServer]:
    context = server_context(pki, require_client_cert=require_client_cert)
    async with ApiServer() as server, kmock.Server(server, server_cls=tls_server_class(context)):
        yield server


@pytest.mark.parametrize("form", ["files", "data"])
async def test_client_certificates_over_tls_with_client_verification(
    tmp_path: Path, form: str
) -> None:
    import base64

    pki = make_pki(tmp_path)

    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    user = (
        {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}
        if form == "files"
        else {
            "client-certificate-data": data(pki.client_cert),
            "client-key-data": data(pki.client_key),
        }
    )
    async with tls_api(pki, require_client_cert=True) as api:
        server = str(api.url).rstrip("/")
        assert server.startswith("https://")
        config = write_kubeconfig(tmp_path / "config", server=server, user=user, ca=pki.ca)
        source = KubeconfigCredentials(path=str(config))
        creds = await source.current()
        admin = Admin(creds)
        # Without a client certificate the TLS handshake is refused.
        anonymous = Transport(Credentials(server=server, ca_path=str(pki.ca)), user_agent="t/1")
        try:
            with pytest.raises(ApiError) as refused:
                await anonymous.call("GET", o.POOLS)
            assert refused.value.status == 504  # the connection failed: no HTTP answer at all
            await admin.transport.call("POST", o.POOLS, body=o.INF2)
            async with operator(source):
                await admin.create_service("bert")
                await eventually(lambda: admin.deployments("bert"), what="children over mTLS")
        finally:
            await anonymous.close()
            await admin.transport.close()


async def test_in_cluster_token_file_rotation_is_used_by_the_next_requests(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)
    token_dir = tmp_path / "serviceaccount"
    token_dir.mkdir()
    token = token_dir / "token"

    def rotate(value: str) -> None:
        # As the kubelet does: a new file swapped in atomically.
        staged = token_dir / ".token.new"
        staged.write_text(value)
        os.replace(staged, token)

    rotate("sa-1")
    async with tls_api(pki, require_client_cert=False) as api:
        api.tokens = {ADMIN, "sa-1"}
        environ = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(api.url.port),
        }
        source = InClusterCredentials(token_file=str(token), ca_file=str(pki.ca), environ=environ)
        admin = Admin(Credentials(server=str(api.url), token=ADMIN, ca_path=str(pki.ca)))
        try:
            await admin.transport.call("POST", o.POOLS, body=o.INF2)
            async with operator(source):
                await admin.create_service("first")
                await eventually(lambda: admin.deployments("first"), what="children with sa-1")
                api.tokens = {ADMIN, "sa-1", "sa-2"}
                rotate("sa-2")
                assert (await source.current()).token == "sa-2"  # the next request carries it
                api.tokens = {ADMIN, "sa-2"}  # the old token expires
                await admin.create_service("second")
                await eventually(lambda: admin.deployments("second"), what="children with sa-2")
                await eventually(lambda: admin.finalizers("second"), what="kopf logged in again")
                # Requests in flight at the rotation may still arrive with sa-1; every request
                # started well after it must carry sa-2 without needing a 401 first.
                since = len(list(api))
                await admin.create_service("third")
                await eventually(lambda: admin.deployments("third"), what="children with sa-2")
                seen = [
                    r.headers.get("Authorization", "")
                    for r in list(api)[since:]
                    if r.headers.get("User-Agent", "").startswith("infercost/")
                ]
        finally:
            await admin.transport.close()
        assert seen, "no request of the operator's client after the rotation"
        assert set(seen) == {"Bearer sa-2"}, "the operator's client used an old token"
