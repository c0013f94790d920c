"""The node agent: the sandbox's Deployment controller, node provisioner and kubelet in one.

Every half second it brings the cluster in line, as those components would:
* Deployment controller: each Deployment owns `spec.replicas` Pods (ownerReferences, the
  template's labels); on scale-down it deletes not-ready Pods first, then the newest (as
  Kubernetes' ReplicaSet does); it keeps `status` (replicas, readyReplicas,
  availableReplicas, updatedReplicas, observedGeneration) true. A changed pod template
  is not rolled: the operator changes batching live and pods keep running (a rollout would
  restart every server on a 2-core machine for the same end state).
* scheduler and provisioner (sandbox.scheduler): a new Pod gets a node slot of its pool if
  one is left (else it stays Pending, PodScheduled=False, reason Unschedulable), waits
  `provisioningSeconds` of its pool (a node appearing), then is bound to a node of its own
  (`<pool>-node-<n>`, a Node object with the pool's labels); Spot interruptions taint, then
  delete nodes with their pods.
* kubelet: it starts a real `tritonserver` (sandbox.triton, with the pod's API restrictions)
  and marks the containers ready once it answers /v2/health/ready and `startupSeconds` have
  passed; the Pod is Ready only when every readiness gate is True too (Kubernetes'); podIP is
  127.0.0.1 and the annotation `infercost.io/triton-http-port` names the port. Prometheus
  gets the pod as a file_sd target with the contract labels. A Pod deleted (by scale-down or
  by garbage collection of its Deployment) has its process group ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.localtriton.synthetic import SyntheticModel
from infercost.sandbox.activators import Activators, is_activator
from infercost.sandbox.client import Api, ApiError, is_ready
from infercost.sandbox.podenv import restricted_args
from infercost.sandbox.pods import (
    condition,
    owner_uid,
    pod_manifest,
    pod_status,
    ready_with_gates,
    started_status,
    target_labels,
)
from infercost.sandbox.prometheus import LocalPrometheus
from infercost.sandbox.scheduler import Scheduler
from infercost.sandbox.triton import Ports, TritonFactory, ready, synthetic_model

logger = logging.getLogger("infercost.sandbox")
POOL_LABEL, VARIANT_LABEL = "infercost.io/pool", "infercost.io/variant"
TICK = 0.5


@dataclass
class PodRun:
    """What the kubelet knows of one pod it runs."""

    name: str
    namespace: str
    deployment: str
    pool: str
    model: str
    ports: Ports
    created: float
    provisioning: float
    startup: float
    labels: dict[str, str]
    node: str | None = None
    started: float | None = None
    containers_ready: bool = False
    ready: bool = False  # containers ready and every readiness gate True


@dataclass
class NodeAgent:
    api: Api
    triton: TritonFactory
    prometheus: LocalPrometheus
    repository_max_batch: int = 1
    runs: dict[tuple[str, str], PodRun] = field(default_factory=dict)
    models: dict[tuple[str, str], SyntheticModel] = field(default_factory=dict)
    stopping: set[asyncio.Task[None]] = field(default_factory=set)
    activators: Activators | None = None  # scale-to-zero services' activators (activators.py)
    _nodes: int = 0
    scheduler: Scheduler = field(init=False)  # node slots per pool, Nodes, Spot interruptions

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(self.api)

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as probes:
            while not stop.is_set():
                try:
                    await self.tick(probes)
                except (ApiError, aiohttp.ClientError, OSError) as error:
                    logger.warning("node agent: %s", error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK)

    def endpoints(self, selector: dict[str, str]) -> list[Ports]:
        """The Ready Triton pods a Service with `selector` routes to."""
        return [
            r.ports
            for r in self.runs.values()
            if r.ready and all(r.labels.get(k) == v for k, v in selector.items())
        ]

    async def shutdown(self) -> None:
        if self.activators is not None:
            await self.activators.close()
        await asyncio.gather(*(self._forget(key) for key in list(self.runs)))
        await asyncio.gather(*self.stopping, return_exceptions=True)

    async def tick(self, probes: aiohttp.ClientSession) -> None:
        deployments = await self.api.items("/apis/apps/v1/deployments")
        pods = await self.api.items("/api/v1/pods")
        await self._interrupt()
        live = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
        held = list(self.activators.pods) if self.activators is not None else []
        for key in [k for k in [*self.runs, *held] if k not in live]:
            await self._forget(key)  # deleted: by us, by GC of its Deployment, or by a user
        for dep in deployments:
            uid = dep["metadata"].get("uid")
            owned = [p for p in pods if owner_uid(p) == uid]
            await self._scale(dep, owned)
        for pod in pods:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            if key in self.runs:
                await self._kubelet(self.runs[key], pod, probes)
            elif self.activators is not None and key in self.activators.pods:
                await self.activators.kubelet(pod, probes)
        for dep in deployments:
            await self._deployment_status(dep)

    # --- Deployment controller ----------------------------------------------------------

    async def _scale(self, dep: dict[str, Any], owned: list[dict[str, Any]]) -> None:
        want = int(dep["spec"].get("replicas", 1))
        if len(owned) < want:
            for _ in range(want - len(owned)):
                await self._create_pod(dep)
        elif len(owned) > want:
            for pod in sorted(owned, key=self._deletion_order)[: len(owned) - want]:
                meta = pod["metadata"]
                with contextlib.suppress(ApiError):
                    await self.api.call(
                        "DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
                    )
                await self._forget((meta["namespace"], meta["name"]))

    def _deletion_order(self, pod: dict[str, Any]) -> tuple[bool, float]:
        # Not-ready pods go first, then the newest (ReplicaSet's rule, simplified).
        run = self.runs.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        return (is_ready(pod), -(run.created if run else 0.0))

    async def _create_pod(self, dep: dict[str, Any]) -> None:
        meta, template = dep["metadata"], dep["spec"]["template"]
        if self.activators is not None and is_activator(dep):
            await self.activators.create_pod(dep, f"{meta['name']}-{secrets.token_hex(3)}")
            return
        namespace, labels = meta["namespace"], dict(template["metadata"].get("labels") or {})
        service = await self._owner_spec(dep)
        pool_name = labels.get(POOL_LABEL, "")
        pool = await self.api.get(f"/apis/infercost.io/v1alpha1/acceleratorpools/{pool_name}")
        if service is None or pool is None:
            return  # not one of the operator's (or its owner is gone): nothing to run
        pool_spec = AcceleratorPoolSpec.model_validate(pool["spec"])
        self.scheduler.know(pool_name, pool)
        variant = next(
            (v for v in service.variants if v.name == labels.get(VARIANT_LABEL)),
            service.variants[0],
        )
        points = [p for p in variant.profile if p.accelerator_type == pool_spec.accelerator.type]
        model = synthetic_model(
            points, name=service.model.name, max_batch_size=self.repository_max_batch
        )
        name = f"{meta['name']}-{secrets.token_hex(3)}"
        ports = Ports.free()
        body = pod_manifest(dep, name=name, ports=ports)
        await self.api.call("POST", f"/api/v1/namespaces/{namespace}/pods", body)
        await self._pod_status(namespace, name, phase="Pending", ready=False, reason="Provisioning")
        self.runs[(namespace, name)] = PodRun(
            name=name,
            namespace=namespace,
            deployment=meta["name"],
            pool=pool_name,
            model=model.name,
            ports=ports,
            created=time.monotonic(),
            provisioning=pool_spec.provisioning_seconds,
            startup=float(variant.startup_seconds),
            labels=labels,
        )
        self.models[(namespace, name)] = model

    async def _owner_spec(self, dep: dict[str, Any]) -> InferenceServiceSpec | None:
        owner = next(
            (
                r
                for r in dep["metadata"].get("ownerReferences") or []
                if r.get("kind") == "InferenceService"
            ),
            None,
        )
        if owner is None:
            return None
        path = (
            f"/apis/infercost.io/v1alpha1/namespaces/{dep['metadata']['namespace']}"
            f"/inferenceservices/{owner['name']}"
        )
        body = await self.api.get(path)
        return None if body is None else InferenceServiceSpec.model_validate(body["spec"])

    async def _deployment_status(self, dep: dict[str, Any]) -> None:
        meta = dep["metadata"]
        mine = [
            r
            for r in self.runs.values()
            if r.deployment == meta["name"] and r.namespace == meta["namespace"]
        ]
        count, ready_count = len(mine), sum(1 for r in mine if r.ready)
        if self.activators is not None and is_activator(dep):
            count, ready_count = self.activators.ready_of(meta["namespace"], meta["name"])
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": count,
            "updatedReplicas": count,
            "readyReplicas": ready_count,
            "availableReplicas": ready_count,
        }
        if any((dep.get("status") or {}).get(k) != v for k, v in status.items()):
            with contextlib.suppress(ApiError):
                await self.api.call(
                    "PATCH",
                    f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}/status",
                    {"status": status},
                )

    # --- provisioner and kubelet --------------------------------------------------------

    async def _kubelet(
        self, run: PodRun, pod: dict[str, Any], probes: aiohttp.ClientSession
    ) -> None:
        now = time.monotonic()
        if run.node is None:
            admitted = await self.scheduler.admit((run.namespace, run.name), run.pool, now=now)
            if admitted is None or now - admitted < run.provisioning:
                return  # no node to be had (Unschedulable), or the node is still coming
            args = await restricted_args(self.api, pod)
            if args is None:
                return  # a Secret it reads is missing: the kubelet waits for it
            self._nodes += 1
            run.node = f"{run.pool}-node-{self._nodes}"
            await self.api.call(
                "PATCH",
                f"/api/v1/namespaces/{run.namespace}/pods/{run.name}",
                {"spec": {"nodeName": run.node}},
            )
            await self.scheduler.bind(run.node, run.pool)
            model = self.models[(run.namespace, run.name)]
            self.triton.start(run.name, model, run.ports, extra_args=args)
            run.started = now
            self.prometheus.add_target(
                f"127.0.0.1:{run.ports.metrics}",
                target_labels(
                    run.labels, namespace=run.namespace, pod=run.name, node=run.node or ""
                ),
            )
            await self._pod_status(
                run.namespace, run.name, phase="Running", ready=False, reason="Starting"
            )
            return
        if not self.triton.alive(run.name):
            logger.warning(
                "pod %s/%s: tritonserver exited; deleting the pod", run.namespace, run.name
            )
            with contextlib.suppress(ApiError):
                await self.api.call("DELETE", f"/api/v1/namespaces/{run.namespace}/pods/{run.name}")
            await self._forget((run.namespace, run.name))
            return
        started = run.started if run.started is not None else now
        if (
            not run.containers_ready
            and now - started >= run.startup
            and await ready(probes, run.ports.http)
        ):
            run.containers_ready = True
        if run.containers_ready:
            await self._readiness(run, pod)

    async def _readiness(self, run: PodRun, pod: dict[str, Any]) -> None:
        """Ready = containers ready AND gates True; written on a change, at the version read."""
        now_ready = ready_with_gates(pod, containers_ready=True)
        if now_ready == run.ready and condition(pod, "ContainersReady") == "True":
            return
        status = started_status(pod, ready=now_ready)
        version = {"resourceVersion": pod["metadata"].get("resourceVersion")}
        path = f"/api/v1/namespaces/{run.namespace}/pods/{run.name}/status"
        with contextlib.suppress(ApiError):  # 409: changed since read, next tick reads again
            await self.api.call("PATCH", path, {"metadata": version, "status": status})
            run.ready = now_ready

    async def _pod_status(
        self, namespace: str, name: str, *, phase: str, ready: bool, reason: str
    ) -> None:
        status = pod_status(phase=phase, ready=ready, reason=reason)
        with contextlib.suppress(ApiError):
            await self.api.call(
                "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", {"status": status}
            )

    async def _forget(self, key: tuple[str, str]) -> None:
        if self.activators is not None and await self.activators.forget(key):
            return
        run = self.runs.pop(key, None)
        self.models.pop(key, None)
        if run is None:
            return
        await self.scheduler.release(key, run.node)
        self.prometheus.remove_target(f"127.0.0.1:{run.ports.metrics}")
        if run.started is not None:
            # In the background: the pod is gone from the API now; its process may take a few
            # seconds to drain (Triton's exit timeout) and must not delay the next tick.
            task = asyncio.create_task(self.triton.stop(run.name))
            self.stopping.add(task)
            task.add_done_callback(self.stopping.discard)

    async def _interrupt(self) -> None:
        """Spot interruptions (sandbox.scheduler): once a noticed node's notice ran out, its
        pods are deleted and the node with them."""
        for node in await self.scheduler.interruptions(now=time.monotonic()):
            for key in [k for k, r in self.runs.items() if r.node == node]:
                with contextlib.suppress(ApiError):
                    await self.api.call("DELETE", f"/api/v1/namespaces/{key[0]}/pods/{key[1]}")
                await self._forget(key)
            await self.scheduler.release(("", ""), node)  # a node with no pod of ours left
