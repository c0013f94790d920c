"""The operator killed with SIGKILL in the middle of a migration, then restarted.

Real: `infercost run` as its own process (what a Pod runs), reading a kubeconfig that points
at the sandbox API server served over HTTP by this test, and a real Prometheus scraping an
exposition of Triton's metric names (3,600 inferences/s on the first pool). The test plays
the Deployment controller (kmock runs none): it reports replicas ready when it chooses.

Story: the service runs on g6-xlarge (L4); the L4 price rises; the operator starts the
replacement on g5-xlarge and keeps the L4 replicas while the new ones are not ready; it is
killed (SIGKILL: no cleanup, no finalizers) right then, and a new process starts. The new
process must: create no duplicate Deployment, leave none orphaned, never scale the old
replicas down before the new ones are ready, and finish the migration once they are.
The operator runs with --verbose and a Prometheus basic-auth password; its whole log is
searched for the password afterwards (credentials are never logged), and for each start's
demand record read back from that Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.prometheus import free_port
from tests.e2e.test_prometheus_adapter import Pod
from tests.integration import objects as o
from tests.integration.conftest import call, eventually
from tests.integration.test_control_loop import make_ready, replicas_by_pool
from tests.integration.test_placement import deployments, status_of
from tests.support.prometheus import Exposition, LocalPrometheus

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-Pa55word-7f1c"  # must never appear in the operator's log
OLD, NEW = "g6-xlarge", "g5-xlarge"


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "sandbox", "cluster": {"server": server}}],
                "users": [{"name": "operator", "user": {}}],
                "contexts": [
                    {"name": "sandbox", "context": {"cluster": "sandbox", "user": "operator"}}
                ],
                "current-context": "sandbox",
            }
        )
    )
    return path


@contextlib.asynccontextmanager
async def operator_process(
    env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("infercost")),
            "run",
            "--verbose",
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def reconciles(port: int) -> float | None:
    """The operator process's finished reconcile rounds (its /metrics), None until it serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("infercost_reconcile_duration_seconds_count"):
            return float(line.split()[-1])
    return None


async def rounds_pass(port: int, *, count: int) -> None:
    """Wait until the operator process finished `count` more rounds (+1: one may be in flight)."""
    first = await eventually(
        lambda: asyncio.to_thread(reconciles, port), timeout=120, what="the operator's /metrics"
    )

    async def done() -> bool:
        now = await asyncio.to_thread(reconciles, port)
        return now is not None and now >= first + count + 1

    await eventually(done, timeout=120, what=f"{count} more reconcile rounds")


async def owned_children(api: ApiServer) -> dict[str, dict[str, Any]]:
    """The service's Deployments; each must be owned by the service (no orphans)."""
    uid = (await call(api, "GET", f"{o.ISVC}/bert"))["metadata"]["uid"]
    found = {}
    for dep in await deployments(api, "bert"):
        owners = {ref["uid"] for ref in dep["metadata"].get("ownerReferences") or []}
        assert uid in owners, f"orphaned Deployment {dep['metadata']['name']}"
        found[dep["metadata"]["name"]] = dep
    return found


async def test_sigkill_mid_migration_then_restart_converges(tmp_path: Path) -> None:
    prom = LocalPrometheus().start()
    t0 = time.time() - 3600
    # Near-idle compute (busy 4%): capacity stays as profiled, nothing learned from it.
    # 3,600/s: two replicas on either pool with the 20% headroom (4,000 would sit on the L4
    # boundary, 2 x 2,400 = 1.2 x 4,000, and a scrape of 4,001/s would tip it to g5).
    pod = Pod(rate=3600, batch=8, exec_ms=0.01, queue_ms=1, p99_us=8e3)
    exposition = Exposition(lambda: pod.render(t0))
    labels = {"namespace": o.NS, "infercost_io_service": "bert", "infercost_io_variant": "gpu-fp16"}
    prom.add_target(exposition.address, {**labels, "infercost_io_pool": OLD, "pod": "bert-0"})
    password = tmp_path / "password"
    password.write_text(SECRET)
    log = tmp_path / "operator.log"
    try:
        prom.wait_for("count_over_time(nv_inference_count[10s]) >= 6")
        async with ApiServer() as api, kmock.Server(api):
            env = {
                **os.environ,
                "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", str(api.url))),
                "INFERCOST_CONTROL_INTERVAL_SECONDS": "1",
                "INFERCOST_PROMETHEUS_URL": prom.url,
                "INFERCOST_PROMETHEUS_RATE_WINDOW": "5s",
                "INFERCOST_PROMETHEUS_USERNAME": "infercost",
                "INFERCOST_PROMETHEUS_PASSWORD_FILE": str(password),
                "INFERCOST_METRICS_PORT": "0",
            }
            await call(api, "POST", o.POOLS, o.L4)
            await call(api, "POST", o.POOLS, o.A10G)
            await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT))
            async with operator_process(env, log) as first:

                async def settled_on_old() -> dict[str, int] | None:
                    await make_ready(api, "bert")
                    now = await replicas_by_pool(api, "bert")
                    return now if set(now) == {OLD} else None

                # (Its first decision may come before it has seen both pools: let it settle.)
                placed = await eventually(settled_on_old, timeout=120, what="placed on L4")
                await call(
                    api, "PATCH", f"{o.POOLS}/{OLD}", {"spec": {"pricing": {"hourlyPerNode": 4.0}}}
                )

                async def surged() -> dict[str, int] | None:
                    now = await replicas_by_pool(api, "bert")
                    return now if NEW in now else None

                during = await eventually(surged, timeout=90, what="replacement Deployment")
                assert during[OLD] == placed[OLD]
                first.send_signal(signal.SIGKILL)  # mid-migration: new not ready, old kept
                await first.wait()
            assert first.returncode == -signal.SIGKILL
            before = await owned_children(api)
            assert sorted(before) == sorted(f"bert-gpu-fp16-{p}" for p in (OLD, NEW))

            port = free_port()
            async with operator_process(
                {**env, "INFERCOST_METRICS_PORT": str(port)}, log
            ) as second:
                # Rounds of the new process with the replacement still not ready, counted in
                # its own metrics (reconcile rounds), not in seconds of a busy machine.
                for _ in range(6):
                    await rounds_pass(port, count=1)
                    now = await replicas_by_pool(api, "bert")
                    assert now.get(OLD) == placed[OLD], f"old replicas scaled down early: {now}"
                    assert sorted(await owned_children(api)) == sorted(before), "duplicate child"
                    assert second.returncode is None
                await make_ready(api, "bert")  # the replacement comes up

                async def moved() -> dict[str, int] | None:
                    now = await replicas_by_pool(api, "bert")
                    return now if OLD not in now and now.get(NEW, 0) >= 1 else None

                after = await eventually(moved, timeout=90, what="migration finished")
                children = await owned_children(api)
                assert sorted(children) == [f"bert-gpu-fp16-{NEW}"]

                # The status is written after the apply in the same round (a busy machine may
                # read between the two): wait for it, then it must name the new pool only.
                async def placement() -> list[tuple[str, int]] | None:
                    status = await status_of(api, "bert")
                    placed = [(p["pool"], p["replicas"]) for p in status.get("placement", [])]
                    return placed if OLD not in dict(placed) else None

                assert await eventually(placement, timeout=90, what="status placement updated") == [
                    (NEW, after[NEW])
                ]
    finally:
        prom.close()
        exposition.close()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert SECRET not in text
    assert "retrying" not in text or SECRET not in text
    # Each start read the demand record back from the real Prometheus (basic auth included).
    assert text.count(f"{o.NS}/bert: demand memory rebuilt from") == 2, text[-3000:]
