"""The sandbox's clients: a trace replayed open-loop over the ready replicas (its own process).

`python -m infercost.sandbox.loadgen SCHEDULE OUT` reads a schedule (JSON: the API server's
URL and, per service, its model, namespace, label selector and requests per second for each
second) and sends single-inference requests with tritonclient.http.aio at Poisson times of
that rate. Open loop, as real clients are: a request leaves at its time whether earlier ones
finished or not, so an overloaded service shows up as latency, not as a slower sender.

Endpoints are what a Service would route to: the Ready pods matching the Service's selector
(both read from the API server every second: at zero replicas it selects the activator),
round robin. A request refused by a pod that just went
away is retried once on another (kube-proxy's endpoints lag the same way). Every second one
JSON line per service goes to OUT: sent, completed, failed, p50 and p99 of the requests that
completed in that second, and the endpoints in use; at the end, every request's
(sent time, latency, ok) goes to OUT + ".requests.csv" for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import numpy as np
import tritonclient.http.aio as triton_http
from tritonclient.http import InferInput
from tritonclient.utils import InferenceServerException

from infercost.sandbox.client import Api, is_ready

TIMEOUT_SECONDS = 30.0  # a client gives up after this; counted as failed


@dataclass
class Target:
    namespace: str
    name: str
    model: str
    selector: str
    rates: list[float]
    service: str | None = None  # the Service whose selector is followed (else `selector`)
    endpoints: list[str] = field(default_factory=list)
    clients: dict[str, Any] = field(default_factory=dict)
    turn: int = 0
    # per-second counters, keyed by the second of the run
    sent: dict[int, int] = field(default_factory=dict)
    done: dict[int, list[float]] = field(default_factory=dict)
    failed: dict[int, int] = field(default_factory=dict)
    log: list[tuple[float, float, bool]] = field(default_factory=list)

    def pick(self, avoid: str | None = None) -> str | None:
        choices = [e for e in self.endpoints if e != avoid] or self.endpoints
        if not choices:
            return None
        self.turn += 1
        return choices[self.turn % len(choices)]

    def client(self, url: str) -> Any:
        if url not in self.clients:
            self.clients[url] = triton_http.InferenceServerClient(url, conn_limit=512)
        return self.clients[url]


async def _refresh(api: Api, targets: list[Target], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for target in targets:
            with contextlib.suppress(aiohttp.ClientError, OSError, RuntimeError):
                pods = await api.items(
                    f"/api/v1/namespaces/{target.namespace}/pods",
                    labelSelector=await _selector(api, target),
                )
                target.endpoints = sorted(
                    f"127.0.0.1:{p['metadata']['annotations']['infercost.io/triton-http-port']}"
                    for p in pods
                    if is_ready(p)
                    and "infercost.io/triton-http-port" in (p["metadata"].get("annotations") or {})
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _selector(api: Api, target: Target) -> str:
    """The Service's selector now (the replicas', or the activator's at zero), as kube-proxy
    follows it; the schedule's when there is no Service."""
    if target.service is None:
        return target.selector
    body = await api.get(f"/api/v1/namespaces/{target.namespace}/services/{target.service}")
    selector = (body or {}).get("spec", {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or target.selector


async def _one(target: Target, start: float) -> None:
    data = InferInput("INPUT0", [1, 1], "FP32")
    data.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
    sent = time.time()
    url, ok = target.pick(), False
    for attempt in range(2):
        if url is None:
            break
        try:
            await asyncio.wait_for(target.client(url).infer(target.model, [data]), TIMEOUT_SECONDS)
            ok = True
            break
        except (aiohttp.ClientConnectionError, ConnectionError):
            if attempt == 0:
                url = target.pick(avoid=url)
                continue
            break
        except (InferenceServerException, aiohttp.ClientError, TimeoutError, OSError):
            break
    latency = time.time() - sent
    second = int(time.time() - start)
    if ok:
        target.done.setdefault(second, []).append(latency)
    else:
        target.failed[second] = target.failed.get(second, 0) + 1
    target.log.append((sent, latency, ok))


async def _send(target: Target, start: float, stop: asyncio.Event, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tasks: set[asyncio.Task[None]] = set()
    t = 0.0
    for second, rate in enumerate(target.rates):
        if rate <= 0:
            continue
        t = max(t, float(second))
        while True:
            t += float(rng.exponential(1.0 / rate))
            if t >= second + 1:
                t = float(second + 1)
                break
            delay = start + t - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                break
            target.sent[second] = target.sent.get(second, 0) + 1
            task = asyncio.create_task(_one(target, start))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if stop.is_set():
            break
    if tasks:
        await asyncio.wait(tasks, timeout=TIMEOUT_SECONDS + 5)
    # To the trace's end, quiet seconds included (a trace may end idle: scale to zero's), so
    # the per-second report covers it whole before `main` waits for the reporter.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(start + len(target.rates) - time.time(), 0))


async def _report(targets: list[Target], start: float, out: TextIO, stop: asyncio.Event) -> None:
    second = 0
    while True:
        await asyncio.sleep(max(start + second + 2 - time.time(), 0))  # a second to settle
        for target in targets:
            lat = np.asarray(target.done.get(second, []), dtype=np.float64) * 1e3
            line = {
                "time": start + second,
                "second": second,
                "service": f"{target.namespace}/{target.name}",
                "target_rps": target.rates[second] if second < len(target.rates) else 0.0,
                "sent": target.sent.get(second, 0),
                "completed": len(lat),
                "failed": target.failed.get(second, 0),
                "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
                "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
                "endpoints": len(target.endpoints),
            }
            out.write(json.dumps(line) + "\n")
        out.flush()
        second += 1
        if stop.is_set() and second > max(len(t.rates) for t in targets):
            return


async def main(schedule_path: Path, out_path: Path) -> None:
    schedule = json.loads(schedule_path.read_text())
    targets = [Target(**s) for s in schedule["services"]]
    api = Api(schedule["api"])
    stop, done = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    refresher = asyncio.create_task(_refresh(api, targets, done))
    start = time.time()
    with open(out_path, "a") as out:
        reporter = asyncio.create_task(_report(targets, start, out, done))
        await asyncio.gather(*(_send(t, start, stop, seed) for seed, t in enumerate(targets)))
        done.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(reporter, 10)
    refresher.cancel()
    with open(str(out_path) + ".requests.csv", "w") as rows:
        rows.write("service,sent,latency_s,ok\n")
        for target in targets:
            for sent, latency, ok in target.log:
                rows.write(f"{target.namespace}/{target.name},{sent:.3f},{latency:.4f},{int(ok)}\n")
    for target in targets:
        for client in target.clients.values():
            await client.close()
    await api.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
