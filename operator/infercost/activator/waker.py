"""One wake per cold start, shared by every request held meanwhile: ask, then wait for a
ready replica or for the reason none will come.

The wake request is a merge patch of one annotation on the InferenceService
(`infercost.io/wake-requested: <RFC3339 time>`), which the operator reads as demand at zero.
Readiness is Triton's own `GET /v2/health/ready` on the replicas' address (200 once the
server and its models are ready), probed with a doubling wait. The wait ends early when the
InferenceService says the wake cannot happen: a `Placed` condition with status False (its
reason: a pool full, the budget exhausted, no feasible option).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from infercost.activator.metrics import ActivatorMetrics
from infercost.kubeclient import ApiError, Transport

logger = logging.getLogger(__name__)

WAKE_ANNOTATION = "infercost.io/wake-requested"
WAKE_TIMEOUT = "WakeTimeout"  # the reason of a wake that found no ready replica in time


class WakeRefusedError(Exception):
    """No replica will be ready for the held requests; `reason` is a CamelCase word."""

    def __init__(self, *, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def stopping() -> WakeRefusedError:
    return WakeRefusedError(reason="ActivatorStopping", message="the activator is shutting down")


@dataclass(frozen=True, kw_only=True)
class Target:
    """The InferenceService an activator stands in for, and where its replicas answer."""

    namespace: str
    name: str
    backend_host: str  # resolves to the replicas (not to the Service that points here)
    backend_http_port: int = 8000
    backend_grpc_port: int = 8001

    @property
    def path(self) -> str:
        return (
            f"/apis/infercost.io/v1alpha1/namespaces/{self.namespace}/inferenceservices/{self.name}"
        )

    @property
    def ready_url(self) -> str:
        return f"http://{self.backend_host}:{self.backend_http_port}/v2/health/ready"


@dataclass(frozen=True, kw_only=True)
class WakeTiming:
    wake_timeout_seconds: float = 300.0
    ready_poll_seconds: float = 0.5
    ready_poll_max_seconds: float = 5.0
    connect_timeout_seconds: float = 5.0


def refusal_of(service: Mapping[str, Any]) -> WakeRefusedError | None:
    """The InferenceService's own word that no replica will start: `Placed` False."""
    for condition in (service.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Placed" and condition.get("status") == "False":
            return WakeRefusedError(
                reason=str(condition.get("reason") or "NotPlaced"),
                message=str(condition.get("message") or "the service cannot be placed"),
            )
    return None


class Waker:
    """Wakes `target` at most once at a time; `ready()` returns once a replica answers."""

    def __init__(
        self,
        *,
        target: Target,
        kube: Transport,
        backend: aiohttp.ClientSession,
        timing: WakeTiming,
        metrics: ActivatorMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self._kube = kube
        self._backend = backend
        self._timing = timing
        self._metrics = metrics
        self._clock = clock
        self._awake = False
        self._episode: asyncio.Task[None] | None = None
        self._closed = False

    async def ready(self) -> None:
        """Return once a replica is ready (at once while awake); WakeRefusedError otherwise. A
        request joining a wake in progress waits for that wake, never past its deadline."""
        if self._awake:
            return
        if self._closed:
            raise stopping()
        if self._episode is None or self._episode.done():
            self._episode = asyncio.create_task(self._wake(), name=f"wake {self.target.name}")
            # Retrieved here too: every client of a failed wake may have gone already.
            self._episode.add_done_callback(lambda task: task.cancelled() or task.exception())
        episode = self._episode
        try:
            # Shielded: a client that gives up does not cancel the wake the others wait for.
            await asyncio.shield(episode)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not episode.cancelled() or (current is not None and current.cancelling()):
                raise  # this request's own cancellation (its client hung up)
            raise stopping() from None

    def asleep(self) -> None:
        """A replica refused a connection: the next request holds and wakes again."""
        self._awake = False

    async def close(self) -> None:
        self._closed = True
        if self._episode is not None and not self._episode.done():
            self._episode.cancel()
            with contextlib.suppress(asyncio.CancelledError, WakeRefusedError):
                await self._episode

    async def _wake(self) -> None:
        if await self._backend_ready():  # replicas run: nothing to wake
            self._awake = True
            return
        started = self._clock()
        try:
            async with asyncio.timeout(self._timing.wake_timeout_seconds):
                await self._request_wake()
                await self._until_ready()
        except TimeoutError:
            refused = WakeRefusedError(
                reason=WAKE_TIMEOUT,
                message=(
                    f"no replica of {self.target.namespace}/{self.target.name} was ready within "
                    f"the wake timeout of {self._timing.wake_timeout_seconds:g}s"
                ),
            )
            self._metrics.woke(outcome=refused.reason)
            raise refused from None
        except WakeRefusedError as refused:
            self._metrics.woke(outcome=refused.reason)
            raise
        seconds = self._clock() - started
        logger.info("%s: a replica is ready after %.1fs", self.target.name, seconds)
        self._metrics.woke(outcome="ready", seconds=seconds)
        self._awake = True

    async def _request_wake(self) -> None:
        now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"metadata": {"annotations": {WAKE_ANNOTATION: now}}}
        try:
            await self._kube.call(
                "PATCH", self.target.path, body=patch, content_type="application/merge-patch+json"
            )
        except ApiError as error:
            reason = "ServiceNotFound" if error.status == 404 else "WakeRequestFailed"
            raise WakeRefusedError(
                reason=reason,
                message=f"asking to wake {self.target.namespace}/{self.target.name}: {error}",
            ) from None
        logger.info("%s: wake requested (%s)", self.target.name, now)

    async def _until_ready(self) -> None:
        delay = self._timing.ready_poll_seconds
        while True:
            if await self._backend_ready():
                return
            try:
                refused = refusal_of(await self._kube.call("GET", self.target.path))
            except ApiError as error:
                if error.status == 404:
                    raise WakeRefusedError(
                        reason="ServiceNotFound",
                        message=f"{self.target.namespace}/{self.target.name} was deleted",
                    ) from None
                # The API server's trouble is not a refusal: the readiness probe goes on.
                logger.warning("%s: reading its status: %s", self.target.name, error)
                refused = None
            if refused is not None:
                raise refused
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._timing.ready_poll_max_seconds)

    async def _backend_ready(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=self._timing.connect_timeout_seconds)
        try:
            async with self._backend.get(self.target.ready_url, timeout=timeout) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
