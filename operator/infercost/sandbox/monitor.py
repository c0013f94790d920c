"""What the sandbox records once a second, and the live terminal view drawn from it.

A sample is read the way a person would look: Deployments and the InferenceService status from
the API server, the worst pod's p99 from Prometheus (what the operator sees), the clients'
own p99 and rate from the load generator, and the batching each ready server really runs,
read back from Triton (`/v2/models/<model>/config`). The samples go to timeline.jsonl.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Group
from rich.table import Table
from rich.text import Text

from infercost.sandbox.client import Api, ApiError, is_ready
from infercost.sandbox.pods import PORT_ANNOTATION

P99_QUERY = (
    'max by (namespace, infercost_io_service) (nv_inference_request_summary_us{quantile="0.99"})'
)


@dataclass
class Sample:
    time: float
    service: str
    slo_ms: float
    desired: dict[str, int] = field(default_factory=dict)  # pool -> spec.replicas
    ready: dict[str, int] = field(default_factory=dict)  # pool -> status.readyReplicas
    placement: dict[str, int] = field(default_factory=dict)  # pool -> replicas (status)
    hourly: float | None = None
    per_million: float | None = None
    target_rps: float | None = None
    sent_rps: float | None = None
    failed: int = 0
    client_p99_ms: float | None = None
    server_p99_ms: float | None = None
    status_batch: int | None = None
    # Batch size per pool in status: pools run different batching, each Triton its pool's.
    placement_batches: list[int] = field(default_factory=list)
    triton_batches: list[int] = field(default_factory=list)
    decision: dict[str, str] = field(default_factory=dict)
    # Pods Pending with PodScheduled=False, Unschedulable, and pods on nodes tainted for
    # disruption or cordoned, per pool (what the operator's capacity watch reads).
    unschedulable: dict[str, int] = field(default_factory=dict)
    noticed: dict[str, int] = field(default_factory=dict)
    # Pods the node autoscaler refused so far (its NotTriggerScaleUp Events), per pool: the
    # operator spills on them at once, so the Pending pods may be gone before a sample.
    refused: dict[str, int] = field(default_factory=dict)


class Monitor:
    def __init__(self, *, api: Api, prometheus_url: str, load_file: Path, out: Path) -> None:
        self.api, self.prometheus_url, self.load_file, self.out = (
            api,
            prometheus_url,
            load_file,
            out,
        )
        self.samples: list[Sample] = []
        self.load: dict[str, dict[str, Any]] = {}  # service -> latest load line
        self._offset = 0
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))

    async def close(self) -> None:
        await self._session.close()

    def _read_load(self) -> None:
        if not self.load_file.exists():
            return
        with open(self.load_file) as handle:
            handle.seek(self._offset)
            for line in handle:
                if line.endswith("\n"):
                    row = json.loads(line)
                    self.load[row["service"]] = row
                    self._offset += len(line.encode())

    async def _server_p99(self) -> dict[str, float]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": P99_QUERY})
        try:
            async with self._session.get(url) as response:
                result = (await response.json())["data"]["result"]
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
            return {}
        found = {}
        for row in result:
            value = float(row["value"][1])
            if value == value:  # NaN when no request in the summary's window
                key = (
                    f"{row['metric'].get('namespace')}/{row['metric'].get('infercost_io_service')}"
                )
                found[key] = value / 1e3
        return found

    async def _triton_batches(self, namespace: str, name: str, model: str) -> list[int]:
        pods = await self.api.items(
            f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"infercost.io/service={name}"
        )
        sizes = []
        for pod in pods:
            port = (pod["metadata"].get("annotations") or {}).get(PORT_ANNOTATION)
            if not is_ready(pod) or port is None:
                continue
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                url = f"http://127.0.0.1:{port}/v2/models/{model}/config"
                async with self._session.get(url) as response:
                    sizes.append(int((await response.json())["max_batch_size"]))
        return sorted(sizes)

    async def sample(self, services: list[tuple[str, str, str]]) -> list[Sample]:
        """One sample per (namespace, name, model); appended to the timeline."""
        self._read_load()
        p99 = await self._server_p99()
        now, taken = time.time(), []
        for namespace, name, model in services:
            try:
                isvc = await self.api.get(
                    f"/apis/infercost.io/v1alpha1/namespaces/{namespace}/inferenceservices/{name}"
                )
                deps = await self.api.items(
                    f"/apis/apps/v1/namespaces/{namespace}/deployments",
                    labelSelector=f"infercost.io/service={name}",
                )
                batches = await self._triton_batches(namespace, name, model)
                lost = await pods_lost(self.api, namespace, name)
                refused = await refusals(self.api, namespace, deps)
            except (ApiError, aiohttp.ClientError, OSError):
                continue
            if isvc is None:
                continue
            sample = self._one(f"{namespace}/{name}", isvc, deps, batches, p99, now)
            sample.unschedulable, sample.noticed = lost
            sample.refused = refused
            taken.append(sample)
        self.samples.extend(taken)
        with open(self.out, "a") as handle:
            for s in taken:
                handle.write(json.dumps(asdict(s)) + "\n")
        return taken

    def _one(
        self,
        key: str,
        isvc: dict[str, Any],
        deps: list[dict[str, Any]],
        batches: list[int],
        p99: dict[str, float],
        now: float,
    ) -> Sample:
        status = isvc.get("status") or {}
        sample = Sample(time=now, service=key, slo_ms=float(isvc["spec"]["slo"]["latencyMs"]))
        for dep in deps:
            if "infercost.io/activator" in dep["metadata"]["labels"]:
                continue  # scale to zero's activator: no replica (sandbox/activators.py)
            pool = dep["metadata"]["labels"].get("infercost.io/pool", "?")
            sample.desired[pool] = sample.desired.get(pool, 0) + int(dep["spec"].get("replicas", 0))
            ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
            sample.ready[pool] = sample.ready.get(pool, 0) + ready
        for row in status.get("placement") or []:
            sample.placement[row["pool"]] = sample.placement.get(row["pool"], 0) + int(
                row["replicas"]
            )
            if row.get("maxBatchSize") is not None:
                sample.placement_batches.append(int(row["maxBatchSize"]))
        cost = status.get("cost") or {}
        sample.hourly, sample.per_million = cost.get("hourly"), cost.get("perMillionInferences")
        sample.status_batch = (status.get("batching") or {}).get("maxBatchSize")
        sample.triton_batches = batches
        sample.server_p99_ms = p99.get(key)
        decision = status.get("lastDecision") or {}
        sample.decision = {k: str(decision.get(k, "")) for k in ("action", "reason", "message")}
        load = self.load.get(key)
        if load is not None and now - load["time"] < 5:
            sample.target_rps, sample.sent_rps = load["target_rps"], float(load["sent"])
            sample.client_p99_ms, sample.failed = load["p99_ms"], int(load["failed"])
        return sample


def view(
    samples: list[Sample], *, title: str, elapsed: float, total: float, rate_scale: float = 1.0
) -> Group:
    """The live view: one row per service, then each service's last decision."""
    table = Table(title=f"{title} — {elapsed:.0f} s of {total:.0f} s", expand=True)
    for column in (
        "service",
        "replicas per pool (ready/desired)",
        "demand req/s",
        "p99 clients / server vs SLO",
        "batch (Triton)",
        "$/h",
        "$/1M sandbox (full scale)",
    ):
        table.add_column(column)
    notes = []
    for s in samples:
        pools = ", ".join(
            f"{p} {s.ready.get(p, 0)}/{n}{_lost(s, p)}" for p, n in sorted(s.desired.items())
        )
        over = (s.client_p99_ms or 0) > s.slo_ms
        p99 = Text(
            f"{_ms(s.client_p99_ms)} / {_ms(s.server_p99_ms)} vs {s.slo_ms:.0f} ms",
            style="red" if over else "green",
        )
        table.add_row(
            s.service,
            pools or "-",
            f"{s.sent_rps:.0f}" if s.sent_rps is not None else "-",
            p99,
            f"{s.status_batch or '-'} ({','.join(map(str, s.triton_batches)) or '-'})",
            f"{s.hourly:.4f}" if s.hourly is not None else "-",
            f"{s.per_million:.3f} ({s.per_million / rate_scale:.4f})"
            if s.per_million is not None
            else "-",
        )
        d = s.decision
        notes.append(Text(f"{s.service}: {d.get('action')} {d.get('reason')}: {d.get('message')}"))
    return Group(table, *notes)


def line(samples: list[Sample], *, elapsed: float) -> str:
    """The view in one line per service, for logs (--no-live)."""
    out = []
    for s in samples:
        pools = " ".join(
            f"{p}={s.ready.get(p, 0)}/{n}{_lost(s, p)}" for p, n in sorted(s.desired.items())
        )
        d = s.decision
        out.append(
            f"{elapsed:5.0f}s {s.service} rps={s.sent_rps or 0:.0f} replicas[{pools}] "
            f"p99={_ms(s.client_p99_ms)}/{_ms(s.server_p99_ms)}ms slo={s.slo_ms:.0f} "
            f"batch={s.status_batch}{s.triton_batches} $/h={s.hourly} "
            f"last={d.get('action')}/{d.get('reason')}"
        )
    return "\n".join(out)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _lost(sample: Sample, pool: str) -> str:
    """' (2 unschedulable)', ' (1 on reclaimed nodes)' or ''."""
    notes = []
    if sample.unschedulable.get(pool):
        notes.append(f"{sample.unschedulable[pool]} unschedulable")
    if sample.noticed.get(pool):
        notes.append(f"{sample.noticed[pool]} on reclaimed nodes")
    return f" ({', '.join(notes)})" if notes else ""


async def pods_lost(api: Api, namespace: str, name: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per pool: pods Unschedulable, and pods on nodes tainted (any taint) or cordoned."""
    pods = await api.items(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"infercost.io/service={name}"
    )
    going = {
        node["metadata"]["name"]
        for node in await api.items("/api/v1/nodes")
        if (node.get("spec") or {}).get("unschedulable") or (node.get("spec") or {}).get("taints")
    }
    unschedulable: dict[str, int] = {}
    noticed: dict[str, int] = {}
    for pod in pods:
        pool = (pod["metadata"].get("labels") or {}).get("infercost.io/pool", "?")
        node = (pod.get("spec") or {}).get("nodeName")
        if node in going:
            noticed[pool] = noticed.get(pool, 0) + 1
        elif any(
            c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
            for c in (pod.get("status") or {}).get("conditions") or []
        ):
            unschedulable[pool] = unschedulable.get(pool, 0) + 1
    return unschedulable, noticed


async def refusals(api: Api, namespace: str, deps: list[dict[str, Any]]) -> dict[str, int]:
    """Per pool: pods of these Deployments cluster-autoscaler said it adds no node for (the
    sandbox names a pod `<deployment>-<6 hex>`; the Events outlive their pods)."""
    pools = {
        d["metadata"]["name"]: (d["metadata"].get("labels") or {}).get("infercost.io/pool", "?")
        for d in deps
    }
    events = await api.items(
        f"/api/v1/namespaces/{namespace}/events", fieldSelector="reason=NotTriggerScaleUp"
    )
    refused: dict[str, int] = {}
    for event in events:
        pool = pools.get(event["involvedObject"]["name"].rsplit("-", 1)[0])
        if pool is not None:
            refused[pool] = refused.get(pool, 0) + 1
    return refused
