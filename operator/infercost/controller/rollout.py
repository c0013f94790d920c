"""Live batching changes: after a reconcile, bring each (variant, pool)'s Triton pods to the plan.

The plan's batching is also recorded in the ConfigMap (manifests); the pod template carries
none of it, so a batching change never restarts a pod. This step loads it into the running
pods, and into each new pod before it serves: a new pod's batching readiness gate keeps it
out of the Service (not Ready) until the applier has loaded the config into it and opened
the gate. While a Deployment has fewer ready replicas than it wants, each reconcile looks
for such pods (only those: the others run the config already). It remembers what it
applied per (variant, pool) and the ready replicas then, so a steady service costs no
Triton calls. A failure posts one Warning Event per distinct message and is retried at the
next reconcile (nothing is remembered as applied); the pods keep the config they had, and
a new pod whose load failed stays not Ready.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from infercost.adapters.batching import BatchingApplier, BatchingOutcome, BatchingTarget
from infercost.adapters.kubernetes import ApiError, KubeApi
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import BatchConfig, CurrentDeployment, Plan
from infercost.manifests import LABEL_POOL, LABEL_SERVICE, LABEL_VARIANT, short_name

logger = logging.getLogger("infercost")
FAILED = "BatchingReloadFailed"

Key = tuple[str, str, str, str]  # namespace, service, variant, pool


class BatchingRollout:
    def __init__(self, *, api: KubeApi, applier: BatchingApplier) -> None:
        self.api, self.applier = api, applier
        self.applied: dict[Key, tuple[BatchConfig, int]] = {}
        self._warned: dict[Key, str] = {}

    def forget(self, namespace: str, service: str) -> None:
        for key in [k for k in self.applied if k[:2] == (namespace, service)]:
            self.applied.pop(key)

    async def run(
        self,
        *,
        body: Mapping[str, Any],
        spec: InferenceServiceSpec,
        plan: Plan,
        current: Mapping[tuple[str, str], CurrentDeployment],
    ) -> None:
        namespace, service = body["metadata"]["namespace"], body["metadata"]["name"]
        for allocation in plan.allocations:
            variant, pool = allocation.variant, allocation.pool
            running = current.get((variant, pool))
            if allocation.replicas <= 0 or running is None or running.replicas <= 0:
                continue  # no pod yet
            key = (namespace, service, variant, pool)
            steady = self.applied.get(key) == (allocation.batching, running.ready_replicas)
            # Pods not Ready yet (a rolling update's surge counts: status.replicas) may wait
            # for their batching gate; without them a steady service costs nothing.
            if steady and running.ready_replicas >= max(running.replicas, running.pods or 0):
                continue
            target = BatchingTarget(
                namespace=namespace,
                service=service,
                variant=variant,
                pool=pool,
                model=spec.model.name,
                caching=spec.caching,
                selector=",".join(
                    (
                        f"{LABEL_SERVICE}={short_name(service)}",
                        f"{LABEL_VARIANT}={short_name(variant)}",
                        f"{LABEL_POOL}={short_name(pool)}",
                    )
                ),
            )
            try:
                outcome = await self.applier.apply(
                    target, allocation.batching, new_pods_only=steady
                )
            except ApiError as error:  # listing the pods failed: try again next interval
                outcome = BatchingOutcome(pods=(), failed=f"pods not listed: {error}")
            if outcome.failed is None:
                self.applied[key] = (allocation.batching, running.ready_replicas)
                self._warned.pop(key, None)
                if outcome.changed:
                    logger.info(
                        "%s/%s: batching of %s/%s reloaded on %s",
                        namespace,
                        service,
                        variant,
                        pool,
                        ", ".join(outcome.changed),
                    )
                continue
            if self._warned.get(key) != outcome.failed:
                self._warned[key] = outcome.failed
                await self.api.post_event(
                    involved=dict(body),
                    type_="Warning",
                    reason=FAILED,
                    message=f"{variant}/{pool}: {outcome.failed}; kept the previous config, "
                    "will retry",
                    action="SetBatching",
                )
