"""Capacity events measured from a sandbox timeline: a full pool's spill and a Spot reclaim.

Spill: from the first sample with an Unschedulable pod, or with a pod the node autoscaler
refused (the operator acts on its Event at once, so such a pod may be gone before a sample
shows it), to the first sample in which another pool has more ready replicas than it had then
(the replacement ready on the next option), and to the first sample with no Unschedulable pod
left (the Pending pods removed).
Reclaim: the same, from the first sample with a pod on a node tainted for interruption.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infercost.sandbox.monitor import Sample


def capacity_events(samples: list[Sample]) -> dict[str, Any]:
    """{"spill": {...}, "reclaim": {...}}, each present only when it happened."""
    events: dict[str, Any] = {}
    for name, lost, start in (
        ("spill", _unschedulable, _unschedulable_or_refused),
        ("reclaim", _noticed, _noticed),
    ):
        found = _measure(samples, lost, start)
        if found is not None:
            events[name] = found
    return events


def _unschedulable(sample: Sample) -> dict[str, int]:
    return {p: n for p, n in sample.unschedulable.items() if n > 0}


def _unschedulable_or_refused(sample: Sample) -> dict[str, int]:
    pools = set(sample.unschedulable) | set(sample.refused)
    most = {p: max(sample.unschedulable.get(p, 0), sample.refused.get(p, 0)) for p in pools}
    return {p: n for p, n in most.items() if n > 0}


def _noticed(sample: Sample) -> dict[str, int]:
    return {p: n for p, n in sample.noticed.items() if n > 0}


def _measure(
    samples: list[Sample],
    lost: Callable[[Sample], dict[str, int]],
    begun: Callable[[Sample], dict[str, int]],
) -> dict[str, Any] | None:
    start = next((s for s in samples if begun(s)), None)
    if start is None:
        return None
    pools = set(begun(start))
    after = [s for s in samples if s.time >= start.time]
    replaced = next(
        (
            s
            for s in after
            if any(n > start.ready.get(p, 0) for p, n in s.ready.items() if p not in pools)
        ),
        None,
    )
    cleared = next((s for s in after if not lost(s)), None)
    reasons = sorted({s.decision.get("reason", "") for s in after if s.decision.get("reason")})
    return {
        "pools": sorted(pools),
        "replicas_lost": max(sum(begun(s).values()) for s in after),
        "replacement_ready_seconds": None if replaced is None else replaced.time - start.time,
        "replacement_pools": sorted(
            p
            for p, n in (replaced.ready.items() if replaced else ())
            if p not in pools and n > start.ready.get(p, 0)
        ),
        "cleared_seconds": None if cleared is None else cleared.time - start.time,
        "reasons": [r for r in reasons if r in ("PoolCapacityExhausted", "SpotReclaimed")],
    }


def markdown(events: dict[str, Any]) -> list[str]:
    """The report's "Capacity events" section (empty when none happened)."""
    if not events:
        return []
    lines = ["## Capacity events (measured)", ""]
    titles = {"spill": "Full pool (Unschedulable)", "reclaim": "Spot reclaim (notice taint)"}
    for name, e in events.items():
        ready = e["replacement_ready_seconds"]
        cleared = e["cleared_seconds"]
        lines.append(
            f"- {titles[name]} on {', '.join(e['pools'])}: {e['replicas_lost']} replicas lost; "
            "replacement ready on "
            + (
                f"{', '.join(e['replacement_pools'])} after {ready:.0f} s"
                if ready is not None
                else "- (never)"
            )
            + "; lost pods gone after "
            + (f"{cleared:.0f} s" if cleared is not None else "- (never)")
            + f"; reasons {', '.join(e['reasons']) or '-'}"
        )
    return [*lines, ""]
