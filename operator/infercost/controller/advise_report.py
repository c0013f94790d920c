"""Advise mode's status: the advice and its AdviceAvailable condition, built from the
engine's plan and what the target runs now (pure; controller/advise.py writes it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infercost.controller.reporting import rfc3339
from infercost.engine.model import Observation, Plan

CONDITION = "AdviceAvailable"


def observed(observation: Observation | None) -> dict[str, Any]:
    if observation is None or observation.demand_rps is None:
        return {}
    p99 = observation.p99_latency_ms
    return {
        "demandRps": round(observation.demand_rps, 3),
        "p99LatencyMs": None if p99 is None else round(p99, 3),
    }


def unplaced(plan: Plan) -> tuple[str, str] | None:
    """Why the engine would run nothing for the demand (no option fits), or None."""
    if any(a.replicas > 0 for a in plan.allocations):
        return None
    placed = [c for c in plan.conditions if c.type == "Placed" and not c.ok]
    if placed:
        return placed[0].reason, placed[0].message
    return "NoFeasibleOption", "the engine would run no replica for this demand"


def advised(plan: Plan, current_hourly: float | None) -> dict[str, Any]:
    live = [a for a in plan.allocations if a.replicas > 0]
    hourly = round(plan.hourly_cost, 4)
    advice: dict[str, Any] = {
        "placement": [
            {
                "variant": a.variant,
                "pool": a.pool,
                "replicas": a.replicas,
                "maxBatchSize": a.batching.max_batch_size,
                "maxQueueDelayMicroseconds": a.batching.max_queue_delay_us,
            }
            for a in live
        ],
        "replicas": sum(a.replicas for a in live),
        "hourlyCost": hourly,
        "reasons": sorted({a.reason.value for a in plan.actions} | set(plan.limits)),
    }
    where = ", ".join(f"{a.replicas} x {a.variant} on {a.pool}" for a in live)
    # A limit (budget, pool capacity, maxReplicas) keeps the advice below the demand: said so.
    short = f"; short of the demand: {', '.join(plan.limits)}" if plan.limits else ""
    if current_hourly is None:
        advice["message"] = f"would run {where} at ${hourly:.4f}/h (current cost unknown){short}"
        return advice
    saving = round(current_hourly - hourly, 4)
    advice["savingPerHour"] = saving
    if current_hourly > 0:
        advice["savingPercent"] = round(100 * saving / current_hourly, 2)
    verdict = f"saving ${saving:.4f}/h" if saving >= 0 else f"costing ${-saving:.4f}/h more"
    advice["message"] = (
        f"would run {where} at ${hourly:.4f}/h against ${current_hourly:.4f}/h now "
        f"({verdict}){short}"
    )
    return advice


def status(
    body: Mapping[str, Any], advice: Mapping[str, Any], *, ok: bool, reason: str, now: float
) -> dict[str, Any]:
    """Advise mode's whole status: its condition and the advice (Manage's fields dropped)."""
    previous = {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}
    before = previous.get(CONDITION) or {}
    status = "True" if ok else "False"
    generation = body["metadata"].get("generation")
    since = before.get("lastTransitionTime") if before.get("status") == status else None
    condition = {
        "type": CONDITION,
        "status": status,
        "reason": reason,
        "message": advice.get("message", ""),
        "lastTransitionTime": since or rfc3339(now),
        "observedGeneration": generation,
    }
    kept = dict(advice)
    if before.get("status") == status and before.get("message") == condition["message"]:
        kept["time"] = (body.get("status") or {}).get("advice", {}).get("time", kept["time"])
    return {
        "observedGeneration": generation,
        "conditions": [{k: v for k, v in condition.items() if v is not None}],
        "advice": _clean(kept),
    }


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
