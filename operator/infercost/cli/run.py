"""`infercost run`: the operator, embedding kopf."""

from __future__ import annotations

import asyncio
import logging

import typer
from pydantic import ValidationError

from infercost.cli import app


@app.command()
def run(
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Watch only this namespace."
    ),
    all_namespaces: bool = typer.Option(
        False, "--all-namespaces", "-A", help="Watch every namespace (the default)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Decide and report in status, Events and logs; touch no children."
    ),
    liveness: str | None = typer.Option(
        None, "--liveness", help="Serve a liveness probe, e.g. http://0.0.0.0:8080/healthz."
    ),
    peering: str | None = typer.Option(
        None, "--peering", help="kopf peering name, for more than one operator replica."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs."),
) -> None:
    """Run the operator against the cluster of the in-cluster config or KUBECONFIG."""
    from infercost.adapters.opencost import OpenCostPrices
    from infercost.adapters.prometheus import PrometheusMetrics
    from infercost.controller.runner import LeadershipLost, discover_credentials, run_operator
    from infercost.kubeclient import CredentialsError
    from infercost.settings import Settings

    if namespace and all_namespaces:
        raise typer.BadParameter("use either --namespace or --all-namespaces, not both")
    try:
        overrides: dict[str, object] = {"dry_run": True} if dry_run else {}
        if namespace:
            overrides |= {"namespace": namespace, "all_namespaces": False}
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(p) for p in problem["loc"])
            where = f"INFERCOST_{field.upper()}: " if field else ""  # "": across fields
            typer.echo(f"error: {where}{problem['msg']}", err=True)
        raise typer.Exit(2) from None
    if peering and settings.sharding_shards:
        # kopf pauses every operator of equal priority: all sharded replicas would stand still.
        typer.echo("error: --peering and INFERCOST_SHARDING_SHARDS exclude each other", err=True)
        raise typer.Exit(2)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        connection = discover_credentials(settings)
    except CredentialsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    try:
        metrics = PrometheusMetrics(settings)
    except ValueError as error:  # an unknown query name in INFERCOST_PROMETHEUS_QUERIES
        typer.echo(f"error: INFERCOST_{error}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(
            run_operator(
                settings=settings,
                connection=connection,
                metrics=metrics,
                peering=peering,
                liveness=liveness,
                prices=OpenCostPrices(settings),
            )
        )
    except LeadershipLost as error:  # exit so the pod restarts as a standby, as client-go does
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
