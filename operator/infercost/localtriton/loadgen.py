"""Open-loop load: Poisson arrivals at a fixed rate, each request timed end to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import tritonclient.http.aio as triton_http
from numpy.typing import NDArray
from tritonclient.http import InferInput
from tritonclient.utils import InferenceServerException


async def _one(client: triton_http.InferenceServerClient, model: str) -> float:
    data = InferInput("INPUT0", [1, 1], "FP32")
    data.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
    # Timed from the moment it is sent: a late start is the load generator's delay (its
    # event loop shares 2 cores with the server), not the server's latency.
    sent = time.perf_counter()
    await client.infer(model, [data])
    return time.perf_counter() - sent


async def _one_or_rejected(client: triton_http.InferenceServerClient, model: str) -> float:
    """`_one`, or NaN where Triton's queue policy rejected the request (HTTP 503)."""
    try:
        return await _one(client, model)
    except InferenceServerException as error:
        text = f"{error.status()} {error.message()}"  # "503 ... Request timeout expired"
        if "503" in text and "timeout" in text.lower():
            return float("nan")
        raise


async def poisson_rejections(
    url: str, *, model: str, rate: float, seconds: float, seed: int = 0
) -> tuple[NDArray[np.float64], int]:
    """`poisson_load` against a model that rejects late requests: the latencies of the
    requests served, and how many were rejected."""
    outcomes = await poisson_load(
        url, model=model, rate=rate, seconds=seconds, seed=seed, one=_one_or_rejected
    )
    served = outcomes[~np.isnan(outcomes)]
    return served, int(outcomes.size - served.size)


async def poisson_load(
    url: str,
    *,
    model: str,
    rate: float,
    seconds: float,
    seed: int = 0,
    one: Callable[[triton_http.InferenceServerClient, str], Coroutine[Any, Any, float]] = _one,
) -> NDArray[np.float64]:
    """Latencies (seconds) of requests sent at Poisson times of `rate` per second.

    Open loop: a request is sent at its time whether or not earlier ones finished, as real
    clients do, so queueing shows up in the latencies instead of slowing the sender.
    """
    rng = np.random.default_rng(seed)
    offsets = np.cumsum(rng.exponential(1.0 / rate, int(rate * seconds * 1.5) + 10))
    offsets = offsets[offsets < seconds]
    client = triton_http.InferenceServerClient(url, conn_limit=256)
    try:
        start = time.perf_counter()
        tasks = []
        for offset in offsets:
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, model)))
        latencies = await asyncio.gather(*tasks)
    finally:
        await client.close()
    return np.asarray(latencies, dtype=np.float64)


async def batch_latency(url: str, *, model: str, batch: int, repeats: int) -> float:
    """Median latency (seconds) of one request carrying `batch` items, sent one at a time.

    This is a profile point as perf_analyzer measures it (`-b batch --concurrency-range 1`):
    the replica's service time for a batch, with the server's own overheads included.
    """
    client = triton_http.InferenceServerClient(url)
    try:
        data = InferInput("INPUT0", [batch, 1], "FP32")
        data.set_data_from_numpy(np.ones((batch, 1), dtype=np.float32))
        times = []
        for _ in range(repeats):
            sent = time.perf_counter()
            await client.infer(model, [data])
            times.append(time.perf_counter() - sent)
    finally:
        await client.close()
    return float(np.median(times))


async def closed_loop(
    url: str, *, model: str, concurrency: int, seconds: float
) -> tuple[float, NDArray[np.float64]]:
    """Throughput (inferences/s) and latencies with `concurrency` clients each sending
    single-item requests back to back: a profile point as perf_analyzer measures it
    (`--concurrency-range c`), which with dynamic batching runs batches of about c.
    """
    client = triton_http.InferenceServerClient(url, conn_limit=max(concurrency, 1) * 2)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            latencies.append(await _one(client, model))

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        await client.close()
    return len(latencies) / elapsed, np.asarray(latencies, dtype=np.float64)
