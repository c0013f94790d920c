"""The two listeners: HTTP requests held and then forwarded, gRPC connections held and then
spliced byte for byte to the replica's gRPC port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from infercost.activator.metrics import ActivatorMetrics
from infercost.activator.waker import Waker, WakeRefusedError

logger = logging.getLogger(__name__)

# RFC 9110 section 7.6.1: meant for one connection, not forwarded. Content-Length is set again
# for the body as read; Host is the replica's.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
SPLICE_CHUNK = 2**16


def forwardable(headers: Any) -> CIMultiDict[str]:
    """End-to-end headers, repeated ones kept."""
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


def refusal_response(refused: WakeRefusedError, waker: Waker) -> web.Response:
    target = waker.target
    return web.json_response(
        {
            "error": (
                f"{target.namespace}/{target.name} is scaled to zero and could not be woken: "
                f"{refused.reason}: {refused.message}"
            ),
            "reason": refused.reason,
            "message": refused.message,
            "service": f"{target.namespace}/{target.name}",
        },
        status=503,
    )


class HttpForwarder:
    """aiohttp handler for every path: hold until a replica is ready, then forward."""

    def __init__(
        self, *, waker: Waker, backend: aiohttp.ClientSession, metrics: ActivatorMetrics
    ) -> None:
        self._waker = waker
        self._backend = backend
        self._metrics = metrics

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = self._waker.target
        url = f"http://{target.backend_host}:{target.backend_http_port}{request.rel_url}"
        for _ in range(2):  # a replica gone between the wake and the connection: wake again
            with self._metrics.hold("http").track_inprogress():
                try:
                    await self._waker.ready()
                except WakeRefusedError as refused:
                    self._metrics.count("http", "refused")
                    return refusal_response(refused, self._waker)
            body = await request.read()
            try:
                async with self._backend.request(
                    request.method,
                    url,
                    data=body,
                    headers=forwardable(request.headers),
                    allow_redirects=False,
                ) as answer:
                    payload = await answer.read()
                    self._metrics.count("http", "forwarded")
                    return web.Response(
                        status=answer.status,
                        body=payload,
                        headers=forwardable(answer.headers),
                    )
            except aiohttp.ClientConnectorError:
                # Not connected, so nothing was sent: safe to hold this request again.
                self._waker.asleep()
            except (aiohttp.ClientError, TimeoutError) as error:
                self._metrics.count("http", "backend_error")
                return web.json_response(
                    {"error": f"the replica failed: {type(error).__name__}: {error}"}, status=502
                )
        self._metrics.count("http", "backend_error")
        return web.json_response({"error": "the replica refused the connection"}, status=502)


class GrpcSplicer:
    """asyncio.start_server callback: hold the accepted connection (what the client sends
    meanwhile, its HTTP/2 preface and first requests, is buffered as bytes, which also tells
    when it gives up), then send the buffer to the replica and pipe both ways."""

    def __init__(
        self,
        *,
        waker: Waker,
        metrics: ActivatorMetrics,
        connect_timeout: float,
        max_buffered_bytes: int,
    ) -> None:
        self._waker = waker
        self._metrics = metrics
        self._connect_timeout = connect_timeout
        self._max_buffered = max_buffered_bytes
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._splice(reader, writer)
        except asyncio.CancelledError:
            pass  # the activator stops (close()); the connection is closed below
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self._waker.target
        buffered = bytearray()
        for _ in range(2):  # a replica gone between the wake and the connection: wake again
            with self._metrics.hold("grpc").track_inprogress():
                try:
                    if not await self._hold(reader, buffered):
                        self._metrics.count("grpc", "client_gone")
                        return
                except WakeRefusedError as refused:
                    # No HTTP/2 here to carry a status: the connection is closed, and the
                    # client sees UNAVAILABLE. The reason is in the log and the metrics.
                    logger.warning("%s: gRPC connection closed: %s", target.name, refused)
                    self._metrics.count("grpc", "refused")
                    return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(target.backend_host, target.backend_grpc_port),
                    timeout=self._connect_timeout,
                )
            except (OSError, TimeoutError):
                self._waker.asleep()
                continue
            self._metrics.count("grpc", "forwarded")
            try:
                up_writer.write(bytes(buffered))
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            finally:
                up_writer.close()
            return
        self._metrics.count("grpc", "backend_error")

    async def _hold(self, reader: asyncio.StreamReader, buffered: bytearray) -> bool:
        """Wait for a ready replica, buffering what the client sends; False: it hung up."""
        ready = asyncio.ensure_future(self._waker.ready())
        try:
            while not ready.done():
                if len(buffered) >= self._max_buffered:  # stop reading: TCP pushes back
                    await ready
                    break
                read = asyncio.ensure_future(reader.read(SPLICE_CHUNK))
                await asyncio.wait({ready, read}, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()  # nothing read yet: no byte is lost
                    with contextlib.suppress(asyncio.CancelledError):
                        await read
                if read.done() and not read.cancelled():
                    chunk = read.result()
                    if not chunk:
                        return False
                    buffered += chunk
            ready.result()  # WakeRefusedError
            return True
        finally:
            ready.cancel()  # only this connection's wait: the wake goes on for the others
            if ready.done() and not ready.cancelled():
                ready.exception()  # retrieved, whichever way this wait ended


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then pass the half-close on (HTTP/2 peers close both ways
    after GOAWAY); a reset on either side ends both directions."""
    try:
        while chunk := await source.read(SPLICE_CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()
