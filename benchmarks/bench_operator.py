"""`make bench-operator`: the operator with 1,000 InferenceServices against the sandbox API server.

Prints (does not assert): operator RSS, CPU seconds per full reconcile round, API writes per
round when nothing changed (target 0) and the wall time of one round. The API server and each
operator replica run in processes of their own, so the operator's figures are its own and
not the bench's (which asks each replica for them on a pipe); metrics come from the FAKE metrics
source (constant demand), since a Prometheus for 1,000 services is out of scope here. Once every
service is placed the bench marks every Deployment's replicas ready (`deployments_ready`: the
stand-in runs no Deployment controller), so the steady rounds are those of a steady cluster.

`--replicas R --shards S` runs R sharded operators (controller/shards.py), one process each as
in a cluster: the steady and driven CPU figures are the busiest replica's (each must keep the
interval on its own; all replicas' together printed beside), RSS the R replicas' together, and
the driven round asks every replica to reconcile every service (each acts on its own shards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import aiohttp
import kopf

from infercost.adapters.fake_metrics import FakeMetrics
from infercost.bench_figures import operator_figures
from infercost.controller.heap import collect_and_freeze
from infercost.controller.runner import run_operator
from infercost.controller.service import Reconciler
from infercost.engine.model import Observation
from infercost.settings import Settings

AGENTS = "kopf/,infercost/"
POOLS = [
    ("g5-xlarge", "nvidia-a10g", "nvidia.com/gpu", 1, 1.006),  # prices: data/prices.yaml
    ("g6-xlarge", "nvidia-l4", "nvidia.com/gpu", 1, 0.8048),
    ("inf2-xlarge", "inferentia2", "aws.amazon.com/neuroncore", 2, 0.7582),
]


def pool(name: str, kind: str, resource_name: str, per_node: int, price: float) -> dict[str, Any]:
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "AcceleratorPool",
        "metadata": {"name": name},
        "spec": {
            "accelerator": {"type": kind, "resourceName": resource_name, "perNode": per_node},
            "nodeSelector": {"node.kubernetes.io/instance-type": name.replace("-", ".")},
            "pricing": {"hourlyPerNode": price},
        },
    }


def service(index: int) -> dict[str, Any]:
    profile = [
        {"acceleratorType": t, "batchSize": b, "throughput": tp, "p99LatencyMs": ms}
        for t, b, tp, ms in [
            ("nvidia-a10g", 1, 900, 2.0),
            ("nvidia-a10g", 8, 2600, 7.0),
            ("nvidia-l4", 1, 800, 2.2),
            ("nvidia-l4", 8, 2400, 7.5),
        ]
    ]
    neuron = [
        {
            "acceleratorType": "inferentia2",
            "batchSize": 1,
            "throughput": 1998,
            "p99LatencyMs": 1.04,
        },
        {
            "acceleratorType": "inferentia2",
            "batchSize": 8,
            "throughput": 2674,
            "p99LatencyMs": 6.17,
        },
    ]
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": f"model-{index:04d}", "namespace": f"team-{index % 10}"},
        "spec": {
            "model": {"name": "bert_base"},
            "slo": {"latencyMs": 50},
            "variants": [
                {
                    "name": "gpu-fp16",
                    "acceleratorTypes": ["nvidia-a10g", "nvidia-l4"],
                    "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                    "modelRepository": "s3://models/bert-trt",
                    "profile": profile,
                },
                {
                    "name": "neuron-bf16",
                    "acceleratorTypes": ["inferentia2"],
                    "image": "registry.example.com/tritonserver-neuronx:2.x",
                    "modelRepository": "s3://models/bert-neuron",
                    "acceleratorsPerReplica": 2,
                    "profile": neuron,
                },
            ],
        },
    }


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def counts(session: aiohttp.ClientSession) -> dict[str, int]:
    async with session.get("sandbox/requests", params={"agents": AGENTS}) as response:
        return dict((await response.json())["counts"])


LEASES = "coordination.k8s.io/leases"  # sharding's Lease renewals: its fixed cost, not work


async def writes(session: aiohttp.ClientSession) -> int:
    """The operator's writes but its Lease renewals (a few per retry period, with or without
    changes: reported apart, as `lease_writes_per_round`)."""
    return await _writes(session, leases=False)


async def _writes(session: aiohttp.ClientSession, *, leases: bool) -> int:
    verbs = ("create ", "patch ", "delete ", "update ")
    return sum(
        count
        for key, count in (await counts(session)).items()
        if key.startswith(verbs) and key.endswith(LEASES) == leases
    )


def writes_by_resource(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Write requests between two snapshots, by verb and resource (reads left out)."""
    verbs = ("create ", "patch ", "delete ", "update ")
    return {
        key: after[key] - before.get(key, 0)
        for key in sorted(after)
        if key.startswith(verbs) and not key.endswith(LEASES) and after[key] != before.get(key, 0)
    }


def reconciles(holder: list[Reconciler]) -> float:
    """Reconciles done so far by this replica (the reconcile-duration histogram's count)."""
    return sum(
        sample.value
        for reconciler in holder
        for metric in reconciler.telemetry.duration.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    )


def placed(holder: list[Reconciler]) -> int:
    """Services whose status has its placement, as this replica's watch last saw them
    (listing 10,000 services from the API server every poll would cost more than the
    operator does; every replica watches every service)."""
    if not holder:
        return 0
    services = holder[0].picture.services.values()
    return sum(1 for body in services if (body.get("status") or {}).get("placement"))


async def deployments_ready(session: aiohttp.ClientSession) -> None:
    """Play the Deployment controller and kubelet the stand-in API server does not run: every
    Deployment's status reports all its replicas ready, as a steady cluster's does. (Left
    unready, each reconcile would list the service's pods for new ones to gate: a starting
    service's work, not a steady one's.)"""
    async with session.get("apis/apps/v1/deployments") as response:
        items = (await response.json())["items"]
    gate = asyncio.Semaphore(8)

    async def ready(item: dict[str, Any]) -> None:
        meta, replicas = item["metadata"], int(item["spec"].get("replicas") or 0)
        url = f"apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}/status"
        counts = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")
        status = {"observedGeneration": meta.get("generation", 1)}
        status |= dict.fromkeys(counts, replicas)
        headers = {"Content-Type": "application/merge-patch+json"}
        async with gate, session.patch(url, json={"status": status}, headers=headers) as reply:
            reply.raise_for_status()

    await asyncio.gather(*(ready(item) for item in items))


def demand(index: int) -> float:
    return 500.0 + 10.0 * (index % 50)


ANSWER = "bench-answer "


async def replica(url: str, *, count: int, interval: float, shards: int, identity: str) -> None:
    """One operator replica, in a process of its own as in a cluster, answering the bench on
    stdin/stdout: `start`, `figures` (CPU, RSS, reconciles, services placed), `freeze` (the
    operator's periodic full collection and freeze, now), `drive` (every service reconciled
    once, as fast as it goes; a sharded replica acts on its own), `stop`."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else prints goes to stderr: the pipe carries answers alone
    metrics = FakeMetrics()  # FAKE: constant demand per service
    for index in range(count):
        meta = service(index)["metadata"]
        observation = Observation(time=0, demand_rps=demand(index), p99_latency_ms=8.0)
        metrics.set(meta["namespace"], meta["name"], observation)
    holder: list[Reconciler] = []
    stop = asyncio.Event()
    settings = Settings(control_interval_seconds=interval, metrics_port=0, sharding_shards=shards)
    task: asyncio.Task[None] | None = None
    rss_before = rss_mib()
    collecting = [0.0, 0.0, 0.0, 0.0, 0.0]  # started; seconds in collections of gen 0, 1, 2

    def collection(phase: str, info: dict[str, int]) -> None:
        now = time.process_time()  # CPU: a loaded machine's preemption is not the collector's
        if phase == "start":
            collecting[0] = now
        else:
            collecting[1] += now - collecting[0]
            collecting[2 + info["generation"]] += now - collecting[0]

    gc.callbacks.append(collection)  # the cyclic garbage collector's share of the CPU
    while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) not in ("", "stop"):
        answer: dict[str, float] = {}
        if command == "start":
            operator = run_operator(
                settings=settings,
                connection=kopf.ConnectionInfo(server=url),
                metrics=metrics,
                stop_flag=stop,
                on_reconciler=holder.append,
                identity=identity,
            )
            task = asyncio.create_task(operator)
        elif command == "figures":
            answer = {
                "cpu_s": cpu_seconds(),
                "gc_s": collecting[1],
                "gc2_s": collecting[4],
                "rss_mib": rss_mib(),
                "rss_growth_mib": rss_mib() - rss_before,
                "reconciles": reconciles(holder),
                "placed": placed(holder),
                "metrics_queries": metrics.calls,
            }
        elif command == "freeze":
            answer = {"frozen": collect_and_freeze()}
        elif command == "drive":
            keys = list(holder[0].picture.services)
            cpu, wall = cpu_seconds(), time.monotonic()
            await asyncio.gather(*(holder[0].reconcile(key) for key in keys))
            answer = {"cpu_s": cpu_seconds() - cpu, "wall_s": time.monotonic() - wall}
        print(ANSWER + json.dumps(answer), file=answers, flush=True)
    stop.set()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(task, timeout=60)


class Replica:
    """The bench's side of one replica process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, command: str) -> dict[str, float]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        line = (await self.process.stdout.readline()).decode()
        if not line.startswith(ANSWER):
            raise RuntimeError(f"replica exited or answered {line!r} to {command}")
        return dict(json.loads(line.removeprefix(ANSWER)))


async def ask_all(replicas: list[Replica], command: str) -> list[dict[str, float]]:
    return list(await asyncio.gather(*(r.ask(command) for r in replicas)))


def total(answers: list[dict[str, float]], name: str) -> float:
    return sum(answer[name] for answer in answers)


async def bench(
    count: int, interval: float, rounds: int, *, replicas: int = 1, shards: int = 0
) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, "-m", "infercost.sandbox.serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().split()[-1]
    processes: list[asyncio.subprocess.Process] = []
    try:
        async with aiohttp.ClientSession(base_url=url + "/") as session:
            for row in POOLS:
                await session.post("apis/infercost.io/v1alpha1/acceleratorpools", json=pool(*row))
            for index in range(count):
                body = service(index)
                ns = body["metadata"]["namespace"]
                path = f"apis/infercost.io/v1alpha1/namespaces/{ns}/inferenceservices"
                await session.post(path, json=body)
            for number in range(replicas):
                args = [f"--services={count}", f"--interval={interval}", f"--shards={shards}"]
                processes.append(
                    await asyncio.create_subprocess_exec(
                        *(sys.executable, __file__, "--replica-of", url, *args),
                        f"--identity=bench-{number}",
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                    )
                )
            fleet = [Replica(process) for process in processes]
            start = await ask_all(fleet, "figures")  # after the imports: the operator's own
            wall0 = time.monotonic()
            await ask_all(fleet, "start")
            while (await fleet[0].ask("figures"))["placed"] < count:
                await asyncio.sleep(1)
            first_wall = time.monotonic() - wall0
            first = await ask_all(fleet, "figures")
            first_writes = await writes(session)
            await deployments_ready(session)
            # Settle: the first round's tail (Ready flips, kopf's finalizers, pool status) ends
            # when a whole interval passes without a write; "nothing changed" starts there.
            settle0, last = time.monotonic(), -1
            while (current := await writes(session)) != last:
                last = current
                await asyncio.sleep(interval)
            settle_s = time.monotonic() - settle0
            # What each replica does every gc_freeze_seconds (controller/heap.py), done now: a
            # steady operator's heap is that of one period on, not the first round's churn.
            await ask_all(fleet, "freeze")
            before_writes, wall1 = await writes(session), time.monotonic()
            before_leases = await _writes(session, leases=True)
            before_counts = await counts(session)
            steady0 = await ask_all(fleet, "figures")
            await asyncio.sleep(rounds * interval)  # steady: kopf's timers drive the rounds
            steady1 = await ask_all(fleet, "figures")
            steady_rounds = (time.monotonic() - wall1) / interval
            steady_writes = await writes(session) - before_writes
            lease_writes = await _writes(session, leases=True) - before_leases
            steady_detail = writes_by_resource(before_counts, await counts(session))
            steady_cpu = [b["cpu_s"] - a["cpu_s"] for a, b in zip(steady0, steady1, strict=True)]
            steady_gc = [b["gc_s"] - a["gc_s"] for a, b in zip(steady0, steady1, strict=True)]
            steady_gc2 = [b["gc2_s"] - a["gc2_s"] for a, b in zip(steady0, steady1, strict=True)]
            steady_reconciles = total(steady1, "reconciles") - total(steady0, "reconciles")
            # One full round driven directly: every service reconciled once, as fast as it goes.
            w2, wall2 = await writes(session), time.monotonic()
            driven = await ask_all(fleet, "drive")
            round_wall = time.monotonic() - wall2
            round_writes = await writes(session) - w2
            end = await ask_all(fleet, "figures")
            result = {
                "services": count,
                "replicas": replicas,
                "shards": shards,
                "operator_rss_mib": round(total(end, "rss_mib"), 1),
                "operator_rss_growth_mib": round(total(end, "rss_growth_mib"), 1),
                "first_round_wall_s": round(first_wall, 2),
                "first_round_cpu_s": round(total(first, "cpu_s") - total(start, "cpu_s"), 2),
                "first_round_api_writes": first_writes,
                "settle_s": round(settle_s, 1),
                # The busiest replica's: each replica is a process that must keep the interval.
                "steady_cpu_s_per_round": round(max(steady_cpu) / steady_rounds, 3),
                "steady_cpu_s_per_round_all_replicas": round(sum(steady_cpu) / steady_rounds, 3),
                "steady_gc_s_per_round": round(max(steady_gc) / steady_rounds, 3),
                "steady_gc_oldest_s_per_round": round(max(steady_gc2) / steady_rounds, 3),
                "steady_reconciles_per_service_round": round(
                    steady_reconciles / count / steady_rounds, 3
                ),
                "steady_api_writes_per_round": round(steady_writes / steady_rounds, 2),
                "lease_writes_per_round": round(lease_writes / steady_rounds, 2),
                "driven_round_wall_s": round(round_wall, 3),
                "driven_round_cpu_s": round(max(a["cpu_s"] for a in driven), 3),
                "driven_round_api_writes": round_writes,
                "metrics_queries_total": int(total(end, "metrics_queries")),
                "steady_writes_by_resource": steady_detail,
            }
            report(result, interval=interval)
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(b"stop\n")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), 60)
            return result
    finally:
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        server.terminate()
        server.wait(timeout=30)


def report(result: dict[str, Any], *, interval: float) -> None:
    """Every figure, then each beside its goal, then the JSON line benchmarks/summary.py reads."""
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    for figure in operator_figures(result, interval=interval):
        print(figure.line())
    print(json.dumps(result), flush=True)  # last: benchmarks/summary.py reads it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1, help="operator processes")
    parser.add_argument("--shards", type=int, default=0, help="with --replicas > 1 (e.g. 2x)")
    parser.add_argument("--replica-of", metavar="URL", help=argparse.SUPPRESS)  # a replica
    parser.add_argument("--identity", default="bench-0", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replicas > 1 and args.shards < 1:
        parser.error("--replicas above 1 needs --shards (e.g. --shards 4 for 2 replicas)")
    if args.replica_of:
        run = replica(
            args.replica_of,
            count=args.services,
            interval=args.interval,
            shards=args.shards,
            identity=args.identity,
        )
        asyncio.run(run)
        return
    asyncio.run(
        bench(args.services, args.interval, args.rounds, replicas=args.replicas, shards=args.shards)
    )


if __name__ == "__main__":
    main()
