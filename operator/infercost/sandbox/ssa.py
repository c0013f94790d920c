"""Field management: server-side apply with ownership per manager, as Kubernetes documents it.

Each object's `metadata.managedFields` holds one entry per (manager, operation, subresource)
with the fields it owns in the `FieldsV1` format (`f:spec` / `f:replicas`, `k:{"name":"c"}`
for an item of a keyed list, `.` for the item itself).

- Apply (`application/apply-patch+yaml`): the applied configuration is the manager's whole
  intent. A field it applies that another manager owns with a different value is a conflict
  (409, naming each field and manager) unless `force=true`, which takes the field over; an
  equal value makes the field shared. Fields it applied before and applies no longer are
  removed unless another manager still owns them (or something beneath them).
- Update (create, PUT, merge / JSON / strategic patches): the manager (the `fieldManager`
  parameter, else the User-Agent up to its first `/`) takes over every field the write
  changed, from everyone; fields the write removed leave every set. Never a conflict.

Simplifications, documented: keyed lists are the ones below, by field name, whatever the
kind (containers, initContainers, env and volumes by `name`, ports by `containerPort` or
else `port`, volumeMounts by `mountPath`, ownerReferences by `uid`); every other list is
atomic (owned and replaced whole, where Kubernetes also has sets and more map keys). A
manager's Apply and Update entries are one manager for conflicts. Status is owned through
the status subresource only, for kinds that have one.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

from infercost.sandbox import semantics, status

Path = tuple[str, ...]
MERGE_KEYS = semantics.MERGE_KEYS
UNMANAGED_META = {
    "name", "namespace", "generateName", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields",
    "selfLink",
}  # fmt: skip
ITEM = "."  # the marker of a keyed list item (or map) owned as such
_MISSING = object()


def _item_key(field: str, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    for key in MERGE_KEYS.get(field, ()):
        if key in item:
            return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))
    return None


def _keyed(field: str, value: Any) -> bool:
    return isinstance(value, list) and all(_item_key(field, item) for item in value) and bool(value)


def leaves(value: Any, prefix: Path = (), field: str = "") -> set[Path]:
    """Every owned path of `value`: leaves, plus a marker for each keyed list item."""
    if isinstance(value, dict) and value:
        found: set[Path] = set()
        for key, item in value.items():
            found |= leaves(item, (*prefix, f"f:{key}"), key)
        return found
    if _keyed(field, value):
        found = set()
        for item in value:
            here = (*prefix, str(_item_key(field, item)))
            found.add((*here, ITEM))
            found |= leaves(item, here, "")
        return found
    return {prefix}


def owned_paths(obj: dict[str, Any], *, subresource: str | None, has_status: bool) -> set[Path]:
    """The managed paths of an object for one endpoint (status apart when it has its own)."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            meta = {k: v for k, v in value.items() if k not in UNMANAGED_META}
            paths |= {p for p in leaves(meta, ("f:metadata",)) if p != ("f:metadata",)}
        elif has_status and (key == "status") != (subresource == "status"):
            continue
        else:
            paths |= leaves(value, (f"f:{key}",), key)
    return paths


def get(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if part == ITEM:
            return node
        if part.startswith("f:") and isinstance(node, dict):
            node = node.get(part[2:], _MISSING)
        elif part.startswith("k:") and isinstance(node, list):
            node = next((i for i in node if _matches(i, part)), _MISSING)
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _matches(item: Any, part: str) -> bool:
    wanted = json.loads(part[2:])
    return isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())


def remove(obj: Any, path: Path) -> None:
    """Delete the field (or keyed item, for a marker path) at `path`, and emptied parents."""
    if path and path[-1] == ITEM:
        path = path[:-1]
    parent = get(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        parent[:] = [item for item in parent if not _matches(item, last)]
    if len(path) > 1 and parent in ({}, []):
        remove(obj, path[:-1])


def merge(live: Any, applied: Any, field: str = "") -> Any:
    """`applied` merged into `live`: maps by key, keyed lists by item, the rest replaced."""
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for key, value in applied.items():
            out[key] = merge(live.get(key, _MISSING), value, key)
        return out
    if _keyed(field, applied) and (live == [] or _keyed(field, live)):
        out_list = list(live)
        for item in applied:
            key = _item_key(field, item)
            index = next((i for i, x in enumerate(out_list) if _item_key(field, x) == key), None)
            if index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = merge(out_list[index], item)
        return out_list
    return copy.deepcopy(applied)


def to_fields(paths: set[Path]) -> dict[str, Any]:
    """Paths in the FieldsV1 format."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def from_fields(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for part, child in fields.items():
        here = (*prefix, part)
        paths |= from_fields(child, here) if child else {here}
    return paths


def _beneath(path: Path, paths: set[Path]) -> bool:
    base = path[:-1] if path[-1] == ITEM else path
    return any(p[: len(base)] == base for p in paths)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Managed:
    """The managedFields entries of one object, decoded."""

    def __init__(self, entries: list[dict[str, Any]] | None) -> None:
        self.entries: dict[tuple[str, str, str], tuple[str, set[Path]]] = {}
        for entry in entries or []:
            key = (entry["manager"], entry["operation"], entry.get("subresource", ""))
            paths = from_fields(entry.get("fieldsV1") or {})
            self.entries[key] = (entry.get("apiVersion", ""), paths)

    def encode(self) -> list[dict[str, Any]]:
        out = []
        for (manager, operation, subresource), (api_version, paths) in self.entries.items():
            if not paths:
                continue
            entry: dict[str, Any] = {
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
            }
            entry |= {"time": _now(), "fieldsType": "FieldsV1", "fieldsV1": to_fields(paths)}
            if subresource:
                entry["subresource"] = subresource
            out.append(entry)
        return out

    def others(self, manager: str) -> list[tuple[str, set[Path]]]:
        return [(key[0], paths) for key, (_, paths) in self.entries.items() if key[0] != manager]

    def take(self, key: tuple[str, str, str], api_version: str, paths: set[Path]) -> None:
        """`key` gains `paths`; every other entry loses them."""
        for other, (version, owned) in self.entries.items():
            if other != key:
                self.entries[other] = (version, owned - paths)
        _, current = self.entries.get(key, (api_version, set()))
        self.entries[key] = (api_version, current | paths)


def apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    has_status: bool,
) -> dict[str, Any]:
    """The object after `manager` applies `applied` (the whole intent) to `live`."""
    base = copy.deepcopy(live) if live is not None else {}
    meta = base.get("metadata", {})
    managed = Managed(meta.get("managedFields"))
    key = (manager, "Apply", "")
    api_version = str(applied.get("apiVersion", ""))
    wanted = owned_paths(applied, subresource=None, has_status=has_status)
    conflicts = [
        (other, "." + ".".join(p.removeprefix("f:") for p in path))
        for other, paths in managed.others(manager)
        for path in sorted(wanted & paths)
        if path[-1] != ITEM and get(applied, path) != get(base, path)
    ]
    if conflicts and not force:
        raise status.apply_conflicts(conflicts=conflicts, api_version=api_version)
    _, before = managed.entries.get(key, ("", set()))
    body = {k: v for k, v in applied.items() if k != "status" or not has_status}
    body["metadata"] = {
        k: v for k, v in applied.get("metadata", {}).items() if k not in UNMANAGED_META
    }
    result: dict[str, Any] = merge(base, body)
    forced = {path for _, paths in managed.others(manager) for path in wanted & paths}
    forced = {path for path in forced if get(applied, path) != get(base, path)}
    for other, (version, owned) in list(managed.entries.items()):
        if other != key:
            managed.entries[other] = (version, owned - forced)
    still_owned: set[Path] = set().union(*(paths for _, paths in managed.others(manager)))
    # Whole keyed items first (their fields go with them), then fields, deepest first.
    for path in sorted(before - wanted, key=lambda p: (p[-1] != ITEM, -len(p), p)):
        if not _beneath(path, still_owned | wanted):
            remove(result, path)
    managed.entries[key] = (api_version, wanted)
    result.setdefault("metadata", {})["managedFields"] = managed.encode()
    return result


def update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    subresource: str | None,
    has_status: bool,
) -> None:
    """Record in `new`'s managedFields that `manager` made the change from `old` (in place)."""
    before = (old or {}).get("metadata", {}).get("managedFields")
    managed = Managed(before)
    after = owned_paths(new, subresource=subresource, has_status=has_status)
    previous = owned_paths(old, subresource=subresource, has_status=has_status) if old else set()
    changed = {p for p in after if old is None or get(old, p) != get(new, p)}
    gone = previous - after
    for other, (version, owned) in list(managed.entries.items()):
        managed.entries[other] = (version, owned - gone)
    if changed:
        managed.take(
            (manager, "Update", subresource or ""), str(new.get("apiVersion", "")), changed
        )
    new.setdefault("metadata", {})["managedFields"] = managed.encode()


def manager_of(params: dict[str, str], user_agent: str) -> str:
    """The `fieldManager` parameter, else the client's User-Agent up to its first `/`."""
    return params.get("fieldManager") or user_agent.split("/", 1)[0][:128] or "unknown"
