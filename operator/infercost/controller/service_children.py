"""One InferenceService's children as the operator writes them: the acting side of a reconcile.

It owns listing the children once after a start (one list per kind for all services, so the
first reconcile sees what runs before the watches have caught up), whether the cluster serves
PodMonitors (asked once), and writing the children a plan wants (manifests.py builds them,
sync.py writes those that differ).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from infercost import manifests
from infercost.adapters.kubernetes import KubeApi
from infercost.adapters.triton_keys import RepositoryKeys
from infercost.api.service import InferenceServiceSpec
from infercost.controller.children import CHILD_KINDS
from infercost.controller.memory import Memory
from infercost.controller.picture import Picture
from infercost.controller.routing import GatewayRoutes
from infercost.controller.sync import child_seen, sync_children
from infercost.engine.model import Plan, PoolView
from infercost.settings import Settings


class ServiceChildren:
    """Lists and writes each service's children (Deployments, Services, PodMonitors, ...)."""

    def __init__(
        self,
        *,
        api: KubeApi,
        picture: Picture,
        routes: GatewayRoutes,
        keys: RepositoryKeys,
        settings: Settings,
    ) -> None:
        self.api, self.picture, self.routes, self.keys = api, picture, routes, keys
        self.settings = settings
        self.manifest_settings = settings.manifests()
        self.pod_monitors: bool | None = None  # whether the API serves PodMonitors (asked once)
        self._listed: asyncio.Future[None] | None = None  # the children listed after a start

    async def load(self, memory: Memory) -> None:
        """After a start: every service's children of every kind listed once, so the first
        reconcile sees what runs (and what is left over) before the watches have caught up.

        One list per kind across the cluster (the label every child carries), shared by the
        services whose first reconciles run meanwhile: a start with 10,000 services asks 7
        lists, not 70,000. A failed list is asked again by the next reconcile."""
        if self._listed is None:
            self._listed = asyncio.ensure_future(self._list_children())
            self._listed.add_done_callback(self._after_listing)
        await asyncio.shield(self._listed)
        memory.loaded = True

    async def _list_children(self) -> None:
        settings = self.settings  # a namespaced operator lists (and may list) its namespace only
        watched = settings.namespace if not settings.all_namespaces and settings.namespace else None
        for kind in CHILD_KINDS:
            if (kind == "PodMonitor" and not await self.served_pod_monitors()) or (
                kind == "HTTPRoute" and not await self.routes.served()
            ):
                continue
            listed = await self.api.list(
                kind, namespace=watched, label_selector=manifests.LABEL_SERVICE
            )
            for child in listed:
                child_seen(self.picture, kind, child)

    def _after_listing(self, done: asyncio.Future[None]) -> None:
        if done.cancelled() or done.exception() is not None:
            self._listed = None  # the next reconcile lists again

    async def served_pod_monitors(self) -> bool:
        if self.pod_monitors is None:
            self.pod_monitors = await self.api.has_resource(
                "monitoring.coreos.com/v1", "podmonitors"
            )
        return self.pod_monitors

    async def apply(
        self,
        body: Mapping[str, Any],
        *,
        spec: InferenceServiceSpec,
        plan: Plan,
        pools: Sequence[PoolView],
        memory: Memory,
        zero_path: manifests.ZeroPath | None,
    ) -> None:
        """The service's children as the plan wants them, written where they differ."""
        meta = body["metadata"]
        owner = manifests.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        await self.keys.ensure(owner)  # before the pods that read it: created once, kept
        pool_specs = tuple((p.name, p.spec) for p in pools)
        with_pod_monitor = await self.served_pod_monitors()
        ready = await self.routes.ready((meta["namespace"], meta["name"]), spec)
        inputs = (owner, spec, pool_specs, plan.allocations, with_pod_monitor, zero_path, ready)
        built = memory.desired
        if built is None or built[0] != inputs:
            # A pure function of these inputs: built again only when one of them changed
            # (a steady service's reconcile compares, it does not rebuild and re-hash).
            desired = manifests.children(
                owner=owner,
                spec=spec,
                pools=dict(pool_specs),
                allocations=plan.allocations,
                settings=self.manifest_settings,
                with_pod_monitor=with_pod_monitor,
                zero=zero_path,
                ready=ready,
            )
            memory.desired = built = (inputs, desired)
        await sync_children(
            api=self.api, picture=self.picture, owner=meta, desired=built[1], synced=memory.synced
        )
