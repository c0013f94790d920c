"""The operator's own /metrics over HTTP, with the contract names of docs/metrics.md."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_metrics_endpoint_reports_cost_replicas_and_decisions(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    port = free_port()
    operator = await start_operator(metrics_port=port)
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics

    async def scrape() -> str | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
        return text if "infercost_pool_desired_replicas{" in text else None

    text = await eventually(scrape, what="pool series on /metrics")
    service = 'namespace="ml",service="bert"'
    assert f"infercost_service_hourly_cost{{{service}}}" in text
    assert f"infercost_service_slo_latency_ms{{{service}}} 50.0" in text
    assert f"infercost_metrics_available{{{service}}} 1.0" in text
    pool_line = next(
        line for line in text.splitlines() if line.startswith("infercost_pool_desired")
    )
    assert 'pool="inf2-xlarge"' in pool_line
    assert 'variant="neuron-bf16"' in pool_line
    assert 'service="bert"' in pool_line
    decisions = [
        line for line in text.splitlines() if line.startswith("infercost_decisions_total{")
    ]
    assert any(
        'action="ScaleUp"' in line and 'reason="InitialPlacement"' in line for line in decisions
    )
    assert "infercost_reconcile_duration_seconds_count" in text
    await operator.stop()
