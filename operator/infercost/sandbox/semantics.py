"""Kubernetes API rules that kmock 0.8 does not apply, as plain functions over dicts.

Each function follows the behaviour the Kubernetes API documentation states:
- JSON merge patch (RFC 7386): objects merge recursively, `null` deletes, lists are replaced.
- Strategic merge patch: the same, but lists with a merge key merge by item.
- The status subresource: status writes change only status, main writes never do.
- `metadata.generation` increases only when something outside metadata and status changes.
- Label selectors: equality (`k=v`, `k==v`, `k!=v`), set (`k in (a,b)`, `k notin (a)`) and
  existence (`k`, `!k`) requirements, comma-separated, all of which must hold.
- Field selectors: `f=v`, `f==v`, `f!=v` on a field's path, an absent field being "".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import jsonpatch

# The lists merged by item (strategic merge patch here, server-side apply in ssa.py), by the
# field name whatever the kind, with their keys in order of preference.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "ports": ("containerPort", "port"),
    "volumeMounts": ("mountPath",),
    "ownerReferences": ("uid",),
}


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


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch, for the lists that have merge keys here (MERGE_KEYS: merged
    by item, `$patch: delete` removes one); other lists are replaced and the ordering
    directives (`$setElementOrder/...`, `$retainKeys`) ignored: order is not kept."""
    keys = MERGE_KEYS.get(field, ())
    if isinstance(patch, list) and isinstance(target, list) and keys:
        out = list(target)
        for item in patch:
            key = next((k for k in keys if isinstance(item, dict) and k in item), None)
            if key is None:
                return copy.deepcopy(patch)
            index = next(
                (i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]),
                None,
            )
            if item.get("$patch") == "delete":
                if index is not None:
                    del out[index]
            elif index is None:
                out.append(copy.deepcopy(item))
            else:
                out[index] = strategic_merge_patch(out[index], item)
        return out
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
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


def confine(
    live: dict[str, Any], new: dict[str, Any], *, subresource: str | None, has_status: bool
) -> dict[str, Any]:
    """The status subresource: each endpoint changes only its own part of the object."""
    if not has_status:
        return new
    if subresource == "status":
        result = copy.deepcopy(live)
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


# Field selector labels that are not the object's own path (core/v1 Events: `source` is the
# source's component; pkg/registry/core/event/strategy.go).
_FIELD_ALIASES = {"source": "source.component"}


def _field_value(obj: Mapping[str, Any], label: str) -> str:
    """A field selector label's value in `obj` ("" when absent, as the API server takes it)."""
    value: Any = obj
    for part in _FIELD_ALIASES.get(label, label).split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def fields_match(selector: str | None, obj: Mapping[str, Any]) -> bool:
    """Field selectors, equality (`f=v`, `f==v`) and inequality (`f!=v`), all of which must
    hold: `metadata.name`, `metadata.namespace`, and any field by its path (an Event's
    `involvedObject.kind`, `reason`, `type`, `reportingComponent`, `source`)."""
    if not selector:
        return True
    for requirement in _split_requirements(selector):
        if "!=" in requirement:
            label, value = (part.strip() for part in requirement.split("!=", 1))
            if _field_value(obj, label) == value:
                return False
            continue
        label, value = (part.strip() for part in requirement.replace("==", "=").split("=", 1))
        if _field_value(obj, label) != value:
            return False
    return True


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)
