"""The activator's own Prometheus metrics, in a registry of its own (one per activator, so
several can run in one process, as in the tests), served on its metrics port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# A cold start is provisioning + image pull + model load: seconds on a warm node, minutes on
# a new GPU node (docs/levers.md); the wake timeout (default 300 s) caps what is observed.
COLD_START_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)


class ActivatorMetrics:
    """Held requests, their outcomes and the cold starts of one service's activator."""

    def __init__(self, *, namespace: str, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"namespace": namespace, "service": service}
        self._labels = labels
        self.held = Gauge(
            "infercost_activator_requests_held",
            "Requests (HTTP) and connections (gRPC) held now, waiting for a ready replica.",
            ["namespace", "service", "protocol"],
            registry=self.registry,
        )
        self.handled = Counter(
            "infercost_activator_requests",
            "Requests and connections by outcome: forwarded, refused (503: the wake failed "
            "or timed out), backend_error (502: the replica failed after the wake), "
            "client_gone (a held gRPC connection the client closed).",
            ["namespace", "service", "protocol", "outcome"],
            registry=self.registry,
        )
        self.cold_start = Histogram(
            "infercost_cold_start_seconds",
            "From the wake request to the first ready replica, per wake.",
            ["namespace", "service"],
            buckets=COLD_START_BUCKETS,
            registry=self.registry,
        )
        self.wakes = Counter(
            "infercost_activator_wakes",
            "Wakes by outcome: ready, or the reason they failed (WakeTimeout, the "
            "InferenceService's Placed reason, ...).",
            ["namespace", "service", "outcome"],
            registry=self.registry,
        )

    def hold(self, protocol: str) -> Gauge:
        return self.held.labels(**self._labels, protocol=protocol)

    def count(self, protocol: str, outcome: str) -> None:
        self.handled.labels(**self._labels, protocol=protocol, outcome=outcome).inc()

    def woke(self, *, outcome: str, seconds: float | None = None) -> None:
        self.wakes.labels(**self._labels, outcome=outcome).inc()
        if seconds is not None:
            self.cold_start.labels(**self._labels).observe(seconds)
