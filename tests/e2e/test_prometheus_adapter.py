"""The Prometheus adapter against a REAL Prometheus scraping expositions this test serves.

The expositions carry Triton's metric names and units with rates the test chooses (counters
that grow linearly with time), so every figure the adapter derives has a known answer. NaN,
missing and stale series are produced for real: a NaN counter value, a service with no
series, samples with explicit timestamps older than the staleness threshold. The faults a
running Prometheus cannot produce (no answer at all, a hung answer) use real sockets: a
closed port and a local server that accepts and never replies.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infercost.adapters.metrics import Observed, observation_for
from infercost.adapters.prometheus import PrometheusMetrics
from infercost.settings import Settings
from tests.support.prometheus import Exposition, LocalPrometheus, free_port

pytestmark = pytest.mark.e2e
NS = "ml"
WINDOW = "5s"  # five 1 s scrapes; the test waits that long once for all scenarios


@dataclass(frozen=True)
class Pod:
    """A fake Triton pod's metrics: rates per second and a fixed p99."""

    rate: float = 0.0  # inferences (= requests) per second
    batch: float = 1.0  # inferences per execution
    exec_ms: float = 10.0  # compute time of one execution
    queue_ms: float = 0.0  # queue time of one request
    p99_us: float = float("nan")
    nan_count: bool = False
    timestamp_age: float | None = None  # explicit sample timestamps this old (stale samples)

    def render(self, t0: float) -> str:
        now = time.time()
        t = now - t0
        n = self.rate * t
        suffix = ""
        if self.timestamp_age is not None:
            suffix = f" {int((now - self.timestamp_age) * 1000)}"
        labels = '{model="synth",version="1"}'
        count = "NaN" if self.nan_count else f"{n:.6f}"
        lines = [
            f"nv_inference_count{labels} {count}{suffix}",
            f"nv_inference_request_success{labels} {n:.6f}{suffix}",
            f"nv_inference_exec_count{labels} {n / self.batch:.6f}{suffix}",
            # Triton credits every request of a batch with the batch's compute time.
            f"nv_inference_compute_infer_duration_us{labels} {n * self.exec_ms * 1e3:.3f}{suffix}",
            f"nv_inference_queue_duration_us{labels} {n * self.queue_ms * 1e3:.3f}{suffix}",
            f'nv_inference_request_summary_us{{model="synth",version="1",quantile="0.99"}} '
            f"{self.p99_us}{suffix}",
        ]
        return "\n".join(lines) + "\n"


SCENARIO: dict[tuple[str, str, str, str], Pod] = {
    # (service, variant, pool, pod)
    ("bert", "gpu", "g5", "bert-a"): Pod(rate=30, batch=2, exec_ms=20, queue_ms=5, p99_us=40e3),
    ("bert", "gpu", "g5", "bert-b"): Pod(rate=10, batch=1, exec_ms=10, queue_ms=1, p99_us=80e3),
    ("bert", "gpu", "inf2", "bert-c"): Pod(rate=20, batch=4, exec_ms=40, queue_ms=2, p99_us=60e3),
    ("idle", "gpu", "g5", "idle-a"): Pod(rate=0),
    ("nan", "gpu", "g5", "nan-a"): Pod(rate=5, nan_count=True, p99_us=1e3),
    ("stale", "gpu", "g5", "stale-a"): Pod(rate=5, p99_us=1e3, timestamp_age=200),
}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[LocalPrometheus]:
    prom = LocalPrometheus().start()
    t0 = time.time() - 3600
    servers = []
    try:
        for (service, variant, pool, pod), metrics in SCENARIO.items():
            server = Exposition(lambda m=metrics: m.render(t0))  # type: ignore[misc]
            servers.append(server)
            prom.add_target(
                server.address,
                {
                    "namespace": NS,
                    "infercost_io_service": service,
                    "infercost_io_variant": variant,
                    "infercost_io_pool": pool,
                    "pod": pod,
                },
            )
        # rate() extrapolates only so far: wait until samples span more than WINDOW everywhere.
        prom.wait_for("count_over_time(nv_inference_request_success[10s]) >= 8", count=5)
        yield prom
    finally:
        prom.close()
        for server in servers:
            server.close()


def settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "prometheus_url": url,
        "prometheus_rate_window": WINDOW,
        "prometheus_timeout_seconds": 20,  # generous: the machine is shared
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def observe(url: str, **overrides: object) -> Observed:
    return await PrometheusMetrics(settings(url, **overrides)).observe_all(now=time.time())


async def test_rates_p99_batch_queue_and_busy_per_service_and_pool(
    prometheus: LocalPrometheus,
) -> None:
    observed = await observe(prometheus.url)
    bert = observed[(NS, "bert")]
    print(f"bert: demand {bert.demand_rps} (expected 60), p99 {bert.p99_latency_ms} (80)")
    assert bert.demand_rps == pytest.approx(60, rel=0.05)
    assert bert.p99_latency_ms == pytest.approx(80.0)  # the worst pod's: summaries do not add
    g5, inf2 = bert.per_deployment[("gpu", "g5")], bert.per_deployment[("gpu", "inf2")]
    assert g5.inferences_per_second == pytest.approx(40, rel=0.05)
    assert g5.requests_per_second == pytest.approx(40, rel=0.05)
    assert g5.p99_latency_ms == pytest.approx(80.0)
    assert g5.average_batch == pytest.approx(40 / 25, rel=0.05)  # 40/s in 15 + 10 executions/s
    assert g5.queue_ms == pytest.approx((30 * 5 + 10 * 1) / 40, rel=0.05)
    assert g5.busy_fraction == pytest.approx((0.3 + 0.1) / 2, rel=0.05)  # 15x20 ms, 10x10 ms
    assert inf2.inferences_per_second == pytest.approx(20, rel=0.05)
    assert inf2.average_batch == pytest.approx(4, rel=0.05)
    assert inf2.busy_fraction == pytest.approx(0.2, rel=0.05)  # 5 executions/s of 40 ms
    assert inf2.p99_latency_ms == pytest.approx(60.0)


async def test_an_idle_service_is_observed_with_zero_demand_and_no_p99(
    prometheus: LocalPrometheus,
) -> None:
    # Triton reports NaN quantiles when no request fell in the summary's window: normal.
    idle = (await observe(prometheus.url))[(NS, "idle")]
    assert idle.demand_rps == 0.0
    assert idle.p99_latency_ms is None
    assert idle.unavailable_reason is None


@pytest.mark.parametrize(
    ("service", "reason"),
    [("nan", "MetricsNaN"), ("stale", "MetricsStale"), ("ghost", "MetricsMissing")],
)
async def test_nan_stale_and_missing_series_hold_with_a_reason(
    prometheus: LocalPrometheus, service: str, reason: str
) -> None:
    observed = await observe(prometheus.url)
    observation = observation_for(observed, (NS, service), now=time.time())
    assert observation is not None
    assert observation.demand_rps is None  # the engine holds: no demand, no scale-down
    assert observation.unavailable_reason == reason, observation.unavailable_message


async def test_an_unreachable_prometheus_holds_every_service() -> None:
    observed = await observe(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert dict(observed) == {}
    observation = observation_for(observed, (NS, "bert"), now=time.time())
    assert observation is not None
    assert observation.demand_rps is None
    assert observation.unavailable_reason == "PrometheusUnreachable"


async def test_a_prometheus_that_hangs_times_out_without_blocking_the_loop() -> None:
    # A real socket that accepts and never answers: a hung Prometheus (cannot be made to hang).
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        ticks = 0

        async def ticker() -> None:  # runs only while the event loop is free
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        try:
            observed = await observe(f"http://127.0.0.1:{port}", prometheus_timeout_seconds=1)
        finally:
            ticking.cancel()
            stop.set()
            thread.join()
            for conn in accepted:
                conn.close()
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusUnreachable"
    assert "timed out" in observed.missing.message
    # The loop kept running while the query hung (the blocking client runs in a thread), and
    # the round ended at the first timeout: one connection, no retry storm. Counted, not timed.
    assert ticks >= 1
    assert len(accepted) == 1, f"{len(accepted)} connections to the hung Prometheus"


async def test_a_bad_query_template_is_a_prometheus_error(prometheus: LocalPrometheus) -> None:
    observed = await observe(prometheus.url, prometheus_queries={"p99": "max by ($by) (("})
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusError"
    assert "p99" in observed.missing.message


async def test_failure_and_recovery_are_logged_once_each(
    prometheus: LocalPrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="infercost.prometheus")
    source = PrometheusMetrics(settings(f"http://127.0.0.1:{free_port()}"))
    for _ in range(3):
        await source.observe_all(now=time.time())
    source.client.url = prometheus.url
    await source.observe_all(now=time.time())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("metrics unavailable" in m for m in messages) == 1, messages
    assert sum("answers again" in m for m in messages) == 1, messages


async def test_an_answer_not_shaped_like_prometheus_is_an_error_not_a_crash() -> None:
    # A real HTTP server answering 200 with a value that is not a number (a proxy's page,
    # a broken template): the round is held with PrometheusError.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = (
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":'
        b'{"namespace":"ml","infercost_io_service":"bert"},"value":[1,"not-a-number"]}]}}'
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        observed = await observe(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert observed.missing is not None
    assert observed.missing.reason == "PrometheusError"
