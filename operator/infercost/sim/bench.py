"""`make bench-sim`: how fast the simulator replays a week of traffic for 100 services.

Prints figures; asserts nothing (speed goals are measured, not tested). The scenario is
built in memory: 100 copies of a BERT-like service on three AWS pools, each replaying the
Twitter per-second trace from a different day.
"""

from __future__ import annotations

import time
from pathlib import Path

from infercost.api.pool import AcceleratorPool
from infercost.api.service import InferenceService
from infercost.sim.run import simulate
from infercost.sim.scenario import Scenario, Workload
from infercost.sim.world import build_world

TRACES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "traces"
WEEK = 7 * 86400
SERVICES = 100

POOLS = [
    # us-east-1 on-demand prices (shared/data/prices.yaml, karpenter_aws_2026).
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
        # BERT-large figures of shared/data/throughput.yaml (neuron_inf2, MLPerf T4/A10 Offline).
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


def main() -> None:
    started = time.perf_counter()
    world = build_world(_scenario(SERVICES, WEEK))
    setup = time.perf_counter() - started
    print(f"bench-sim: {SERVICES} services x {WEEK // 86400} days, step 1 s, control 15 s")
    print(f"  setup (traces, latency tables):         {setup:6.1f} s")
    for policy in ("static-peak", "hpa", "oracle"):
        started = time.perf_counter()
        result = simulate(world, policy)
        took = time.perf_counter() - started
        print(
            f"  {policy:<12} one week x {SERVICES} services: {took:6.1f} s "
            f"(goal < 60 s)  slo {result.slo_attainment:.4f}  ${result.cost_usd:,.0f}"
        )
    # The production planner costs milliseconds per decision: time a slice and scale it.
    minutes = 10
    small = build_world(_scenario(SERVICES, minutes * 60))
    started = time.perf_counter()
    simulate(small, "infercost")
    took = time.perf_counter() - started
    decisions = SERVICES * minutes * 4
    week = took / (minutes * 60) * WEEK
    print(
        f"  infercost    {minutes} min x {SERVICES} services: {took:6.1f} s "
        f"({took / decisions * 1e3:.1f} ms per planner.decide); a week would take ~{week / 60:,.0f} min"
    )


if __name__ == "__main__":
    main()
