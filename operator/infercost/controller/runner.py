"""Runs the operator: kopf embedded, with this project's handlers, client and settings.

Used by `infercost run`, the integration tests and the benchmark alike, so all three run
the same operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import kopf

from infercost.adapters.batching import BatchingApplier
from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.metrics import MetricsSource
from infercost.adapters.prices import PriceSource
from infercost.controller.handlers import build_registry
from infercost.controller.pool_status import report_forever
from infercost.controller.service import Reconciler
from infercost.settings import Settings

Flag = asyncio.Event | asyncio.Future[Any] | threading.Event


def credentials_from(info: kopf.ConnectionInfo) -> Credentials:
    def text(value: Any) -> str | None:
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    return Credentials(
        server=info.server,
        token=info.token,
        ca_path=text(info.ca_path),
        ca_data=text(info.ca_data),
        insecure=bool(info.insecure),
        certificate_path=text(info.certificate_path),
        certificate_data=text(info.certificate_data),
        private_key_path=text(info.private_key_path),
        private_key_data=text(info.private_key_data),
    )


def discover_credentials() -> kopf.ConnectionInfo:
    """In-cluster service account first, then KUBECONFIG (or ~/.kube/config)."""
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise kopf.LoginError(
            "no Kubernetes credentials: run in a cluster or set KUBECONFIG to a kubeconfig file"
        )
    return info


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # kopf would post an Event for every handler run (each timer tick): API writes for nothing.
    # The operator posts its own Events, one per decision; kopf keeps warnings and errors.
    settings.posting.level = logging.WARNING
    return settings


async def run_operator(
    *,
    settings: Settings,
    connection: kopf.ConnectionInfo,
    metrics: MetricsSource,
    peering: str | None = None,
    liveness: str | None = None,
    stop_flag: Flag | None = None,
    ready_flag: Flag | None = None,
    clock: Callable[[], float] = time.time,
    on_reconciler: Callable[[Reconciler], None] | None = None,
    batching: BatchingApplier | None = None,
    prices: PriceSource | None = None,
) -> None:
    """Run until `stop_flag` is set (or forever)."""
    api = KubeApi(
        credentials_from(connection),
        retry_attempts=settings.api_retry_attempts,
        retry_backoff=settings.api_retry_backoff_seconds,
        timeout=settings.api_timeout_seconds,
    )
    reconciler = Reconciler(
        api=api,
        metrics=metrics,
        settings=settings,
        clock=clock,
        batching=batching,
        prices=prices,
    )
    if on_reconciler is not None:
        on_reconciler(reconciler)
    registry = build_registry(reconciler)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection

    namespaced = not settings.all_namespaces and settings.namespace
    exporter = reconciler.telemetry.serve(settings.metrics_port) if settings.metrics_port else None
    pools = asyncio.create_task(report_forever(reconciler))
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(),
            clusterwide=not namespaced,
            namespaces=[settings.namespace] if namespaced and settings.namespace else (),
            standalone=peering is None,
            peering_name=peering,
            liveness_endpoint=liveness,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        pools.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pools
        if exporter is not None:
            exporter.shutdown()
            exporter.server_close()
        await api.close()
