"""Runs the operator: kopf embedded, with this project's handlers, client and settings.

Used by `infercost run`, the integration tests and the benchmark alike, so all three run
the same operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import kopf

from infercost.adapters.batching import BatchingApplier
from infercost.adapters.kubernetes import KubeApi
from infercost.adapters.metrics import MetricsSource
from infercost.adapters.prices import PriceSource
from infercost.controller.handlers import build_registry
from infercost.controller.heap import freeze_periodically
from infercost.controller.leader import LeaderElector, LeaseConfig, standby_health
from infercost.controller.pool_status import report_forever
from infercost.controller.service import Reconciler
from infercost.controller.sharded import ShardedReconciler
from infercost.kubeclient import (
    Credentials,
    CredentialSource,
    FixedCredentials,
    RetryPolicy,
    Transport,
    discover,
)
from infercost.settings import Settings

Flag = asyncio.Event | asyncio.Future[Any] | threading.Event


class LeadershipLost(Exception):  # noqa: N818 (client-go names it so)
    """The Lease could not be renewed in time: this replica stopped so another can lead."""


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


def connection_info(credentials: Credentials) -> kopf.ConnectionInfo:
    """The same credentials, as kopf's login handler returns them."""
    return kopf.ConnectionInfo(
        server=credentials.server,
        token=credentials.token,
        scheme="Bearer" if credentials.token else None,
        ca_path=credentials.ca_path,
        ca_data=credentials.ca_data.encode() if credentials.ca_data else None,
        insecure=credentials.insecure,
        certificate_path=credentials.certificate_path,
        certificate_data=(
            credentials.certificate_data.encode() if credentials.certificate_data else None
        ),
        private_key_path=credentials.private_key_path,
        private_key_data=(
            credentials.private_key_data.encode() if credentials.private_key_data else None
        ),
    )


def discover_credentials(settings: Settings | None = None) -> CredentialSource:
    """In-cluster service account first, then KUBECONFIG (or ~/.kube/config); raises
    CredentialsError saying what to do when there is neither."""
    recheck = (settings or Settings()).api_credentials_recheck_seconds
    return discover(recheck_seconds=recheck)


def kopf_settings(ours: Settings | None = None) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # kopf would post an Event for every handler run (each timer tick): API writes for nothing.
    # The operator posts its own Events, one per decision; kopf keeps warnings and errors.
    settings.posting.level = logging.WARNING
    selector = (ours or Settings()).autoscaler_events_field_selector
    if selector:
        # The Events watch (handlers.capacity_watches), filtered by the API server: Pod events
        # only, without the kubelet's and the scheduler's, which are nearly all of them.
        settings.watching.field_selectors["", "v1", "events"] = selector
    return settings


async def _wait_flag(flag: Flag) -> None:
    if isinstance(flag, asyncio.Event):
        await flag.wait()
    elif isinstance(flag, threading.Event):
        while not flag.is_set():
            await asyncio.sleep(0.2)
    else:
        await asyncio.wait([flag])  # a future: neither its result nor its cancellation is ours


async def _first_done(*tasks: asyncio.Task[Any]) -> set[asyncio.Task[Any]]:
    """Wait for the first of `tasks`; cancel the others (and all of them if cancelled)."""
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _lease_client(settings: Settings, source: CredentialSource) -> Transport:
    # One try per request: the elector's own loop retries, within its renew deadline.
    timeout = settings.leader_election_renew_deadline_seconds / 2
    return Transport(source, policy=RetryPolicy(attempts=1), timeout=timeout)


def _identity(identity: str | None) -> str:
    return (
        identity or f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    )


def _elector(
    settings: Settings, *, source: CredentialSource, identity: str | None
) -> LeaderElector:
    config = LeaseConfig(
        namespace=settings.leader_election_namespace,
        name=settings.leader_election_lease_name,
        identity=_identity(identity),
        lease_duration=settings.leader_election_lease_duration_seconds,
        renew_deadline=settings.leader_election_renew_deadline_seconds,
        retry_period=settings.leader_election_retry_period_seconds,
    )
    return LeaderElector(_lease_client(settings, source), config)


async def _stand_by(
    elector: LeaderElector, *, liveness: str | None, stop_flag: Flag | None
) -> bool:
    """Wait for the Lease, answering the liveness probe; False when stopped first.

    Without a stop flag (`infercost run`) SIGINT and SIGTERM stop the wait, as they stop kopf
    once it runs (kopf installs its own handlers then)."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    installed: list[signal.Signals] = []
    if stop_flag is None and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, signalled.set)
            installed.append(signum)
    try:
        async with standby_health(liveness):
            waits = [
                asyncio.create_task(elector.acquire()),
                asyncio.create_task(_wait_flag(stop_flag or signalled)),
            ]
            if waits[0] in await _first_done(*waits):
                logging.getLogger(__name__).info("leading as %s", elector.config.identity)
                return True
    except asyncio.CancelledError:
        await elector.close()
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    await elector.release()  # stopped while waiting (a try may have just won)
    await elector.close()
    return False


async def run_operator(
    *,
    settings: Settings,
    connection: kopf.ConnectionInfo | CredentialSource,
    metrics: MetricsSource,
    peering: str | None = None,
    liveness: str | None = None,
    stop_flag: Flag | None = None,
    ready_flag: Flag | None = None,
    clock: Callable[[], float] = time.time,
    on_reconciler: Callable[[Reconciler], None] | None = None,
    batching: BatchingApplier | None = None,
    prices: PriceSource | None = None,
    identity: str | None = None,
) -> None:
    """Run until `stop_flag` is set (or forever). With settings.leader_election, wait for the
    Lease first and run only while holding it: LeadershipLost when it could not be renewed."""
    if isinstance(connection, kopf.ConnectionInfo):
        source: CredentialSource = FixedCredentials(credentials_from(connection))
    else:
        source = connection
    elector = (
        _elector(settings, source=source, identity=identity) if settings.leader_election else None
    )
    if elector is not None and not await _stand_by(elector, liveness=liveness, stop_flag=stop_flag):
        return
    api = KubeApi(
        source,
        retry_attempts=settings.api_retry_attempts,
        retry_backoff=settings.api_retry_backoff_seconds,
        retry_after_max=settings.api_retry_after_max_seconds,
        timeout=settings.api_timeout_seconds,
    )
    reconciler = (ShardedReconciler if settings.sharding_shards else Reconciler)(
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
    logins = 0

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        # kopf logs in at start and again after a 401: then the credentials are loaded anew
        # (a rotated token file, an exec plugin run again), shared with the operator's client.
        nonlocal logins
        logins += 1
        return connection_info(await (source.current() if logins == 1 else source.refresh()))

    stopping = asyncio.Event()
    lost = False

    async def supervise() -> None:
        nonlocal lost
        waits = [asyncio.create_task(_wait_flag(stop_flag))] if stop_flag is not None else []
        if elector is not None:
            waits.append(asyncio.create_task(elector.hold()))
        if waits:
            done = await _first_done(*waits)
            # Lost when hold() returned; kopf cancels leftover tasks when it stops, hold() too.
            lost = elector is not None and waits[-1] in done and not waits[-1].cancelled()
            stopping.set()

    namespaced = not settings.all_namespaces and settings.namespace
    exporter = reconciler.telemetry.serve(settings.metrics_port) if settings.metrics_port else None
    if isinstance(reconciler, ShardedReconciler):
        reconciler.keep_shards(_lease_client(settings, source), identity=_identity(identity))
        pools = asyncio.create_task(reconciler.run_shards())  # and the global status
    else:
        pools = asyncio.create_task(report_forever(reconciler))
    supervisor = asyncio.create_task(supervise())
    heap = asyncio.create_task(freeze_periodically(settings.gc_freeze_seconds))
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(settings),
            clusterwide=not namespaced,
            namespaces=[settings.namespace] if namespaced and settings.namespace else (),
            standalone=peering is None,
            peering_name=peering,
            liveness_endpoint=liveness,
            stop_flag=stopping,
            ready_flag=ready_flag,
        )
    finally:
        for task in (pools, supervisor, heap):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if exporter is not None:
            exporter.shutdown()
            exporter.server_close()
        if isinstance(reconciler, ShardedReconciler):
            await reconciler.close()  # gives the shards up
        if elector is not None:
            if not lost:
                await elector.release()
            await elector.close()
        await api.close()
    if lost:
        raise LeadershipLost("the leader election Lease could not be renewed in time")
