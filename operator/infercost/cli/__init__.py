"""The `infercost` command line: one module per command, registered on one typer app.

Owns: argument parsing, human output (rich tables) and the JSON contracts of docs/architecture.md
section 7. Commands call the library; they hold no decision logic.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="infercost",
    help="Serve models on Triton at the lowest cost per throughput within a latency SLO.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Serve models on Triton at the lowest cost per throughput within a latency SLO."""


def _register() -> None:
    # Imported for their side effect of adding commands to `app`.
    from infercost.cli import (
        activator,  # noqa: F401
        crds,  # noqa: F401
        plan,  # noqa: F401
        run,  # noqa: F401
        sandbox,  # noqa: F401
        scenarios,  # noqa: F401
        sim,  # noqa: F401
    )


_register()

__all__ = ["app"]
