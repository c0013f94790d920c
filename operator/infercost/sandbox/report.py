"""The report of a sandbox run: PNG plots and a markdown summary against static-peak.

Measured (this run): replicas per pool, demand, p99 (clients' and Triton's), $/h, requests
and SLO attainment. The static-peak comparison is SIMULATED: the simulator's `static-peak`
policy (fixed replicas for the trace's peak on the Workload's baselinePool) on the same
scenario file at full scale, with the simulator's `infercost` policy beside it as a check of
the simulator against this real run. Full-scale equivalents of the run: $/h and replicas are
the same; cost over the run x C (time scale); $/1M = run's $ / (requests x S) x 1e6.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infercost.sandbox.events import capacity_events
from infercost.sandbox.events import markdown as events_markdown
from infercost.sandbox.monitor import Sample
from infercost.sandbox.scenario import SandboxScenario
from infercost.sim.run import Result, simulate
from infercost.sim.world import build_world


@dataclass
class Measured:
    seconds: float
    requests: int
    good: int
    failed: int
    p99_ms: float | None
    cost_usd: float  # sandbox dollars over the load period (price x desired replicas)
    slo_ms: float

    def real(self, scenario: SandboxScenario) -> dict[str, Any]:
        s, c = scenario.rate_scale, scenario.time_scale
        return {
            "cost_usd": round(self.cost_usd * c, 4),
            "requests": round(self.requests * s * c),
            "slo_attainment": round(self.good / self.requests, 4) if self.requests else None,
            "cost_per_million_good": round(self.cost_usd / (self.good * s) * 1e6, 4)
            if self.good
            else None,
        }


def replica_prices(scenario: SandboxScenario) -> dict[str, float]:
    """$/h of one replica on each pool (the first variant that fits it)."""
    prices: dict[str, float] = {}
    for pool in scenario.scenario.pools:
        for svc in scenario.scenario.services:
            for variant in svc.spec.variants:
                if pool.spec.accelerator.type in variant.accelerator_types:
                    per_node = pool.spec.pricing.hourly_per_node or 0.0
                    share = variant.accelerators_per_replica / pool.spec.accelerator.per_node
                    prices.setdefault(pool.metadata.name, per_node * share)
    return prices


def measure(scenario: SandboxScenario, samples: list[Sample], run_dir: Path) -> Measured:
    rows = []
    path = run_dir / "load.jsonl.requests.csv"
    if path.exists():
        with open(path) as handle:
            rows = list(csv.DictReader(handle))
    slo = samples[0].slo_ms if samples else 0.0
    latencies = np.asarray([float(r["latency_s"]) * 1e3 for r in rows if r["ok"] == "1"])
    good = int((latencies <= slo).sum())
    sent = [float(r["sent"]) for r in rows]
    start, end = (min(sent), max(sent)) if sent else (0.0, 0.0)
    prices = replica_prices(scenario)
    loaded = [s for s in samples if start <= s.time <= end]
    cost = 0.0
    for before, after in itertools.pairwise(loaded):
        hourly = sum(prices.get(p, 0.0) * n for p, n in before.desired.items())
        cost += hourly * (after.time - before.time) / 3600
    return Measured(
        seconds=end - start,
        requests=len(rows),
        good=good,
        failed=sum(1 for r in rows if r["ok"] != "1"),
        p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
        cost_usd=cost,
        slo_ms=slo,
    )


def _plots(samples: list[Sample], folder: Path, *, static_hourly: float | None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not samples:
        return []
    t0 = samples[0].time
    t = np.asarray([s.time - t0 for s in samples])
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    axes[0].plot(t, [s.sent_rps or 0 for s in samples], label="sent")
    axes[0].plot(t, [s.target_rps or 0 for s in samples], ls=":", label="trace")
    axes[0].set_ylabel("demand (req/s)")
    axes[0].legend(loc="upper right", fontsize=8)
    pools = sorted({p for s in samples for p in s.desired})
    for pool in pools:
        line = axes[1].step(
            t, [s.desired.get(pool, 0) for s in samples], where="post", label=f"{pool} desired"
        )
        axes[1].plot(
            t,
            [s.ready.get(pool, 0) for s in samples],
            ls=":",
            color=line[0].get_color(),
            label=f"{pool} ready",
        )
    axes[1].set_ylabel("replicas")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(t, [s.client_p99_ms or np.nan for s in samples], label="clients (per second)")
    axes[2].plot(t, [s.server_p99_ms or np.nan for s in samples], label="Triton (worst pod)")
    axes[2].axhline(samples[0].slo_ms, color="red", ls="--", lw=0.8, label="SLO")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("p99 (ms)")
    axes[2].legend(loc="upper right", fontsize=8)
    axes[3].plot(t, [s.hourly or 0 for s in samples], label="this run ($/h in status)")
    if static_hourly is not None:
        axes[3].axhline(static_hourly, color="grey", ls="--", label="static-peak (simulated)")
    axes[3].set_ylabel("$/h")
    axes[3].legend(loc="upper right", fontsize=8)
    axes[3].set_xlabel("seconds (sandbox)")
    fig.tight_layout()
    fig.savefig(folder / "run.png", dpi=90)
    plt.close(fig)
    return ["run.png"]


def _simulated(scenario: SandboxScenario) -> dict[str, Result]:
    world = build_world(scenario.scenario)
    return {name: simulate(world, name) for name in ("static-peak", "infercost")}


def write_report(
    *, scenario: SandboxScenario, run_dir: Path, samples: list[Sample], interrupted: bool = False
) -> Path:
    folder = run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    measured = measure(scenario, samples, run_dir)
    real = measured.real(scenario)
    sims = {} if interrupted else _simulated(scenario)
    hours = scenario.scenario.workload.spec.duration / 3600
    static = sims["static-peak"].cost_usd / hours if "static-peak" in sims else None
    plots = _plots(samples, folder, static_hourly=static)
    summary = {
        "scenario": scenario.scenario.name,
        "interrupted": interrupted,
        "knobs": scenario.knobs,
        "measured": measured.__dict__,
        "full_scale_equivalent": real,
        "simulated": {name: r.contract() for name, r in sims.items()},
        "capacity_events": capacity_events(samples),
        "max_replicas": {
            p: max((s.desired.get(p, 0) for s in samples), default=0)
            for p in sorted({p for s in samples for p in s.desired})
        },
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "summary.md").write_text(
        _markdown(scenario, measured, real, sims, samples, plots, interrupted)
    )
    return folder


def _markdown(
    scenario: SandboxScenario,
    measured: Measured,
    real: dict[str, Any],
    sims: dict[str, Result],
    samples: list[Sample],
    plots: list[str],
    interrupted: bool,
) -> str:
    s, c = scenario.rate_scale, scenario.time_scale
    lines = [
        f"# Sandbox run: {scenario.scenario.name}",
        "",
        "Interrupted (Ctrl-C): partial figures." if interrupted else "",
        f"Scaling: replicas {s:g}x slower and rates / {s:g}; time {c:g}x faster "
        "(infercost.sandbox.scenario).",
        "",
        "## Measured in this run (real Triton, real Prometheus, the operator)",
        "",
        f"- load: {measured.seconds:.0f} s, {measured.requests} requests, "
        f"{measured.failed} failed, SLO {measured.slo_ms:.0f} ms (scaled)",
        f"- SLO attainment: {real['slo_attainment']}; client p99 over the run: "
        f"{measured.p99_ms or float('nan'):.0f} ms",
        f"- cost in the sandbox: ${measured.cost_usd:.5f} "
        f"(price x desired replicas, integrated over the load)",
        f"- full-scale equivalent: ${real['cost_usd']} for {real['requests']} requests, "
        f"$/1M good = {real['cost_per_million_good']}",
        "- most replicas per pool: "
        + ", ".join(
            f"{p} {max(x.desired.get(p, 0) for x in samples)}"
            for p in sorted({p for x in samples for p in x.desired})
        ),
        "",
    ]
    if sims:
        lines += [
            "## Against static-peak (SIMULATED, same scenario at full scale)",
            "",
            "| | cost $ | $/1M good | SLO attainment |",
            "|---|---:|---:|---:|",
            f"| this run (measured, full-scale equivalent) | {real['cost_usd']} | "
            f"{real['cost_per_million_good']} | {real['slo_attainment']} |",
        ]
        for name, result in sims.items():
            k = result.contract()
            lines.append(
                f"| {name} (simulated) | {k['cost_usd']} | {k['cost_per_million_good']} | "
                f"{k['slo_attainment']} |"
            )
        lines.append("")
    lines += events_markdown(capacity_events(samples))
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
