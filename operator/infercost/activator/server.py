"""One activator process: the HTTP and gRPC listeners of one InferenceService, and /metrics
and /healthz on a port of their own (the HTTP listener forwards every path to Triton)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from infercost.activator.metrics import ActivatorMetrics
from infercost.activator.proxy import GrpcSplicer, HttpForwarder
from infercost.activator.waker import Target, Waker, WakeTiming
from infercost.kubeclient import Transport


@dataclass(frozen=True, kw_only=True)
class Listen:
    """Where the activator listens; port 0 picks a free one (read back from `Activator`)."""

    host: str = "0.0.0.0"
    http_port: int = 8000
    grpc_port: int | None = 8001  # None: no gRPC listener
    metrics_port: int = 9091


class Activator:
    """Async context manager: listening from enter to exit."""

    def __init__(
        self,
        *,
        target: Target,
        kube: Transport,
        timing: WakeTiming,
        listen: Listen,
        max_request_bytes: int,
    ) -> None:
        self.target = target
        self.metrics = ActivatorMetrics(namespace=target.namespace, service=target.name)
        self._kube = kube
        self._timing = timing
        self._listen = listen
        self._max_request_bytes = max_request_bytes
        self._runners: list[web.AppRunner] = []
        self._grpc: asyncio.Server | None = None
        self._splicer: GrpcSplicer | None = None
        self._backend: aiohttp.ClientSession | None = None
        self._waker: Waker | None = None
        self.http_port = self.grpc_port = self.metrics_port = 0

    async def __aenter__(self) -> Activator:
        # Bodies passed through as they are (no decompression); no total timeout: a held
        # request's wait is bounded by the wake timeout, a forwarded one by its client.
        self._backend = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._timing.connect_timeout_seconds
            ),
        )
        self._waker = Waker(
            target=self.target,
            kube=self._kube,
            backend=self._backend,
            timing=self._timing,
            metrics=self.metrics,
        )
        forwarder = HttpForwarder(waker=self._waker, backend=self._backend, metrics=self.metrics)
        app = web.Application(client_max_size=self._max_request_bytes)
        app.router.add_route("*", "/{tail:.*}", forwarder.handle)
        # A client that hangs up while held is let go at once (aiohttp cancels its handler;
        # the wake it waits for goes on for the others).
        self.http_port = await self._serve(app, self._listen.http_port, handler_cancellation=True)
        admin = web.Application()
        admin.router.add_get("/metrics", self._metrics_page)
        admin.router.add_get("/healthz", self._healthz)
        self.metrics_port = await self._serve(admin, self._listen.metrics_port)
        if self._listen.grpc_port is not None:
            self._splicer = GrpcSplicer(
                waker=self._waker,
                metrics=self.metrics,
                connect_timeout=self._timing.connect_timeout_seconds,
                max_buffered_bytes=self._max_request_bytes,
            )
            self._grpc = await asyncio.start_server(
                self._splicer.handle, self._listen.host, self._listen.grpc_port
            )
            self.grpc_port = int(self._grpc.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The wake first: held HTTP requests get 503 ActivatorStopping, not a dropped
        # connection, before the listeners close (a pod's SIGTERM).
        if self._waker is not None:
            await self._waker.close()
        if self._grpc is not None:
            self._grpc.close()
        if self._splicer is not None:
            await self._splicer.close()
        if self._grpc is not None:
            await self._grpc.wait_closed()
        for runner in self._runners:
            await runner.cleanup()
        if self._backend is not None:
            await self._backend.close()

    async def _serve(
        self, app: web.Application, port: int, *, handler_cancellation: bool = False
    ) -> int:
        runner = web.AppRunner(app, access_log=None, handler_cancellation=handler_cancellation)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, self._listen.host, port).start()
        return int(runner.addresses[-1][1])  # the port bound (port 0 picks one)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")
