"""The activator (issue 22) against the real components, HTTP: the sandbox API server holds
the InferenceService, a real tritonserver is the replica the operator would start.

A request sent while no replica runs is held; the wake annotation appears on the
InferenceService; a tritonserver started then (as the operator would on that annotation)
answers the held request with the model's output. Without a replica the client gets 503 with
the reason: at the wake timeout, at once when the service's `Placed` condition says no
replica can start, or when the activator stops. Waits are on conditions with generous
deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from tritonclient.utils import InferenceServerException

from infercost.kubeclient import Transport
from infercost.localtriton import TritonServer
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import call, eventually
from tests.support.activator import (
    CLIENT_TIMEOUT,
    SERVICE,
    activator_for,
    infer_http,
    median_latency_ms,
    metric,
    raw_post,
    wake_requested,
)

pytestmark = pytest.mark.e2e


async def test_a_request_at_zero_is_held_wakes_the_service_and_is_answered(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int], replica: TritonServer
) -> None:
    async with activator_for(kube, backend_ports) as activator:
        sent = time.monotonic()
        values = [3.5, -2.0, 0.0, 17.25, 1e6]  # several requests held by one wake
        answers = [asyncio.create_task(infer_http(activator.http_port, v)) for v in values]
        # One more that hangs up while held: let go, not counted as held any longer.
        leaver = asyncio.create_task(raw_post(activator.http_port))

        async def held(count: int) -> bool:
            held = await metric(activator, "infercost_activator_requests_held", protocol="http")
            return held == count

        await eventually(lambda: held(len(values) + 1), timeout=60, what="the requests held")
        stamp = await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert stamp.endswith("Z")  # RFC 3339, UTC
        leaver.cancel()
        await eventually(lambda: held(len(values)), timeout=60, what="the leaver let go")
        assert not any(answer.done() for answer in answers)  # held, not failed
        # The operator's part, played by the test: a replica starts on the annotation.
        await asyncio.to_thread(replica.start)
        outputs = await asyncio.wait_for(asyncio.gather(*answers), timeout=CLIENT_TIMEOUT)
        assert outputs == [[[v]] for v in values]
        waited = time.monotonic() - sent
        cold = await metric(activator, "infercost_cold_start_seconds_sum")
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        assert 0 < cold <= waited
        print(f"\nheld requests answered after {waited:.1f}s; cold start (metric) {cold:.1f}s")
        # Awake now: the next request is forwarded at once, no second cold start.
        assert await infer_http(activator.http_port, -1.25) == [[-1.25]]
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        forwarded = await metric(
            activator, "infercost_activator_requests_total", protocol="http", outcome="forwarded"
        )
        assert forwarded == len(values) + 1
        assert await metric(activator, "infercost_activator_wakes_total", outcome="ready") == 1
        # A figure, not an assertion: the hop the activator adds while it is in the path.
        via = await median_latency_ms(activator.http_port)
        direct = await median_latency_ms(replica.http_port)
        print(f"median of 50 requests: {via:.2f} ms via the activator, {direct:.2f} ms direct")


async def test_without_a_replica_the_held_request_gets_503_at_the_wake_timeout(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """No replica ever starts (a wake the operator cannot serve and does not report): the
    client gets 503 with the reason at the wake timeout, well before its own timeout."""
    async with activator_for(kube, backend_ports, wake_timeout=3.0) as activator:
        with pytest.raises(InferenceServerException) as refused:
            await asyncio.wait_for(infer_http(activator.http_port, 1.0), timeout=CLIENT_TIMEOUT)
        assert refused.value.status() == "503"
        assert "WakeTimeout" in refused.value.message()
        assert "wake timeout of 3s" in refused.value.message()
        assert await wake_requested(api)
        # Nothing is left held, and the next request starts a wake of its own.
        assert await metric(activator, "infercost_activator_requests_held", protocol="http") == 0
        answer = await raw_post(activator.http_port)
        assert answer["status"] == 503
        assert answer["body"]["reason"] == "WakeTimeout"
        assert answer["body"]["service"] == f"{o.NS}/bert"
        assert (
            await metric(activator, "infercost_activator_wakes_total", outcome="WakeTimeout") == 2
        )
        assert await metric(activator, "infercost_cold_start_seconds_count") == 0


async def test_a_service_that_cannot_be_placed_answers_the_held_request_at_once(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """The InferenceService says no replica can start (its pool is full): the held request
    gets 503 with that reason without waiting for the wake timeout (an hour here, beyond the
    client's own timeout: an answer at all proves it did not wait it out)."""
    async with activator_for(kube, backend_ports, wake_timeout=3600.0) as activator:
        answer = asyncio.create_task(raw_post(activator.http_port))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert not answer.done(), answer
        condition = {
            "type": "Placed",
            "status": "False",
            "reason": "PoolCapacityExhausted",
            "message": "pool c7i-4xlarge: 2 replicas unschedulable for 180s",
            "lastTransitionTime": "2026-12-06T12:00:00Z",
        }
        await call(api, "PATCH", f"{SERVICE}/status", {"status": {"conditions": [condition]}})
        reply = await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT)
        assert reply["status"] == 503
        assert reply["body"]["reason"] == "PoolCapacityExhausted"
        assert "unschedulable" in reply["body"]["message"]
        assert "could not be woken" in reply["body"]["error"]


async def test_a_request_held_when_the_activator_stops_gets_503_not_a_dropped_connection(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """A pod's SIGTERM while requests are held: they get the reason, then the listener goes."""
    async with activator_for(kube, backend_ports) as activator:
        answer = asyncio.create_task(raw_post(activator.http_port))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert not answer.done(), answer
    reply = await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT)
    assert reply["status"] == 503
    assert reply["body"]["reason"] == "ActivatorStopping"


async def test_an_api_server_that_refuses_the_wake_request_answers_503_not_a_hang(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """The API server fails the wake patch (500, injected by the sandbox server: no real one
    fails on cue): a brief outage is retried and the wake lands; a lasting one gives the held
    request 503 `WakeRequestFailed` once the client's retries are spent, not at the wake
    timeout (an hour here)."""
    api.fail_next(action="update", plural="inferenceservices", status=500, times=2)
    async with activator_for(kube, backend_ports, wake_timeout=3600.0) as activator:
        answer = asyncio.create_task(raw_post(activator.http_port))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake after two 500s")
        assert not answer.done(), answer
    stopped = await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT)
    assert stopped["body"]["reason"] == "ActivatorStopping"

    api.fail_next(action="update", plural="inferenceservices", status=500, times=1000)
    async with activator_for(kube, backend_ports, wake_timeout=3600.0) as activator:
        reply = await asyncio.wait_for(raw_post(activator.http_port), timeout=CLIENT_TIMEOUT)
    assert reply["status"] == 503
    assert reply["body"]["reason"] == "WakeRequestFailed"
    assert "500" in reply["body"]["message"]


async def test_a_service_deleted_while_requests_are_held_answers_503(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    async with activator_for(kube, backend_ports, wake_timeout=3600.0) as activator:
        answer = asyncio.create_task(raw_post(activator.http_port))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        await call(api, "DELETE", SERVICE)
        reply = await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT)
    assert reply["status"] == 503
    assert reply["body"]["reason"] == "ServiceNotFound"
