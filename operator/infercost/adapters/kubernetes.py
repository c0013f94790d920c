"""The Kubernetes API, as the operator uses it: the KubeApi interface over infercost.kubeclient.

Writes are server-side apply (field manager `infercost`) for children, JSON merge patches
of the status subresource, and core/v1 Events. Credentials, retries (409 on the operator's
forced patches, 5xx with backoff, 429/503 after Retry-After) and the fresh login on 401 are
the shared client's (kubeclient/transport.py); every other error is raised as `ApiError`.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Mapping, Sequence
from typing import Any

from infercost.kubeclient import (
    ApiError,
    Credentials,
    CredentialSource,
    RetryPolicy,
    Transport,
)
from infercost.kubeclient import ssl_context as _ssl_context

FIELD_MANAGER = "infercost"
USER_AGENT = "infercost/0.1.0"

__all__ = ["ApiError", "Credentials", "KubeApi", "_ssl_context", "path"]

# Kind -> (apiVersion, plural) of everything the operator reads or writes.
RESOURCES: dict[str, tuple[str, str]] = {
    "InferenceService": ("infercost.io/v1alpha1", "inferenceservices"),
    "AcceleratorPool": ("infercost.io/v1alpha1", "acceleratorpools"),
    "BudgetPolicy": ("infercost.io/v1alpha1", "budgetpolicies"),
    "Deployment": ("apps/v1", "deployments"),
    "Service": ("v1", "services"),
    "ConfigMap": ("v1", "configmaps"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "PodMonitor": ("monitoring.coreos.com/v1", "podmonitors"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "HTTPRoute": ("gateway.networking.k8s.io/v1", "httproutes"),  # spec.routing (Gateway API)
    "Event": ("v1", "events"),
    # Listed: where to reach Triton for live batching changes; its status: the batching gate.
    "Pod": ("v1", "pods"),
    "Node": (
        "v1",
        "nodes",
    ),  # listed by name: an advised target's pool (controller/advise_target.py)
    "Lease": ("coordination.k8s.io/v1", "leases"),  # leader election (controller/leader.py)
    "Secret": ("v1", "secrets"),  # one per service, the Triton repository key: create, get
    # A scale-to-zero service's activator identity (manifests/activator.py): applied, not watched.
    "ServiceAccount": ("v1", "serviceaccounts"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
}


def path(kind: str, *, namespace: str | None, name: str | None = None, sub: str = "") -> str:
    api_version, plural = RESOURCES[kind]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    tail = f"/{name}" if name else ""
    return f"{prefix}{ns}/{plural}{tail}{'/' + sub if sub else ''}"


class KubeApi:
    """The operator's API calls; one session (kubeclient.Transport), counted requests."""

    def __init__(
        self,
        credentials: Credentials | CredentialSource,
        *,
        retry_attempts: int = 5,
        retry_backoff: float = 0.2,
        retry_after_max: float = 30.0,
        timeout: float = 30.0,
    ) -> None:
        policy = RetryPolicy(
            attempts=retry_attempts,
            backoff=retry_backoff,
            retry_after_max=retry_after_max,
            # The operator's PATCHes are forced applies and status merge patches without a
            # resourceVersion: a 409 is a race with another writer, and trying again wins.
            retry_conflicts=True,
        )
        self.transport = Transport(
            credentials, policy=policy, timeout=timeout, user_agent=USER_AGENT
        )
        self.requests = self.transport.requests  # by HTTP method, for benchmarks and logs
        self._discovering: dict[str, asyncio.Future[Any]] = {}

    async def close(self) -> None:
        await self.transport.close()

    async def _call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        return await self.transport.call(
            method, url, body=body, params=params, content_type=content_type
        )

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
        self,
        kind: str,
        *,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else {}
        if field_selector:
            params["fieldSelector"] = field_selector
        result = await self._call("GET", path(kind, namespace=namespace), params=params or None)
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

    async def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create an object; None when one of that name exists already (it is left as is)."""
        meta = obj["metadata"]
        try:
            result: dict[str, Any] = await self._call(
                "POST", path(obj["kind"], namespace=meta.get("namespace")), body=obj
            )
        except ApiError as error:
            if error.status == 409:
                return None
            raise
        return result

    async def patch_json(
        self,
        kind: str,
        *,
        namespace: str | None,
        name: str,
        operations: Sequence[Mapping[str, Any]],
        sub: str = "",
    ) -> dict[str, Any]:
        """A JSON patch (RFC 6902): list items changed in place, a failed `test` refuses all."""
        result: dict[str, Any] = await self._call(
            "PATCH",
            path(kind, namespace=namespace, name=name, sub=sub),
            body=[dict(op) for op in operations],
            content_type="application/json-patch+json",
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

    def _asked(self, api_version: str, done: asyncio.Future[Any]) -> None:
        self._discovering.pop(api_version, None)
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have been cancelled meanwhile

    async def has_resource(self, api_version: str, plural: str) -> bool:
        """Discovery: whether the cluster serves a resource (e.g. a CRD is installed).

        Callers asking at once share one request: after a start every service's first
        reconcile asks, and 10,000 services must not mean 10,000 discovery requests."""
        asked = self._discovering.get(api_version)
        if asked is None:
            asked = asyncio.ensure_future(self._call("GET", f"/apis/{api_version}"))
            self._discovering[api_version] = asked
            asked.add_done_callback(lambda done: self._asked(api_version, done))
        try:
            found = await asyncio.shield(asked)
        except ApiError:
            return False
        return any(r.get("name") == plural for r in found.get("resources") or [])
