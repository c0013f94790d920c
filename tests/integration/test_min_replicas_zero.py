"""`scaling.minReplicas: 0` (issue 22): scale to zero, accepted by the API server since wake-up
works end to end (tests/e2e/test_sandbox_zero.py), with `idleSeconds` defaulted; the operator's
handling of it: test_scale_to_zero.py."""

from __future__ import annotations

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import call

pytestmark = pytest.mark.integration


async def test_the_api_server_accepts_min_replicas_zero_and_defaults_idle_seconds(
    api: ApiServer,
) -> None:
    body = o.service("bert", o.NEURON_VARIANT)
    body["spec"]["scaling"] = {"minReplicas": 0, "maxReplicas": 4}
    created = await call(api, "POST", o.ISVC, body)
    assert created["spec"]["scaling"]["minReplicas"] == 0
    assert created["spec"]["scaling"]["idleSeconds"] == 300


async def test_idle_seconds_below_one_is_refused_naming_the_field(api: ApiServer) -> None:
    body = o.service("bert", o.NEURON_VARIANT)
    body["spec"]["scaling"] = {"minReplicas": 0, "maxReplicas": 4, "idleSeconds": 0}
    async with api.request(
        "POST", o.ISVC, json=body, headers={"Content-Type": "application/json"}
    ) as response:
        answer = await response.json(content_type=None)
        assert response.status == 422, answer
    assert "spec.scaling.idleSeconds" in str(answer)
