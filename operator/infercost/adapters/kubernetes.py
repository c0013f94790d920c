"""The Kubernetes API, as the operator uses it: a small async client over aiohttp.

Writes are server-side apply (field manager `infercost`) for children, JSON merge patches
of the status subresource, and core/v1 Events. 409 Conflict, 429 Too Many Requests (no
sooner than its Retry-After) and 5xx answers are retried with exponential backoff; every other error is raised as `ApiError` with the server's message.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import os
import ssl
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

FIELD_MANAGER = "infercost"
USER_AGENT = "infercost/0.1.0"
logger = logging.getLogger(__name__)

# Kind -> (apiVersion, plural) of everything the operator reads or writes.
RESOURCES: dict[str, tuple[str, str]] = {
    "InferenceService": ("infercost.io/v1alpha1", "inferenceservices"),
    "AcceleratorPool": ("infercost.io/v1alpha1", "acceleratorpools"),
    "Deployment": ("apps/v1", "deployments"),
    "Service": ("v1", "services"),
    "ConfigMap": ("v1", "configmaps"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "PodMonitor": ("monitoring.coreos.com/v1", "podmonitors"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "Event": ("v1", "events"),
    "Pod": ("v1", "pods"),  # read only: where to reach Triton for live batching changes
}


def _retry_after(payload: Any) -> float:
    """The seconds a 429's Status asks for (`details.retryAfterSeconds`), else 0."""
    details = payload.get("details") if isinstance(payload, dict) else None
    seconds = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    return float(seconds) if isinstance(seconds, int | float) else 0.0


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """How to reach the API server (from in-cluster config or KUBECONFIG, via kopf's login)."""

    server: str
    token: str | None = None
    ca_path: str | None = None
    ca_data: str | None = None  # base64, as in kubeconfig
    insecure: bool = False
    certificate_path: str | None = None
    certificate_data: str | None = None  # base64
    private_key_path: str | None = None
    private_key_data: str | None = None  # base64


def path(kind: str, *, namespace: str | None, name: str | None = None, sub: str = "") -> str:
    api_version, plural = RESOURCES[kind]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    tail = f"/{name}" if name else ""
    return f"{prefix}{ns}/{plural}{tail}{'/' + sub if sub else ''}"


def _ssl_context(creds: Credentials) -> ssl.SSLContext | bool:
    if not creds.server.startswith("https"):
        return False
    if creds.insecure:
        return False
    cadata = base64.b64decode(creds.ca_data).decode() if creds.ca_data else None
    context = ssl.create_default_context(cafile=creds.ca_path, cadata=cadata)
    cert, key = creds.certificate_path, creds.private_key_path
    with tempfile.TemporaryDirectory() as tmp:
        if creds.certificate_data and creds.private_key_data:
            cert, key = os.path.join(tmp, "cert"), os.path.join(tmp, "key")
            for target, data in ((cert, creds.certificate_data), (key, creds.private_key_data)):
                with open(target, "wb") as file:
                    file.write(base64.b64decode(data))
        if cert and key:
            context.load_cert_chain(cert, key)
    return context


class KubeApi:
    """The operator's API calls; one aiohttp session, counted writes."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        retry_attempts: int = 5,
        retry_backoff: float = 0.2,
        timeout: float = 30.0,
    ) -> None:
        self._creds = credentials
        self._attempts = retry_attempts
        self._backoff = retry_backoff
        # Without a timeout a hung API server would hold a reconcile for aiohttp's 5 minutes.
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.requests: Counter[str] = Counter()  # by HTTP method, for benchmarks and logs

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
            if self._creds.token:
                headers["Authorization"] = f"Bearer {self._creds.token}"
            connector = aiohttp.TCPConnector(ssl=_ssl_context(self._creds), limit=32)
            self._session = aiohttp.ClientSession(
                base_url=self._creds.server.rstrip("/") + "/",
                headers=headers,
                connector=connector,
                timeout=self._timeout,
            )
        return self._session

    async def _call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            self.requests[method] += 1
            data = None if body is None else json.dumps(body)
            try:
                status, payload = await self._once(
                    method, url, data=data, params=params, content_type=content_type
                )
            except (TimeoutError, aiohttp.ClientConnectionError) as error:
                # A timeout or a dropped connection is a 5xx that never arrived: retried.
                status, payload = 504, {"message": f"{type(error).__name__}: {error}"}
            if status < 300:
                return payload
            # 429: the server's priority and fairness asks to come back after Retry-After.
            retriable = (status == 409 and method == "PATCH") or status >= 500 or status == 429
            message = (payload or {}).get("message", "") if isinstance(payload, dict) else ""
            if status == 404:
                raise ApiError(404, message or url)
            if not retriable or attempt == self._attempts:
                raise ApiError(status, message)
            logger.info("retrying %s %s after %s: %s", method, url, status, message)
            await asyncio.sleep(max(delay, _retry_after(payload)))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        url: str,
        *,
        data: str | None,
        params: dict[str, str] | None,
        content_type: str,
    ) -> tuple[int, Any]:
        async with self._client().request(
            method,
            url.lstrip("/"),
            data=data,
            params=params,
            headers={"Content-Type": content_type},
        ) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, kind: str, *, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._call(
                "GET", path(kind, namespace=namespace, name=name)
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return result

    async def list(
        self, kind: str, *, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        result = await self._call("GET", path(kind, namespace=namespace), params=params)
        return list(result.get("items") or [])

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of a whole object we own (force: the operator is its manager)."""
        meta = obj["metadata"]
        url = path(obj["kind"], namespace=meta.get("namespace"), name=meta["name"])
        result: dict[str, Any] = await self._call(
            "PATCH",
            url,
            body=obj,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",
        )
        return result

    async def delete(self, kind: str, *, namespace: str | None, name: str) -> None:
        try:
            await self._call("DELETE", path(kind, namespace=namespace, name=name))
        except ApiError as error:
            if error.status != 404:
                raise

    async def patch_status(
        self, kind: str, *, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """A merge patch of the status subresource: the user's spec is never written."""
        result: dict[str, Any] = await self._call(
            "PATCH",
            path(kind, namespace=namespace, name=name, sub="status"),
            body={"status": status},
            content_type="application/merge-patch+json",
        )
        return result

    async def post_event(
        self,
        *,
        involved: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        action: str,
    ) -> None:
        meta = involved["metadata"]
        now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "action": action,
            "message": message[:1024],
            "source": {"component": "infercost"},
            "reportingComponent": "infercost",
            "reportingInstance": os.environ.get("HOSTNAME", "infercost"),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._call("POST", path("Event", namespace=meta["namespace"]), body=event)

    async def has_resource(self, api_version: str, plural: str) -> bool:
        """Discovery: whether the cluster serves a resource (e.g. a CRD is installed)."""
        try:
            found = await self._call("GET", f"/apis/{api_version}")
        except ApiError:
            return False
        return any(r.get("name") == plural for r in found.get("resources") or [])
