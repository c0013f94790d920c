"""`infercost sandbox [SCENARIO]`: the whole loop on this machine (docs/architecture.md section 9)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer
from rich.console import Console

from infercost.cli import app

DEFAULT_SCENARIO = Path("examples/sandbox/bert.yaml")


@app.command()
def sandbox(
    scenario: Path = typer.Argument(
        DEFAULT_SCENARIO, help="Scenario file (pools, services, Workload)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run folder (kubeconfig, logs, report); default sandbox-runs/<time>."
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="Live terminal view."),
) -> None:
    """Run the scenario on a local stand-in cluster: kmock, the operator, real Triton servers,
    real Prometheus and a load generator; write a report."""
    from infercost.localtriton.server import TritonNotInstalledError
    from infercost.sandbox.run import run_sandbox
    from infercost.sandbox.scenario import load
    from infercost.sim.scenario import ScenarioError

    console = Console()
    try:
        parsed = load(scenario)
    except ScenarioError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    run_dir = (out or Path("sandbox-runs") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    try:
        report = asyncio.run(run_sandbox(parsed, run_dir=run_dir, console=console, live=live))
    except TritonNotInstalledError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    except RuntimeError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"report: {report / 'summary.md'}")
    console.print((report / "summary.md").read_text(), markup=False)
