"""`infercost scenarios generate`: the seeded scenario family (sim/family.py) into a folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from infercost.cli import app
from infercost.sim.family import generate
from infercost.sim.scenario import ScenarioError

console = Console(stderr=True)
scenarios = typer.Typer(help="Generated scenario families for the simulator.", no_args_is_help=True)
app.add_typer(scenarios, name="scenarios")


@scenarios.command("generate")
def generate_command(
    seed: int = typer.Option(..., "--seed", help="The same seed writes the same files."),
    out: Path = typer.Option(..., "--out", help="Folder to write the scenarios into."),
    count: int = typer.Option(30, "--count", help="How many scenarios."),
    duration: int = typer.Option(7200, "--duration", help="Simulated seconds per scenario."),
    examples: Path = typer.Option(
        Path("examples"), "--examples", help="Folder with the pools/ and services/ to use."
    ),
) -> None:
    """Write a seeded family of scenarios (diurnal, weekly, sparse; bursts; noise; start-up)."""
    try:
        members = generate(seed=seed, out=out, examples=examples, count=count, duration=duration)
    except ScenarioError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    console.print(f"{len(members)} scenarios written to {out} (family.json lists them)")
