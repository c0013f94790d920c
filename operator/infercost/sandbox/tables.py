"""Table output and discovery, so `kubectl get` prints what it prints against a real server.

A list or get that asks for `application/json;as=Table;v=v1;g=meta.k8s.io` (kubectl does)
gets a `meta.k8s.io/v1` Table: for custom resources the CRD's `additionalPrinterColumns`
(NAME first; the JSONPath of each evaluated; `date` columns as an age such as `5m`; AGE
alone when the CRD declares no columns), for built-ins NAME and AGE, with
READY/UP-TO-DATE/AVAILABLE for Deployments and READY/STATUS for Pods as kubectl shows
them. Rows carry the object's metadata as `PartialObjectMetadata` (kubectl's NAMESPACE
column with `-A`). JSONPath covers what printer columns use: `.a.b`, `[n]`, `[*]` and
`[?(@.k=="v")]`.

Discovery (`/apis/GROUP/VERSION`, `/api/v1`) lists short names and categories of the
built-ins as a real server does (`deploy`, `po`, `svc`, `cm`; category `all`), so
`kubectl get ics,deploy,pods -A` resolves every name.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import rendering

from infercost.api.crdgen import all_crds
from infercost.sandbox import status
from infercost.sandbox.status import ApiError

TABLE = "as=Table"
# plural -> (shortNames, categories) of the built-ins, as the real server's discovery has them
BUILTIN_NAMES: dict[str, tuple[list[str], list[str]]] = {
    "deployments": (["deploy"], ["all"]),
    "pods": (["po"], ["all"]),
    "services": (["svc"], ["all"]),
    "configmaps": (["cm"], []),
    "events": (["ev"], []),
    "namespaces": (["ns"], []),
    "poddisruptionbudgets": (["pdb"], []),
    "networkpolicies": (["netpol"], []),
    "customresourcedefinitions": (["crd", "crds"], ["api-extensions"]),
}
_STEP = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)


def wants_table(request: rendering.Request) -> bool:
    return TABLE in request.headers.get("Accept", "")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj` (empty when none)."""
    values = [obj]
    position = 0
    path = path.strip().removeprefix("{").removesuffix("}").removeprefix("$")
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return []
        position = match.end()
        key, index, field, wanted = match.groups()
        selected: list[Any] = []
        for value in values:
            if key is not None and isinstance(value, dict) and key in value:
                selected.append(value[key])
            elif index == "*" and isinstance(value, list):
                selected.extend(value)
            elif index is not None and index != "*" and isinstance(value, list):
                if int(index) < len(value):
                    selected.append(value[int(index)])
            elif field is not None and isinstance(value, list):
                selected.extend(item for item in value if _field(item, field) == wanted)
        values = selected
    return values


def _field(item: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return None if item is None else str(item)


def age(timestamp: str | None) -> str:
    """A timestamp as kubectl's age: 45s, 12m, 3h, 2d."""
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = max(0, int((datetime.datetime.now(tz=datetime.UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    values = jsonpath(obj, column["jsonPath"])
    if not values:
        return None
    if column.get("type") == "date":
        return age(str(values[0]))
    if len(values) == 1:
        value = values[0]
        return json.dumps(value) if isinstance(value, (dict, list)) else value
    return ",".join(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in values)


Cell = Callable[[dict[str, Any]], Any]
Printer = tuple[dict[str, Any], Cell]


def _column(name: str, kind: str = "string", *, format_: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": format_, "description": name, "priority": 0}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def _deployment_ready(obj: dict[str, Any]) -> str:
    wanted = obj.get("spec", {}).get("replicas", 1)
    return f"{_status(obj).get('readyReplicas', 0)}/{wanted}"


def _pod_ready(obj: dict[str, Any]) -> str:
    statuses = _status(obj).get("containerStatuses") or []
    total = len(obj.get("spec", {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _builtin(kind: str) -> list[Printer]:
    """(column definition, cell of an object) for the built-ins, as kubectl's printers show."""
    if kind == "Deployment":
        return [
            (_column("Ready"), _deployment_ready),
            (_column("Up-to-date", "integer"), lambda o: _status(o).get("updatedReplicas", 0)),
            (_column("Available", "integer"), lambda o: _status(o).get("availableReplicas", 0)),
        ]
    if kind == "Pod":
        return [
            (_column("Ready"), _pod_ready),
            (_column("Status"), lambda o: _status(o).get("phase", "Pending")),
        ]
    return []


def _custom(crd: dict[str, Any]) -> list[Printer]:
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    declared = version.get("additionalPrinterColumns") or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    printers: list[Printer] = []
    for column in declared:
        definition = _column(
            column["name"],
            "string" if column["type"] == "date" else column["type"],
            format_=column.get("format", ""),
        )
        definition["description"] = column.get("description", column["name"])
        definition["priority"] = column.get("priority", 0)
        printers.append((definition, functools.partial(_cell, column)))
    return printers


def table(
    objects: list[dict[str, Any]], *, kind: str, crd: dict[str, Any] | None
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects`."""
    if crd is not None:
        printers = _custom(crd)
    else:
        printers = _builtin(kind)
        printers.append(
            (_column("Age"), lambda o: age(o.get("metadata", {}).get("creationTimestamp")))
        )
    rows = [
        {
            "cells": [obj["metadata"]["name"]] + [cell(obj) for _, cell in printers],
            "object": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadata",
                "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"},
            },
        }
        for obj in objects
    ]
    return {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "Table",
        "metadata": {},
        "columnDefinitions": [_column("Name", format_="name")]
        + [definition for definition, _ in printers],
        "rows": rows,
    }


def _crd_of(server: Any, resource: kmock.resource) -> dict[str, Any] | None:
    """The CRD serving `resource` (stored in the server, else one of ours), or None."""
    for (stored_resource, _, _), stored in server.objects.items():
        if stored_resource.plural != "customresourcedefinitions" or stored.deleted:
            continue
        spec = stored.raw["spec"]
        if spec["names"]["plural"] == resource.plural and spec["group"] == resource.group:
            return dict(stored.raw)
    if resource.group == "infercost.io":
        for crd in all_crds().values():
            if crd["spec"]["names"]["plural"] == resource.plural:
                return crd
    return None


async def respond(server: Any, request: rendering.Request) -> aiohttp.web.StreamResponse:
    """The Table of a list or get request."""
    resource = request.resource
    assert resource is not None
    async with server._lock:
        objects = server._matching(request)
        version = str(server._rv)
    if request.name is not None and not objects:
        raise ApiError(
            code=404,
            reason="NotFound",
            message=f"{status.qualified(str(resource.plural), resource.group or '')} "
            f'"{request.name}" not found',
            details={"name": request.name, "group": resource.group, "kind": resource.plural},
        )
    info = server._info(resource)
    body = table(objects, kind=str(info.kind), crd=_crd_of(server, resource))
    body["metadata"]["resourceVersion"] = version
    return aiohttp.web.json_response(body)


def serve_discovery(server: Any) -> None:
    """Give the built-ins their short names and categories in discovery."""
    for key in list(server.resources):
        names = BUILTIN_NAMES.get(key.plural)
        if names is not None and key.group != "infercost.io":
            info = server.resources[key]
            info.shortnames.update(names[0])
            info.categories.update(names[1])
