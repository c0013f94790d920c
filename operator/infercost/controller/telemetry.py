"""The operator's own Prometheus metrics (docs/metrics.md: names and labels are a contract).

One registry per operator (tests run several in one process); series of a pool or variant a
service stopped using, or of a deleted service, are removed rather than left stale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Action, Observation, Plan
from infercost.engine.team_budget import Split

ServiceLabels = tuple[str, str]


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        per_service = ["namespace", "service"]
        per_pool = [*per_service, "pool", "variant"]

        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, registry=self.registry)

        self.hourly = gauge("infercost_service_hourly_cost", "Cost per hour.", per_service)
        self.per_million = gauge(
            "infercost_service_cost_per_million", "Cost per million inferences.", per_service
        )
        self.p99 = gauge("infercost_service_p99_latency_ms", "Observed p99 (ms).", per_service)
        self.slo = gauge("infercost_service_slo_latency_ms", "Latency SLO (ms).", per_service)
        self.budget = gauge("infercost_service_budget_hourly", "Hourly budget.", per_service)
        self.metrics_ok = gauge(
            "infercost_metrics_available", "1 while Triton metrics are read.", per_service
        )
        self.within_budget = gauge(
            "infercost_service_within_budget", "1 while within budget.", per_service
        )
        self.desired = gauge("infercost_pool_desired_replicas", "Desired replicas.", per_pool)
        self.ready = gauge("infercost_pool_ready_replicas", "Ready replicas.", per_pool)
        self.batch = gauge("infercost_batching_max_batch_size", "max_batch_size.", per_pool)
        self.decisions = Counter(
            "infercost_decisions",
            "Decisions by action and reason.",
            [*per_service, "action", "reason"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "infercost_reconcile_duration_seconds",
            "Wall time of one observe-decide-apply round of one service.",
            registry=self.registry,
        )
        self._pools: dict[ServiceLabels, set[tuple[str, str]]] = {}
        per_policy = ["policy"]
        self.team_cap = gauge(
            "infercost_budget_policy_max_hourly_cost", "A BudgetPolicy's limit ($/h).", per_policy
        )
        self.team_spend = gauge(
            "infercost_budget_policy_spend_hourly",
            "$/h its services are planned at this interval.",
            per_policy,
        )
        self.team_wanted = gauge(
            "infercost_budget_policy_wanted_hourly",
            "$/h its services would be planned at without it.",
            per_policy,
        )
        self.team_limited = gauge(
            "infercost_budget_policy_limited_services",
            "Services held below their demand by their share.",
            per_policy,
        )

    def serve(self, port: int) -> Any:
        """Serve /metrics on `port` in a thread; returns the server (call .shutdown())."""
        server, _ = start_http_server(port, registry=self.registry)
        return server

    def record(
        self,
        key: ServiceLabels,
        *,
        spec: InferenceServiceSpec,
        plan: Plan,
        ready: Mapping[tuple[str, str], int],
        observation: Observation | None,
    ) -> None:
        labels = {"namespace": key[0], "service": key[1]}
        self.hourly.labels(**labels).set(plan.hourly_cost)
        self._optional(self.per_million, labels, plan.cost_per_million)
        self._optional(self.p99, labels, observation.p99_latency_ms if observation else None)
        self.slo.labels(**labels).set(spec.slo.latency_ms)
        self._optional(self.budget, labels, spec.budget.max_hourly_cost if spec.budget else None)
        verdicts = {verdict.type: verdict.ok for verdict in plan.conditions}
        self.metrics_ok.labels(**labels).set(1 if verdicts.get("MetricsAvailable") else 0)
        self.within_budget.labels(**labels).set(1 if verdicts.get("WithinBudget", True) else 0)
        seen = set()
        for allocation in plan.allocations:
            where = (allocation.pool, allocation.variant)
            seen.add(where)
            pool_labels = {**labels, "pool": where[0], "variant": where[1]}
            self.desired.labels(**pool_labels).set(allocation.replicas)
            self.ready.labels(**pool_labels).set(ready.get((where[1], where[0]), 0))
            self.batch.labels(**pool_labels).set(allocation.batching.max_batch_size)
        for gone in self._pools.get(key, set()) - seen:
            for metric in (self.desired, self.ready, self.batch):
                metric.remove(key[0], key[1], *gone)
        self._pools[key] = seen

    def team_round(self, split: Split) -> None:
        """One BudgetPolicy's round (controller/budgets.py)."""
        self.team_cap.labels(split.policy).set(split.cap)
        self.team_spend.labels(split.policy).set(split.spend)
        self.team_wanted.labels(split.policy).set(split.wanted)
        self.team_limited.labels(split.policy).set(len(split.limited))

    def forget_policy(self, name: str) -> None:
        for metric in (self.team_cap, self.team_spend, self.team_wanted, self.team_limited):
            with contextlib.suppress(KeyError):
                metric.remove(name)

    def decided(self, key: ServiceLabels, action: Action) -> None:
        self.decisions.labels(key[0], key[1], action.kind.value, action.reason.value).inc()

    def forget(self, key: ServiceLabels) -> None:
        for metric in (
            self.hourly,
            self.per_million,
            self.p99,
            self.slo,
            self.budget,
            self.metrics_ok,
            self.within_budget,
        ):
            with contextlib.suppress(KeyError):
                metric.remove(*key)
        for gone in self._pools.pop(key, set()):
            for pool_metric in (self.desired, self.ready, self.batch):
                pool_metric.remove(key[0], key[1], *gone)

    @staticmethod
    def _optional(metric: Gauge, labels: dict[str, str], value: float | None) -> None:
        if value is None:
            with contextlib.suppress(KeyError):
                metric.remove(*labels.values())
        else:
            metric.labels(**labels).set(value)
