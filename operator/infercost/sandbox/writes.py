"""The write side of the sandbox API server: create, patch, apply, replace (PUT), delete.

Every write goes through one path (`_store`): the status subresource confines what it may
change, the result is validated (sandbox/validation.py: schemas, pruning, defaults, CEL),
field ownership is recorded (sandbox/ssa.py), a no-op changes nothing and emits no event,
otherwise the object gets a new resourceVersion (and generation when its spec changed) and
a watch event. Deletion honours finalizers and collects dependents (background cascading).

Simplification: strategic merge patches merge by item only the lists of
`semantics.MERGE_KEYS` and ignore ordering directives (what `kubectl apply` of a changed
built-in sends); the operator sends none.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import kmock
import yaml
from kmock._internal import rendering

from infercost.sandbox import semantics, ssa, status
from infercost.sandbox.replies import Replies
from infercost.sandbox.validation import Validation

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
_IDENTITY = ("uid", "creationTimestamp", "name", "namespace", "generation", "resourceVersion")


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define(kw_only=True)
class Writes(Replies):
    """Object writes with the Kubernetes API's semantics over kmock's object store."""

    validation: Validation = attrs.field(factory=Validation)
    _warnings: dict[int, list[str]] = attrs.field(factory=dict, init=False)
    _validating: bool = attrs.field(default=True, init=False)
    # (User-Agent, warning) of every write whose unknown fields were dropped: what a real
    # server prunes silently, so tests can demand that the operator's writes lose nothing.
    pruned: list[tuple[str, str]] = attrs.field(factory=list, init=False)

    @contextlib.contextmanager
    def unvalidated(self) -> Iterator[None]:
        """Writes inside are pruned and defaulted but never refused: to stage an object a real
        server holds although its CRD refuses it now (stored before a rule was added), for
        tests of the operator's handling of such objects."""
        self._validating = False
        try:
            yield
        finally:
            self._validating = True

    def _body(self, request: rendering.Request) -> Any:
        if request.data is not None:
            return copy.deepcopy(request.data)
        return yaml.safe_load(request.text or "null")

    def _identify(self, request: rendering.Request, body: Any) -> dict[str, Any]:
        """apiVersion and kind of the URL (filled in when absent, 400 when different)."""
        assert request.resource is not None
        if not isinstance(body, dict):
            raise status.bad_request("the body of the request is not a JSON object")
        group, version = request.resource.group, request.resource.version
        api_version = f"{group}/{version}" if group else str(version)
        kind = self._info(request.resource).kind
        if body.setdefault("apiVersion", api_version) != api_version:
            raise status.bad_request(
                f"the API version in the data ({body['apiVersion']}) does not match the "
                f"expected API version ({api_version})"
            )
        if body.setdefault("kind", kind) != kind:
            raise status.bad_request(
                f"the kind in the data ({body['kind']}) does not match the expected kind ({kind})"
            )
        body["metadata"] = dict(body.get("metadata") or {})
        return body

    def _has_status(self, request: rendering.Request) -> bool:
        assert request.resource is not None
        return "status" in self._info(request.resource).subresources

    def _manager(self, request: rendering.Request) -> str:
        return ssa.manager_of(dict(request.params), request.headers.get("User-Agent", ""))

    async def _create(self, request: rendering.Request, body: Any, *, apply: bool) -> None:
        assert request.resource is not None
        body = self._identify(request, body)
        meta = body["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        if not meta.get("name"):
            raise status.invalid(
                kind=body["kind"],
                group=request.resource.group or "",
                name="",
                causes=[("metadata.name", "Required value: name or generateName is required")],
            )
        info = self._info(request.resource)
        if info.namespaced:
            meta["namespace"] = request.namespace or meta.get("namespace")
        key = (request.resource, meta.get("namespace") if info.namespaced else None, meta["name"])
        if key in self.objects and not self.objects[key].deleted:
            raise kmock.KubernetesError(
                status=409, reason="AlreadyExists", message=f"{meta['name']} already exists"
            )
        if self._has_status(request):
            body.pop("status", None)
        for field in ("resourceVersion", "uid", "managedFields", "deletionTimestamp"):
            meta.pop(field, None)
        if apply:
            new = ssa.apply(
                None,
                body,
                manager=self._manager(request),
                force=True,
                has_status=self._has_status(request),
            )
            new["metadata"].update({"name": meta["name"], "namespace": meta.get("namespace")})
            if not info.namespaced:
                new["metadata"].pop("namespace", None)
            body = new
        else:
            ssa.update(
                None,
                body,
                manager=self._manager(request),
                subresource=None,
                has_status=self._has_status(request),
            )
        body = self._validated(request, body)
        body["metadata"].update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_rv(),
            generation=1,
            creationTimestamp=now(),
        )
        self._created[request.id] = meta["name"]
        if key in self.objects:
            self.objects[key].create(body)
        else:
            self.objects[key] = body
        if request.resource.plural == "customresourcedefinitions":
            self.validation.register_crd(body)
        await self._publish(request.resource, "ADDED", body)

    def _validated(
        self,
        request: rendering.Request,
        obj: dict[str, Any],
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        assert request.resource is not None
        checked = self.validation.check(
            obj,
            group=request.resource.group or "",
            strict=request.params.get("fieldValidation", "Warn"),
            old=old,
            refuse=self._validating,
        )
        if checked.warnings:
            self._warnings[request.id] = checked.warnings
            agent = request.headers.get("User-Agent", "")
            self.pruned += [(agent, warning) for warning in checked.warnings]
        return checked.obj

    async def _update(self, request: rendering.Request) -> None:
        """PATCH (merge, JSON, apply) and PUT of an existing object (apply may create)."""
        assert request.resource is not None
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        body = self._body(request)
        key = (request.resource, request.namespace, request.name or "")
        has_status = self._has_status(request)
        if key not in self.objects or self.objects[key].deleted:
            if content_type == APPLY and not request.subresource:
                self._require_manager(request)
                self._authorize(request, verb="create")
                body.setdefault("metadata", {})["name"] = request.name
                await self._create(request, body, apply=True)
                self._apply_creates.add(request.id)
                return
            raise kmock.KubernetesObjectNotFoundError()
        live = self.objects[key].raw
        wanted = (
            None if content_type == JSON_PATCH else body.get("metadata", {}).get("resourceVersion")
        )
        if wanted and wanted != live["metadata"].get("resourceVersion"):
            raise status.conflict(
                plural=request.resource.plural or "",
                group=request.resource.group or "",
                name=request.name or "",
            )
        if content_type == APPLY:
            self._require_manager(request)
            applied = self._identify(request, body)
            if request.subresource == "status":
                keep = ("apiVersion", "kind", "metadata", "status")
                applied = {k: v for k, v in applied.items() if k in keep}
            new = ssa.apply(
                live,
                applied,
                manager=self._manager(request),
                force=request.params.get("force") == "true",
                has_status=has_status and request.subresource != "status",
            )
        elif request.method == kmock.method.PUT:
            new = self._identify(request, body)
        elif content_type == JSON_PATCH:
            try:
                new = semantics.json_patch(live, body)
            except semantics.PatchFailedError as error:
                # A failed `test` operation is 422 Unprocessable Entity, as in Kubernetes.
                raise kmock.KubernetesError(
                    status=422, reason="Invalid", message=str(error)
                ) from None
        elif content_type == STRATEGIC:
            new = semantics.strategic_merge_patch(live, body)
        else:
            new = semantics.merge_patch(live, body)
        new = semantics.confine(live, new, subresource=request.subresource, has_status=has_status)
        meta = new.setdefault("metadata", {})
        for field in _IDENTITY:
            if field in live["metadata"]:
                meta[field] = live["metadata"][field]
            else:
                meta.pop(field, None)
        if content_type != APPLY:
            meta["managedFields"] = live["metadata"].get("managedFields", [])
            ssa.update(
                live,
                new,
                manager=self._manager(request),
                subresource=request.subresource,
                has_status=has_status,
            )
        new = self._validated(request, new, old=live)
        if new == live:
            return  # a no-op write: no new resourceVersion, no watch event
        meta = new["metadata"]
        meta["generation"] = live["metadata"].get("generation", 1) + (
            1 if semantics.spec_changed(live, new) else 0
        )
        meta["resourceVersion"] = self._next_rv()
        self.objects[key].create(new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            await self._delete(request.resource, request.namespace, request.name or "")
        else:
            await self._publish(request.resource, "MODIFIED", self.objects[key].raw)

    def _require_manager(self, request: rendering.Request) -> None:
        if not request.params.get("fieldManager"):
            raise kmock.KubernetesError(
                status=422,
                reason="Invalid",
                message='PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
            )

    def _authorize(self, request: rendering.Request, *, verb: str) -> None:
        """Authorization hook (sandbox/rbac.py), overridden by the server."""

    async def _delete(self, resource: kmock.resource, namespace: str | None, name: str) -> None:
        key = (resource, namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesObjectNotFoundError()
        obj = self.objects[key]
        meta = obj.raw["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                stamp = {"deletionTimestamp": now(), "resourceVersion": self._next_rv()}
                obj.patch({"metadata": stamp})
                await self._publish(resource, "MODIFIED", obj.raw)
            return
        last = copy.deepcopy(obj.raw)
        last["metadata"]["resourceVersion"] = self._next_rv()
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
