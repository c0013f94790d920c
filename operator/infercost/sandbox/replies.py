"""The read side of the sandbox API server: replies, list/watch with selectors, the request log.

kmock matches every request against views over all past requests (quadratic in the number
of requests); resource and discovery requests here never have test-defined reactions, so they
go straight to these handlers, which look objects up by key (lists through an index).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering

from infercost.sandbox import semantics


@attrs.define(kw_only=True)
class Replies(kmock.KubernetesEmulator):
    """kmock's emulator with O(1) replies, selectors and a request log by RBAC verb."""

    _rv: int = attrs.field(default=0, init=False)
    # The last `watch_history` events (resourceVersion, resource, event) for watches that
    # resume from a resourceVersion; an older one is 410 Gone, as after etcd compaction.
    watch_history: int = 10_000
    _history: collections.deque[tuple[int, kmock.resource, dict[str, Any]]] = attrs.field(
        factory=collections.deque, init=False
    )
    _compacted: int = attrs.field(default=0, init=False)
    # Requests (by id) whose server-side apply created the object: Kubernetes authorizes
    # those as `create` as well as `patch`.
    _apply_creates: set[int] = attrs.field(factory=set, init=False)
    # Request id -> name of the object a POST created (generateName: only the server knows it).
    _created: dict[int, str] = attrs.field(factory=dict, init=False)
    # (group, version, plural) -> namespace (None: all) -> stored keys; see `_keys_of`.
    _index: dict[tuple[Any, ...], dict[str | None, list[Any]]] = attrs.field(
        factory=dict, init=False
    )
    _indexed: int = attrs.field(default=0, init=False)

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        """Discovery of one group/version, as kubectl reads it (kmock 0.8 shims below)."""
        reply = await super()._serve_version(request)
        assert isinstance(reply, dict)
        # The core group's groupVersion is "v1", not "/v1": kubectl matches resources on it.
        reply["groupVersion"] = str(reply["groupVersion"]).lstrip("/")
        for entry in reply.get("resources") or []:
            if "/" in entry["name"]:  # subresources have no short names or categories
                entry["shortNames"], entry["categories"] = [], []
        return reply

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    async def _publish(self, resource: kmock.resource, kind: str, obj: dict[str, Any]) -> None:
        event = {"type": kind, "object": obj}
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version is not None:  # an ERROR event (a Status) is not part of the history
            if len(self._history) >= self.watch_history:
                self._compacted = self._history.popleft()[0]
            self._history.append((int(version), resource, event))
        await self._buses[resource].put(event)

    def _request_counts(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.Response:
        """`GET /sandbox/requests?agents=a,b`: requests served so far by verb and resource.

        Not a Kubernetes endpoint (a benchmark in another process counts the operator's
        requests with it), so it is neither logged nor matched against kmock's reactions.
        """
        agents = tuple(a for a in raw_request.query.get("agents", "").split(",") if a)
        counts: dict[str, int] = {}
        for verb, group, resource, _ in self.request_log(agents=agents):
            key = f"{verb} {group}/{resource}"
            counts[key] = counts.get(key, 0) + 1
        return aiohttp.web.json_response({"counts": counts, "writes": self.writes(agents=agents)})

    async def _non_resource(self, request: rendering.Request) -> Any:
        """Discovery (`/api`, `/apis/<group>/<version>`, `/version`) straight from kmock's
        handlers, as `_respond` does for resources; anything else through kmock's matching."""
        path = request.url.path.rstrip("/") if request.method == kmock.method.GET else ""
        for pattern, handler in _DISCOVERY:
            if pattern.fullmatch(path):
                payload = getattr(self, handler)
                return await rendering.Response(payload=payload)(request)
        return await super()._handle(request)

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo:
        return self.resources[resource]

    async def _respond(self, request: rendering.Request) -> Any:
        """Serve a resource request with kmock's replies, without its reaction matching.

        kmock matches every request against views over all past requests (quadratic in the
        number of requests); resource requests here never have test-defined reactions, so they
        go straight to the emulator's handlers. Faults are injected with `fail_next` instead.
        """
        handlers = {
            kmock.action.LIST: self._serve_list,
            kmock.action.WATCH: self._serve_watch,
            kmock.action.FETCH: self._serve_fetch,
            kmock.action.CREATE: self._serve_create,
            kmock.action.UPDATE: self._serve_update,
            kmock.action.DELETE: self._serve_delete,
        }
        handler = handlers.get(request.action) if request.action is not None else None
        if request.method == kmock.method.PUT and request.name is not None:
            handler = self._serve_update
        if handler is None:
            return await super()._handle(request)
        return await rendering.Response(payload=handler)(request)  # type: ignore[arg-type]

    def _keys_of(self, resource: kmock.resource, namespace: str | None) -> list[Any]:
        """The stored keys of one resource (in one namespace, or in all: None), in the order
        they were first stored, from an index kept up to date by the keys added since the last
        call. kmock soft-deletes (the key stays) and nothing here hard-deletes, so the store
        only grows; if it ever shrinks the index is rebuilt."""
        store = self.objects._objects  # the dict behind kmock's ObjectsArray
        if len(store) < self._indexed:
            self._index.clear()
            self._indexed = 0
        if len(store) > self._indexed:
            added = list(itertools.islice(reversed(store), len(store) - self._indexed))
            for key in reversed(added):
                kind = self._index.setdefault(_triple(key[0]), {})
                kind.setdefault(None, []).append(key)
                if key[1] is not None:
                    kind.setdefault(key[1], []).append(key)
            self._indexed = len(store)
        return self._index.get(_triple(resource), {}).get(namespace, [])

    def _matching(self, request: rendering.Request) -> list[dict[str, Any]]:
        assert request.resource is not None
        labels = request.params.get("labelSelector")
        fields = request.params.get("fieldSelector")
        found = []
        for key in self._keys_of(request.resource, request.namespace):
            obj = self.objects[key]
            if obj.deleted or (request.name is not None and key[2] != request.name):
                continue
            raw = obj.raw
            if semantics.labels_match(
                labels, raw.get("metadata", {}).get("labels") or {}
            ) and semantics.fields_match(fields, raw):
                found.append(raw)
        return found

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock 0.8 cannot parse `/api/v1/namespaces` (it takes `namespaces` for the namespace
        # prefix of a namespaced path and fails): serve that cluster-scoped list and watch here.
        if raw_request.path.rstrip("/") == "/api/v1/namespaces" and raw_request.method == "GET":
            return await self._namespaces(raw_request)
        if raw_request.path == "/sandbox/requests" and raw_request.method == "GET":
            return self._request_counts(raw_request)
        return await super().__call__(raw_request)

    async def _namespaces(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        watch = raw_request.query.get("watch") == "true"
        self._requests.append(
            rendering.Request(
                id=len(self._requests),
                method="GET",
                url=raw_request.url,
                params=dict(raw_request.query),
                headers=dict(raw_request.headers),
                action=kmock.action.WATCH if watch else kmock.action.LIST,
                resource=kmock.resource("", "v1", "namespaces"),
            )
        )
        names = sorted({ns for (_, ns, _), obj in self.objects.items() if ns and not obj.deleted})
        items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names]
        if not watch:
            meta = {"resourceVersion": str(self._rv)}
            listing = {
                "apiVersion": "v1",
                "kind": "NamespaceList",
                "metadata": meta,
                "items": items,
            }
            return aiohttp.web.json_response(listing)
        response = aiohttp.web.StreamResponse()
        await response.prepare(raw_request)
        for item in items:
            await response.write(json.dumps({"type": "ADDED", "object": item}).encode() + b"\n")
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while not raw_request.transport or not raw_request.transport.is_closing():
                await asyncio.sleep(1)  # namespaces never change in the sandbox
        return response

    # kmock's own replies scan every stored object per request; these look the key up.
    def _stored(self, request: rendering.Request) -> Any:
        assert request.resource is not None
        name = request.name or self._created.pop(request.id, None)
        key = (request.resource, request.namespace, name or "")
        if key not in self.objects:
            raise kmock.KubernetesObjectNotFoundError()
        return self.objects[key]

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        obj = self._stored(request)
        if obj.deleted:
            raise kmock.KubernetesObjectNotFoundError()
        return obj.raw  # type: ignore[no-any-return]

    async def _serve_create(self, request: rendering.Request) -> rendering.Payload:
        return self._stored(request).raw  # type: ignore[no-any-return]

    async def _serve_update(self, request: rendering.Request) -> rendering.Payload:
        return self._stored(request).last.raw  # type: ignore[no-any-return]

    async def _serve_delete(self, request: rendering.Request) -> rendering.Payload:
        return self._stored(request).last.raw  # type: ignore[no-any-return]

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None
        if request.resource not in list(self.resources):
            raise kmock.KubernetesResourceNotFoundError()
        async with self._lock:
            items = self._matching(request)
            version = str(self._rv)
        group = request.resource.group
        kind = self._info(request.resource).kind or ""
        return {
            "apiVersion": f"{group}/{request.resource.version}" if group else "v1",
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        """A watch: from `resourceVersion` (the events after it), else the current state first."""
        assert request.resource is not None
        yield b""
        since = request.params.get("resourceVersion", "")
        async with self._lock:
            mark = await self._buses[request.resource].mark()
            if since in ("", "0"):
                events = [{"type": "ADDED", "object": raw} for raw in self._matching(request)]
            elif not since.isdigit() or int(since) < self._compacted:
                events = [_expired(since, self._compacted)]
            else:
                events = [
                    event
                    for rv, resource, event in self._history
                    if rv > int(since)
                    and resource == request.resource
                    and self._selected(request, event)
                ]
        for event in events:
            yield event
            if event["type"] == "ERROR":
                return
        async for event in mark:
            if self._selected(request, event):
                yield event

    def _selected(self, request: rendering.Request, event: dict[str, Any]) -> bool:
        raw = event.get("object", {})
        meta = raw.get("metadata", {})
        if request.namespace is not None and meta.get("namespace") != request.namespace:
            return False
        labels = request.params.get("labelSelector")
        fields = request.params.get("fieldSelector")
        return semantics.labels_match(labels, meta.get("labels") or {}) and (
            semantics.fields_match(fields, raw)
        )

    def request_log(
        self, *, agents: tuple[str, ...] = ()
    ) -> list[tuple[str, str, str, str | None]]:
        """(verb, group, resource[/subresource], namespace) of the API requests served so far.

        With `agents`, only requests whose User-Agent starts with one of them.
        """
        verbs = {"LIST": "list", "WATCH": "watch", "FETCH": "get", "CREATE": "create"}
        verbs |= {"UPDATE": "patch", "DELETE": "delete"}
        log = []
        for request in list(self._requests):
            agent = request.headers.get("User-Agent", "")
            if agents and not agent.startswith(agents):
                continue
            if request.resource is None or request.resource.plural is None:
                continue  # discovery (/api, /apis/...): non-resource URLs, always allowed
            verb = verbs.get(request.action.value if request.action else "", "")
            if request.method == kmock.method.PUT:
                verb = "update"
            plural = request.resource.plural
            if request.subresource:
                plural = f"{plural}/{request.subresource}"
            log.append((verb, request.resource.group or "", plural, request.namespace))
            if request.id in self._apply_creates:
                log.append(("create", request.resource.group or "", plural, request.namespace))
        return log

    def writes(self, *, agents: tuple[str, ...] = ()) -> int:
        """How many write requests (POST, PATCH, PUT, DELETE) were served so far."""
        methods = {kmock.method.POST, kmock.method.PATCH, kmock.method.PUT, kmock.method.DELETE}
        return sum(
            1
            for request in list(self._requests)
            if request.method in methods
            and request.resource is not None
            and (not agents or request.headers.get("User-Agent", "").startswith(agents))
        )


# kmock's discovery handlers by path (its own fallback routes, kmock/_internal/k8s.py).
_DISCOVERY = (
    (re.compile(r"/apis/[^/]+/[^/]+"), "_serve_version"),
    (re.compile(r"/apis/[^/]+"), "_serve_group"),
    (re.compile(r"/api/[^/]+"), "_serve_version"),
    (re.compile(r"/version"), "_serve_server_version"),
    (re.compile(r"/apis"), "_serve_apis"),
    (re.compile(r"/api"), "_serve_api"),
)


def _triple(resource: Any) -> tuple[Any, ...]:
    return (resource.group, resource.version, resource.plural)


def _expired(since: str, compacted: int) -> dict[str, Any]:
    """The watch event of a resourceVersion older than the kept history (410 Gone)."""
    return {
        "type": "ERROR",
        "object": {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {since} ({compacted + 1})",
            "reason": "Expired",
            "code": 410,
        },
    }
