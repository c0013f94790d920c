"""Triton's response cache, seen by the operator, against a REAL tritonserver and Prometheus.

Real: tritonserver 2.51 (nvidia-pytriton's binary, its bundled local cache library) with
`--cache-config local,size=...` serving the synthetic python-backend model with
`response_cache { enable: true }`; Prometheus (Debian's) scraping Triton's /metrics with the
contract labels; the Prometheus adapter (one query per metric, `adapters/promql.py`); the
engine's `for_compute`. The client knows which of its inputs it sent before: that is the hit count
the cache must report.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton_http

from infercost.adapters.prometheus import PrometheusMetrics
from infercost.api.caching import ResponseCache
from infercost.engine.caching import cache_hit_ratio, for_compute, observed_hit_ratio
from infercost.engine.model import EngineSettings
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.manifests import with_response_cache
from infercost.manifests.caching import cache_args
from infercost.settings import Settings
from tests.support.prometheus import LocalPrometheus
from tests.support.triton_counters import Counters, counters_when, read_counters

pytestmark = pytest.mark.e2e
NS = "ml"
MODEL = SyntheticModel(base_ms=5, per_item_ms=1, max_batch_size=1, response_cache=True)
REQUESTS = 300
CACHE_MB = 4
DISTINCT = 10  # every other request repeats one of these; the others are new inputs
WINDOW = "2m"  # the whole load and the scrapes after it fall in the window
HITS = 'nv_cache_num_hits_per_model{infercost_io_service="bert"}'
MISSES = 'nv_cache_num_misses_per_model{infercost_io_service="bert"}'


@pytest.fixture(scope="module")
def triton() -> Iterator[TritonServer]:
    with TritonServer([MODEL], cache_bytes=CACHE_MB << 20) as server:
        yield server


def counters(triton: TritonServer) -> Counters:
    """Triton's own cache and request counters of model synth (no Prometheus in between)."""
    return read_counters(
        triton,
        {
            "nv_cache_num_hits_per_model": "hits",
            "nv_cache_num_misses_per_model": "misses",
            "nv_inference_count": "computed",
            "nv_inference_request_success": "success",
        },
    )


def counters_after(
    triton: TritonServer, before: Counters, *, answered: int, looked_up: bool
) -> Counters:
    """The counters once they show `answered` more successes than `before`, a cache lookup
    for each when `looked_up`, and an execution for each that was not a hit
    (tests/support/triton_counters.py: why it waits)."""

    def done(now: Counters) -> bool:
        delta = {k: now.get(k, 0.0) - before.get(k, 0.0) for k in now}
        hits = delta.get("hits", 0.0)
        return (
            delta.get("success", 0.0) >= answered
            and (not looked_up or hits + delta.get("misses", 0.0) >= answered)
            and delta.get("computed", 0.0) >= answered - hits
        )

    return counters_when(lambda: counters(triton), done)


def send(triton: TritonServer, values: list[float]) -> int:
    """Send each value as one request, in order; the number of values seen before."""
    client = triton_http.InferenceServerClient(triton.url)
    seen: set[float] = set()
    repeats = 0
    try:
        for value in values:
            tensor = triton_http.InferInput("INPUT0", [1, 1], "FP32")
            tensor.set_data_from_numpy(np.array([[value]], dtype=np.float32))
            answer = client.infer("synth", [tensor]).as_numpy("OUTPUT0")
            assert answer is not None
            assert float(answer[0][0]) == value
            repeats += value in seen
            seen.add(value)
            time.sleep(0.01)
    finally:
        client.close()
    return repeats


def wilson_lower(ratio: float, lookups: int, z: float = 2.3263) -> float:
    """Wilson's score interval's lower end, written out here to check the engine's."""
    centre = ratio + z * z / (2 * lookups)
    margin = z * (ratio * (1 - ratio) / lookups + z * z / (4 * lookups * lookups)) ** 0.5
    return (centre - margin) / (1 + z * z / lookups)


async def test_hit_ratio_client_triton_and_operator_agree(triton: TritonServer) -> None:
    prom = LocalPrometheus().start()
    try:
        prom.add_target(
            f"127.0.0.1:{triton.metrics_port}",
            {
                "namespace": NS,
                "infercost_io_service": "bert",
                "infercost_io_variant": "cpu",
                "infercost_io_pool": "a",
                "pod": "bert-a-0",
            },
        )
        # One miss first so the per-model cache series exist, scraped twice before the load:
        # rate() then has its baseline.
        before = await asyncio.to_thread(send, triton, [-1.0])
        await asyncio.to_thread(prom.wait_for, f"count_over_time({MISSES}[1m]) >= 2")
        start = counters(triton)
        values = [float(k % DISTINCT) if k % 2 == 0 else 1000.0 + k for k in range(REQUESTS)]
        repeats = await asyncio.to_thread(send, triton, values)
        end = await asyncio.to_thread(
            counters_after, triton, start, answered=REQUESTS, looked_up=True
        )
        hits, misses = end["hits"] - start["hits"], end["misses"] - start["misses"]
        client_ratio = repeats / REQUESTS
        assert before == 0
        assert hits == repeats  # Triton's cache answered exactly the repeated inputs
        assert misses == REQUESTS - repeats
        # Cached answers are successes that never ran the model.
        assert end["success"] - start["success"] == REQUESTS
        assert end["computed"] - start["computed"] == misses

        await asyncio.to_thread(prom.wait_for, f"{HITS} == {end['hits']:g}", timeout=30)
        await asyncio.to_thread(prom.wait_for, f"{MISSES} == {end['misses']:g}", timeout=30)
        operator_settings = Settings(
            prometheus_url=prom.url,
            prometheus_rate_window=WINDOW,
            prometheus_timeout_seconds=20,  # generous: the machine is shared
            engine=EngineSettings(cache_max_hit_ratio=0.95),
        )
        # As the operator decides: its metrics window is the 2m rate window, which holds
        # every lookup of the load.
        settings = operator_settings.for_engine()
        source = PrometheusMetrics(operator_settings)
        observation = (await source.observe_all(now=time.time()))[(NS, "bert")]
        seen_ratio = observed_hit_ratio(observation)
        operator_ratio = cache_hit_ratio(observation, settings, late_share=0.01)
        total = observation.demand_rps
        compute = for_compute(observation, settings, late_share=0.01).demand_rps
        deployment = observation.per_deployment[("cpu", "a")]
        assert total is not None
        assert compute is not None
        assert seen_ratio is not None
        assert deployment.requests_per_second is not None
        print(
            f"\nclient: {REQUESTS} requests, {repeats} repeated (hit ratio {client_ratio:.3f}); "
            f"Triton: {hits:.0f} hits, {misses:.0f} misses ({hits / (hits + misses):.3f}); "
            f"operator: hit ratio {seen_ratio:.3f}, planned with {operator_ratio:.3f}, demand "
            f"{total:.3f}/s of which compute {compute:.3f}/s ({compute / total:.3f}) and cached "
            f"{total - compute:.3f}/s"
        )
        assert seen_ratio == pytest.approx(client_ratio, rel=0.1)
        # Planned with the lower bound that the window's lookups (about REQUESTS) support at
        # a p99 SLO's confidence: below the ratio seen, within Wilson's margin of it.
        assert operator_ratio < seen_ratio
        assert operator_ratio == pytest.approx(wilson_lower(client_ratio, REQUESTS), abs=0.03)
        # The operator's split of demand: compute for the misses, the rest answered by the cache.
        assert compute / total == pytest.approx(1 - operator_ratio, rel=1e-6)
        # All answered requests count as demand, cached ones included (Triton's successes).
        assert total == pytest.approx(deployment.requests_per_second, rel=0.1)
        # The misses' share of demand is what the model computed; the plan covers more.
        misses_rate = total * (1 - seen_ratio)
        assert misses_rate == pytest.approx(deployment.inferences_per_second, rel=0.1)
        assert compute > misses_rate
    finally:
        prom.close()


def test_the_operator_s_json_config_turns_the_cache_off_and_on_live(triton: TritonServer) -> None:
    """`with_response_cache` is the model config JSON a live load through Triton's repository
    API carries: off, repeated inputs run the model; on again, they are answered cached."""
    client = triton_http.InferenceServerClient(triton.url)
    try:
        config = client.get_model_config("synth")
        assert config["response_cache"] == {"enable": True}
        for enabled, expected_hits in ((False, 0), (True, 3)):
            caching = ResponseCache(enabled=enabled)
            client.load_model("synth", config=json.dumps(with_response_cache(config, caching)))
            assert client.get_model_config("synth")["response_cache"] == {"enable": enabled}
            before = counters(triton)
            send(triton, [5000.0 + enabled] * 4)
            after = counters_after(triton, before, answered=4, looked_up=enabled)
            assert after.get("hits", 0) - before.get("hits", 0) == expected_hits
            assert after["computed"] - before["computed"] == 4 - expected_hits
    finally:
        client.close()


def test_the_operator_s_server_args_are_the_ones_this_server_runs() -> None:
    """The Deployment's --cache-config for spec.caching.sizeMB is what the fixture starts."""
    assert cache_args(ResponseCache(enabled=True, sizeMB=CACHE_MB)) == [
        f"--cache-config=local,size={CACHE_MB << 20}"
    ]
