"""Leader election on a coordination.k8s.io/v1 Lease: exactly one active operator.

`LeaderElector` holds one Lease; the shard keeper (shards.py) runs one per shard Lease with
the same rules.

Why a Lease rather than kopf peering: kopf's peering pauses operators of lower priority and
pauses *all* of them when priorities are equal (every replica of one Deployment has the same),
so it is a way to make way for a developer's operator, not leader election; and it pauses
kopf's handlers only, not the pool status reporter beside them. A Lease is how Kubernetes
controllers elect a leader (client-go's leaderelection); a standby here starts nothing of the
operator until it holds the Lease.

The rules are client-go's. A candidate takes the Lease when nobody holds it or when the
holder's record (holder, renewTime) has not changed for `lease_duration` seconds *as observed
by this candidate's own clock* (clocks of two machines are never compared). Writes carry the
resourceVersion read, so of two candidates only one wins (the other gets 409 Conflict). The
leader renews every `retry_period`; when it has not renewed for `renew_deadline` (shorter
than the lease duration) it stops, before any standby may take over. A leader that stops
cleanly gives the Lease up (holder emptied), so a standby takes over at its next try.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp.web

from infercost.adapters.kubernetes import path
from infercost.kubeclient import ApiError, Transport

logger = logging.getLogger(__name__)
MERGE = "application/merge-patch+json"


@dataclass(frozen=True, kw_only=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _micro_time() -> str:
    """Kubernetes MicroTime (RFC 3339 with microseconds), as Lease times are."""
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        transport: Transport,
        config: LeaseConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = transport
        self.config = config
        self._clock = clock
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None  # start of the last successful try

    @property
    def leading(self) -> bool:
        """Held, and renewed within the renew deadline (by this candidate's clock): past the
        deadline the holder acts no more, before any other candidate may take the Lease."""
        return (
            self._renewed_at is not None
            and self._clock() - self._renewed_at < self.config.renew_deadline
        )

    @property
    def _url(self) -> str:
        return path("Lease", namespace=self.config.namespace, name=self.config.name)

    def _spec(self, *, acquire_time: str, transitions: int) -> dict[str, Any]:
        now = _micro_time()
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": acquire_time or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def observe(self, lease: dict[str, Any]) -> None:
        """Note the Lease's record (holder, renewTime) as read now, here or by a LIST: the
        lease duration runs from the first time this candidate saw the record unchanged."""
        spec = lease.get("spec") or {}
        record = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()

    async def try_acquire_or_renew(self) -> bool:
        """One try; True when this candidate holds the Lease afterwards."""
        started = self._clock()
        if await self._try():
            self._renewed_at = started
            return True
        return False

    async def _try(self) -> bool:
        me = self.config.identity
        try:
            lease = await self._api.call("GET", self._url)
        except ApiError as error:
            if error.status != 404:
                logger.warning("leader election: reading the Lease failed: %s", error)
                return False
            return await self._create()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        self.observe(lease)
        if (
            holder
            and holder != me
            and self._clock() < self._observed_at + self.config.lease_duration
        ):
            return False  # held, and renewed within a lease duration as we saw it
        ours = holder == me
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        patch = {
            "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
            "spec": self._spec(
                acquire_time=str(spec.get("acquireTime") or "") if ours else "",
                transitions=transitions,
            ),
        }
        try:
            await self._api.call("PATCH", self._url, body=patch, content_type=MERGE)
        except ApiError as error:
            logger.info(
                "leader election: %s the Lease failed: %s", "renewing" if ours else "taking", error
            )
            return False
        if not ours:
            logger.info("leader election: %s took the Lease from %r", me, holder)
        return True

    async def _create(self) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": self._spec(acquire_time="", transitions=0),
        }
        url = path("Lease", namespace=self.config.namespace)
        try:
            await self._api.call("POST", url, body=body)
        except ApiError as error:  # 409: another candidate created it first
            logger.info("leader election: creating the Lease failed: %s", error)
            return False
        logger.info("leader election: %s created the Lease", self.config.identity)
        return True

    async def acquire(self) -> None:
        """Return once this candidate leads (tries every retry period, with jitter)."""
        while not await self.try_acquire_or_renew():
            await asyncio.sleep(self.config.retry_period * random.uniform(1.0, 1.2))

    async def renew(self) -> bool:
        """One renewal try bounded by the time left to the deadline; False once leadership is
        lost (not renewed within the renew deadline)."""
        if self._renewed_at is None:
            return False
        # A try never outlasts the deadline (client-go bounds it the same way): a leader
        # stuck in a slow request must not run on past the moment a standby may take over.
        left = self.config.renew_deadline - (self._clock() - self._renewed_at)
        with contextlib.suppress(TimeoutError):
            if left > 0:
                await asyncio.wait_for(self.try_acquire_or_renew(), timeout=left)
        if not self.leading:
            self._renewed_at = None
            return False
        return True

    async def hold(self) -> None:
        """Renew while leading; return when leadership is lost (not renewed in the deadline)."""
        while True:
            await asyncio.sleep(self.config.retry_period)
            if not await self.renew():
                logger.error("leader election: Lease %s not renewed in time", self.config.name)
                return

    async def close(self) -> None:
        await self._api.close()

    def stop_leading(self) -> None:
        """Act no more as the holder (`leading` False), before the Lease is given up."""
        self._renewed_at = None

    async def release(self) -> None:
        """Give the Lease up (a clean stop), so a standby need not wait a lease duration."""
        self.stop_leading()
        with contextlib.suppress(ApiError):
            lease = await self._api.call("GET", self._url)
            if (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
                return
            patch = {
                "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                "spec": {
                    "holderIdentity": None,
                    "leaseDurationSeconds": 1,
                    "renewTime": _micro_time(),
                },
            }
            await self._api.call("PATCH", self._url, body=patch, content_type=MERGE)


@contextlib.asynccontextmanager
async def standby_health(liveness: str | None) -> AsyncIterator[None]:
    """Answer the liveness URL while waiting for the Lease (kopf serves it once leading):
    a standby is alive, and the kubelet must not restart it."""
    if not liveness:
        yield
        return
    url = urlparse(liveness)

    async def healthy(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="standby: waiting for the leader election Lease\n")

    app = aiohttp.web.Application()
    app.router.add_get(url.path or "/", healthy)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, url.hostname, url.port or 80)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()
