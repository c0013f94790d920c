"""The locked-down Triton and the batching gate in the Deployment, and the key's Secret (pure).

That Triton honours these flags (and refuses load/unload without the header) is tested
against the real tritonserver in tests/e2e/test_triton_gate.py.
"""

from __future__ import annotations

import pytest
from tests.integration import objects as o
from tests.unit.test_manifests import OWNER, allocation, build

from infercost.adapters.pod_gate import awaiting, gate_patch
from infercost.manifests.triton_access import (
    BATCHING_GATE,
    REPOSITORY_KEY_ENV,
    REPOSITORY_KEY_HEADER,
    repository_key_of,
    repository_key_secret,
)

pytestmark = pytest.mark.unit


def test_the_deployment_restricts_the_repository_api_and_gates_readiness() -> None:
    children = build(allocation(o.GPU_VARIANT["name"], "g5-xlarge"))
    (deployment,) = [v for (kind, _), v in children.items() if kind == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["readinessGates"] == [{"conditionType": BATCHING_GATE}]
    (container,) = pod["containers"]
    rule = f"model-repository:{REPOSITORY_KEY_HEADER}=$({REPOSITORY_KEY_ENV})"
    assert f"--http-restricted-api={rule}" in container["args"]
    assert f"--grpc-restricted-protocol={rule}" in container["args"]
    (env,) = [e for e in container["env"] if e["name"] == REPOSITORY_KEY_ENV]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "bert-triton-key", "key": "key"}
    # The ConfigMap is the operator's record only: Triton never read the mount.
    assert all("configMap" not in v for v in pod["volumes"])
    assert ("ConfigMap", "bert-model-config") in children
    assert "Secret" not in {kind for kind, _ in children}, "created once, never re-applied"


def test_the_secret_is_owned_by_its_service_and_reads_back() -> None:
    secret = repository_key_secret(owner=OWNER, value="abc123")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == OWNER.uid
    assert secret["metadata"]["labels"]["infercost.io/service"] == "bert"
    assert repository_key_of(secret) == "abc123"
    assert repository_key_of({"data": {"key": "%%%"}}) is None
    assert repository_key_of({}) is None


def test_the_gate_patch_touches_only_its_own_condition() -> None:
    gated = {"readinessGates": [{"conditionType": BATCHING_GATE}]}
    kubelet = [{"type": "ContainersReady", "status": "True"}, {"type": "Ready", "status": "False"}]
    pod = {"metadata": {"resourceVersion": "7"}, "spec": gated, "status": {"conditions": kubelet}}
    assert awaiting(pod)
    (add,) = gate_patch(pod, message="m", now="t")
    assert (add["op"], add["path"], add["value"]["status"]) == (
        "add",
        "/status/conditions/-",
        "True",
    )

    pod["status"]["conditions"] = [*kubelet, {"type": BATCHING_GATE, "status": "False"}]
    test, replace = gate_patch(pod, message="m", now="t")
    assert test == {"op": "test", "path": "/status/conditions/2/type", "value": BATCHING_GATE}
    assert replace["path"] == "/status/conditions/2"

    pod["status"]["conditions"] = []  # nothing to append to: guarded by the version read
    guard, create = gate_patch(pod, message="m", now="t")
    assert guard == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert create["path"] == "/status/conditions"
    assert not awaiting({"spec": {}, "status": {}}), "a pod without the gate waits for nothing"
