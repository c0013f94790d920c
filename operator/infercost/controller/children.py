"""The live children of every InferenceService, and whether one still matches what is desired.

Level-triggered: each reconcile compares the children the plan wants with the children as
the watches last delivered them (no GET per round), so a `kubectl scale` of a Deployment, an
edited template, or a deleted Service/ConfigMap/PDB is repaired at the next control interval,
and an owned child of any kind that is no longer wanted is deleted. Ownership is read from
the ownerReference (the service's uid), so it holds after a restart too.

"Matches" must ignore what the API server adds (defaults, status, managedFields,
resourceVersion, ...): a live child matches when, restricted to the fields of the desired
object, it equals the desired object (lists of named items are matched by name, so an item
another manager added is not ours to judge). A server that rewrites a value we set (a
quantity in canonical form) would make that test fail forever; so the view of the child
right after our own apply is remembered too, and matching either counts as in sync.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infercost.adapters.kubernetes import RESOURCES
from infercost.manifests import ANNOTATION_HASH

# Every kind of child the operator writes; each is watched (by the service label) so that
# drift is seen and an unwanted one is found and deleted. A new child kind is added here.
CHILD_KINDS = (
    "ConfigMap",
    "Service",
    "PodDisruptionBudget",
    "PodMonitor",
    "NetworkPolicy",
    "HTTPRoute",
    "Deployment",
)
Child = tuple[str, str]  # (kind, name) within the service's namespace
MISSING, PLAN_CHANGED = "missing", "the plan changed it"


def watched_resource(kind: str) -> tuple[str, str]:
    """(apiVersion, plural) of a child kind, as kopf's handlers select it."""
    return RESOURCES[kind]


def owner_uid(body: Mapping[str, Any]) -> str | None:
    """The uid of the InferenceService that controls this object, or None."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == "InferenceService" and str(ref.get("apiVersion", "")).startswith(
            "infercost.io/"
        ):
            return str(ref.get("uid") or "") or None
    return None


class LiveChildren:
    """Children as last seen, indexed by their owner (namespace, uid). Reading does no I/O."""

    def __init__(self) -> None:
        self._by_owner: dict[tuple[str, str], dict[Child, dict[str, Any]]] = {}
        self._owner: dict[tuple[str, str, str], str] = {}  # (kind, namespace, name) -> uid

    def seen(self, kind: str, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        self.gone(kind, namespace, name)
        uid = owner_uid(body)
        if uid is None:
            return  # not ours (or its ownerReference was removed: the next apply restores it)
        # managedFields can be larger than the object; nothing here reads them.
        slim = {key: value for key, value in body.items() if key != "metadata"}
        slim["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
        self._by_owner.setdefault((namespace, uid), {})[(kind, name)] = slim
        self._owner[(kind, namespace, name)] = uid

    def gone(self, kind: str, namespace: str, name: str) -> None:
        uid = self._owner.pop((kind, namespace, name), None)
        if uid is None:
            return
        owned = self._by_owner.get((namespace, uid))
        if owned is not None:
            owned.pop((kind, name), None)
            if not owned:
                del self._by_owner[(namespace, uid)]

    def owned(self, namespace: str, uid: str) -> dict[Child, dict[str, Any]]:
        """A copy of the service's live children by (kind, name)."""
        return dict(self._by_owner.get((namespace, uid), {}))

    def forget_owner(self, namespace: str, uid: str) -> None:
        for kind, name in self._by_owner.pop((namespace, uid), {}):
            self._owner.pop((kind, namespace, name), None)


@dataclass(frozen=True, kw_only=True)
class Synced:
    """A child known to match: at which resourceVersion, for which desired hash, and the view
    of it after our last apply (the server's rendering of our values)."""

    digest: str
    version: str | None
    applied_view: str | None = None


def owned_view(live: Any, desired: Any) -> Any:
    """`live` restricted to the fields present in `desired` (a missing field is None)."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return live
        return {key: owned_view(live.get(key), value) for key, value in desired.items()}
    if isinstance(desired, list):
        if not isinstance(live, list):
            return live
        if _named(desired) and _named(live):
            by_name = {item["name"]: item for item in live}
            return [owned_view(by_name.get(item["name"]), item) for item in desired]
        if len(live) != len(desired):
            return live
        return [owned_view(item, want) for item, want in zip(live, desired, strict=True)]
    return live


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, Mapping) and "name" in item for item in items)


def view_digest(view: Any) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()[:16]


def desired_digest(desired: Mapping[str, Any]) -> str:
    return str(desired["metadata"]["annotations"][ANNOTATION_HASH])


def check(
    desired: Mapping[str, Any], live: Mapping[str, Any] | None, synced: Synced | None
) -> tuple[str | None, Synced | None]:
    """Why `live` must be written again (None: it matches), and what to remember if it does."""
    if live is None:
        return MISSING, None
    digest = desired_digest(desired)
    version = live.get("metadata", {}).get("resourceVersion")
    if synced is not None and synced.digest == digest and version and synced.version == version:
        return None, synced  # unchanged since it was last found to match: no comparison
    if (live.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_HASH) != digest:
        return PLAN_CHANGED, None
    view = owned_view(live, desired)
    if view == desired:
        return None, Synced(digest=digest, version=version, applied_view=None)
    if synced is not None and synced.digest == digest and synced.applied_view == view_digest(view):
        return None, Synced(digest=digest, version=version, applied_view=synced.applied_view)
    return _drift(view, desired), None


def after_apply(desired: Mapping[str, Any], applied: Mapping[str, Any]) -> Synced:
    """What to remember of a child the API server just returned from our apply."""
    view = owned_view(applied, desired)
    return Synced(
        digest=desired_digest(desired),
        version=applied.get("metadata", {}).get("resourceVersion"),
        applied_view=None if view == desired else view_digest(view),
    )


def _drift(view: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """Which top-level part differs, for the log line ("spec.replicas", "metadata", ...)."""
    spec_view, spec_want = view.get("spec"), desired.get("spec")
    if isinstance(spec_view, Mapping) and isinstance(spec_want, Mapping):
        parts = [f"spec.{k}" for k in spec_want if spec_view.get(k) != spec_want[k]]
        if parts:
            return ", ".join(parts) + " changed"
    parts = [k for k in desired if view.get(k) != desired[k]]
    return ", ".join(parts) + " changed"
