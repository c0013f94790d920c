"""`scaling.minReplicas: 0` (issue 22): the API server refuses it with the reason, and a
service stored with it before the rule existed keeps its replicas and says why it is invalid.

Metrics come from the FAKE metrics source (adapters/fake_metrics.py); no load runs here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infercost.api.service import MSG_MIN_ZERO
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_control_loop import make_ready, replicas_by_pool
from tests.integration.test_placement import status_of

pytestmark = pytest.mark.integration


async def test_the_api_server_refuses_min_replicas_zero_saying_why(api: ApiServer) -> None:
    body = o.service("bert", o.NEURON_VARIANT)
    body["spec"]["scaling"] = {"minReplicas": 0, "maxReplicas": 4}
    headers = {"Content-Type": "application/json"}
    async with api.request("POST", o.ISVC, data=json.dumps(body), headers=headers) as response:
        answer = await response.json(content_type=None)
        assert response.status == 422, answer
    assert MSG_MIN_ZERO in answer["message"]
    assert "spec.scaling.minReplicas" in json.dumps(answer["details"])
    listed = await call(api, "GET", o.ISVC)
    assert listed["items"] == []


async def test_a_service_stored_with_min_replicas_zero_keeps_its_replicas_and_says_why(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    await make_ready(api, "bert")
    # Stored before the CEL rule existed (an upgrade): stage it past validation.
    with api.unvalidated():
        await call(api, "PATCH", f"{o.ISVC}/bert", {"spec": {"scaling": {"minReplicas": 0}}})

    async def invalid() -> dict[str, Any] | None:
        status = await status_of(api, "bert")
        found = [c for c in status.get("conditions", []) if c["reason"] == "InvalidSpec"]
        return found[0] if found else None

    ready = await eventually(invalid, what="Ready=False InvalidSpec")
    assert ready["type"] == "Ready"
    assert ready["status"] == "False"
    assert MSG_MIN_ZERO in ready["message"]
    await operator.rounds_pass(o.NS, "bert", count=3)  # three more rounds on the invalid spec
    assert await replicas_by_pool(api, "bert") == placed  # still served, not taken to zero
