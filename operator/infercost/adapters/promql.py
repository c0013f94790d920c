"""PromQL templates and the pure step from query results to per-service Observations.

One query per metric for all services, grouped by the contract labels (docs/architecture.md section 5);
this module turns the per-pod series into each service's slice. No I/O here: the Prometheus
adapter (prometheus.py) runs the queries and hands the results in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any

from infercost.adapters.metrics import DemandSeries, Observed, PodRef, ServiceKey, Unavailable
from infercost.engine.model import DeploymentMetrics, Observation

# The labels every Triton series carries once scraped (PodMonitor podTargetLabels or file_sd).
LABEL_NAMESPACE = "namespace"
LABEL_SERVICE = "infercost_io_service"
LABEL_VARIANT = "infercost_io_variant"
LABEL_POOL = "infercost_io_pool"
LABEL_POD = "pod"
BY = ", ".join((LABEL_NAMESPACE, LABEL_SERVICE, LABEL_VARIANT, LABEL_POOL, LABEL_POD))

# Triton's metric names and units (server 2.51): counters in microseconds, summaries with
# `--metrics-config summary_latencies=true`. A summary's quantiles cannot be aggregated
# across pods, so p99 is taken per pod and the service's is the worst pod's.
DEFAULT_QUERIES: Mapping[str, str] = {
    "demand": "sum by ($by) (rate(nv_inference_count[$window]))",
    "requests": "sum by ($by) (rate(nv_inference_request_success[$window]))",
    "p99": 'max by ($by) (nv_inference_request_summary_us{quantile="0.99"})',
    "queue": "sum by ($by) (rate(nv_inference_queue_duration_us[$window]))",
    "execs": "sum by ($by) (rate(nv_inference_exec_count[$window]))",
    "busy": "sum by ($by) (rate(nv_inference_compute_infer_duration_us[$window]))",
    "age": "time() - max by ($by) (timestamp(nv_inference_count))",
    # Requests waiting for execution now (a gauge): its growth is demand beyond capacity.
    "pending": "sum by ($by) (nv_inference_pending_request_count)",
    # Requests Triton's queue policy rejected (rejectLateRequests): arrivals not served.
    "rejected": 'sum by ($by) (rate(nv_inference_request_failure{reason="REJECTED"}[$window]))',
    # The response cache (model config response_cache, server --cache-config): requests
    # answered from it never reach nv_inference_count, which counts executed inferences.
    "cache_hits": "sum by ($by) (rate(nv_cache_num_hits_per_model[$window]))",
    "cache_misses": "sum by ($by) (rate(nv_cache_num_misses_per_model[$window]))",
}
# OpenCost (by node) and kube-state-metrics' node labels, for pools priced by OpenCost.
PRICE_QUERIES: Mapping[str, str] = {
    "node_cost": "avg by (node) (node_total_hourly_cost)",
    "node_labels": "kube_node_labels",
}

# Demand as the engine counts it (completions and rejections; a recording cannot show the
# queue's growth between samples), summed per service: the history recalled after a restart.
HISTORY_QUERIES = ("demand", "rejected")

PodKey = tuple[str, str, str, str, str]  # namespace, service, variant, pool, pod
Results = Mapping[str, Sequence[Mapping[str, Any]]]  # query name -> Prometheus vector result


def render(template: str, *, window: str, **extra: str) -> str:
    """Substitute `$by`, `$window` (and extras); unknown `$names` stay, PromQL braces too."""
    return Template(template).safe_substitute(by=BY, window=window, **extra)


def queries(overrides: Mapping[str, str], *, window: str) -> dict[str, str]:
    """The rendered service queries: defaults with the settings' overrides by name."""
    unknown = set(overrides) - set(DEFAULT_QUERIES) - set(PRICE_QUERIES)
    if unknown:
        raise ValueError(
            f"prometheus_queries: unknown name(s) {sorted(unknown)}; "
            f"known: {sorted({*DEFAULT_QUERIES, *PRICE_QUERIES})}"
        )
    return {
        name: render(overrides.get(name, template), window=window)
        for name, template in DEFAULT_QUERIES.items()
    }


# Advise mode (adapters/metrics.py observe_pods): pods infercost does not manage carry no
# contract labels; the same queries grouped by the labels every pod's series has instead.
POD_BY = ", ".join((LABEL_NAMESPACE, LABEL_POD))


def pod_queries(overrides: Mapping[str, str], *, window: str) -> dict[str, str]:
    """The service queries (with the settings' overrides) grouped by namespace and pod."""
    return {
        name: Template(overrides.get(name, template)).safe_substitute(by=POD_BY, window=window)
        for name, template in DEFAULT_QUERIES.items()
    }


def pod_observations(
    results: Results, pods: Mapping[PodRef, ServiceKey], *, now: float, stale_after: float
) -> Observed:
    """Observations of the pods' services from per-pod results: each pod's series is counted
    for the service it is mapped to (one deployment per service); other pods are left out."""
    mapped: dict[str, list[dict[str, Any]]] = {}
    for name, result in results.items():
        mapped[name] = []
        for sample in result:
            labels = sample.get("metric") or {}
            key = pods.get((labels.get(LABEL_NAMESPACE, ""), labels.get(LABEL_POD, "")))
            if key is not None:
                mapped[name].append({**sample, "metric": {**labels, LABEL_SERVICE: key[1]}})
    observed = observations(mapped, now=now, stale_after=stale_after)
    missing = Unavailable(
        reason="MetricsMissing",
        message="no Triton series in Prometheus with the target's namespace and pod labels",
    )
    return Observed(observed.items(), missing=missing)


def window_seconds(window: str) -> float:
    """Seconds of a rate window as settings write it (`90s`, `1m`, `2h`)."""
    return float(window[:-1]) * {"s": 1, "m": 60, "h": 3600}[window[-1]]


def history_queries(rendered: Mapping[str, str]) -> dict[str, str]:
    """The rendered per-pod queries of HISTORY_QUERIES, summed per service."""
    return {
        name: f"sum by ({LABEL_NAMESPACE}, {LABEL_SERVICE}) ({rendered[name]})"
        for name in HISTORY_QUERIES
    }


Totals = dict[ServiceKey, dict[float, float]]  # service -> time -> inferences/s


def add_series(totals: Totals, result: Sequence[Mapping[str, Any]]) -> None:
    """Add one range query's per-service values into `totals` at each time (one query at a
    time: a thousand services' parsed answer is tens of MB); NaN and infinities left out."""
    for series in result:
        labels = series.get("metric") or {}
        namespace, service = labels.get(LABEL_NAMESPACE), labels.get(LABEL_SERVICE)
        if not namespace or not service:
            continue
        at = totals.setdefault((namespace, service), {})
        for time, text in series["values"]:
            value = float(text)
            if math.isfinite(value):
                at[float(time)] = at.get(float(time), 0.0) + value


def demand_series(totals: Totals) -> dict[ServiceKey, DemandSeries]:
    """Each service's (time, inferences/s) in time order."""
    return {key: sorted(at.items()) for key, at in totals.items() if at}


def value_of(sample: Mapping[str, Any]) -> float:
    """The float of one vector sample (`value: [time, "text"]`); NaN stays NaN."""
    return float(sample["value"][1])


def by_pod(result: Sequence[Mapping[str, Any]]) -> dict[PodKey, float]:
    """Samples keyed by the contract labels; series without a service label are not ours."""
    values: dict[PodKey, float] = {}
    for sample in result:
        labels = sample.get("metric") or {}
        if not labels.get(LABEL_SERVICE) or not labels.get(LABEL_NAMESPACE):
            continue
        key = (
            labels[LABEL_NAMESPACE],
            labels[LABEL_SERVICE],
            labels.get(LABEL_VARIANT, ""),
            labels.get(LABEL_POOL, ""),
            labels.get(LABEL_POD, ""),
        )
        values[key] = value_of(sample)
    return values


@dataclass
class _Pods:
    """One (variant, pool)'s pods: per-pod values by query name."""

    values: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))


def _finite(values: Mapping[str, float]) -> list[float]:
    return [v for v in values.values() if math.isfinite(v)]


def _sum(values: Mapping[str, float]) -> float | None:
    finite = _finite(values)
    return sum(finite) if finite else None


def _ratio(top: float | None, bottom: float | None, scale: float = 1.0) -> float | None:
    if top is None or bottom is None or bottom <= 0:
        return None
    return top / bottom * scale


def _busy(v: Mapping[str, Mapping[str, float]], pod: str) -> float | None:
    """One replica's busy fraction, 0..1.

    Triton credits every request of a batch with the batch's whole compute time (checked
    against tritonserver 2.51), so busy time is the compute-time rate over the average batch:
    rate(compute_infer_duration_us) / 1e6 / (inferences / executions).
    """
    us, inferences, execs = v["busy"][pod], v["demand"].get(pod), v["execs"].get(pod)
    if not math.isfinite(us) or inferences is None or not math.isfinite(inferences):
        return None
    if inferences <= 0:
        return 0.0
    if execs is None or not math.isfinite(execs):
        return None
    return min(1.0, us / 1e6 * execs / inferences)


def deployment_metrics(pods: _Pods) -> DeploymentMetrics:
    v = pods.values
    demand, requests, execs = _sum(v["demand"]), _sum(v["requests"]), _sum(v["execs"])
    p99 = _finite(v["p99"])
    batch = _ratio(demand, execs)
    busy_pods = [b for pod in v["busy"] if (b := _busy(v, pod)) is not None]
    busy = sum(busy_pods) / len(busy_pods) if busy_pods else None
    return DeploymentMetrics(
        inferences_per_second=demand,
        requests_per_second=requests,
        p99_latency_ms=max(p99) / 1e3 if p99 else None,
        queue_ms=_ratio(_sum(v["queue"]), requests, 1e-3),
        average_batch=batch,
        busy_fraction=busy,
        pending_requests=_sum(v["pending"]),
        rejected_per_second=_sum(v["rejected"]),
    )


def _group(results: Results, stale_after: float) -> dict[ServiceKey, dict[tuple[str, str], _Pods]]:
    """Fresh pods by service and (variant, pool); a pod whose newest sample is stale is left out."""
    ages = by_pod(results.get("age", ()))
    services: dict[ServiceKey, dict[tuple[str, str], _Pods]] = defaultdict(dict)
    for name in DEFAULT_QUERIES:
        if name == "age":
            continue
        for (ns, service, variant, pool, pod), value in by_pod(results.get(name, ())).items():
            age = ages.get((ns, service, variant, pool, pod))
            if age is not None and age > stale_after:
                continue
            pods = services[(ns, service)].setdefault((variant, pool), _Pods())
            pods.values[name][pod] = value
    return services


def observations(results: Results, *, now: float, stale_after: float) -> Observed:
    """Each service's Observation; services without usable demand say why (demand None)."""
    grouped = _group(results, stale_after)
    out: list[tuple[ServiceKey, Observation]] = []
    for key, age in _stale_services(results, stale_after, grouped):
        message = f"newest sample {age:.0f}s old (stale after {stale_after:.0f}s)"
        out.append((key, _unavailable(now, "MetricsStale", message)))
    for key, deployments in grouped.items():
        per = {k: deployment_metrics(pods) for k, pods in deployments.items()}
        demands = [d.inferences_per_second for d in per.values()]
        raw = [v for pods in deployments.values() for v in pods.values["demand"].values()]
        if raw and all(math.isnan(v) for v in raw):
            out.append((key, _unavailable(now, "MetricsNaN", "demand is NaN on every pod")))
            continue
        if not any(d is not None for d in demands):
            out.append((key, _unavailable(now, "MetricsMissing", "no demand series")))
            continue
        p99s = [d.p99_latency_ms for d in per.values() if d.p99_latency_ms is not None]
        computed = sum(d for d in demands if d is not None)
        hits, misses = _cache_rates(deployments.values())
        out.append(
            (
                key,
                Observation(
                    time=now,
                    demand_rps=computed + _cached_inferences(computed, hits, misses),
                    p99_latency_ms=max(p99s) if p99s else None,
                    per_deployment=per,
                    cache_hits_per_second=hits,
                    cache_misses_per_second=misses,
                ),
            )
        )
    missing = Unavailable(
        reason="MetricsMissing",
        message="no Triton series with this service's labels in Prometheus",
    )
    return Observed(out, missing=missing)


def _cache_rates(deployments: Iterable[_Pods]) -> tuple[float | None, float | None]:
    """Cache hits and misses (requests/s) over the service's pods; None where not reported."""
    hits = [h for pods in deployments if (h := _sum(pods.values["cache_hits"])) is not None]
    misses = [m for pods in deployments if (m := _sum(pods.values["cache_misses"])) is not None]
    return (sum(hits) if hits else None), (sum(misses) if misses else None)


def _cached_inferences(computed: float, hits: float | None, misses: float | None) -> float:
    """Inferences/s answered from the cache: hits are requests, demand counts inferences, so
    a hit counts the computed requests' inferences per request (1 without misses to tell)."""
    if hits is None or hits <= 0:
        return 0.0
    per_request = computed / misses if misses is not None and misses > 0 else 1.0
    return hits * per_request


def _stale_services(
    results: Results, stale_after: float, fresh: Mapping[ServiceKey, object]
) -> list[tuple[ServiceKey, float]]:
    """Services whose every pod is stale, with the age of their freshest sample."""
    newest: dict[ServiceKey, float] = {}
    for pod, age in by_pod(results.get("age", ())).items():
        key = (pod[0], pod[1])
        if key not in fresh:
            newest[key] = min(age, newest.get(key, math.inf))
    return [(key, age) for key, age in newest.items() if age > stale_after]


def _unavailable(now: float, reason: str, message: str) -> Observation:
    return Observation(
        time=now,
        demand_rps=None,
        p99_latency_ms=None,
        unavailable_reason=reason,
        unavailable_message=message,
    )
