"""`infercost simulate` and `infercost bench`: a scenario through one or every policy."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from infercost.cli import app
from infercost.sim.run import POLICIES, Result, simulate
from infercost.sim.scenario import ScenarioError, load_scenario
from infercost.sim.shard import workers_available
from infercost.sim.world import World, build_world

console = Console(stderr=True)


@contextmanager
def _progress(label: str) -> Iterator[object]:
    # Shown only on a terminal and only once the run has lasted a moment.
    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda done, total: bar.update(task, completed=done / total)


def _world(scenario: Path) -> tuple[str, World]:
    try:
        parsed = load_scenario(scenario)
        return parsed.name, build_world(parsed)
    except ScenarioError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def _run(world: World, policy: str) -> Result:
    with _progress(f"{policy:<12}") as report:
        # Planner policies of many services use every core; the Result is the same bit for bit.
        workers = workers_available()
        return simulate(world, policy, progress=report, workers=workers)  # type: ignore[arg-type]


def _table(results: dict[str, Result]) -> Table:
    table = Table(
        "policy", "requests", "SLO att.", "cost $", "$/1M good", "accel-h", "budget viol. s"
    )
    for name, result in results.items():
        c = result.contract()
        table.add_row(
            name,
            f"{c['requests']:,}",
            f"{c['slo_attainment']:.4f}",
            f"{c['cost_usd']:.2f}",
            str(c["cost_per_million_good"]),
            f"{c['accelerator_hours']:.1f}",
            str(c["budget_violation_seconds"]),
        )
    return table


def _write_timeline(result: Result, path: Path) -> None:
    """The decision timeline: one row per non-Hold action, with its reason."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "service", "action", "reason", "message"])
        for d in result.decisions:
            writer.writerow([f"{d.time:.0f}", d.service, d.kind, d.reason, d.message])


def _check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise typer.BadParameter(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
    return policy


@app.command("simulate")
def simulate_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML (pools, services, one Workload)."),
    policy: str = typer.Option(
        "infercost", "--policy", callback=_check_policy, help=", ".join(POLICIES)
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the result object here."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG plot here."),
) -> None:
    """Replay a scenario through one policy and print its cost and SLO attainment."""
    _, world = _world(scenario)
    result = _run(world, policy)
    Console().print(_table({policy: result}))
    if json_out:
        json_out.write_text(json.dumps(result.contract(), indent=2) + "\n")
    if plot:
        from infercost.sim.report import plot_run

        plot_run(result, plot)
    for decision in result.decisions[-10:]:
        console.print(
            f"{decision.time:>9.0f}s {decision.service} {decision.kind} {decision.reason}: {decision.message}"
        )


@app.command("bench")
def bench_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML (pools, services, one Workload)."),
    json_out: Path | None = typer.Option(None, "--json", help='Write {"policies": {...}} here.'),
    report: Path | None = typer.Option(None, "--report", help="Write plots and report.md here."),
) -> None:
    """Replay a scenario through every policy, side by side."""
    name, world = _world(scenario)
    results = {policy: _run(world, policy) for policy in POLICIES}
    Console().print(_table(results))
    if json_out:
        payload = {"policies": {k: r.contract() for k, r in results.items()}}
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
    if report:
        from infercost.sim.report import markdown, plot_bench

        plots = plot_bench(results, report)
        (report / "report.md").write_text(markdown(name, results, plots))
        for policy, result in results.items():
            if result.decisions:
                _write_timeline(result, report / f"decisions-{policy}.csv")
        console.print(f"report written to {report / 'report.md'}")
