"""Starts and stops the sandbox's parts, all on 127.0.0.1, in an order that leaves nothing behind.

In this process: the API server (kmock with Kubernetes semantics) and the node agent.
Children (procs.Children, each its own process group): Prometheus, the operator
(`infercost run`, exactly as in a cluster, reaching the API server through the kubeconfig
written here), the tritonserver of every pod, and the load generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

from infercost.api.crdgen import all_crds
from infercost.localtriton.server import DEFAULT_VENV, VENV_ENV
from infercost.sandbox.activators import Activators
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.client import Api
from infercost.sandbox.nodeagent import NodeAgent
from infercost.sandbox.procs import Children
from infercost.sandbox.prometheus import LocalPrometheus, free_port
from infercost.sandbox.rbac import OPERATOR_TOKEN
from infercost.sandbox.scenario import SandboxScenario
from infercost.sandbox.triton import TritonFactory

logger = logging.getLogger("infercost.sandbox")
OPERATOR = "from infercost.cli import app; app()"


def kubeconfig(url: str, *, token: str | None = None) -> dict[str, Any]:
    """A kubeconfig for the sandbox: without a token an admin's, with one its bearer's."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {"token": token} if token else {}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox"}}],
        "current-context": "sandbox",
    }


@dataclass
class Cluster:
    scenario: SandboxScenario
    run_dir: Path
    venv: Path = field(default_factory=lambda: Path(os.environ.get(VENV_ENV, DEFAULT_VENV)))
    children: Children = field(init=False)
    api_server: ApiServer = field(init=False)
    server: kmock.Server = field(init=False)
    api: Api = field(init=False)
    prometheus: LocalPrometheus = field(init=False)
    agent: NodeAgent = field(init=False)
    operator_metrics_port: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.url).rstrip("/")

    @property
    def kubeconfig_path(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def operator_kubeconfig_path(self) -> Path:
        """The operator's: its service account's token, held to the chart's ClusterRole."""
        return self.run_dir / "operator-kubeconfig"

    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.children = Children(self.run_dir)
        triton = TritonFactory(children=self.children, venv=self.venv, root=self.run_dir)
        # RBAC enforced: the operator's token may do what the chart's ClusterRole grants.
        self.api_server = ApiServer(rbac=True)
        await self.api_server.__aenter__()
        self.server = kmock.Server(self.api_server, host="127.0.0.1")
        await self.server.__aenter__()
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig(self.url)))
        operator_config = kubeconfig(self.url, token=OPERATOR_TOKEN)
        self.operator_kubeconfig_path.write_text(yaml.safe_dump(operator_config))
        self.api = Api(self.url)
        await self._bootstrap()
        self.prometheus = LocalPrometheus(
            directory=self.run_dir / "prometheus",
            starter=lambda command, log: self.children.start("prometheus", command, log=log),
        )
        # Started from this (the main) thread: see procs._die_with_parent.
        self.prometheus.start()
        self.agent = NodeAgent(
            api=self.api,
            triton=triton,
            prometheus=self.prometheus,
            repository_max_batch=int(self.scenario.knobs["repository-max-batch-size"]),
        )
        self.agent.activators = Activators(
            api=self.api,
            children=self.children,
            run_dir=self.run_dir,
            kubeconfig=self.kubeconfig_path,  # the admin's: RBAC restricts the operator only
            endpoints=self.agent.endpoints,
        )
        self._tasks.append(asyncio.create_task(self.agent.run(self._stop)))
        self._start_operator()

    async def _bootstrap(self) -> None:
        """What a fresh cluster with infercost installed has: our CRDs."""
        for crd in all_crds().values():
            await self.api.call(
                "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
            )
        # No Namespace objects: kmock 0.8 cannot route /api/v1/namespaces (it reads
        # `namespaces` as the start of a namespaced path); namespaced objects need none there.

    def _start_operator(self) -> None:
        self.operator_metrics_port = free_port()
        knobs = self.scenario.knobs
        env = {
            "KUBECONFIG": str(self.operator_kubeconfig_path),
            "PYTHONUNBUFFERED": "1",
            "INFERCOST_CONTROL_INTERVAL_SECONDS": f"{knobs['control-interval-seconds']:g}",
            "INFERCOST_PROMETHEUS_URL": self.prometheus.url,
            "INFERCOST_PROMETHEUS_RATE_WINDOW": f"{round(knobs['rate-window'])}s",
            "INFERCOST_PROMETHEUS_TIMEOUT_SECONDS": "5",
            "INFERCOST_METRICS_PORT": str(self.operator_metrics_port),
            # Full pools and Spot reclaims at the scenario's pace (defaults 60 s, 360 s, 600 s).
            "INFERCOST_UNSCHEDULABLE_GRACE_SECONDS": f"{60 / knobs['time-scale']:g}",
            "INFERCOST_AUTOSCALER_VERDICT_SECONDS": f"{360 / knobs['time-scale']:g}",
            "INFERCOST_ENGINE__POOL_FULL_BACKOFF_SECONDS": f"{600 / knobs['time-scale']:g}",
            # The demand history the start-up horizon reads its variability from (default
            # 1800 s): unscaled, one step up held the margin for the whole run.
            "INFERCOST_ENGINE__HORIZON_WINDOW_SECONDS": f"{1800 / knobs['time-scale']:g}",
            # Scale to zero: the activator pods run as processes here (sandbox/activators.py).
            "INFERCOST_ACTIVATOR_LINGER_SECONDS": "10",
        }
        self.children.start(
            "operator",
            [sys.executable, "-c", OPERATOR, "run", "--all-namespaces"],
            log=self.run_dir / "operator.log",
            env=env,
        )
        self.prometheus.add_target(
            f"127.0.0.1:{self.operator_metrics_port}", {"component": "infercost-operator"}
        )

    async def apply_scenario(self) -> None:
        """Post the scaled pools and services, as `kubectl apply` of applied.yaml would."""
        (self.run_dir / "applied.yaml").write_text(yaml.safe_dump_all(self.scenario.objects))
        for obj in self.scenario.objects:
            group = obj["apiVersion"]
            ns = obj["metadata"].get("namespace")
            plural = obj["kind"].lower() + "s"
            where = f"/namespaces/{ns}" if ns else ""
            await self.api.call("POST", f"/apis/{group}{where}/{plural}", obj)

    def start_loadgen(self) -> Path:
        out = self.run_dir / "load.jsonl"
        services = []
        for (namespace, name), rates in self.scenario.rates.items():
            svc = self.scenario.scenario.service(namespace, name)
            services.append(
                {
                    "namespace": namespace,
                    "name": name,
                    "model": svc.spec.model.name,
                    "selector": f"infercost.io/service={name}",
                    "service": name,  # its selector is followed (the activator at zero)
                    "rates": [round(float(r), 3) for r in rates],
                }
            )
        schedule = self.run_dir / "schedule.json"
        schedule.write_text(json.dumps({"api": self.url, "services": services}))
        self.children.start(
            "loadgen",
            [sys.executable, "-m", "infercost.sandbox.loadgen", str(schedule), str(out)],
            log=self.run_dir / "loadgen.log",
        )
        return out

    def loadgen_running(self) -> bool:
        process = self.children.procs.get("loadgen")
        return process is not None and process.poll() is None

    async def stop(self) -> None:
        """Everything down: the load, the operator, the pods, Prometheus, the API server."""
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        with contextlib.suppress(AttributeError):
            for name in ("loadgen", "operator"):
                await asyncio.to_thread(self.children.stop, name, grace=10.0)
        with contextlib.suppress(AttributeError):
            await self.agent.shutdown()
        with contextlib.suppress(AttributeError):
            await asyncio.to_thread(self.children.stop_all, grace=10.0)
        with contextlib.suppress(AttributeError):
            await self.api.close()
        with contextlib.suppress(AttributeError, Exception):
            await self.server.__aexit__(None, None, None)
        with contextlib.suppress(AttributeError, Exception):
            await self.api_server.__aexit__(None, None, None)
