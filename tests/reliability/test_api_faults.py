"""API server faults: 500, 503, timeouts, 410 Gone on watch, 409 Conflict on children.

The embedded operator runs against the sandbox API server (kmock with Kubernetes semantics)
over real HTTP and real watch streams. Faults are injected by the server itself
(`ApiServer.fail_next`, kmock reactions), because no real server can be made to fail on cue.
Each test checks the operator survived (its task still runs), converged (the children and
status a fault-free run gives) and made no duplicate children.
"""

from __future__ import annotations

from typing import Any

import kmock
import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import (
    OPERATOR_AGENTS,
    Operator,
    OperatorFactory,
    call,
    eventually,
)
from tests.integration.test_placement import condition, deployments, status_of

pytestmark = pytest.mark.integration


async def placed(api: ApiServer, name: str) -> dict[str, Any] | None:
    status = await status_of(api, name)
    return status if status.get("placement") and status.get("observedGeneration") else None


async def converged(api: ApiServer, operator: Operator, name: str, *, rps: float) -> list[str]:
    """The service's children once placed; the operator must still be running."""
    operator.load(o.NS, name, rps=rps, p99_ms=5.0)  # FAKE metrics
    status = await eventually(lambda: placed(api, name), timeout=90, what=f"{name} placed")
    assert condition(status, "Placed")["status"] == "True"
    children = await eventually(lambda: deployments(api, name), timeout=90, what="children")
    names = [d["metadata"]["name"] for d in children]
    assert len(names) == len(set(names)), f"duplicate children {names}"
    want = {(p["variant"], p["pool"]): p["replicas"] for p in status["placement"]}
    got = {
        (
            d["metadata"]["labels"]["infercost.io/variant"],
            d["metadata"]["labels"]["infercost.io/pool"],
        ): d["spec"]["replicas"]
        for d in children
    }
    assert got == want
    assert not operator.task.done(), "the operator stopped"
    return sorted(names)


async def start(api: ApiServer, start_operator: OperatorFactory, **settings: Any) -> Operator:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    return await start_operator(api_retry_backoff_seconds=0.05, **settings)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_on_children_and_status_are_retried(
    api: ApiServer, start_operator: OperatorFactory, status: int
) -> None:
    # Three failures in a row on every write the reconcile makes (retry budget is 5 tries).
    api.fail_next(action="update", plural="deployments", status=status, times=3)
    api.fail_next(
        action="update", plural="inferenceservices", subresource="status", status=status, times=3
    )
    operator = await start(api, start_operator)
    assert await converged(api, operator, "bert", rps=3000.0) == ["bert-neuron-bf16-inf2-xlarge"]


async def test_errors_past_the_retry_budget_fail_one_reconcile_not_the_operator(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    # 12 failures outlast one reconcile's 5 tries: that reconcile fails, a later one succeeds.
    api.fail_next(action="update", plural="deployments", status=503, times=12)
    operator = await start(api, start_operator)
    assert await converged(api, operator, "bert", rps=3000.0) == ["bert-neuron-bf16-inf2-xlarge"]


async def test_a_hung_request_times_out_and_is_retried(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    # The server holds the first child write 300 s, longer than the test waits: only a client
    # timeout (1 s here) and a retry let the operator converge.
    api.fail_next(action="update", plural="deployments", status=0, delay=300.0)
    operator = await start(api, start_operator, api_timeout_seconds=1.0)
    assert await converged(api, operator, "bert", rps=3000.0) == ["bert-neuron-bf16-inf2-xlarge"]


async def test_conflicts_on_children_are_retried(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    api.fail_next(action="update", plural="deployments", status=409, times=2)
    operator = await start(api, start_operator)
    assert await converged(api, operator, "bert", rps=3000.0) == ["bert-neuron-bf16-inf2-xlarge"]


async def test_410_gone_on_watch_relists_and_sees_new_services(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    operator = await start(api, start_operator)
    await converged(api, operator, "bert", rps=3000.0)
    # History compacted: the API server ends the services' watch with a 410 Gone. It says so
    # the way Kubernetes does, as an ERROR event carrying a Status inside the watch stream
    # (kubernetes/kubernetes#25151; docs "Efficient detection of changes"), not as the HTTP
    # status of the watch request. kopf must list again and keep watching; the relist
    # itself first fails with a 500. `_publish` is the server's own event bus (no public
    # hook exists to end a watch stream; a fault no real server can be made to produce).
    served = _served(api, "inferenceservices")
    api.fail_next(action="list", plural="inferenceservices", status=500, times=1)
    gone = {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "reason": "Expired",
        "message": "too old resource version: 1 (42)",
        "code": 410,
    }
    await api._publish(
        kmock.resource("infercost.io", "v1alpha1", "inferenceservices"), "ERROR", gone
    )

    async def relisted() -> bool:
        # The failed list and the relist after it: kopf met the 410 and the 500.
        return _served(api, "inferenceservices")["list"] >= served["list"] + 2

    await eventually(relisted, timeout=120, what="the operator's relist after the 410 and the 500")
    await call(api, "POST", o.ISVC, o.service("bert-two", o.NEURON_VARIANT))
    assert await converged(api, operator, "bert-two", rps=1000.0) == [
        "bert-two-neuron-bf16-inf2-xlarge"
    ]
    assert await converged(api, operator, "bert", rps=3000.0) == ["bert-neuron-bf16-inf2-xlarge"]


async def test_errors_reading_pools_hold_and_recover(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    api.fail_next(action="list", plural="acceleratorpools", status=500, times=3)
    api.fail_next(action="fetch", plural="acceleratorpools", status=500, times=3)
    operator = await start(api, start_operator)
    assert await converged(api, operator, "bert", rps=3000.0) == ["bert-neuron-bf16-inf2-xlarge"]


def _served(api: ApiServer, plural: str) -> dict[str, int]:
    """The operator's list and watch requests of `plural` so far, by verb (faulted ones too)."""
    log = api.request_log(agents=OPERATOR_AGENTS)
    return {
        verb: sum(1 for r in log if r[0] == verb and r[2] == plural) for verb in ("list", "watch")
    }
