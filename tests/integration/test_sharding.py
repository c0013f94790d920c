"""Sharding: `infercost run` replicas share the services through one Lease per shard
(controller/shards.py), against the sandbox API server.

Which replica reconciles a service is observed through the replicas' own /metrics: a replica
exports a service's gauges only while it reconciles the service (they are dropped when its
shard goes). Asserted: each service is exported by exactly one replica, the holder of its
shard's Lease; a replica that joins gets a share; a replica killed with SIGKILL (no clean
release) has its shards taken over and a service of its shard, created after the kill, is
placed by a survivor; the global status (AcceleratorPool, BudgetPolicy), written by the
holder of shard 0 only, counts every replica's services, before and after shard 0's holder
is the one killed. The times are printed (run with -s), never asserted: the machine is
shared. With these settings a takeover is expected within about the lease duration (4 s,
the dead holder's Leases lapse as the survivors observe them) plus two or three retry
periods (0.5 s, with up to 20 % jitter) and the first reconcile.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from infercost.controller.shard_plan import shard_of
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_NAMESPACE
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually
from tests.integration.test_cli_run import INFERCOST, kubeconfig
from tests.integration.test_placement import deployments
from tests.integration.test_team_budget import BUDGETS
from tests.integration.test_team_budget import policy as team_policy
from tests.integration.test_telemetry import free_port

pytestmark = pytest.mark.integration
SHARDS = 4
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases"
FAST = {
    "INFERCOST_LEADER_ELECTION_LEASE_DURATION_SECONDS": "4",
    "INFERCOST_LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "3",
    "INFERCOST_LEADER_ELECTION_RETRY_PERIOD_SECONDS": "0.5",
}
SERVICE = re.compile(r'^infercost_service_slo_latency_ms\{[^}]*service="([^"]+)"', re.M)


class Replicas:
    """`infercost run` processes by name, each with its metrics port; logs go to files."""

    def __init__(self, api: ApiServer, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig(tmp_path / "config", str(api.url).rstrip("/"))),
            "INFERCOST_CONTROL_INTERVAL_SECONDS": "1",
            "INFERCOST_SHARDING_SHARDS": str(SHARDS),
            "INFERCOST_LEADER_ELECTION_NAMESPACE": OPERATOR_NAMESPACE,
            **FAST,
        }
        self.running: dict[str, tuple[asyncio.subprocess.Process, int]] = {}

    async def start(self, name: str) -> None:
        port = free_port()
        with (self.tmp_path / f"{name}.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                INFERCOST,
                "run",
                env={**self.env, "POD_NAME": name, "INFERCOST_METRICS_PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        self.running[name] = (process, port)

    async def exported(self, name: str) -> set[str]:
        """The services whose gauges the replica exports now (empty while it starts)."""
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.running[name][1]}/metrics") as response,
            ):
                return set(SERVICE.findall(await response.text()))
        except aiohttp.ClientConnectionError:
            return set()

    async def stop(self) -> None:
        for process, _ in self.running.values():
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                await asyncio.wait_for(process.wait(), timeout=60)
        for name in self.running:
            assert b"Traceback" not in (self.tmp_path / f"{name}.log").read_bytes(), name


async def holders(api: ApiServer) -> dict[int, str]:
    """Each shard Lease's holder (the replica's name, before its identity's `_` suffix)."""
    listed = await call(api, "GET", LEASES)
    out = {}
    for lease in listed["items"]:
        name = lease["metadata"]["name"]
        if name.startswith("infercost-shard-"):
            holder = lease["spec"].get("holderIdentity") or ""
            out[int(name.rsplit("-", 1)[1])] = holder.split("_")[0]
    return out


async def pool_in_use(api: ApiServer, replicas: int) -> bool:
    status = (await call(api, "GET", f"{o.POOLS}/{o.INF2['metadata']['name']}")).get("status")
    return bool((status or {}).get("replicasInUse") == replicas)


async def policy_reported(api: ApiServer) -> bool:
    return "spendPerHour" in ((await call(api, "GET", f"{BUDGETS}/team-ml")).get("status") or {})


def shard(name: str) -> int:
    return shard_of(o.NS, name, shards=SHARDS)


async def each_service_by_its_holder(
    api: ApiServer,
    replicas: Replicas,
    services: list[str],
    live: list[str],
    *,
    split: list[int] | None = None,
) -> dict[int, str]:
    """Poll until every shard is held, every replica of `live` holds a share (no more
    replicas than shards here), the shares are `split` (sorted shard counts) once the
    replicas have rebalanced, and every service is exported by exactly one replica, its
    shard's holder; the holders then."""

    async def check() -> dict[int, str] | None:
        held = await holders(api)
        if sorted(held) != list(range(SHARDS)) or set(held.values()) != set(live):
            return None
        if split is not None and sorted(Counter(held.values()).values()) != split:
            return None  # a replica still gives shards up to a newcomer
        exported = {name: await replicas.exported(name) for name in live}
        for service in services:
            by = {name for name, names in exported.items() if service in names}
            if by != {held[shard(service)]}:
                return None
        return held

    result: dict[int, str] = await eventually(
        check, timeout=180, what="each service reconciled by its shard's holder only"
    )
    return result


async def test_replicas_share_services_take_over_a_killed_one_and_give_to_a_joiner(
    api: ApiServer, tmp_path: Path
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", BUDGETS, team_policy(100.0))
    services = [f"svc-{i}" for i in range(8)]
    assert len({shard(s) for s in services}) == SHARDS  # every shard has work
    for name in services:
        await call(api, "POST", o.ISVC, o.service(name, o.NEURON_VARIANT))
    replicas = Replicas(api, tmp_path)
    try:
        for name in ("op-a", "op-b"):
            await replicas.start(name)
        held = await each_service_by_its_holder(
            api,
            replicas,
            services,
            ["op-a", "op-b"],
            split=[2, 2],  # 4 shards, 2 replicas
        )
        for service in services:
            assert await deployments(api, service), service
        # Global status, written by the holder of shard 0 only, counts every replica's services.
        await eventually(lambda: pool_in_use(api, len(services)), timeout=120, what="pool status")
        await eventually(lambda: policy_reported(api), timeout=120, what="the policy's status")

        await replicas.start("op-c")  # a replica joins: the others give it a share
        joined = time.monotonic()
        held = await each_service_by_its_holder(
            api, replicas, services, ["op-a", "op-b", "op-c"], split=[1, 1, 2]
        )
        print(f"\njoin: op-c held a share {time.monotonic() - joined:.1f} s after its start")

        victim = held[0]  # the holder of shard 0 (the global status too)
        survivors = [name for name in replicas.running if name != victim]
        orphaned = {k for k, holder in held.items() if holder == victim}
        replicas.running[victim][0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await replicas.running[victim][0].wait()
        late = next(f"late-{i}" for i in range(100) if shard(f"late-{i}") in orphaned)
        await call(api, "POST", o.ISVC, o.service(late, o.NEURON_VARIANT))

        async def taken() -> bool:
            now = await holders(api)
            return all(now.get(k) in survivors for k in orphaned)

        await eventually(taken, timeout=120, what=f"{victim}'s shards taken over")
        took = time.monotonic() - killed
        await eventually(lambda: deployments(api, late), timeout=120, what="the late service")
        placed = time.monotonic() - killed
        await each_service_by_its_holder(api, replicas, [*services, late], survivors)
        # The global writes went with shard 0: the pool counts the late service too.
        await eventually(
            lambda: pool_in_use(api, len(services) + 1), timeout=120, what="pool status"
        )
        print(
            f"takeover after SIGKILL of {victim} (lease 4 s, renew deadline 3 s, retry 0.5 s): "
            f"shards {sorted(orphaned)} taken {took:.1f} s after the kill, a service of them "
            f"created after the kill placed {placed:.1f} s after"
        )
    finally:
        await replicas.stop()


async def test_a_shard_whose_renewals_failed_a_while_is_resumed_with_its_memory(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    """Lease renewals refused (FAKE: the sandbox answers them 500, an API server overloaded)
    past the renew deadline: the operator stops acting on its shards, then, as the Leases
    still name it, takes them back without dropping what it remembers of their services."""
    await call(api, "POST", o.POOLS, o.INF2)
    services = [f"svc-{i}" for i in range(4)]
    for name in services:
        await call(api, "POST", o.ISVC, o.service(name, o.NEURON_VARIANT))
    operator = await start_operator(
        sharding_shards=2,
        leader_election_namespace=OPERATOR_NAMESPACE,
        leader_election_lease_duration_seconds=2,
        leader_election_renew_deadline_seconds=1,
        leader_election_retry_period_seconds=0.2,
    )
    reconciler = operator.reconciler
    keeper = reconciler.keeper  # type: ignore[attr-defined]

    async def all_reconciled() -> bool:
        return len(keeper.held) == 2 and all((o.NS, name) in reconciler.memory for name in services)

    await eventually(all_reconciled, what="both shards held, every service reconciled")
    before = {name: reconciler.memory[(o.NS, name)] for name in services}
    api.fail_next(action="update", plural="leases", status=500, times=40)

    async def lapsed() -> bool:
        return not keeper.held

    await eventually(lapsed, what="the shards given up after the renew deadline")

    async def resumed() -> bool:
        return len(keeper.held) == 2

    await eventually(resumed, what="the shards taken back")
    kept = [name for name in services if reconciler.memory.get((o.NS, name)) is before[name]]
    assert kept == services  # the same memory objects: nothing dropped, nothing listed again
    await operator.stop()
