"""kopf wiring: which watch events and timers call which `Reconciler` method. Nothing else.

Resources are selected by group, version and plural: KServe's `serving.kserve.io`
InferenceService, common in the same clusters, is never watched or touched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from infercost.controller.children import CHILD_KINDS, watched_resource
from infercost.controller.service import Reconciler
from infercost.manifests import LABEL_SERVICE, short_name

GROUP, VERSION = "infercost.io", "v1alpha1"
SERVICES = (GROUP, VERSION, "inferenceservices")
POOLS = (GROUP, VERSION, "acceleratorpools")
BUDGETS = (GROUP, VERSION, "budgetpolicies")


def build_registry(reconciler: Reconciler) -> kopf.OperatorRegistry:
    """A registry of this operator's handlers, bound to one reconciler (tests run several)."""
    registry = kopf.OperatorRegistry()
    interval = reconciler.settings.control_interval_seconds

    @kopf.on.event(*SERVICES, registry=registry)
    async def service_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        meta = body["metadata"]
        if event["type"] == "DELETED":
            reconciler.forget(meta["namespace"], meta["name"])
        elif reconciler.picture.service_seen(body) and not meta.get("deletionTimestamp"):
            await reconciler.reconcile((meta["namespace"], meta["name"]))

    # A failed reconcile (the API down past the retry budget) is tried again at the next
    # interval, not after kopf's default 60 s back-off: the loop's pace is the setting's.
    # Sharp: a decision every interval on a fixed grid, not an interval after the last one
    # ended (at 10,000 services each tick's wait for the loop made that ~16.5 s, not 15).
    @kopf.timer(*SERVICES, interval=interval, sharp=True, backoff=interval, registry=registry)
    async def service_timer(body: kopf.Body, **_: Any) -> None:
        meta = body["metadata"]
        reconciler.picture.service_seen(body)
        if not meta.get("deletionTimestamp"):
            await reconciler.reconcile((meta["namespace"], meta["name"]))

    @kopf.on.event(*POOLS, registry=registry)
    async def pool_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        name = body["metadata"]["name"]
        if event["type"] == "DELETED":
            affected = reconciler.picture.pool_gone(name)
        else:
            affected = reconciler.picture.pool_seen(body)
        for key in affected:
            await reconciler.reconcile(key)

    @kopf.on.event(*BUDGETS, registry=registry)
    async def budget_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        budgets = reconciler.budgets
        if event["type"] == "DELETED":
            budgets.gone(body["metadata"]["name"])
        elif budgets.seen(body):  # a new or changed limit: plan its services under it now
            for key in budgets.selecting(reconciler.picture.services):
                await reconciler.reconcile(key)

    @kopf.on.event(
        "apps", "v1", "deployments", labels={LABEL_SERVICE: kopf.PRESENT}, registry=registry
    )
    async def deployment_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        meta = body["metadata"]
        if event["type"] == "DELETED":
            reconciler.picture.deployment_gone(meta["namespace"], meta["name"])
        elif reconciler.picture.deployment_seen(body):
            # Readiness changed: a migration may proceed now rather than at the next tick.
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "InferenceService":
                    await reconciler.reconcile((meta["namespace"], ref["name"]))

    capacity_watches(registry, reconciler)
    watch_children(registry, reconciler)
    return registry


def capacity_watches(registry: kopf.OperatorRegistry, reconciler: Reconciler) -> None:
    """Pods of the services, all Nodes and Pod Events: full pools, nodes going away and the
    autoscaler's verdicts (capacity.py, verdicts.py)."""
    capacity = reconciler.picture.capacity

    @kopf.on.event("", "v1", "pods", labels={LABEL_SERVICE: kopf.PRESENT}, registry=registry)
    async def pod_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        meta = body["metadata"]
        if event["type"] == "DELETED":
            capacity.pod_gone(meta["namespace"], meta["name"], now=time.time())
        else:
            capacity.pod_seen(body, now=time.time())

    @kopf.on.event("", "v1", "nodes", registry=registry)
    async def node_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        name = body["metadata"]["name"]
        if event["type"] == "DELETED":
            affected = capacity.node_gone(name, now=time.time())
        else:
            affected = capacity.node_seen(body, now=time.time())
        for namespace, service in sorted(affected):  # replicas lost: replace them now
            await _reconcile_service(reconciler, namespace, service)

    if reconciler.settings.autoscaler_events:
        # Pod Events (field selector in runner.kopf_settings): the node autoscaler's verdicts.
        @kopf.on.event("", "v1", "events", registry=registry)
        async def autoscaler_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
            if event["type"] == "DELETED":
                return  # an Event expiring (1 h) changes nothing: verdicts age out on their own
            refused = capacity.event_seen(body, now=time.time())
            if refused is not None:  # the autoscaler will add no node: spill now
                await _reconcile_service(reconciler, *refused)


async def _reconcile_service(reconciler: Reconciler, namespace: str, service: str) -> None:
    """Reconcile the services whose short label is `service` in `namespace`."""
    for key in list(reconciler.picture.services):
        if key[0] == namespace and short_name(key[1]) == service:
            await reconciler.reconcile(key)


def watch_children(registry: kopf.OperatorRegistry, reconciler: Reconciler) -> None:
    """Keep the live children of every kind but Deployment (watched above) in the picture.

    No reconcile is started here: the next timer tick compares them with the plan and repairs
    drift or deletes what is no longer wanted, so an event costs no API call of its own.
    """
    for kind in CHILD_KINDS:
        if kind == "Deployment":
            continue
        api_version, plural = watched_resource(kind)
        kopf.on.event(
            api_version,
            plural,
            labels={LABEL_SERVICE: kopf.PRESENT},
            registry=registry,
            id=f"child-{plural}",
        )(_child_handler(reconciler, kind))


def _child_handler(reconciler: Reconciler, kind: str) -> Callable[..., Awaitable[None]]:
    async def child_event(event: kopf.RawEvent, **_: Any) -> None:
        raw = event["object"]
        meta = raw["metadata"]
        if event["type"] == "DELETED":
            reconciler.picture.children.gone(kind, meta.get("namespace", ""), meta["name"])
        else:
            reconciler.picture.children.seen(kind, raw)

    return child_event
