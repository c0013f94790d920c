"""The kubelet and kube-proxy of a scale-to-zero service's activator (manifests/activator.py).

The operator's activator Deployment (label `infercost.io/activator`) gets one Pod that runs
`infercost activator` as a process of the run, exactly as the operator's pod spec says
(its --service and --namespace; its wake timeout from the container's env), with the admin
kubeconfig (the sandbox API server restricts only the operator's token). The pod is Ready
once the activator answers /healthz (its readiness probe); podIP 127.0.0.1 and the HTTP
port annotation, as Triton pods have, so the load generator reaches it when the stable
Service selects it.

The activator's `--backend` is the `<service>-replicas` Service: kube-proxy's part is played
here by a TCP splice per Service port (HTTP and gRPC) to a Ready Triton pod that the
Service's selector matches, chosen per connection (round robin), refused while none is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from infercost.sandbox.pods import pod_manifest, pod_status, started_status
from infercost.sandbox.procs import Children
from infercost.sandbox.triton import Ports

logger = logging.getLogger("infercost.sandbox")
ACTIVATOR_LABEL = "infercost.io/activator"
ACTIVATOR = "from infercost.cli import app; app()"
Endpoints = Callable[[dict[str, str]], list[Ports]]  # Ready Triton pods matching a selector


def is_activator(deployment: dict[str, Any]) -> bool:
    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    return ACTIVATOR_LABEL in labels


@dataclass
class Splice:
    """One Service port: connections go to that port of a Ready pod matching the selector."""

    selector: dict[str, str]
    port_of: Callable[[Ports], int]
    endpoints: Endpoints
    server: asyncio.Server | None = None
    turn: itertools.count[int] = field(default_factory=itertools.count)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._join, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ready = self.endpoints(self.selector)
        if not ready:  # no endpoint: kube-proxy rejects the connection
            writer.close()
            return
        port = self.port_of(ready[next(self.turn) % len(ready)])
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            sink.close()


@dataclass
class ActivatorPod:
    namespace: str
    name: str
    deployment: str
    ports: Ports
    ready: bool = False


@dataclass
class Activators:
    """Activator pods of the run, and the `-replicas` Services they reach the replicas by."""

    api: Any  # sandbox.client.Api
    children: Children
    run_dir: Path
    kubeconfig: Path
    endpoints: Endpoints
    pods: dict[tuple[str, str], ActivatorPod] = field(default_factory=dict)
    splices: dict[tuple[str, str], tuple[Splice, Splice, int, int]] = field(default_factory=dict)

    async def create_pod(self, dep: dict[str, Any], name: str) -> None:
        meta, pod_spec = dep["metadata"], dep["spec"]["template"]["spec"]
        namespace = meta["namespace"]
        (container,) = pod_spec["containers"]
        args = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
        backend = await self._backend(namespace, args["backend"].split(".")[0])
        if backend is None:
            return  # its Service is not there yet: the next tick tries again
        ports = Ports.free()
        body = pod_manifest(dep, name=name, ports=ports)
        await self.api.call("POST", f"/api/v1/namespaces/{namespace}/pods", body)
        status = pod_status(phase="Running", ready=False, reason="Starting")
        await self._status(namespace, name, status)
        env = {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
        env |= {"KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        http, grpc = backend
        command = [
            sys.executable,
            "-c",
            ACTIVATOR,
            "activator",
            f"--service={args['service']}",
            f"--namespace={args['namespace']}",
            "--backend=127.0.0.1",
            f"--backend-http-port={http}",
            f"--backend-grpc-port={grpc}",
            f"--http-port={ports.http}",
            f"--grpc-port={ports.grpc}",
            f"--metrics-port={ports.metrics}",
        ]
        log = self.run_dir / "pods" / name / "activator.log"
        self.children.start(f"pod/{name}", command, log=log, env=env)
        self.pods[(namespace, name)] = ActivatorPod(
            namespace=namespace, name=name, deployment=meta["name"], ports=ports
        )

    async def kubelet(self, pod: dict[str, Any], session: aiohttp.ClientSession) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        run = self.pods[key]
        if run.ready:
            return
        url = f"http://127.0.0.1:{run.ports.metrics}/healthz"
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                healthy = response.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            healthy = False
        if healthy:
            await self._status(run.namespace, run.name, started_status(pod, ready=True))
            run.ready = True

    def ready_of(self, namespace: str, deployment: str) -> tuple[int, int]:
        mine = [
            p for p in self.pods.values() if (p.namespace, p.deployment) == (namespace, deployment)
        ]
        return len(mine), sum(1 for p in mine if p.ready)

    async def forget(self, key: tuple[str, str]) -> bool:
        """End a deleted activator pod's process (SIGTERM: held requests get 503)."""
        if self.pods.pop(key, None) is None:
            return False
        await asyncio.to_thread(self.children.stop, f"pod/{key[1]}", grace=5.0)
        return True

    async def close(self) -> None:
        for splice_http, splice_grpc, _, _ in self.splices.values():
            await splice_http.close()
            await splice_grpc.close()

    async def _backend(self, namespace: str, service: str) -> tuple[int, int] | None:
        """The local ports that play the `service` Service (HTTP, gRPC)."""
        known = self.splices.get((namespace, service))
        if known is not None:
            return known[2], known[3]
        body = await self.api.get(f"/api/v1/namespaces/{namespace}/services/{service}")
        if body is None:
            return None
        selector = dict(body["spec"].get("selector") or {})
        http = Splice(selector=selector, port_of=lambda p: p.http, endpoints=self.endpoints)
        grpc = Splice(selector=selector, port_of=lambda p: p.grpc, endpoints=self.endpoints)
        ports = (await http.start(), await grpc.start())
        self.splices[(namespace, service)] = (http, grpc, *ports)
        logger.info("service %s/%s played on 127.0.0.1:%d (HTTP)", namespace, service, ports[0])
        return ports

    async def _status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self.api.call(
                "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", {"status": status}
            )
