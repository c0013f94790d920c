"""`make bench-gap`: where infercost's cost above the oracle comes from.

The oracle (sim/oracle.py) starts replicas instantly, knows each second's demand, re-plans
every second and routes by capacity; the bundled services also ask for a scale-down delay
and headroom that foresight makes needless. Each column below takes one of those away from
every bundled scenario, on top of the columns before it, and runs the infercost policy;
the last three are the oracle behind equal-share routing (what the "+ capacity routing"
column's what-if is worth to the oracle itself: `EqualShareOracle`), the oracle deciding
once per control interval and the oracle itself. What is left between the last infercost
column and "oracle per interval" is foresight and the planner's caution (move cooldowns,
learned SLO ceilings): the planner sees the last minute, the oracle the next seconds.

Prints figures ($/1M good / SLO attainment, then each as a multiple of the oracle's cost),
then the last infercost column against issue 21's goal for it (at most 1.1x the oracle with
the oracle's advantages removed, PASS or MISS); asserts nothing. The what-ifs change copies
of the scenarios in memory, never the files.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from infercost.api.service import InferenceServiceSpec
from infercost.sim.oracle import EqualShareOracle, Oracle
from infercost.sim.quiet import quiet_stdout
from infercost.sim.run import simulate, simulate_policy
from infercost.sim.scenario import Scenario, load_scenario
from infercost.sim.shard import workers_available
from infercost.sim.world import build_world

SCENARIOS = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
WhatIf = Callable[[Scenario], Scenario]


def _each_service(
    scenario: Scenario, change: Callable[[InferenceServiceSpec], dict[str, object]]
) -> Scenario:
    """The scenario with every service's spec updated by the fields `change` returns."""
    services = tuple(
        svc.model_copy(update={"spec": svc.spec.model_copy(update=change(svc.spec))})
        for svc in scenario.services
    )
    return dataclasses.replace(scenario, services=services)


def instant_replicas(scenario: Scenario) -> Scenario:
    """Pools provision and models load in no time."""
    pools = tuple(
        pool.model_copy(update={"spec": pool.spec.model_copy(update={"provisioning_seconds": 0})})
        for pool in scenario.pools
    )
    loaded = _each_service(
        scenario,
        lambda spec: {
            "variants": [v.model_copy(update={"startup_seconds": 0}) for v in spec.variants]
        },
    )
    return dataclasses.replace(loaded, pools=pools)


def _scaling(scenario: Scenario, **update: object) -> Scenario:
    return _each_service(scenario, lambda spec: {"scaling": spec.scaling.model_copy(update=update)})


def no_scale_down_delay(scenario: Scenario) -> Scenario:
    return _scaling(scenario, scale_down_delay_seconds=0)


def no_headroom(scenario: Scenario) -> Scenario:
    return _scaling(scenario, headroom=0.0)


def capacity_routing(scenario: Scenario) -> Scenario:
    """A gateway that weighs replicas by capacity instead of the Service's equal shares."""
    workload = scenario.workload
    spec = workload.spec.model_copy(update={"routing": "CapacityWeighted"})
    return dataclasses.replace(scenario, workload=workload.model_copy(update={"spec": spec}))


# (column, what-if added to the columns before it)
LADDER: tuple[tuple[str, WhatIf], ...] = (
    ("infercost", lambda scenario: scenario),
    ("+ instant replicas", instant_replicas),
    ("+ no scale-down delay", no_scale_down_delay),
    ("+ no headroom", no_headroom),
    ("+ capacity routing", capacity_routing),
)
ORACLES = ("equal-share oracle", "oracle per interval", "oracle")
# Issue 21's goal: with the oracle's advantages removed, at most this multiple of its cost.
WITHOUT_ADVANTAGES_VS_ORACLE = 1.1


def _quiet_figures(path: Path) -> list[tuple[float, float]]:
    with quiet_stdout():
        return figures(path)


def figures(path: Path) -> list[tuple[float, float]]:
    """($/1M good, SLO attainment) for each ladder column, then the three oracles."""
    bundled = load_scenario(path)
    scenario, out = bundled, []
    for _, what_if in LADDER:
        scenario = what_if(scenario)
        result = simulate(build_world(scenario), "infercost")
        out.append((result.cost_per_million_good, result.slo_attainment))
    world = build_world(bundled)
    equal = simulate_policy(world, EqualShareOracle(), name=EqualShareOracle.name)
    out.append((equal.cost_per_million_good, equal.slo_attainment))
    interval = world.scenario.workload.spec.control_interval
    for plan_seconds in (interval, 1):
        result = simulate_policy(world, Oracle(plan_seconds=plan_seconds), name="oracle")
        out.append((result.cost_per_million_good, result.slo_attainment))
    return out


def table(names: Sequence[str], rows: Sequence[Sequence[tuple[float, float]]]) -> str:
    columns = [label for label, _ in LADDER] + list(ORACLES)
    head = "| scenario | " + " | ".join(columns) + " |"
    rule = "|---" * (len(columns) + 1) + "|"
    lines = ["$/1M good / SLO attainment", "", head, rule]
    for name, row in zip(names, rows, strict=True):
        lines.append(f"| {name} | " + " | ".join(f"{c:.4f} / {s:.3f}" for c, s in row) + " |")
    lines += ["", "cost as a multiple of the oracle's", "", head, rule]
    for name, row in zip(names, rows, strict=True):
        oracle = row[-1][0]
        lines.append(f"| {name} | " + " | ".join(f"{c / oracle:.2f}x" for c, _ in row) + " |")
    return "\n".join([*lines, "", *summary(names, rows)])


def summary(names: Sequence[str], rows: Sequence[Sequence[tuple[float, float]]]) -> list[str]:
    """The last what-if column against the oracle and its goal, and the column before it (the
    Service's equal shares kept) against the equal-share oracle, which has no goal."""
    last, routed = len(LADDER) - 1, len(LADDER) - 2
    bare = [row[last][0] / row[-1][0] for row in rows]
    equal = [row[routed][0] / row[len(LADDER)][0] for row in rows]
    within = sum(1 for ratio in bare if ratio <= WITHOUT_ADVANTAGES_VS_ORACLE)
    worst = names[bare.index(max(bare))]
    verdict = "PASS" if within == len(bare) else "MISS"
    return [
        f"{LADDER[last][0]} (every advantage removed) against the oracle: median "
        f"{statistics.median(bare):.2f}x, worst {max(bare):.2f}x ({worst}); within "
        f"{WITHOUT_ADVANTAGES_VS_ORACLE}x on {within} of {len(bare)} (goal: every one)  {verdict}",
        f"{LADDER[routed][0]} (equal shares kept) against the equal-share oracle: median "
        f"{statistics.median(equal):.2f}x, worst {max(equal):.2f}x "
        f"({names[equal.index(max(equal))]})",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenarios", nargs="*", type=Path, help="scenario files (default: the bundled ones)"
    )
    parser.add_argument("--workers", type=int, default=workers_available())
    args = parser.parse_args(argv)
    paths = args.scenarios or sorted(SCENARIOS.glob("*.yaml"))
    with ProcessPoolExecutor(max(args.workers, 1)) as pool:
        rows = list(pool.map(_quiet_figures, paths))
    print(table([p.stem for p in paths], rows))


if __name__ == "__main__":
    main()
