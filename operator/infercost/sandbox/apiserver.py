"""kmock with the Kubernetes API semantics the operator relies on (docs/architecture.md section 10).

Added over kmock 0.8: uid/resourceVersion/generation/creationTimestamp on create;
generateName; generation bumped only by spec changes; a no-op write changes nothing and
emits no watch event; the status subresource (status writes only change status, main
resource writes never do); server-side apply (requires fieldManager, creates a missing
object); resourceVersion preconditions (409 Conflict); label and field selectors on list
and watch; garbage collection of dependents once their owner is gone; injected faults
(`fail_next`) for errors that cannot be produced otherwise.
"""

from __future__ import annotations

import asyncio
import datetime
import secrets
import uuid
from typing import Any

import attrs
import kmock
import yaml
from kmock._internal import rendering

from infercost.sandbox import semantics
from infercost.sandbox.replies import Replies
from infercost.sandbox.resources import register

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"


@attrs.define(kw_only=True)
class Fault:
    """Answer the next `times` matching requests with `status` instead of serving them."""

    action: str
    plural: str
    subresource: str | None
    status: int
    times: int = 1
    delay: float = 0.0  # seconds before answering: longer than a client's timeout is a hang


@attrs.define(kw_only=True)
class ApiServer(Replies):
    """An in-memory Kubernetes API server over real HTTP, for tests and the sandbox."""

    prometheus_operator: bool = True
    kserve: bool = False
    _rv: int = attrs.field(default=0, init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        register(self.resources, prometheus_operator=self.prometheus_operator, kserve=self.kserve)
        # Not a Kubernetes endpoint: lets a benchmark in another process count requests.
        self["get /sandbox/requests"] << self._serve_request_counts

    def fail_next(
        self,
        *,
        action: str,
        plural: str,
        subresource: str | None = None,
        status: int = 409,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` matching requests with `status` (0: serve them) after
        `delay` seconds; `action` is create, update, delete, get, list or watch."""
        self._faults.append(
            Fault(
                action=action,
                plural=plural,
                subresource=subresource,
                status=status,
                times=times,
                delay=delay,
            )
        )

    def _take_fault(self, request: rendering.Request) -> Fault | None:
        for fault in self._faults:
            if (
                request.action is not None
                and fault.action.upper() == request.action.value
                and request.resource is not None
                and fault.plural == request.resource.plural
                and fault.subresource == request.subresource
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def _handle(self, request: rendering.Request) -> Any:
        writes = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)
        if request.resource is None or request.resource.plural is None:
            return await super()._handle(request)
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status:
            raise kmock.KubernetesError(
                status=fault.status,
                reason="Conflict" if fault.status == 409 else "InjectedFault",
                message=f"injected by the test: {fault.status} for {request.action}",
            )
        if request.action not in writes:
            return await self._respond(request)
        async with self._lock:
            if request.action == kmock.action.CREATE:
                await self._create(request, self._body(request), manager=None)
            elif request.action == kmock.action.UPDATE:
                await self._patch(request)
            else:
                await self._delete(request.resource, request.namespace, request.name or "")
        return await self._respond(request)

    def _body(self, request: rendering.Request) -> Any:
        if request.data is not None:
            return request.data
        return yaml.safe_load(request.text or "null")

    async def _publish(self, resource: kmock.resource, kind: str, obj: dict[str, Any]) -> None:
        await self._buses[resource].put({"type": kind, "object": obj})

    async def _create(self, request: rendering.Request, body: Any, *, manager: str | None) -> None:
        assert request.resource is not None
        if not isinstance(body, dict):
            raise kmock.KubernetesError(status=400, reason="BadRequest", message="not an object")
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        info = self._info(request.resource)
        if info.namespaced:
            meta["namespace"] = request.namespace or meta.get("namespace")
        key = (request.resource, meta.get("namespace") if info.namespaced else None, meta["name"])
        if key in self.objects and not self.objects[key].deleted:
            raise kmock.KubernetesError(
                status=409, reason="AlreadyExists", message=f"{meta['name']} already exists"
            )
        if "status" in info.subresources:
            body.pop("status", None)
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_rv(),
            generation=1,
            creationTimestamp=_now(),
        )
        if manager:
            meta["managedFields"] = [{"manager": manager, "operation": "Apply", "time": _now()}]
        if key in self.objects:
            self.objects[key].create(body)
        else:
            self.objects[key] = body
        await self._publish(request.resource, "ADDED", body)

    async def _patch(self, request: rendering.Request) -> None:
        assert request.resource is not None
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        body = self._body(request)
        key = (request.resource, request.namespace, request.name or "")
        if key not in self.objects or self.objects[key].deleted:
            if content_type == APPLY and not request.subresource:
                self._require_manager(request)
                body.setdefault("metadata", {})["name"] = request.name
                await self._create(request, body, manager=request.params["fieldManager"])
                self._apply_creates.add(request.id)
                return
            raise kmock.KubernetesObjectNotFoundError()
        live = self.objects[key].raw
        if content_type == APPLY:
            self._require_manager(request)
            new = semantics.server_side_apply(live, body)
        elif content_type == JSON_PATCH:
            try:
                new = semantics.json_patch(live, body)
            except semantics.PatchFailedError as error:
                # A failed `test` operation is 422 Unprocessable Entity, as in Kubernetes.
                raise kmock.KubernetesError(
                    status=422, reason="Invalid", message=str(error)
                ) from None
        else:
            wanted = (body or {}).get("metadata", {}).get("resourceVersion")
            if wanted is not None and wanted != live["metadata"].get("resourceVersion"):
                raise kmock.KubernetesError(
                    status=409,
                    reason="Conflict",
                    message="the object has been modified; please apply your changes to the "
                    "latest version and try again",
                )
            new = semantics.merge_patch(live, body)
        new = self._confine(request, live, new)
        if new == live:
            return  # a no-op write: no new resourceVersion, no watch event
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "name", "namespace"):
            if field in live["metadata"]:
                meta[field] = live["metadata"][field]
        meta["generation"] = live["metadata"].get("generation", 1) + (
            1 if semantics.spec_changed(live, new) else 0
        )
        meta["resourceVersion"] = self._next_rv()
        if content_type == APPLY:
            meta["managedFields"] = [
                {"manager": request.params["fieldManager"], "operation": "Apply", "time": _now()}
            ]
        self.objects[key].create(new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            await self._delete(request.resource, request.namespace, request.name or "")
        else:
            await self._publish(request.resource, "MODIFIED", self.objects[key].raw)

    def _confine(
        self, request: rendering.Request, live: dict[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        """The status subresource: each endpoint changes only its own part of the object."""
        assert request.resource is not None
        if "status" not in self._info(request.resource).subresources:
            return new
        if request.subresource == "status":
            result = dict(live)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            return result
        result = dict(new)
        if "status" in live:
            result["status"] = live["status"]
        else:
            result.pop("status", None)
        return result

    def _require_manager(self, request: rendering.Request) -> None:
        if not request.params.get("fieldManager"):
            raise kmock.KubernetesError(
                status=422,
                reason="Invalid",
                message="fieldManager is required for apply requests",
            )

    async def _delete(self, resource: kmock.resource, namespace: str | None, name: str) -> None:
        key = (resource, namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesObjectNotFoundError()
        obj = self.objects[key]
        meta = obj.raw["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                stamp = {"deletionTimestamp": _now(), "resourceVersion": self._next_rv()}
                obj.patch({"metadata": stamp})
                await self._publish(resource, "MODIFIED", obj.raw)
            return
        last = obj.raw
        obj.delete()
        await self._publish(resource, "DELETED", last)
        await self._collect_garbage(meta.get("uid", ""))

    async def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascading deletion: dependents go once their owner is gone."""
        dependents = [
            (resource, namespace, name)
            for (resource, namespace, name), obj in self.objects.items()
            if not obj.deleted and semantics.owned_by(obj.raw, owner_uid)
        ]
        for resource, namespace, name in dependents:
            await self._delete(resource, namespace, name)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
