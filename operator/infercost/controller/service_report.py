"""What one reconcile of an InferenceService tells the world: the writing side of reporting.

It owns the status patch (written only when it differs), the warning for an invalid spec
(once per generation), one Event per new action and the service's metrics for the round.
What the status says comes from reporting.py (pure); this module writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from infercost.adapters.kubernetes import KubeApi
from infercost.adapters.metrics import ServiceKey
from infercost.api.service import InferenceServiceSpec
from infercost.controller import reporting
from infercost.controller.memory import Memory
from infercost.controller.picture import Picture
from infercost.controller.telemetry import Telemetry
from infercost.engine.model import Action, Observation, Plan, Reason
from infercost.settings import Settings

logger = logging.getLogger("infercost")
WARNINGS = {
    Reason.OVER_BUDGET,
    Reason.BUDGET_LIMITED,
    Reason.NO_FEASIBLE_OPTION,
    Reason.POOL_CAPACITY_LIMITED,
    Reason.HELD_METRICS_UNAVAILABLE,
}


class ServiceReport:
    """Writes a service's status and Events, and records its telemetry."""

    def __init__(
        self, *, api: KubeApi, picture: Picture, telemetry: Telemetry, settings: Settings
    ) -> None:
        self.api, self.picture, self.telemetry, self.settings = api, picture, telemetry, settings

    async def decided(
        self,
        key: ServiceKey,
        *,
        body: Mapping[str, Any],
        spec: InferenceServiceSpec,
        plan: Plan,
        memory: Memory,
        ready: Mapping[tuple[str, str], int],
        observation: Observation | None,
        now: float,
    ) -> None:
        """A decided round: its status, its Events, its metrics."""
        previous = _last_status(body, memory)
        desired = reporting.desired_status(
            previous,
            plan=plan,
            ready=ready,
            observation=observation,
            generation=body["metadata"].get("generation"),
            now=now,
        )
        announced = (previous or {}).get("lastDecision")  # before the write below
        await self.write_status(key, body=body, desired=desired, memory=memory)
        await self.post_events(body, actions=plan.actions, memory=memory, announced=announced)
        self.telemetry.record(key, spec=spec, plan=plan, ready=ready, observation=observation)

    async def write_status(
        self,
        key: ServiceKey,
        *,
        body: Mapping[str, Any],
        desired: Mapping[str, Any],
        memory: Memory | None = None,
    ) -> None:
        """Patch what differs from the status last written (`memory.status`), else from the
        body's: the operator is the status's only writer, and a body a lagging watch or
        timer hands over can be older than its last write (at 10,000 services, a body from
        before the replicas were ready gave every later write a new transition time)."""
        patch = reporting.status_patch(_last_status(body, memory), desired)
        if not patch:
            return
        meta = body["metadata"]
        result = await self.api.patch_status(
            "InferenceService", namespace=meta["namespace"], name=meta["name"], status=patch
        )
        written = result.get("status") or dict(desired)
        if memory is not None:
            memory.status = written
        if key in self.picture.services:  # the watch will say so too; do not write twice meanwhile
            self.picture.services[key]["status"] = written

    async def invalid(
        self, body: Mapping[str, Any], *, memory: Memory, message: str, now: float
    ) -> None:
        """An invalid spec: the status says why, and a Warning once per generation."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        generation = body["metadata"].get("generation")
        desired = reporting.invalid_status(
            _last_status(body, memory), message=message, generation=generation, now=now
        )
        await self.write_status(key, body=body, desired=desired, memory=memory)
        if memory.invalid_generation != generation:
            memory.invalid_generation = generation
            logger.warning("%s/%s: invalid spec: %s", key[0], key[1], message)
            await self.api.post_event(
                involved=dict(body),
                type_="Warning",
                reason=reporting.INVALID_SPEC,
                message=message,
                action="Validate",
            )

    async def post_events(
        self,
        body: Mapping[str, Any],
        *,
        actions: tuple[Action, ...],
        memory: Memory,
        announced: Mapping[str, Any] | None,
    ) -> None:
        """One Event per action; a repeat of the previous round's action is not news.

        After a restart the previous round is unknown; status.lastDecision tells which hold
        was already announced.
        """
        keys = frozenset(reporting.event_key(a) for a in actions)
        prefix = "[dry-run] " if self.settings.dry_run else ""
        for action in actions:
            if reporting.event_key(action) in memory.last_events or reporting.same_hold(
                action, announced
            ):
                continue
            self.telemetry.decided(
                (body["metadata"]["namespace"], body["metadata"]["name"]), action
            )
            where = f" {action.variant}/{action.pool}" if action.variant else ""
            logger.info(
                "%s/%s: %s%s%s %s: %s",
                body["metadata"]["namespace"],
                body["metadata"]["name"],
                prefix,
                action.kind.value,
                where,
                action.reason.value,
                action.message,
            )
            await self.api.post_event(
                involved=dict(body),
                type_="Warning" if action.reason in WARNINGS else "Normal",
                reason=action.reason.value,
                message=f"{prefix}{action.kind.value}{where}: {action.message}",
                action=action.kind.value,
            )
        memory.last_events = keys


def _last_status(body: Mapping[str, Any], memory: Memory | None) -> Any:
    """The status this process last wrote, else the body's (after a start or a shard gained)."""
    if memory is not None and memory.status is not None:
        return memory.status
    return body.get("status")
