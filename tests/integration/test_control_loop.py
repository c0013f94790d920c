"""The control loop: scaling on metrics, migration on price, restarts, conflicts, bad input.

Metrics come from the FAKE metrics source (adapters/fake_metrics.py): the tests set demand
and p99 directly, because no load or Prometheus runs in this suite (e2e tests do that).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from typing import Any

import pytest

from infercost.adapters.fake_metrics import FakeMetrics
from infercost.engine.model import DeploymentMetrics, Observation
from infercost.manifests import short_name
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import (
    INTERVAL,
    OPERATOR_AGENTS,
    Operator,
    OperatorFactory,
    call,
    eventually,
)
from tests.integration.test_placement import condition, deployments, status_of

pytestmark = pytest.mark.integration


async def replicas_by_pool(api: ApiServer, service: str) -> dict[str, int]:
    return {
        d["metadata"]["labels"]["infercost.io/pool"]: d["spec"]["replicas"]
        for d in await deployments(api, service)
    }


async def events_for(api: ApiServer, name: str) -> list[dict[str, Any]]:
    listed = await call(api, "GET", f"/api/v1/namespaces/{o.NS}/events")
    return [e for e in listed["items"] if e["involvedObject"]["name"] == name]


async def has_event(api: ApiServer, name: str, action_reason: tuple[str, str]) -> bool:
    return action_reason in {(e["action"], e["reason"]) for e in await events_for(api, name)}


async def make_ready(api: ApiServer, service: str) -> None:
    """Play the Deployment controller (kmock runs none): report every replica ready."""
    for dep in await deployments(api, service):
        want = dep["spec"]["replicas"]
        if (dep.get("status") or {}).get("readyReplicas") != want:
            await call(
                api,
                "PATCH",
                f"{o.DEPLOYMENTS}/{dep['metadata']['name']}/status",
                {"status": {"replicas": want, "readyReplicas": want}},
            )


async def test_demand_and_latency_drive_scale_patches_with_reasons(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    first = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    await make_ready(api, "bert")
    operator.load(o.NS, "bert", rps=20000.0, p99_ms=5.0)  # FAKE metrics: 20x the demand

    async def scaled_up() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if now.get("inf2-xlarge", 0) > first["inf2-xlarge"] else None

    await eventually(scaled_up, what="a scale-up")
    await eventually(
        lambda: has_event(api, "bert", ("ScaleUp", "DemandAboveCapacity")), what="ScaleUp event"
    )
    status = await status_of(api, "bert")
    assert status["lastDecision"]["action"] == "ScaleUp"
    assert status["lastDecision"]["reason"] == "DemandAboveCapacity"

    await make_ready(api, "bert")
    before = (await replicas_by_pool(api, "bert"))["inf2-xlarge"]
    operator.load(o.NS, "bert", rps=500.0, p99_ms=2.0)  # FAKE metrics: demand falls

    async def scaled_down() -> bool:
        return (await replicas_by_pool(api, "bert")).get("inf2-xlarge", 0) < before

    await eventually(scaled_down, what="a scale-down")
    await eventually(
        lambda: has_event(api, "bert", ("ScaleDown", "DemandBelowCapacity")),
        what="ScaleDown event",
    )


async def test_cheaper_pool_migrates_with_surge(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    assert set(placed) == {"g6-xlarge"}  # L4 is cheaper per inference than A10G here
    await make_ready(api, "bert")
    await eventually(
        lambda: _ready_condition(api, "bert"), what="Ready=True before the price change"
    )

    # L4 becomes expensive: everything should move to A10G, new replicas first.
    await call(api, "PATCH", f"{o.POOLS}/g6-xlarge", {"spec": {"pricing": {"hourlyPerNode": 4.0}}})

    async def surged() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if "g5-xlarge" in now else None

    during = await eventually(surged, what="new Deployment on the cheaper pool")
    assert during["g6-xlarge"] == placed["g6-xlarge"]  # old replicas keep serving meanwhile
    for _ in range(3):  # three more rounds: the new replicas are still not ready, old ones kept
        await operator.rounds_pass(o.NS, "bert", count=1)
        assert (await replicas_by_pool(api, "bert")).get("g6-xlarge") == placed["g6-xlarge"]
    status = await status_of(api, "bert")
    assert condition(status, "Ready")["reason"] == "MigrationWaitingForReady"

    await make_ready(api, "bert")  # the new replicas come up

    async def moved() -> dict[str, int] | None:
        now = await replicas_by_pool(api, "bert")
        return now if "g6-xlarge" not in now else None

    after = await eventually(moved, what="old Deployment removed after new ones are ready")
    assert after["g5-xlarge"] >= 1
    events = await events_for(api, "bert")
    assert "MovedToCheaperPool" in {e["reason"] for e in events}


async def _ready_condition(api: ApiServer, name: str) -> bool:
    status = await status_of(api, name)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


async def test_invalid_spec_reports_the_field_and_creates_nothing(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    bad = o.service("bert", o.NEURON_VARIANT)
    bad["spec"]["scaling"] = {"minReplicas": 5, "maxReplicas": 2}
    # The CRD's CEL rule refuses this spec; one stored before the rule existed still reaches
    # the operator, which must report it: stage it past validation.
    with api.unvalidated():
        created = await call(api, "POST", o.ISVC, bad)
    operator = await start_operator()

    async def invalid() -> dict[str, Any] | None:
        status = await status_of(api, "bert")
        conditions = [c for c in status.get("conditions", []) if c["reason"] == "InvalidSpec"]
        return conditions[0] if conditions else None

    ready = await eventually(invalid, what="Ready=False InvalidSpec")
    assert ready["type"] == "Ready"
    assert ready["status"] == "False"
    assert "spec.scaling" in ready["message"]
    assert "minReplicas" in ready["message"]
    await operator.rounds_pass(o.NS, "bert", count=3)  # three more rounds on the invalid spec
    assert await deployments(api, "bert") == []
    configmaps = await call(api, "GET", f"/api/v1/namespaces/{o.NS}/configmaps")
    assert configmaps["items"] == []
    warnings = [e for e in await events_for(api, "bert") if e["reason"] == "InvalidSpec"]
    assert len(warnings) == 1  # once per generation, not once per tick
    assert warnings[0]["type"] == "Warning"
    spec = (await call(api, "GET", f"{o.ISVC}/bert"))["spec"]
    assert spec == created["spec"]  # the user's spec (defaulted by the server) is never written


async def test_restart_makes_no_duplicates_and_no_writes(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT, o.GPU_VARIANT))
    first = await start_operator()
    first.load(o.NS, "bert", rps=3000.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="children")
    await make_ready(api, "bert")
    await eventually(lambda: _ready_condition(api, "bert"), what="Ready")
    await first.rounds_pass(o.NS, "bert", count=3)  # settle: nothing left to change
    children = sorted(d["metadata"]["name"] for d in await deployments(api, "bert"))
    await first.stop()

    writes_before = api.writes(agents=OPERATOR_AGENTS)
    requests_before = len(api.request_log(agents=OPERATOR_AGENTS))
    second = await start_operator(metrics=first.metrics)
    await second.rounds_pass(o.NS, "bert", count=5)  # the start's round and timer ticks
    assert second.reconciler.memory[(o.NS, "bert")].loaded  # it did reconcile
    assert api.writes(agents=OPERATOR_AGENTS) == writes_before  # ...and wrote nothing
    assert sorted(d["metadata"]["name"] for d in await deployments(api, "bert")) == children
    # The children were listed once per kind across the cluster (kopf's watch lists beside
    # it), not per service: a start with 10,000 services asks a handful of lists.
    lists = Counter(
        (plural, namespace)
        for verb, _, plural, namespace in api.request_log(agents=OPERATOR_AGENTS)[requests_before:]
        if verb == "list" and plural in ("deployments", "configmaps", "services")
    )
    assert lists
    assert all(namespace is None for _, namespace in lists), lists
    assert max(lists.values()) <= 2, lists  # ours and kopf's watch


async def test_a_body_older_than_the_last_status_write_causes_no_write(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    """A lagging watch (or a timer's body) can hand over the service as it was before the
    operator's last status write; the operator, the status's only writer, compares with what
    it wrote. Seen at 10,000 services: a body from before the replicas were ready made every
    later write carry a new Ready transition time, ~10 status writes a second for ever."""
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=300.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="children")
    stale = copy.deepcopy(operator.reconciler.picture.services[(o.NS, "bert")])
    await make_ready(api, "bert")
    await eventually(lambda: _ready_condition(api, "bert"), what="Ready")
    await operator.rounds_pass(o.NS, "bert", count=2)  # settle: nothing left to change
    written = await status_of(api, "bert")
    writes_before = api.writes(agents=OPERATOR_AGENTS)
    operator.reconciler.picture.services[(o.NS, "bert")] = stale  # as a lagging watch has it
    await operator.reconciler.reconcile((o.NS, "bert"))
    assert api.writes(agents=OPERATOR_AGENTS) == writes_before
    assert await status_of(api, "bert") == written


async def test_a_new_body_with_the_same_spec_keeps_the_spec_object(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    """Every status write comes back as a watch event with a new body; its spec, equal, stays
    the object already parsed, so what is remembered by that object (the engine's option
    facts and batching model, the children built) is found again rather than rebuilt."""
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=300.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="children")
    key = (o.NS, "bert")
    await operator.rounds_pass(*key, count=1)
    parsed = operator.reconciler.memory[key].parsed
    assert parsed is not None
    fresh = copy.deepcopy(operator.reconciler.picture.services[key])  # as a watch event has it
    operator.reconciler.picture.services[key] = fresh
    await operator.reconciler.reconcile(key)
    again = operator.reconciler.memory[key].parsed
    assert again is not None
    assert again[0] is fresh["spec"]
    assert again[1] is parsed[1]


async def test_a_start_rebuilds_each_service_s_demand_memory_from_the_record(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    for name in ("bert", "gpt"):
        await call(api, "POST", o.ISVC, o.service(name, o.NEURON_VARIANT))
    metrics = FakeMetrics()  # FAKE metrics: the record a Prometheus would hold
    now = time.time()
    metrics.recorded = {
        (o.NS, "bert"): [(now - 600 + 15 * k, 300.0) for k in range(40)],
        (o.NS, "gpt"): [(now - 300 + 15 * k, 900.0) for k in range(20)],
    }
    operator = await start_operator(metrics=metrics)
    for name in ("bert", "gpt"):
        operator.load(o.NS, name, rps=300.0, p99_ms=5.0)

    async def both() -> bool:
        bert, gpt = _remembered(operator, "bert"), _remembered(operator, "gpt")
        return len(bert) > 40 and len(gpt) > 20

    await eventually(both, what="both services' memory with the record")
    assert _remembered(operator, "bert")[:40] == metrics.recorded[(o.NS, "bert")]
    assert _remembered(operator, "gpt")[:20] == metrics.recorded[(o.NS, "gpt")]
    start, end, step = metrics.history_calls[0]
    assert end - start == pytest.approx(21600.0)  # the default span
    assert step == INTERVAL  # the adapter coarsens it to its rate window (tests/e2e)
    await operator.stop()

    quiet = FakeMetrics()
    quiet.recorded = metrics.recorded
    second = await start_operator(metrics=quiet, demand_recall_seconds=0)
    second.load(o.NS, "bert", rps=300.0, p99_ms=5.0)

    async def reconciled() -> list[tuple[float, float]]:
        return _remembered(second, "bert")

    await eventually(reconciled, what="a reconcile without recall")
    assert quiet.history_calls == []
    assert len(_remembered(second, "bert")) <= 3


def _remembered(operator: Operator, name: str) -> list[tuple[float, float]]:
    """The demand history the operator's engine holds for a service (empty before one)."""
    memory = operator.reconciler.memory.get((o.NS, name))
    return list(memory.state.demand_history) if memory else []


async def test_status_conflict_is_retried(api: ApiServer, start_operator: OperatorFactory) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    # Injected: the first status write answers 409 Conflict (a race no test can time reliably).
    api.fail_next(action="update", plural="inferenceservices", subresource="status")
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    status = await eventually(lambda: status_of(api, "bert"), what="status after a 409")
    assert status["observedGeneration"] == 1
    attempts = [
        r
        for r in api.request_log(agents=OPERATOR_AGENTS)
        if r[:3] == ("patch", "infercost.io", "inferenceservices/status")
    ]
    assert len(attempts) >= 2  # the conflicting one and its retry


async def test_dry_run_reports_but_creates_no_children(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(dry_run=True)
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    status = await eventually(
        lambda: _with_placement(api, "bert"), what="dry-run status with placement"
    )
    assert status["placement"][0]["pool"] == "inf2-xlarge"
    events = await events_for(api, "bert")
    assert any(e["message"].startswith("[dry-run] ") for e in events)
    await operator.rounds_pass(o.NS, "bert", count=2)
    assert await deployments(api, "bert") == []
    services = await call(api, "GET", f"/api/v1/namespaces/{o.NS}/services")
    assert services["items"] == []


async def _with_placement(api: ApiServer, name: str) -> dict[str, Any] | None:
    status = await status_of(api, name)
    return status if status.get("placement") else None


async def test_long_names_find_their_metrics_under_the_hashed_labels(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    # Label values stop at 63 characters, so the pods of a longer service carry a hashed
    # name and so do its metrics. FAKE metrics keyed as Prometheus reports them (by label).
    name = "bert-" + "x" * 70
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service(name, o.NEURON_VARIANT))
    operator = await start_operator()
    labelled = short_name(name)
    assert labelled != name
    assert len(labelled) <= 63
    deployment = (short_name(o.NEURON_VARIANT["name"]), short_name("inf2-xlarge"))

    def load(rps: float) -> None:
        per_deployment = {
            deployment: DeploymentMetrics(inferences_per_second=rps, p99_latency_ms=5.0)
        }
        operator.metrics.set(
            o.NS,
            labelled,
            Observation(
                time=0.0, demand_rps=rps, p99_latency_ms=5.0, per_deployment=per_deployment
            ),
        )

    load(1000.0)
    first = await eventually(lambda: replicas_by_pool(api, labelled), what="first placement")
    await make_ready(api, labelled)
    load(20000.0)

    async def scaled_up() -> dict[str, int] | None:
        now = await replicas_by_pool(api, labelled)
        return now if now.get("inf2-xlarge", 0) > first["inf2-xlarge"] else None

    await eventually(scaled_up, what="a scale-up driven by the hashed-label metrics")
    available = condition(await status_of(api, name), "MetricsAvailable")
    assert available["status"] == "True", available
