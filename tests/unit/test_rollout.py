"""The batching rollout's memory: Triton is called only when the plan's batching or the
ready replicas changed, or pods wait for the batching readiness gate. FAKE batching applier (adapters/fake_batching.py): this test is about
when the rollout calls it; the real applier is tested against real Triton in tests/e2e."""

from __future__ import annotations

import pytest

from infercost.adapters.fake_batching import FakeBatching
from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.api.service import InferenceServiceSpec
from infercost.controller.rollout import BatchingRollout
from infercost.engine.model import Allocation, BatchConfig, CurrentDeployment, Plan, ServiceState

pytestmark = pytest.mark.unit
BODY = {"metadata": {"name": "bert", "namespace": "ml"}}
SPEC = InferenceServiceSpec.model_validate(
    {
        "model": {"name": "synth"},
        "variants": [
            {
                "name": "cpu",
                "acceleratorTypes": ["cpu"],
                "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                "modelRepository": "s3://models/synth",
                "profile": [
                    {"acceleratorType": "cpu", "batchSize": 1, "throughput": 40, "p99LatencyMs": 30}
                ],
            }
        ],
        "slo": {"latencyMs": 100},
    }
)


def plan(max_batch: int) -> Plan:
    batching = BatchConfig(max_batch_size=max_batch, max_queue_delay_us=100)
    allocation = Allocation(
        variant="cpu",
        pool="a",
        replicas=2,
        batching=batching,
        hourly_cost=1,
        throughput_per_replica=1,
    )
    return Plan(
        allocations=(allocation,),
        actions=(),
        conditions=(),
        demand_rps=0,
        hourly_cost=1,
        cost_per_million=None,
        state=ServiceState(),
    )


async def test_triton_is_called_only_when_something_changed() -> None:
    fake = FakeBatching()
    api = KubeApi(Credentials(server="http://127.0.0.1:1"))  # never called: nothing fails
    rollout = BatchingRollout(api=api, applier=fake)

    async def run(max_batch: int, ready: int) -> None:
        current = {("cpu", "a"): CurrentDeployment(replicas=2, ready_replicas=ready)}
        await rollout.run(body=BODY, spec=SPEC, plan=plan(max_batch), current=current)

    await run(4, ready=0)  # no pod admitted yet: new pods are looked for, loaded, admitted
    assert fake.new_pods_only == [False]
    await run(4, ready=0)  # still waiting for the gate: only the pods not admitted yet
    assert fake.new_pods_only == [False, True]
    await run(4, ready=2)  # they were admitted: every pod is checked once more
    await run(4, ready=2)  # steady: no call
    assert len(fake.calls) == 3
    target, batching = fake.calls[0]
    assert (target.model, target.selector) == (
        "synth",
        "infercost.io/service=bert,infercost.io/variant=cpu,infercost.io/pool=a",
    )
    assert batching.max_batch_size == 4
    await run(4, ready=1)  # a pod was replaced: its successor waits for its config
    await run(8, ready=1)  # the plan changed: every pod, whatever the ready count
    assert [b.max_batch_size for _, b in fake.calls] == [4, 4, 4, 4, 8]
    assert fake.new_pods_only == [False, True, False, False, False]
    rollout.forget("ml", "bert")
    await run(8, ready=2)
    assert len(fake.calls) == 6
    # A rolling update (a new template) surges a third pod: 2 wanted, 2 ready, 3 pods. Its
    # gate must be opened, or the update waits forever (maxUnavailable 0).
    surge = {("cpu", "a"): CurrentDeployment(replicas=2, ready_replicas=2, pods=3)}
    await rollout.run(body=BODY, spec=SPEC, plan=plan(8), current=surge)
    assert (len(fake.calls), fake.new_pods_only[-1]) == (7, True)
    await api.close()
