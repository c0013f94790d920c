"""The operator, embedded, against the sandbox API server over real HTTP and real watch streams.

Every test's operator requests (kopf's and ours; identified by User-Agent) must be allowed by
the chart's RBAC rules (checked when the test's API server stops); test_rbac.py checks the
rules the other way too (no grant unused) on a workload of its own. The server also enforces
RBAC on the operator's token, validates every write, and no field the operator writes may be
pruned.

Negative checks ("nothing was written") wait on reconcile rounds, not on the clock: the
embedded operator counts the rounds it finished per service (`Operator.rounds_pass`), so a
test waits until N more rounds have run, however slow the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import attrs
import kmock
import kopf
import pydantic
import pytest
from kmock._internal import rendering

from infercost.adapters.fake_metrics import FakeMetrics
from infercost.adapters.prices import PriceSource
from infercost.api.budget import BudgetPolicyStatus
from infercost.api.pool import PoolStatus
from infercost.api.status import ServiceStatus
from infercost.controller.runner import run_operator
from infercost.controller.service import Reconciler
from infercost.engine.model import Observation, Plan
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_TOKEN
from infercost.settings import Settings
from tests.support.rbac import granted

OPERATOR_AGENTS = ("kopf/", "infercost/")
INTERVAL = 1.0  # a short control interval; tests wait with generous timeouts, never tight ones


def operator_requests(api: ApiServer) -> list[tuple[str, str, str, str | None]]:
    return api.request_log(agents=OPERATOR_AGENTS)


STATUS_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "inferenceservices": ServiceStatus,
    "acceleratorpools": PoolStatus,
    "budgetpolicies": BudgetPolicyStatus,
}


@attrs.define(kw_only=True)
class CheckedApiServer(ApiServer):
    """The sandbox API server, holding every status patch the operator sends to the status
    models (api/status.py, api/pool.py): a field the CRD would prune or refuse fails the test."""

    invalid_status: list[str] = attrs.field(factory=list, init=False)
    status_patches: int = attrs.field(default=0, init=False)

    async def _handle(self, request: rendering.Request) -> Any:
        resource = request.resource
        if (
            request.action == kmock.action.UPDATE
            and request.subresource == "status"
            and resource is not None
            and resource.plural in STATUS_MODELS
            and request.headers.get("User-Agent", "").startswith(OPERATOR_AGENTS)
        ):
            self.status_patches += 1
            body = self._body(request)
            try:
                STATUS_MODELS[resource.plural].model_validate((body or {}).get("status"))
            except pydantic.ValidationError as error:
                self.invalid_status.append(f"{resource.plural}/{request.name}: {error}")
        return await super()._handle(request)


@pytest.fixture
async def api(request: pytest.FixtureRequest) -> AsyncIterator[ApiServer]:
    marker = request.node.get_closest_marker("apiserver")
    # RBAC enforced: the operator's token may do only what the chart's ClusterRole grants.
    options = {"rbac": True} | (dict(marker.kwargs) if marker else {})
    async with CheckedApiServer(**options) as server, kmock.Server(server):
        yield server
        # A field the operator writes that the schema does not know would be dropped silently
        # by a real API server: no operator write may lose one.
        pruned = [(agent, w) for agent, w in server.pruned if agent.startswith(OPERATOR_AGENTS)]
        assert pruned == [], f"the API server pruned fields the operator wrote: {pruned}"
        used = {(group, resource, verb) for verb, group, resource, _ in operator_requests(server)}
        assert sorted(used - granted()) == [], "requests the chart's ClusterRole does not allow"
        assert server.invalid_status == [], "status patches the status models refuse"


@dataclass
class Operator:
    """A running embedded operator and the fake metrics it reads (FAKE: tests set the load)."""

    metrics: FakeMetrics
    reconciler: Reconciler
    task: asyncio.Task[None]
    stop_flag: asyncio.Event
    # Reconcile rounds finished per service (a test hook around Reconciler.reconcile).
    rounds: Counter[tuple[str, str]] = field(default_factory=Counter)

    def load(self, namespace: str, name: str, *, rps: float, p99_ms: float | None) -> None:
        self.metrics.set(
            namespace,
            name,
            Observation(time=time.time(), demand_rps=rps, p99_latency_ms=p99_ms),
        )

    async def rounds_pass(self, namespace: str, name: str, *, count: int = 3) -> None:
        """Wait until `count` more reconcile rounds of the service have finished (a round that
        starts after this call), however long the machine takes; then a negative check sees
        what those rounds did."""
        key = (namespace, name)
        target = self.rounds[key] + count + 1  # +1: a round in flight now may predate the call

        async def done() -> bool:
            return self.rounds[key] >= target

        await eventually(done, timeout=120, what=f"{count} more reconcile rounds of {name}")

    async def stop(self) -> None:
        self.stop_flag.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=30)


OperatorFactory = Callable[..., Awaitable[Operator]]


def count_rounds(reconciler: Reconciler, rounds: Counter[tuple[str, str]]) -> Reconciler:
    """Count the rounds `reconciler.reconcile` finishes per service (every kopf handler calls
    it, looked up at each call). Wrapped before kopf starts, so no round goes uncounted."""
    reconcile = reconciler.reconcile

    async def counted(key: tuple[str, str]) -> Plan | None:
        try:
            return await reconcile(key)
        finally:
            rounds[key] += 1

    reconciler.reconcile = counted  # type: ignore[method-assign]
    return reconciler


@pytest.fixture
async def start_operator(api: ApiServer) -> AsyncIterator[OperatorFactory]:
    running: list[Operator] = []

    async def start(
        *,
        metrics: FakeMetrics | None = None,
        peering: str | None = None,
        prices: PriceSource | None = None,
        **overrides: Any,
    ) -> Operator:
        overrides.setdefault("metrics_port", 0)  # several operators per process: no fixed port
        settings = Settings(control_interval_seconds=INTERVAL, **overrides)
        metrics = metrics or FakeMetrics()
        stop_flag, ready_flag = asyncio.Event(), asyncio.Event()
        holder: list[Reconciler] = []
        rounds: Counter[tuple[str, str]] = Counter()
        task = asyncio.create_task(
            run_operator(
                settings=settings,
                connection=kopf.ConnectionInfo(server=str(api.url), token=OPERATOR_TOKEN),
                metrics=metrics,
                peering=peering,
                stop_flag=stop_flag,
                ready_flag=ready_flag,
                on_reconciler=lambda reconciler: holder.append(count_rounds(reconciler, rounds)),
                prices=prices,
            )
        )
        await asyncio.wait_for(ready_flag.wait(), timeout=60)
        operator = Operator(
            metrics=metrics, reconciler=holder[0], task=task, stop_flag=stop_flag, rounds=rounds
        )
        running.append(operator)
        return operator

    logging.getLogger("kopf").setLevel(logging.WARNING)
    yield start
    for operator in running:
        if not operator.task.done():
            await operator.stop()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 60, what: str = "condition"
) -> Any:
    """Poll until `check` returns something truthy; generous, because the machine is shared."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


async def call(api: ApiServer, method: str, url: str, body: Any = None, **kw: Any) -> Any:
    """A request from the test itself (User-Agent kmock: not counted as the operator's)."""
    headers = kw.pop("headers", {})
    if method == "PATCH":
        headers.setdefault("Content-Type", "application/merge-patch+json")
    data = None if body is None else json.dumps(body)
    async with api.request(method, url, data=data, headers=headers, **kw) as response:
        payload = await response.json(content_type=None)
        assert response.status < 300, (method, url, response.status, payload)
        return payload
