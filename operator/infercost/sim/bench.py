"""`make bench-sim`: how fast the simulator replays a week of traffic for 100 services.

Prints figures; asserts nothing (speed goals are measured, not tested). The scenario is
built in memory: 100 copies of a BERT-like service on three AWS pools, each replaying the
Twitter per-second trace from a different day. Every policy replays the whole week, the
planner policies too (`planner.decide` once per service per 15 s: 4 million calls), on all
cores when that changes no decision (sim/shard.py); the times printed are measured.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from infercost.api.pool import AcceleratorPool
from infercost.api.service import InferenceService
from infercost.bench_figures import Figure
from infercost.sim.run import Progress, simulate
from infercost.sim.scenario import Scenario, Workload
from infercost.sim.shard import PLANNED, workers_available
from infercost.sim.world import build_world

TRACES = Path(__file__).resolve().parents[3] / "data" / "traces"  # the repository's data/
WEEK = 7 * 86400
SERVICES = 100

POOLS = [
    # us-east-1 on-demand prices (data/prices.yaml, karpenter_aws_2026).
    ("g4dn-xlarge", "nvidia-t4", 0.526),
    ("g5-xlarge", "nvidia-a10g", 1.006),
    ("inf2-xlarge", "inferentia2", 0.7582),
]


def _scenario(services: int, duration: int) -> Scenario:
    pools = tuple(
        AcceleratorPool.model_validate(
            {
                "metadata": {"name": name},
                "spec": {
                    "accelerator": {"type": kind, "resourceName": "example.com/accel"},
                    "pricing": {"hourlyPerNode": price},
                    "provisioningSeconds": 120,
                },
            }
        )
        for name, kind, price in POOLS
    )
    profile = [
        # BERT-large figures of data/throughput.yaml (neuron_inf2, MLPerf T4/A10 Offline).
        {
            "acceleratorType": "inferentia2",
            "batchSize": 1,
            "throughput": 738.65,
            "p99LatencyMs": 2.78,
        },
        {
            "acceleratorType": "inferentia2",
            "batchSize": 4,
            "throughput": 950.05,
            "p99LatencyMs": 8.85,
        },
        {"acceleratorType": "nvidia-t4", "batchSize": 8, "throughput": 424.15, "p99LatencyMs": 40},
        {
            "acceleratorType": "nvidia-a10g",
            "batchSize": 8,
            "throughput": 1121.46,
            "p99LatencyMs": 15,
        },
    ]
    variant = {
        "name": "any",
        "acceleratorTypes": ["inferentia2", "nvidia-t4", "nvidia-a10g"],
        "image": "tritonserver",
        "modelRepository": "s3://models/bert",
        "profile": profile,
    }
    svcs = tuple(
        InferenceService.model_validate(
            {
                "metadata": {"name": f"bert-{i}", "namespace": "bench"},
                "spec": {
                    "model": {"name": "bert"},
                    "variants": [variant],
                    "slo": {"latencyMs": 100},
                    "scaling": {"minReplicas": 1, "maxReplicas": 200},
                },
            }
        )
        for i in range(services)
    )
    workload = Workload.model_validate(
        {
            "metadata": {"name": "bench-week"},
            "spec": {
                "duration": duration,
                "baselinePool": "g5-xlarge",
                "services": [
                    {
                        "name": f"bert-{i}",
                        "namespace": "bench",
                        "trace": {
                            "path": "twitter_stream_2021-08_rps.tbz2",
                            "format": "rate-series",
                        },
                        "peakRps": 500 + 20 * i,
                        "offsetSeconds": (i % 14) * 86400 + i * 600,
                    }
                    for i in range(services)
                ],
            },
        }
    )
    return Scenario("bench-week", pools, svcs, workload, TRACES.resolve())


POLICIES = ("static-peak", "hpa", "oracle", "infercost", "single-pool")


def _progress(label: str) -> Progress:
    """A one-line percentage on a terminal's stderr (runs of the planner take minutes)."""
    shown = [-1]

    def report(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent != shown[0] and sys.stderr.isatty():
            shown[0] = percent
            end = "\n" if done >= total else ""
            print(f"\r  {label:<12} {percent:3d}%", end=end, file=sys.stderr, flush=True)

    return report


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the shards)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    run(argv)


def run(argv: list[str] | None = None) -> list[Figure]:
    """Replay the bench week per policy, print each line, and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=SERVICES)
    parser.add_argument("--days", type=float, default=WEEK / 86400)
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    parser.add_argument(
        "--workers", type=int, default=workers_available(), help="processes (planner policies)"
    )
    args = parser.parse_args(argv)
    duration = int(args.days * 86400)
    started = time.perf_counter()
    world = build_world(_scenario(args.services, duration))
    setup = time.perf_counter() - started
    label = f"{duration / 86400:g} days x {args.services} services"
    print(
        f"bench-sim: {label}, step 1 s, control 15 s, {args.workers} worker(s) "
        f"for the planner policies, {workers_available()} core(s) available"
    )
    print(f"  setup (traces, latency tables):         {setup:6.1f} s")
    # The goal is for the week x 100 services on 2 cores; a smaller run is held to its share.
    goal = 60.0 * duration / WEEK * args.services / SERVICES
    figures = []
    for policy in args.policies.split(","):
        started, cpu = time.perf_counter(), _cpu_seconds()
        result = simulate(world, policy, progress=_progress(policy), workers=args.workers)
        took, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        # CPU seconds of every process: the work itself, whatever else shares the cores.
        line = (
            f"  {policy:<12} {label}: {took:6.1f} s (goal < {goal:.3g} s, "
            f"cpu {cpu:6.1f} s)  "
            f"slo {result.slo_attainment:.4f}  ${result.cost_usd:,.0f}"
        )
        if policy in PLANNED:
            # Every service is decided once per control interval, plus the warm start.
            decisions = args.services * (world.steps // world.interval_steps + 1)
            line += f"  {decisions:,} planner.decide calls ({took / decisions * 1e6:.0f} us each)"
        figure = Figure(
            area="simulator",
            name=f"{policy}, {label}",
            value=took,
            unit="s",
            goal=goal,
            note=f"cpu {cpu:.1f} s, {args.workers} worker(s)",
        )
        print(f"{line}  [{figure.verdict}]", flush=True)
        figures.append(figure)
    return figures


if __name__ == "__main__":
    main()
