"""The demand record read back after a restart, from a REAL Prometheus holding hours of it.

Hours of history cannot be scraped in a test, so the test writes them as OpenMetrics with
timestamps and loads them with `promtool tsdb create-blocks-from openmetrics` (Prometheus'
own backfill) before Prometheus starts: the adapter then runs its real range queries over
real blocks. The series carry Triton's names and the contract labels, as scraped pods do.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from infercost.adapters.prometheus import PrometheusMetrics
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import EngineSettings, ServiceState
from infercost.engine.recall import recall
from infercost.settings import Settings
from tests.support.prometheus import LocalPrometheus, free_port

pytestmark = pytest.mark.e2e
HOUR = 3600.0
STEP = 15.0
HOURS = 4
END = (time.time() // STEP) * STEP - 120  # the record ends two minutes ago
START = END - HOURS * HOUR
SPEC = InferenceServiceSpec.model_validate(
    {
        "model": {"name": "bert"},
        "variants": [
            {
                "name": "gpu",
                "acceleratorTypes": ["nvidia-l4"],
                "image": "tritonserver",
                "modelRepository": "s3://m",
                "profile": [
                    {
                        "acceleratorType": "nvidia-l4",
                        "batchSize": 8,
                        "throughput": 400.0,
                        "p99LatencyMs": 20.0,
                    }
                ],
            }
        ],
        "slo": {"latencyMs": 50},
    }
)


def spiking(t: float) -> bool:
    """A 5-minute spike half past each hour of the record."""
    return 0 <= (t - START) % HOUR - HOUR / 2 < 300


def rates(t: float) -> dict[str, float]:
    """Per pod: inferences/s at time t (pod b takes the spikes), and pod a's rejections."""
    return {"a": 200.0, "b": 1800.0 if spiking(t) else 100.0, "rejected": 10.0}


def openmetrics() -> str:
    """Counters growing at `rates`, a sample every STEP seconds, as OpenMetrics text."""
    totals = {"a": 0.0, "b": 0.0, "rejected": 0.0}
    labels = 'namespace="ml",infercost_io_service="bert",infercost_io_variant="gpu"'
    labels += ',infercost_io_pool="l4",model="bert",version="1"'
    count, failures = [], []
    t = START
    while t <= END:
        for name, rate in rates(t).items():
            totals[name] += rate * STEP
        count.append(f'nv_inference_count{{{labels},pod="bert-a"}} {totals["a"]:.3f} {t:.0f}')
        count.append(f'nv_inference_count{{{labels},pod="bert-b"}} {totals["b"]:.3f} {t:.0f}')
        failures.append(
            f'nv_inference_request_failure{{{labels},pod="bert-a",reason="REJECTED"}} '
            f"{totals['rejected']:.3f} {t:.0f}"
        )
        t += STEP
    # A family's samples together, each series in time order (the sort is stable); the type
    # `unknown` keeps Triton's names (an OpenMetrics counter would need a _total suffix).
    lines = ["# TYPE nv_inference_count unknown", *sorted(count, key=lambda x: x.split("}")[0])]
    lines += ["# TYPE nv_inference_request_failure unknown", *failures, "# EOF"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run `make tools` (Debian's prometheus package)"
    prom = LocalPrometheus()
    source = tmp_path_factory.mktemp("record") / "record.om"
    source.write_text(openmetrics())
    done = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(prom.dir / "tsdb"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    prom.start()
    yield prom
    prom.close()


WINDOW = 30.0  # the rate window: the record's samples are this far apart


def adapter(url: str) -> PrometheusMetrics:
    return PrometheusMetrics(Settings(prometheus_url=url, prometheus_rate_window=f"{WINDOW:g}s"))


async def test_the_record_is_each_service_s_demand_with_rejections(
    prometheus: LocalPrometheus,
) -> None:
    recorded = await adapter(prometheus.url).demand_history(start=START, end=END, step=STEP)
    assert list(recorded) == [("ml", "bert")]
    series = recorded[("ml", "bert")]
    # Asked every 15 s, answered every rate window: closer samples repeat what it averaged.
    assert len(series) == pytest.approx(HOURS * HOUR / WINDOW, abs=2)
    # Away from a spike's edges (the rate window straddles them), the figures are the pods'
    # inferences plus the rejections: 310/s, and 2,010/s within a spike.
    checked = {True: 0, False: 0}
    for t, rps in series:
        steady = all(spiking(t - lag) == spiking(t) for lag in (0, 15, 30, 45))
        if steady and t >= START + 45:  # a whole rate window after the record starts
            assert rps == pytest.approx(2010.0 if spiking(t) else 310.0, rel=0.01), t
            checked[spiking(t)] += 1
    assert checked[True] >= 4 * 7  # 30 s samples inside each 5-minute spike
    assert checked[False] >= 400


async def test_a_span_past_one_query_s_points_is_coarsened_not_refused(
    prometheus: LocalPrometheus,
) -> None:
    # 4 days at the 30 s window would be 11,520 points a series, past Prometheus' 11,000:
    # every 32 s instead (the record fills the last 4 h of them).
    days = 4 * 86400
    recorded = await adapter(prometheus.url).demand_history(start=END - days, end=END, step=1.0)
    assert len(recorded[("ml", "bert")]) == pytest.approx(HOURS * HOUR / 32, abs=3)


async def test_recalled_from_prometheus_the_spikes_are_where_they_were(
    prometheus: LocalPrometheus,
) -> None:
    recorded = await adapter(prometheus.url).demand_history(start=START, end=END, step=STEP)
    settings = EngineSettings()
    state = recall(ServiceState(), recorded[("ml", "bert")], spec=SPEC, settings=settings)
    starts = [start for start, _ in state.spikes.spikes]
    truth = [START + HOUR / 2 + k * HOUR for k in range(1, HOURS)]  # the last three
    assert len(starts) == 3
    for seen, true in zip(starts, truth, strict=True):
        assert true <= seen <= true + 2 * WINDOW  # the rate window needs a sample to see it
    assert state.demand_history[-1][0] == pytest.approx(END, abs=STEP)


async def test_an_unreachable_prometheus_gives_no_record_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="infercost.prometheus")
    closed = f"http://127.0.0.1:{free_port()}"
    assert await adapter(closed).demand_history(start=START, end=END, step=STEP) == {}
    assert "demand history unavailable" in caplog.text
    assert "Connection refused" in caplog.text
