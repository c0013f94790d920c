"""`make bench-knobs`: what each engine setting is worth across the scenario family.

Issue 21 asks that every engine setting earn its place: without it, the family's median or
worst figure must get worse. For each setting this runs the infercost policy on every
scenario of the family (`make bench-family`'s generated scenarios and the real-trace ones)
with the setting at the value that turns its mechanism off (or, for a quantity with no off
value, at a value far from its default), and prints the family's figures beside the
defaults': SLO goal met (of the scenarios where it applies), worst and summed SLO shortfall,
median and worst cost against the oracle. Oracle and hpa figures do not depend on engine settings and
are run once. Figures are printed, never asserted.

Given several generated families (one per seed: `make bench-knobs` runs seeds 21, 22 and 23),
their members are pooled with the real-trace ones into one family (90 generated + 6 real),
so that a verdict does not rest on one seed's draws: on seed 21 alone two settings earned
their place by 0.0002 of one member's SLO attainment.

The family clips its real-trace members to its two hours, and the generated members hold
no spike that recurs at a steady period, no day-long trace and few moves between pools: a
setting for those shows no effect on the family. With `--full`, the same is measured again
on the real-trace scenarios at their full length (a day, for the Twitter trace). The family's
servers run exactly as their profiles say, so what learning from the metrics is for does not
show there: with `--execution-time-factor F` the first family (and the clipped real traces)
is measured once more with every server F times slower than profiled. A setting earns its
place where any set is worse without it.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from infercost.engine.model import EngineSettings
from infercost.sim.family_bench import (
    Figure,
    Row,
    clipped,
    execution_time_factor,
    family_tasks,
    run_scenario,
)
from infercost.sim.planned import Planned
from infercost.sim.run import simulate_policy
from infercost.sim.world import build_world

# Setting -> the value that turns its mechanism off, or is far from the default where
# nothing turns it off. Settings the simulator fixes itself (control interval, routing) or
# never exercises (stale metrics, the response cache, full pools) are not measured here.
WITHOUT: dict[str, object] = {
    "learned_capacity_weight": 0.0,
    "learned_capacity_bound": 1000.0,
    "latency_margin": 1.0,
    "scale_down_tolerance": 0.0,
    "move_cooldown_seconds": 0.0,
    "move_peak_window_seconds": 0.0,
    "slo_breach_capacity_cut": 1.0,
    "saturated_busy_fraction": 1.01,
    "rejected_tail_queue_fraction": 1.0,
    "overload_max_scale_up": 0.0,
    "slo_ceiling_recovery": 1.0,
    "modelled_ceilings": False,
    "horizon_quantile": 0.0,
    "horizon_window_seconds": 600.0,
    "recurring_spikes": False,
}


@dataclass(frozen=True)
class FamilyFigures:
    met: int
    applies: int
    worst_shortfall: float
    median_vs_oracle: float
    worst_vs_oracle: float
    # Summed over the scenarios the goal applies to: an SLO gain on a scenario whose goal is
    # missed either way moves neither the count met nor, unless it is the worst, the worst.
    total_shortfall: float = 0.0

    def line(self) -> str:
        return (
            f"{self.met:>2}/{self.applies} {self.worst_shortfall:7.4f} "
            f"{self.total_shortfall:7.4f} {self.median_vs_oracle:7.3f} {self.worst_vs_oracle:7.3f}"
        )


def figures(rows: list[Row]) -> FamilyFigures:
    gated = [r for r in rows if r.slo_applies]
    ratios = [r.ratio(r.oracle) for r in rows]
    return FamilyFigures(
        met=sum(1 for r in gated if r.shortfall == 0),
        applies=len(gated),
        worst_shortfall=max((r.shortfall for r in gated), default=0.0),
        median_vs_oracle=statistics.median(ratios),
        worst_vs_oracle=max(ratios),
        total_shortfall=sum(r.shortfall for r in gated),
    )


def pooled_tasks(families: list[Path], *, real: Path | None) -> list[tuple[Path, int | None]]:
    """Every generated member of every family, then the real-trace scenarios once."""
    tasks = []
    for index, family in enumerate(families):
        tasks += family_tasks(family, real=real if index == 0 else None)
    return tasks


Task = tuple[Path, int | None, float]  # scenario file, seconds to clip to, execution factor


def baseline_row(path: Path, clip: int | None, execution_time_factor: float) -> Row:
    return run_scenario(path, clip, None, execution_time_factor)


def infercost_figure(task: tuple[Path, int | None, float, str]) -> Figure:
    """The infercost policy on one (clipped) scenario with one setting off."""
    path, clip, execution_time_factor, setting = task
    result = simulate_policy(
        build_world(clipped(path, clip, execution_time_factor)),
        Planned(settings={setting: WITHOUT[setting]}),
        name="infercost",
    )
    return Figure(result.cost_per_million_good, result.slo_attainment)


def changes(base: list[Row], without: list[Row]) -> list[str]:
    """The scenarios whose infercost figures differ without the setting, most changed first."""
    moved = [(b, w) for b, w in zip(base, without, strict=True) if b.infercost != w.infercost]
    moved.sort(key=lambda pair: -abs(pair[1].ratio(pair[1].oracle) - pair[0].ratio(pair[0].oracle)))
    return [
        f"{b.name}: SLO {b.infercost.slo:.4f} -> {w.infercost.slo:.4f}, cost/oracle "
        f"{b.ratio(b.oracle):.3f} -> {w.ratio(w.oracle):.3f}"
        + ("" if not b.slo_applies else f" (goal {'met' if w.shortfall == 0 else 'missed'})")
        for b, w in moved
    ]


def verdict(base: FamilyFigures, without: FamilyFigures) -> str:
    """Whether the setting earns its place: the family is worse without it."""
    worse = (
        without.met < base.met
        or without.worst_shortfall > base.worst_shortfall + 1e-4
        or without.total_shortfall > base.total_shortfall + 1e-4
        or without.median_vs_oracle > base.median_vs_oracle + 1e-3
        or without.worst_vs_oracle > base.worst_vs_oracle + 1e-3
    )
    better = (
        without.met > base.met
        or without.worst_shortfall < base.worst_shortfall - 1e-4
        or without.total_shortfall < base.total_shortfall - 1e-4
        or without.median_vs_oracle < base.median_vs_oracle - 1e-3
        or without.worst_vs_oracle < base.worst_vs_oracle - 1e-3
    )
    return "earns its place" if worse else ("better without" if better else "no effect")


def combined(verdicts: list[str]) -> str:
    """One verdict over several sets of scenarios: worse on any is worse."""
    for word in ("earns its place", "better without"):
        if word in verdicts:
            return word
    return "no effect"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "family", type=Path, nargs="+", help="generated families, pooled (one per seed)"
    )
    parser.add_argument("--real", type=Path)
    parser.add_argument(
        "--full", action="store_true", help="also the --real scenarios at their full length"
    )
    parser.add_argument(
        "--execution-time-factor",
        type=execution_time_factor,
        help="also the first family (and the clipped real traces) with servers this many "
        "times slower than the profiles say",
    )
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--only", nargs="*", help="these settings only")
    parser.add_argument("--detail", action="store_true", help="the scenarios each one changes")
    args = parser.parse_args(argv)
    known = {f.name for f in fields(EngineSettings)}
    unknown = sorted(set(WITHOUT) - known)
    if unknown:
        sys.exit(f"bench-knobs: not engine settings: {', '.join(unknown)}")
    sets: list[list[Task]] = [
        [(path, clip, 1.0) for path, clip in pooled_tasks(args.family, real=args.real)]
    ]
    titles = [f"family ({len(args.family)} seed{'s' if len(args.family) > 1 else ''})"]
    if args.full and args.real is not None:
        sets.append([(path, None, 1.0) for path in sorted(args.real.glob("*.yaml"))])
        titles.append("full length")
    factor = args.execution_time_factor
    if factor is not None and factor != 1.0:
        first = family_tasks(args.family[0], real=args.real)
        sets.append([(path, clip, factor) for path, clip in first])
        titles.append(f"servers {factor:g}x slower")
    paths = [task for tasks in sets for task in tasks]
    settings = [s for s in WITHOUT if not args.only or s in args.only]
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        base_rows = pool.starmap(baseline_row, paths)
        tasks = [(*task, setting) for setting in settings for task in paths]
        results = pool.map(infercost_figure, tasks)
    ends = list(itertools.accumulate(len(tasks) for tasks in sets))
    spans = list(zip([0, *ends[:-1]], ends, strict=True))  # each set's rows in `paths`
    bases = [figures(base_rows[a:b]) for a, b in spans]
    heading = "SLO met worst-short  sum-short  med/or  worst/or"
    print(f"{'':<40}  " + "".join(f"{title:<51}" for title in titles).rstrip())
    print(f"{'setting':<30} {'without':>8}  " + "   ".join(heading for _ in spans) + "  verdict")
    print(f"{'(defaults)':<30} {'':>8}  " + "   ".join(base.line() for base in bases))
    for i, setting in enumerate(settings):
        chunk = results[i * len(paths) : (i + 1) * len(paths)]
        rows = [replace(row, infercost=fig) for row, fig in zip(base_rows, chunk, strict=True)]
        withouts = [figures(rows[a:b]) for a, b in spans]
        verdicts = [verdict(base, w) for base, w in zip(bases, withouts, strict=True)]
        where = "" if len(sets) == 1 else f" ({', '.join(verdicts)})"
        print(
            f"{setting:<30} {WITHOUT[setting]!s:>8}  "
            + "   ".join(w.line() for w in withouts)
            + f"  {combined(verdicts)}{where}"
        )
        if args.detail:
            for line in changes(base_rows, rows):
                print(f"    {line}")
    print(f"runtime: {time.monotonic() - started:.0f} s wall, {len(paths)} scenario runs")


if __name__ == "__main__":
    main()
