"""A Triton reload that fails: the old config keeps serving, a Warning Event says so once,
and the reload is retried (and succeeds) once the cause is gone.

Real: a tritonserver (nvidia-pytriton's binary) serving the synthetic model with
max_batch_size 8; the operator's Triton adapter and batching rollout; the sandbox API server
holding the Pod (its annotation names the server's port) and receiving the Event. The fault
is real too: the model's files are moved out of the repository, so Triton's load of the new
config fails the way a broken or unreadable model repository makes it fail.
"""

from __future__ import annotations

import shutil
import urllib.request

import kmock
import pytest
import tritonclient.http.aio as triton_http

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.triton import TritonBatching
from infercost.api.service import InferenceServiceSpec
from infercost.controller.rollout import FAILED, BatchingRollout
from infercost.engine.model import Allocation, BatchConfig, CurrentDeployment, Plan, ServiceState
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.sandbox.apiserver import ApiServer
from infercost.settings import Settings
from tests.integration import objects as o
from tests.integration.conftest import call

pytestmark = pytest.mark.e2e
MODEL = SyntheticModel(name="synth", base_ms=2, per_item_ms=1, max_batch_size=8)
LABELS = {
    "infercost.io/service": "bert",
    "infercost.io/variant": "gpu-fp16",
    "infercost.io/pool": "g6-xlarge",
}


def plan(batching: BatchConfig) -> Plan:
    allocation = Allocation(
        variant="gpu-fp16",
        pool="g6-xlarge",
        replicas=1,
        batching=batching,
        hourly_cost=0.8,
        throughput_per_replica=100.0,
    )
    return Plan(
        allocations=(allocation,),
        actions=(),
        conditions=(),
        demand_rps=10.0,
        hourly_cost=0.8,
        cost_per_million=None,
        state=ServiceState(),
    )


async def served_max_batch(url: str) -> int:
    client = triton_http.InferenceServerClient(url)
    try:
        assert await client.is_model_ready("synth")
        return int((await client.get_model_config("synth"))["max_batch_size"])
    finally:
        await client.close()


async def test_failed_reload_keeps_the_old_config_and_warns_once() -> None:
    server = TritonServer(models=[MODEL]).start()
    try:
        async with ApiServer() as api, kmock.Server(api):
            body = await call(
                api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT, model={"name": "synth"})
            )
            spec = InferenceServiceSpec.model_validate(body["spec"])
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "bert-0",
                    "namespace": o.NS,
                    "labels": LABELS,
                    "annotations": {"infercost.io/triton-http-port": str(server.http_port)},
                },
                "spec": {"containers": [{"name": "triton", "image": "triton"}]},
            }
            await call(api, "POST", f"/api/v1/namespaces/{o.NS}/pods", pod)
            await call(
                api,
                "PATCH",
                f"/api/v1/namespaces/{o.NS}/pods/bert-0/status",
                {"status": {"phase": "Running", "podIP": "127.0.0.1"}},
            )
            kube = KubeApi(Credentials(server=str(api.url)))
            rollout = BatchingRollout(
                api=kube, applier=TritonBatching(kube, Settings(triton_ready_timeout_seconds=20))
            )
            current = {("gpu-fp16", "g6-xlarge"): CurrentDeployment(replicas=1, ready_replicas=1)}
            smaller = BatchConfig(
                max_batch_size=4, max_queue_delay_us=1000, preferred_batch_sizes=(4,)
            )
            assert server.workdir is not None
            model_dir = server.workdir / "models" / "synth"
            hidden = server.workdir / "synth.hidden"
            shutil.move(model_dir, hidden)  # the fault: the repository lost the model
            try:
                for _ in range(3):  # three reconciles while the fault lasts
                    await rollout.run(body=body, spec=spec, plan=plan(smaller), current=current)
                assert await served_max_batch(server.url) == 8, "old config must keep serving"
                with urllib.request.urlopen(f"http://{server.url}/v2/health/ready", timeout=5) as r:
                    assert r.status == 200
                events = (await call(api, "GET", f"/api/v1/namespaces/{o.NS}/events"))["items"]
                warnings = [e for e in events if e["reason"] == FAILED]
                assert len(warnings) == 1, "one Warning per distinct failure, not one per reconcile"
                assert warnings[0]["type"] == "Warning"
                assert "kept the previous config" in warnings[0]["message"]
                assert "unknown model" not in warnings[0]["message"]  # the injected cause
            finally:
                shutil.move(hidden, model_dir)
            await rollout.run(body=body, spec=spec, plan=plan(smaller), current=current)
            assert await served_max_batch(server.url) == 4, "retried once the cause is gone"
            await kube.close()
    finally:
        server.stop()
