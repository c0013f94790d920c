"""What a decision looks like in an InferenceService's status: pure functions over dicts.

Owns: conditions in the shape of metav1.Condition (lastTransitionTime moves only when a
condition's status flips), placement, batching, cost, the observed metrics and the last
decision; the smallest merge patch from the live status to the desired one; messages for
invalid specs that name the field.

Must not import: kopf, kubernetes, aiohttp, asyncio, time or any adapter. `now` is passed in.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from infercost.engine.caching import observed_hit_ratio
from infercost.engine.model import (
    Action,
    ActionKind,
    BatchConfig,
    Observation,
    Plan,
)

CONDITION_TYPES = ("Ready", "Placed", "MetricsAvailable", "WithinBudget", "RoutingReady")
INVALID_SPEC = "InvalidSpec"


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validation_message(error: ValidationError) -> str:
    """`spec.<field>: <problem>` for each problem, so users know what to fix."""
    parts = []
    for problem in error.errors()[:5]:
        where = ".".join(str(part) for part in problem["loc"])
        parts.append(f"spec.{where}: {problem['msg']}" if where else f"spec: {problem['msg']}")
    return "; ".join(parts)


def _condition(
    previous: Mapping[str, Mapping[str, Any]],
    *,
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: float,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = previous.get(type_)
    moved = before is None or before.get("status") != status
    since = rfc3339(now) if moved or before is None else before.get("lastTransitionTime")
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or rfc3339(now),
        "observedGeneration": generation,
    }


def invalid_status(
    previous: Mapping[str, Any] | None, *, message: str, generation: int | None, now: float
) -> dict[str, Any]:
    """Ready=False InvalidSpec; everything else the operator reported before stays."""
    status = dict(previous or {})
    by_type = {c["type"]: c for c in status.get("conditions") or []}
    by_type["Ready"] = _condition(
        by_type,
        type_="Ready",
        ok=False,
        reason=INVALID_SPEC,
        message=message,
        generation=generation,
        now=now,
    )
    status["conditions"] = [by_type[t] for t in CONDITION_TYPES if t in by_type]
    status["observedGeneration"] = generation
    return {key: _clean(value) for key, value in status.items()}


def _clean(value: Any) -> Any:
    """Drop None inside nested objects: a merge patch deletes those keys, so live never has them."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _round(value: float | None, digits: int = 4) -> float | None:
    # Status should change when the picture changes, not with float noise of the last digit.
    return None if value is None else float(f"{value:.{digits}g}")


def desired_status(
    previous: Mapping[str, Any] | None,
    *,
    plan: Plan,
    ready: Mapping[tuple[str, str], int],
    observation: Observation | None,
    generation: int | None,
    now: float,
) -> dict[str, Any]:
    """The status the plan leads to, keeping what has not changed (times included)."""
    previous = previous or {}
    by_type = {c["type"]: c for c in previous.get("conditions") or []}
    conditions = [
        _condition(
            by_type,
            type_=verdict.type,
            ok=verdict.ok,
            reason=verdict.reason,
            message=verdict.message,
            generation=generation,
            now=now,
        )
        for verdict in plan.conditions
    ]
    live = [a for a in plan.allocations if a.replicas > 0]
    placement = [
        {
            "variant": a.variant,
            "pool": a.pool,
            "replicas": a.replicas,
            "readyReplicas": ready.get((a.variant, a.pool), 0),
            "maxBatchSize": a.batching.max_batch_size,
            "maxQueueDelayMicroseconds": a.batching.max_queue_delay_us,
            **_queue_timeout(a.batching),
        }
        for a in live
    ]
    largest = max(live, key=lambda a: a.replicas, default=None)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": sorted(conditions, key=lambda c: CONDITION_TYPES.index(c["type"])),
        "placement": placement,
        "pools": ",".join(sorted({a.pool for a in live})) or None,
        "replicas": sum(a.replicas for a in live),
        "readyReplicas": sum(p["readyReplicas"] for p in placement),
        "batching": None
        if largest is None
        else {
            "maxBatchSize": largest.batching.max_batch_size,
            "maxQueueDelayMicroseconds": largest.batching.max_queue_delay_us,
            **_queue_timeout(largest.batching),
        },
        "cost": {
            "hourly": _round(plan.hourly_cost),
            "perMillionInferences": _round(plan.cost_per_million),
        },
        "observed": _observed(previous.get("observed"), observation),
        "lastDecision": _last_decision(previous.get("lastDecision"), plan, now),
    }
    return {key: _clean(value) for key, value in status.items()}


def _observed(previous: Mapping[str, Any] | None, obs: Observation | None) -> dict[str, Any] | None:
    if obs is None or obs.unavailable_reason is not None:
        return dict(previous) if previous else None
    values = {"demandRps": _round(obs.demand_rps, 3), "p99LatencyMs": _round(obs.p99_latency_ms, 3)}
    rejected = [
        m.rejected_per_second
        for m in obs.per_deployment.values()
        if m.rejected_per_second is not None and math.isfinite(m.rejected_per_second)
    ]
    if rejected:
        values["rejectedRps"] = _round(sum(rejected), 3)
    if (hit_ratio := observed_hit_ratio(obs)) is not None:
        values["cacheHitRatio"] = _round(hit_ratio, 3)
    if previous and all(previous.get(k) == v for k, v in values.items()):
        return dict(previous)  # same picture: keep the time it was first seen
    return {**values, "time": rfc3339(obs.time)}


def _last_decision(
    previous: Mapping[str, Any] | None, plan: Plan, now: float
) -> dict[str, Any] | None:
    changes = [a for a in plan.actions if a.kind != ActionKind.HOLD]
    candidates = changes or list(plan.actions)
    if not candidates:
        return dict(previous) if previous else None
    action = candidates[0]
    decision = {"action": action.kind.value, "reason": action.reason.value}
    decision["message"] = action.message
    if previous and all(previous.get(k) == v for k, v in decision.items()) and not changes:
        return dict(previous)  # the same hold as before: no new decision to report
    return {"time": rfc3339(now), **decision}


def status_patch(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch from live to desired status; empty when nothing changed."""
    live = live or {}
    patch: dict[str, Any] = {}
    for key in set(live) | set(desired):
        want = desired.get(key)
        if live.get(key) != want:
            patch[key] = want
    return patch


def involved_pools(plan: Plan, current: Sequence[tuple[str, str]]) -> set[str]:
    return {a.pool for a in plan.allocations} | {pool for _, pool in current}


def event_key(action: Action) -> tuple[Any, ...]:
    # Hold messages carry the reason for holding; other actions are identified by their target.
    message = action.message if action.kind == ActionKind.HOLD else ""
    return (action.kind, action.reason, action.variant, action.pool, action.to_replicas, message)


def same_hold(action: Action, announced: Mapping[str, Any] | None) -> bool:
    return (
        action.kind == ActionKind.HOLD
        and announced is not None
        and announced.get("action") == action.kind.value
        and announced.get("reason") == action.reason.value
        and announced.get("message") == action.message
    )


def _queue_timeout(batching: BatchConfig) -> dict[str, int]:
    """The queue timeout as status shows it: only where Triton rejects late requests."""
    if batching.queue_timeout_us <= 0:
        return {}
    return {"queueTimeoutMicroseconds": batching.queue_timeout_us}
