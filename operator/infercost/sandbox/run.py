"""One sandbox run: start the cluster, apply the scenario, replay the load, watch, report, stop.

The first SIGINT/SIGTERM cancels the run (everything is stopped in `finally`, and the report
is written from what was recorded); a second one kills every process group at once. An
atexit hook does the same for an exit no handler saw.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.live import Live

from infercost.sandbox.cluster import Cluster
from infercost.sandbox.monitor import Monitor, Sample, line, view
from infercost.sandbox.report import write_report
from infercost.sandbox.scenario import SandboxScenario

READY_TIMEOUT = 240.0  # the first replica: provisioning + startup + a cold tritonserver
SETTLE_SECONDS = 10.0  # keep sampling after the load generator exits


async def run_sandbox(
    scenario: SandboxScenario,
    *,
    run_dir: Path,
    console: Console,
    live: bool = True,
    on_sample: Callable[[Cluster, list[Sample]], None] | None = None,
) -> Path:
    """Run the scenario in `run_dir`; returns the report folder."""
    cluster = Cluster(scenario=scenario, run_dir=run_dir)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    signals = {"count": 0}

    def interrupted() -> None:
        signals["count"] += 1
        if signals["count"] == 1 and main is not None:
            console.print("[yellow]stopping: ending every process of the sandbox…[/yellow]")
            main.cancel()
        elif hasattr(cluster, "children"):
            cluster.children.stop_all(grace=0.5)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted)
    monitor: Monitor | None = None
    cancelled = False
    try:
        await cluster.start()
        atexit.register(cluster.children.stop_all, grace=2.0)
        console.print(f"API server  {cluster.url}")
        console.print(f"kubeconfig  {cluster.kubeconfig_path}")
        console.print(
            f"  try: kubectl --kubeconfig {cluster.kubeconfig_path} get ics -A",
            soft_wrap=True,
            markup=False,
        )
        console.print(f"Prometheus  {cluster.prometheus.url}")
        console.print(f"run folder  {run_dir}")
        await cluster.apply_scenario()
        monitor = Monitor(
            api=cluster.api,
            prometheus_url=cluster.prometheus.url,
            load_file=run_dir / "load.jsonl",
            out=run_dir / "timeline.jsonl",
        )
        await _watch(cluster, monitor, console=console, live=live, on_sample=on_sample)
    except asyncio.CancelledError:
        cancelled = True
    finally:
        if monitor is not None:
            await monitor.close()
        await cluster.stop()
        with contextlib.suppress(Exception):
            atexit.unregister(cluster.children.stop_all)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return write_report(
        scenario=scenario,
        run_dir=run_dir,
        samples=monitor.samples if monitor else [],
        interrupted=cancelled,
    )


async def _watch(
    cluster: Cluster,
    monitor: Monitor,
    *,
    console: Console,
    live: bool,
    on_sample: Callable[[Cluster, list[Sample]], None] | None,
) -> None:
    scenario = cluster.scenario
    services = [
        (ns, name, scenario.scenario.service(ns, name).spec.model.name)
        for ns, name in scenario.rates
    ]
    title = f"infercost sandbox: {scenario.scenario.name}"
    total = float(scenario.seconds)
    started = time.monotonic()
    load_started: float | None = None
    with (
        Live(console=console, refresh_per_second=2, transient=False)
        if live
        else contextlib.nullcontext() as screen
    ):
        while True:
            samples = await monitor.sample(services)
            if on_sample is not None:
                on_sample(cluster, samples)
            elapsed = time.monotonic() - (load_started or started)
            if screen is not None:
                screen.update(
                    view(
                        samples,
                        title=title,
                        elapsed=elapsed,
                        total=total,
                        rate_scale=scenario.rate_scale,
                    )
                )
            else:
                console.print(line(samples, elapsed=elapsed), soft_wrap=True, markup=False)
            if load_started is None:
                if all(sum(s.ready.values()) > 0 for s in samples) and len(samples) == len(
                    services
                ):
                    cluster.start_loadgen()
                    load_started = time.monotonic()
                elif time.monotonic() - started > READY_TIMEOUT:
                    raise RuntimeError(
                        f"no ready replica after {READY_TIMEOUT:.0f} s; see {cluster.run_dir}"
                        "/operator.log and pods/*/triton.log"
                    )
            elif (
                not cluster.loadgen_running()
                and time.monotonic() - load_started > total + SETTLE_SECONDS
            ):
                return
            await asyncio.sleep(1.0)
