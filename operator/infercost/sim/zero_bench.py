"""Scale to zero on sparse workloads: the infercost policy with and without it, side by side.

Each scenario runs twice: with every service's `scaleToZero` removed (minReplicas holds, the
operator's behaviour today) and with it set (the scenario's own, else `--idle-seconds` and
`--wake-timeout`). Printed per scenario: cost, $/1M good, SLO attainment, the requests held
at zero (answered within the SLO, answered late, dropped at the wake timeout) and the cold
starts clients saw. `make bench-zero` runs the dev/test scenario and the scenario family's
sparse members (docs/levers.md). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from infercost.sim.coldstart import HeldTotals
from infercost.sim.fleet import Fleet
from infercost.sim.planned import Planned
from infercost.sim.run import Result, simulate_policy
from infercost.sim.scale_to_zero import ScaleToZero
from infercost.sim.scenario import Scenario, ScenarioError, load_scenario
from infercost.sim.world import build_world


class _Watched(Planned):
    """The infercost policy, keeping the fleet so the held requests can be read after."""

    fleet: Fleet | None = None

    def start(self, fleet: Fleet) -> None:
        self.fleet = fleet
        super().start(fleet)


@dataclass(frozen=True)
class Run:
    result: Result
    held: HeldTotals | None


def with_scale_to_zero(
    scenario: Scenario, policy: ScaleToZero | None, *, wake_on: str | None = None
) -> Scenario:
    """The scenario with every service's scaleToZero set to `policy` (None: removed); with
    `policy` given, a service's own scaleToZero is kept, its wakeOn set to `wake_on` if given."""
    spec = scenario.workload.spec
    services = []
    for entry in spec.services:
        chosen = None if policy is None else (entry.scale_to_zero or policy)
        if chosen is not None and wake_on is not None:
            chosen = chosen.model_copy(update={"wake_on": wake_on})
        services.append(entry.model_copy(update={"scale_to_zero": chosen}))
    workload = scenario.workload.model_copy(
        update={"spec": spec.model_copy(update={"services": services})}
    )
    return replace(scenario, workload=workload)


def run(scenario: Scenario) -> Run:
    policy = _Watched()
    result = simulate_policy(build_world(scenario), policy, name="infercost")
    holding = policy.fleet.holding if policy.fleet is not None else None
    return Run(result=result, held=holding.totals if holding is not None else None)


def compare(
    scenario: Scenario, policy: ScaleToZero, *, wake_on: str | None = None
) -> tuple[Run, Run]:
    """(minReplicas holds, scale to zero) for one scenario."""
    cold = with_scale_to_zero(scenario, policy, wake_on=wake_on)
    return run(with_scale_to_zero(scenario, None)), run(cold)


HEADER = (
    "| scenario | min 1: $, $/1M good, SLO | to zero: $, $/1M good, SLO | saving | held "
    "requests: in SLO / late / dropped | cold starts: n, median s, max s |"
)


def row(name: str, warm: Run, cold: Run) -> str:
    w, c = warm.result, cold.result
    saving = 1.0 - c.cost_usd / w.cost_usd if w.cost_usd else 0.0
    held = cold.held
    if held is None:
        held_text, starts_text = "-", "-"
    else:
        late = held.answered.sum() - held.good.sum()
        held_text = (
            f"{held.held.sum():,.0f}: {held.good.sum():,.0f} / {late:,.0f} / "
            f"{held.dropped.sum():,.0f}"
        )
        starts = held.cold_starts
        starts_text = (
            f"{len(starts)}, {statistics.median(starts):.0f}, {max(starts):.0f}" if starts else "0"
        )
    return (
        f"| {name} | {w.cost_usd:.2f} {w.cost_per_million_good:.2f} {w.slo_attainment:.4f} "
        f"| {c.cost_usd:.2f} {c.cost_per_million_good:.2f} {c.slo_attainment:.4f} "
        f"| {saving:.0%} | {held_text} | {starts_text} |"
    )


def _scenarios(args: argparse.Namespace) -> list[Path]:
    paths = list(args.scenarios)
    if args.family is not None:
        paths += sorted(args.family.glob("*-sparse.yaml"))[: args.limit]
    if not paths:
        raise ScenarioError("no scenario given: name scenario files or --family DIR")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", type=Path, nargs="*", help="scenario files")
    parser.add_argument("--family", type=Path, help="a generated family: its sparse members")
    parser.add_argument("--limit", type=int, help="first N sparse family members only")
    parser.add_argument("--idle-seconds", type=int, default=300)
    parser.add_argument("--wake-timeout", type=float, default=30.0)
    parser.add_argument(
        "--wake-on", choices=("Fastest", "Cheapest"), help="override every service's wakeOn"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    policy = ScaleToZero(idle_seconds=args.idle_seconds, wake_timeout_seconds=args.wake_timeout)
    started = time.perf_counter()
    lines = [HEADER, "|---|---|---|---:|---|---|"]
    try:
        for path in _scenarios(args):
            warm, cold = compare(load_scenario(path), policy, wake_on=args.wake_on)
            lines.append(row(path.stem, warm, cold))
            print(lines[-1], flush=True)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    note = (
        f"infercost policy; scale to zero: the scenario's own scaleToZero, else idleSeconds "
        f"{args.idle_seconds}, wakeTimeoutSeconds {args.wake_timeout:g}, wakeOn "
        f"{args.wake_on or 'as the scenario says (default Fastest)'}; "
        f"{time.perf_counter() - started:.0f} s wall"
    )
    print("\n".join([HEADER, lines[1], *lines[2:], "", note]))
    if args.markdown:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        args.markdown.write_text(f"Measured {stamp}.\n\n" + "\n".join([*lines, "", note]) + "\n")


if __name__ == "__main__":
    main()
