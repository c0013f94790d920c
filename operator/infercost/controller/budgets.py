"""BudgetPolicies in the operator: each control interval's split, the share each service is
planned under, and the policies' status (this module is its only writer) and metrics.

The split (engine/team_round.py) needs every selected service's DecisionInput at once, while
services reconcile one by one. So the first reconcile of an interval that needs a share runs
the round for all of them (their inputs read from the watched picture, the interval's
metrics and each service's memory, as their own reconciles would) and keeps the shares
until the next interval; every reconcile of the interval plans under them. The shares of
one round never sum above a Cap; a share that shrinks holds from its service's next
reconcile, within one control interval (docs/budgets.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from infercost.adapters.kubernetes import ApiError, KubeApi
from infercost.adapters.metrics import ServiceKey
from infercost.api.advise import ServiceMode
from infercost.api.budget import BudgetPolicy, BudgetPolicySpec
from infercost.api.common import ObjectMeta
from infercost.api.service import BudgetAction, InferenceService, InferenceServiceSpec
from infercost.controller import reporting
from infercost.controller.telemetry import Telemetry
from infercost.engine.model import DecisionInput, TeamCeiling
from infercost.engine.team_budget import Split
from infercost.engine.team_round import team_shares

logger = logging.getLogger("infercost")
CONDITION = "Exceeded"
Inputs = Callable[
    [Sequence[BudgetPolicy], float], Awaitable[list[tuple[InferenceService, DecisionInput]]]
]


class TeamBudgets:
    """The BudgetPolicies as last seen and the current interval's shares."""

    def __init__(self, *, api: KubeApi, interval: float, telemetry: Telemetry) -> None:
        self.api, self.interval, self.telemetry = api, interval, telemetry
        self.bodies: dict[str, dict[str, Any]] = {}
        self._parsed: dict[str, tuple[Any, BudgetPolicy | None]] = {}
        self._round: tuple[float, dict[str, TeamCeiling]] | None = None
        self._lock = asyncio.Lock()
        self.reports: Callable[[], bool] = lambda: True  # sharded: the holder of shard 0 only

    def seen(self, body: Mapping[str, Any]) -> bool:
        """Remember a policy; True when its spec is new (the next reconcile splits again)."""
        name = body["metadata"]["name"]
        before = self.bodies.get(name)
        self.bodies[name] = dict(body)
        changed = before is None or before.get("spec") != body.get("spec")
        if changed:
            self._round = None
        return changed

    def gone(self, name: str) -> None:
        self.bodies.pop(name, None)
        self._parsed.pop(name, None)
        self._round = None
        self.telemetry.forget_policy(name)

    def policies(self) -> list[BudgetPolicy]:
        """The valid policies; an invalid one (an API server without CEL let it in) is logged."""
        valid = []
        for name, body in sorted(self.bodies.items()):
            cached = self._parsed.get(name)
            if cached is None or cached[0] is not body:
                try:
                    spec = BudgetPolicySpec.model_validate(body.get("spec") or {})
                    policy: BudgetPolicy | None = BudgetPolicy(
                        metadata=ObjectMeta(name=name), spec=spec
                    )
                except ValidationError as error:
                    message = reporting.validation_message(error)
                    logger.warning("BudgetPolicy %s ignored: %s", name, message)
                    policy = None
                self._parsed[name] = cached = (body, policy)
            if cached[1] is not None:
                valid.append(cached[1])
        return valid

    def selecting(self, services: Mapping[ServiceKey, Mapping[str, Any]]) -> list[ServiceKey]:
        """The services some policy selects (to plan again when a policy changes)."""
        selectors = [p.spec.selector for p in self.policies()]
        return [
            key
            for key, body in services.items()
            if any(
                s.selects(namespace=key[0], labels=body["metadata"].get("labels") or {})
                for s in selectors
            )
        ]

    async def share(self, key: ServiceKey, *, now: float, inputs: Inputs) -> TeamCeiling | None:
        """The service's share of this interval's round (None: no Cap policy selects it)."""
        if not self.bodies:
            return None
        async with self._lock:
            if self._round is None or now - self._round[0] >= self.interval * 0.9:
                policies = self.policies()
                splits, shares = team_shares(policies, await inputs(policies, now))
                self._round = (now, shares)
                if self.reports():
                    await self._report(splits, now=now)
            return self._round[1].get(f"{key[0]}/{key[1]}")

    async def _report(self, splits: Sequence[Split], *, now: float) -> None:
        """Each policy's status, written only when it changed; and its metrics."""
        for split in splits:
            self.telemetry.team_round(split)
            body = self.bodies.get(split.policy)
            if body is None:
                continue
            want = desired_status(body.get("status"), split, now=now)
            patch = reporting.status_patch(body.get("status"), want)
            if not patch:
                continue
            try:
                result = await self.api.patch_status(
                    "BudgetPolicy", namespace=None, name=split.policy, status=patch
                )
            except ApiError as error:  # deleted meanwhile, or the API is unwell: next round
                logger.warning("BudgetPolicy %s: status not written: %s", split.policy, error)
                continue
            if split.policy in self.bodies:
                self.bodies[split.policy]["status"] = result.get("status") or want


async def selected_inputs(
    policies: Sequence[BudgetPolicy],
    *,
    services: Mapping[ServiceKey, Mapping[str, Any]],
    input_for: Callable[[ServiceKey, InferenceServiceSpec], Awaitable[DecisionInput]],
) -> list[tuple[InferenceService, DecisionInput]]:
    """Each valid service (last-seen body) some policy selects, with its input for the round."""
    out = []
    for (namespace, name), body in list(services.items()):
        labels = body["metadata"].get("labels") or {}
        if not any(p.spec.selector.selects(namespace=namespace, labels=labels) for p in policies):
            continue
        try:
            spec = InferenceServiceSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            continue  # its own reconcile reports it; an invalid spec is planned at nothing
        if spec.mode == ServiceMode.ADVISE:
            continue  # advice costs nothing: it runs no replica (controller/advise.py)
        meta = ObjectMeta(name=name, namespace=namespace, labels=labels)
        inp = await input_for((namespace, name), spec)
        out.append((InferenceService(metadata=meta, spec=spec), inp))
    return out


def desired_status(live: Mapping[str, Any] | None, split: Split, *, now: float) -> dict[str, Any]:
    """spendPerHour, limitedServices and the Exceeded condition (its time moves on a flip)."""
    exceeded = split.exceeded
    message = f"services want ${split.wanted:.2f}/h of ${split.cap:.2f}/h"
    if split.action == BudgetAction.CAP:
        message += f"; planned ${split.spend:.2f}/h, {len(split.limited)} held to their share"
    elif exceeded:
        message += "; nothing capped (onExceeded: Warn)"
    before = next(
        (c for c in (live or {}).get("conditions") or [] if c.get("type") == CONDITION), None
    )
    status = "True" if exceeded else "False"
    kept = before is not None and before.get("status") == status
    stamp = before.get("lastTransitionTime") if before is not None and kept else None
    return {
        "spendPerHour": round(split.spend, 6),
        "limitedServices": list(split.limited),
        "conditions": [
            {
                "type": CONDITION,
                "status": status,
                "reason": "DemandOverLimit" if exceeded else "WithinLimit",
                "message": message,
                "lastTransitionTime": stamp or reporting.rfc3339(now),
            }
        ],
    }
