"""`infercost activator`: hold one InferenceService's requests while it has no replica,
wake it, answer them (operator/infercost/activator/)."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer
from pydantic import ValidationError

from infercost.cli import app


@app.command()
def activator(
    service: str = typer.Option(..., "--service", help="The InferenceService it stands in for."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Its namespace."),
    backend: str = typer.Option(
        ...,
        "--backend",
        help="Host that resolves to the service's replicas (not to the Service pointing here).",
    ),
    backend_http_port: int = typer.Option(8000, help="Triton's HTTP port on the replicas."),
    backend_grpc_port: int = typer.Option(8001, help="Triton's gRPC port on the replicas."),
    http_port: int = typer.Option(8000, help="Port of the HTTP listener."),
    grpc_port: int = typer.Option(8001, help="Port of the gRPC listener; 0: none."),
    metrics_port: int = typer.Option(9091, help="Port of /metrics and /healthz."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs."),
) -> None:
    """Hold requests at zero replicas, ask the operator to wake the service, answer them."""
    from infercost.activator import Activator, Listen, Target, WakeTiming
    from infercost.kubeclient import CredentialsError, RetryPolicy, Transport, discover
    from infercost.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(p) for p in problem["loc"])
            typer.echo(f"error: INFERCOST_{field.upper()}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        source = discover(recheck_seconds=settings.api_credentials_recheck_seconds)
    except CredentialsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    target = Target(
        namespace=namespace,
        name=service,
        backend_host=backend,
        backend_http_port=backend_http_port,
        backend_grpc_port=backend_grpc_port,
    )
    timing = WakeTiming(
        wake_timeout_seconds=settings.activator_wake_timeout_seconds,
        ready_poll_seconds=settings.activator_ready_poll_seconds,
        ready_poll_max_seconds=settings.activator_ready_poll_max_seconds,
        connect_timeout_seconds=settings.activator_connect_timeout_seconds,
    )
    listen = Listen(http_port=http_port, grpc_port=grpc_port or None, metrics_port=metrics_port)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        kube = Transport(
            source,
            policy=RetryPolicy(
                attempts=settings.api_retry_attempts,
                backoff=settings.api_retry_backoff_seconds,
                retry_after_max=settings.api_retry_after_max_seconds,
            ),
            timeout=settings.api_timeout_seconds,
        )
        try:
            async with Activator(
                target=target,
                kube=kube,
                timing=timing,
                listen=listen,
                max_request_bytes=settings.activator_max_request_bytes,
            ):
                await stop.wait()
        finally:
            await kube.close()

    asyncio.run(serve())
