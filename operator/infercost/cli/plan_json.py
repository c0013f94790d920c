"""`infercost plan --json`: one service's plan as the JSON contract (docs/architecture.md section 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infercost.cli.plan_explain import binding_limits
from infercost.engine.planner import OptionVerdict

if TYPE_CHECKING:  # plan.py imports this module: the type only, no cycle at run time
    from infercost.cli.plan import ServicePlan


def to_json(service_plan: ServicePlan) -> dict[str, Any]:
    """The `plan --json` object of one service (docs/architecture.md section 7)."""
    result, service = service_plan.plan, service_plan.service
    largest = max(result.allocations, key=lambda a: (a.replicas, a.variant, a.pool), default=None)
    batching: dict[str, Any] = {}
    if largest is not None:
        batching = {
            "variant": largest.variant,
            "pool": largest.pool,
            "max_batch_size": largest.batching.max_batch_size,
            "max_queue_delay_microseconds": largest.batching.max_queue_delay_us,
            "preferred_batch_sizes": list(largest.batching.preferred_batch_sizes),
        }
    chosen = {(a.variant, a.pool) for a in result.allocations}
    return {
        "name": service.metadata.name,
        "namespace": service.metadata.namespace or "default",
        "demand_rps": _round(service_plan.demand),
        "allocation": [
            {
                "variant": a.variant,
                "pool": a.pool,
                "replicas": a.replicas,
                "hourly_cost": _round(a.hourly_cost),
                "throughput_per_replica": _round(a.throughput_per_replica),
            }
            for a in result.allocations
        ],
        "hourly_cost": _round(result.hourly_cost),
        "cost_per_million": _round(result.cost_per_million),
        "batching": batching,
        "routing": service_plan.mix.to_json(),
        "limits": binding_limits(result),
        "reasons": list(dict.fromkeys(action.reason.value for action in result.actions)),
        "actions": [
            {
                "kind": a.kind.value,
                "reason": a.reason.value,
                "message": a.message,
                "variant": a.variant,
                "pool": a.pool,
                "to_replicas": a.to_replicas,
            }
            for a in result.actions
        ],
        "conditions": [
            {"type": c.type, "ok": c.ok, "reason": c.reason, "message": c.message}
            for c in result.conditions
        ],
        "options": [_option_json(v, chosen) for v in service_plan.verdicts],
    }


def _option_json(verdict: OptionVerdict, chosen: set[tuple[str, str]]) -> dict[str, Any]:
    option = verdict.option
    config = option.batching.config if option.batching is not None else None
    return {
        "variant": option.variant,
        "pool": option.pool,
        "accelerator_type": option.accelerator_type,
        "hourly_cost_per_replica": _round(option.hourly_cost),
        "throughput_per_replica": _round(option.throughput),
        "cost_per_million": _round(option.cost_per_million),
        "replicas_needed": verdict.replicas_needed if option.feasible else None,
        "feasible": verdict.why_not is None,
        "why_not": verdict.why_not,
        "max_batch_size": config.max_batch_size if config else None,
        "max_queue_delay_microseconds": config.max_queue_delay_us if config else None,
        "chosen": option.key in chosen,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
