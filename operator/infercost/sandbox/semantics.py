"""Kubernetes API rules that kmock 0.8 does not apply, as plain functions over dicts.

Each function follows the behaviour the Kubernetes API documentation states:
- JSON merge patch (RFC 7386): objects merge recursively, `null` deletes, lists are replaced.
- Server-side apply: the applied configuration is the manager's whole intent; with one
  manager per object (the operator's case) the fields it stops applying are removed. Field
  ownership between several managers is not modelled (see docs/architecture.md section 10).
- `metadata.generation` increases only when something outside metadata and status changes.
- Label selectors: equality (`k=v`, `k==v`, `k!=v`), set (`k in (a,b)`, `k notin (a)`) and
  existence (`k`, `!k`) requirements, comma-separated, all of which must hold.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import jsonpatch

SYSTEM_META = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class PatchFailedError(Exception):
    """A JSON patch that cannot apply: a failed `test` or a path that does not exist."""


def json_patch(target: Mapping[str, Any], operations: list[Any]) -> dict[str, Any]:
    """RFC 6902 JSON patch."""
    try:
        result: dict[str, Any] = jsonpatch.apply_patch(dict(target), operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise PatchFailedError(str(error)) from error
    return result


def server_side_apply(live: Mapping[str, Any], applied: Mapping[str, Any]) -> dict[str, Any]:
    """The object after one manager applies its whole configuration to `live`."""
    result = {key: copy.deepcopy(value) for key, value in live.items() if key in ("metadata",)}
    for key, value in applied.items():
        if key not in ("metadata", "status"):
            result[key] = copy.deepcopy(value)
    if "status" in live:
        result["status"] = copy.deepcopy(live["status"])
    meta = dict(result.get("metadata", {}))
    for key, value in applied.get("metadata", {}).items():
        if key in ("labels", "annotations"):
            meta[key] = {**meta.get(key, {}), **value}
        elif key not in SYSTEM_META:
            meta[key] = copy.deepcopy(value)
    result["metadata"] = meta
    return result


def spec_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether anything but metadata and status differs (what bumps metadata.generation)."""
    keys = (set(old) | set(new)) - {"metadata", "status"}
    return any(old.get(key) != new.get(key) for key in keys)


_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _requirement_holds(requirement: str, labels: Mapping[str, str]) -> bool:
    match = _SET_RE.match(requirement)
    if match:
        key, op, raw = match.groups()
        values = {value.strip() for value in raw.split(",")}
        return (labels.get(key) in values) if op == "in" else (labels.get(key) not in values)
    if "!=" in requirement:
        key, value = (part.strip() for part in requirement.split("!=", 1))
        return labels.get(key) != value
    if "=" in requirement:
        key, value = (part.strip() for part in requirement.replace("==", "=").split("=", 1))
        return labels.get(key) == value
    if requirement.startswith("!"):
        return requirement[1:].strip() not in labels
    return requirement in labels


def labels_match(selector: str | None, labels: Mapping[str, str]) -> bool:
    """Whether labels satisfy a label selector in its query-string form."""
    if not selector:
        return True
    return all(_requirement_holds(req, labels) for req in _split_requirements(selector))


def fields_match(selector: str | None, obj: Mapping[str, Any]) -> bool:
    """The `metadata.name` and `metadata.namespace` field selectors (equality only)."""
    if not selector:
        return True
    meta = obj.get("metadata", {})
    for requirement in _split_requirements(selector):
        key, value = (part.strip() for part in requirement.replace("==", "=").split("=", 1))
        field = key.removeprefix("metadata.")
        if meta.get(field) != value:
            return False
    return True


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)
