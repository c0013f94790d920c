"""Every write the sandbox API server accepts is checked as a real server checks it.

Built-in kinds (Deployment, Service, ConfigMap, Pod, Event, ...) against the Kubernetes
OpenAPI schemas that `kubernetes-validate` ships, of one Kubernetes version (a server
option; 1.33 by default). Custom resources against their CRD's structural schema: nulls of
non-nullable fields dropped, defaults applied, unknown fields pruned, then the OpenAPI 3.0
types and every `x-kubernetes-validations` CEL rule (sandbox/crdschema.py).

Unknown fields follow the request's `fieldValidation` parameter as the real server does:
`Strict` refuses them (400, `strict decoding error: unknown field "spec.x"`), `Warn` (the
default) and `Ignore` drop them, `Warn` with a `Warning` header naming each.

A refused write is 422 Invalid with a `Status` whose message and causes name the fields.
Simplifications: only what the schemas say is checked (no name syntax beyond the schema,
no immutable fields, no admission plugins); a kind without a schema of that version is
accepted as it is. Validators are compiled once per kind and version.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import importlib_resources
import jsonschema  # type: ignore[import-untyped]
import referencing
import referencing.jsonschema

from infercost.sandbox import crdschema, status

DEFAULT_VERSION = "1.33"
VERSIONS = ("1.30", "1.33")
_SCHEMAS = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"


@dataclass(frozen=True)
class Checked:
    """The object as the server stores it, and the warnings for the client."""

    obj: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@functools.cache
def _definitions(version: str) -> referencing.Registry[Any]:
    text = (_SCHEMAS / f"v{version}.0-local-strict" / "_definitions.json").read_text()
    contents = json.loads(text)
    resource = referencing.Resource.from_contents(contents)
    return resource @ referencing.Registry()


@functools.cache
def builtin_validator(version: str, kind: str, api_version: str) -> jsonschema.Validator | None:
    """The compiled validator of a built-in kind, or None when the version has no schema."""
    if version not in VERSIONS:
        raise ValueError(f"Kubernetes version {version!r}: use one of {', '.join(VERSIONS)}")
    stem = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMAS / f"v{version}.0-local-strict" / f"{kind.lower()}-{stem}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_definitions(version))


def _path(location: Any) -> str:
    return crdschema.dotted(location)


def _delete(obj: Any, location: list[Any], keys: set[str]) -> None:
    node = obj
    for part in location:
        node = node[part]
    for key in keys:
        node.pop(key, None)


@dataclass
class Validation:
    """The schemas one server validates with: a Kubernetes version and the registered CRDs."""

    version: str = DEFAULT_VERSION
    # (group, kind) -> openAPIV3Schema of the served version
    custom: dict[tuple[str, str], crdschema.Schema] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(
                f"Kubernetes version {self.version!r}: use one of {', '.join(VERSIONS)}"
            )

    def register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec", {})
        for version in spec.get("versions", []):
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("storage") and schema:
                self.custom[(spec.get("group", ""), spec["names"]["kind"])] = schema

    def check(
        self,
        obj: dict[str, Any],
        *,
        group: str,
        strict: str,
        old: dict[str, Any] | None = None,
        refuse: bool = True,
    ) -> Checked:
        """The object to store, or ApiError (422 Invalid, 400 for Strict unknown fields).

        `old`: the stored object an update replaces. Custom resources are ratcheted as
        Kubernetes does since 1.30 (CRDValidationRatcheting): an error at a value the
        update leaves unchanged is not the update's fault and does not refuse it.
        `refuse=False` prunes and defaults but accepts whatever errors remain.
        """
        kind = str(obj.get("kind", ""))
        name = str(obj.get("metadata", {}).get("name", ""))
        schema = self.custom.get((group, kind))
        if schema is not None:
            obj, unknown, errors = self._custom(schema, obj, old=old)
            if old is not None:
                errors = [e for e in errors if _at(obj, e[0]) != _at(old, e[0])]
        else:
            validator = builtin_validator(self.version, kind, str(obj.get("apiVersion", "")))
            if validator is None:
                return Checked(obj=obj)
            obj, unknown, errors = self._builtin(validator, obj)
        if unknown and strict == "Strict":
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            version = str(obj.get("apiVersion", "")).rpartition("/")[2]
            raise status.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {kind}: '
                f"strict decoding error: {listed}"
            )
        if errors and refuse:
            raise status.invalid(kind=kind, group=group, name=name, causes=errors)
        warnings = [f'unknown field "{path}"' for path in unknown] if strict == "Warn" else []
        return Checked(obj=obj, warnings=warnings)

    def _custom(
        self, schema: crdschema.Schema, obj: dict[str, Any], *, old: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
        prepared = crdschema.prepare(schema, obj)
        top = {k: v for k, v in prepared.items() if k not in ("apiVersion", "kind", "metadata")}
        unknown = [_unknown_path(text) for text in crdschema.unknown_fields(schema, top)]
        # apiVersion, kind and metadata (an ObjectMeta) are never pruned by the CRD's schema
        pruned = crdschema.prune(schema, prepared)
        for key in ("apiVersion", "kind", "metadata"):
            if key in prepared:
                pruned[key] = prepared[key]
        pruned_without_meta = {k: v for k, v in pruned.items() if k != "metadata"}
        errors = [_split(text) for text in crdschema.type_errors(schema, pruned_without_meta)]
        if not errors:
            errors = [
                (f"{check.path}{check.field_path}".lstrip(".") or "<root>", check.message)
                for check in crdschema.cel_checks(schema, pruned_without_meta, old=old)
                if not check.passed
            ]
        return pruned, unknown, errors

    def _builtin(
        self, validator: jsonschema.Validator, obj: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
        unknown: list[str] = []
        errors: list[tuple[str, str]] = []
        for _ in range(8):  # pruning one level can reveal nothing new; a few rounds at most
            found = list(validator.iter_errors(obj))
            extra = [e for e in found if e.validator == "additionalProperties"]
            if not extra:
                errors = [(_path(e.absolute_path) or "<root>", e.message) for e in found]
                break
            for error in extra:
                declared = set(error.schema.get("properties", {}))
                keys = {key for key in error.instance if key not in declared}
                location = list(error.absolute_path)
                unknown += [_path([*location, key]) for key in sorted(keys)]
                _delete(obj, location, keys)
        return obj, unknown, errors


_PART = re.compile(r"\.?([^.\[\]]+)|\[([^\]]+)\]")
_ABSENT = object()


def _at(obj: Any, dotted: str) -> Any:
    """The value at a path such as `spec.variants[0].profile` (absent: a sentinel)."""
    node = obj
    for key, index in _PART.findall("" if dotted == "<root>" else dotted):
        part = key or index
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _ABSENT
    return node


def _unknown_path(text: str) -> str:
    where, _, rest = text.partition(": unknown field ")
    key = rest.strip('"')
    return f"{where}.{key}" if where else key


def _split(text: str) -> tuple[str, str]:
    where, _, message = text.partition(": ")
    return (where or "<root>", message)
