"""The operator's own metrics (prometheus-client), served on `INFERCOST_METRICS_PORT`.

Owns: the metric names below — a contract: the Helm chart's recording/alerting rules and
dashboard use them — and turning one decision into their values. Each Telemetry has its own
registry, so several operators in one test process do not collide.

Must not import: kopf, the adapters or the engine's internals (it reads Plans, decides nothing).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Observation, Plan

SERVICE = ("namespace", "service")
POOL = ("namespace", "service", "pool", "variant")
# Reconciles take milliseconds (decide) to seconds (API writes, a Triton reload).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Telemetry:
    """The gauges, counters and histogram of one operator process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry

        def gauge(name: str, doc: str, labels: tuple[str, ...] = SERVICE) -> Gauge:
            return Gauge(name, doc, labels, registry=r)

        self.hourly_cost = gauge("infercost_service_hourly_cost", "Planned cost per hour (USD).")
        self.cost_per_million = gauge(
            "infercost_service_cost_per_million", "Planned cost per million inferences (USD)."
        )
        self.p99 = gauge("infercost_service_p99_latency_ms", "Observed p99 latency (worst pod).")
        self.slo = gauge("infercost_service_slo_latency_ms", "Latency objective of the service.")
        self.budget = gauge("infercost_service_budget_hourly", "Budget per hour (USD), if set.")
        self.metrics_available = gauge(
            "infercost_metrics_available", "1 when the last decision had fresh metrics."
        )
        self.within_budget = gauge("infercost_service_within_budget", "1 when within budget.")
        self.desired = gauge(
            "infercost_pool_desired_replicas", "Replicas decided per (variant, pool).", POOL
        )
        self.ready = gauge(
            "infercost_pool_ready_replicas", "Ready replicas per (variant, pool).", POOL
        )
        self.max_batch = gauge(
            "infercost_batching_max_batch_size", "Triton max_batch_size decided.", POOL
        )
        self.decisions = Counter(
            "infercost_decisions",  # exposed as infercost_decisions_total
            "Actions decided, by kind and reason.",
            ("namespace", "service", "action", "reason"),
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "infercost_reconcile_duration_seconds",
            "Duration of one reconcile of one service.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._pools: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def record(
        self,
        key: tuple[str, str],
        *,
        spec: InferenceServiceSpec,
        plan: Plan,
        observation: Observation | None,
        ready: Mapping[tuple[str, str], int],
    ) -> None:
        """One decision's figures for (namespace, service); pools no longer used are removed."""
        namespace, service = labels = key
        self.hourly_cost.labels(*labels).set(plan.hourly_cost)
        _set_or_remove(self.cost_per_million, labels, plan.cost_per_million)
        p99 = observation.p99_latency_ms if observation is not None else None
        _set_or_remove(self.p99, labels, p99)
        self.slo.labels(*labels).set(spec.slo.latency_ms)
        _set_or_remove(self.budget, labels, spec.budget.max_hourly_cost if spec.budget else None)
        verdicts = {c.type: c.ok for c in plan.conditions}
        self.metrics_available.labels(*labels).set(float(verdicts.get("MetricsAvailable", False)))
        self.within_budget.labels(*labels).set(float(verdicts.get("WithinBudget", True)))
        pools = set()
        for a in plan.allocations:
            pools.add((a.pool, a.variant))
            self.desired.labels(namespace, service, a.pool, a.variant).set(a.replicas)
            self.ready.labels(namespace, service, a.pool, a.variant).set(
                ready.get((a.variant, a.pool), 0)
            )
            self.max_batch.labels(namespace, service, a.pool, a.variant).set(
                a.batching.max_batch_size
            )
        for pool, variant in self._pools.get(labels, set()) - pools:
            for metric in (self.desired, self.ready, self.max_batch):
                metric.remove(namespace, service, pool, variant)
        self._pools[labels] = pools
        for action in plan.actions:
            self.decisions.labels(namespace, service, action.kind.value, action.reason.value).inc()

    def forget(self, namespace: str, service: str) -> None:
        """A deleted service's label sets go (its decision counts stay: counters only grow)."""
        labels = (namespace, service)
        for metric in (
            self.hourly_cost,
            self.cost_per_million,
            self.p99,
            self.slo,
            self.budget,
            self.metrics_available,
            self.within_budget,
        ):
            _remove(metric, labels)
        for pool, variant in self._pools.pop(labels, set()):
            for pooled in (self.desired, self.ready, self.max_batch):
                pooled.remove(namespace, service, pool, variant)

    def serve(self, port: int, *, address: str = "0.0.0.0") -> WSGIServer:
        """Serve /metrics on `port` in a daemon thread; the server, to shut down."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server


def _set_or_remove(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
    if value is None or not math.isfinite(value):
        _remove(gauge, labels)
    else:
        gauge.labels(*labels).set(value)


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):  # never set: nothing to remove
        gauge.remove(*labels)
