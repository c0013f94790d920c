"""What the operator creates for every example service passes Kubernetes' schemas and checkov.

The children (manifests.children) of each InferenceService of examples/services and
examples/serving, with a Deployment on every example pool its variants can use, the optional
PodMonitor and NetworkPolicy on, plus the Kubernetes objects the serving examples ship
(ServiceAccounts, a PVC):

* kubernetes-validate, strict, against Kubernetes 1.30 and 1.33 (the PodMonitor is
  prometheus-operator's kind, not in those schemas: tests/chart/test_chart_validate.py says why);
* checkov's Kubernetes policies (offline), 0 failures. Skips are listed in CHILD_SKIPS, each
  with its reason, and applied only to the objects named there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chartkit import ROOT, TIMEOUT_S, tool
from tests.reliability.test_security import restricted_violations
from tests.support.crdcheck import EXAMPLES, load_examples

from infercost import manifests
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceService
from infercost.engine.model import Allocation, BatchConfig

pytestmark = pytest.mark.chart

KUBERNETES_VERSIONS = ["1.30", "1.33"]
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
POOLS = {
    e.name: AcceleratorPoolSpec.model_validate(e.body["spec"])
    for e in load_examples(EXAMPLES / "pools")
}
SERVICES = [
    e
    for folder in ("services", "serving")
    for e in load_examples(EXAMPLES / folder)
    if e.kind == "InferenceService"
]
SHIPPED = [e.body for e in load_examples(EXAMPLES / "serving") if e.kind != "InferenceService"]
# checkov check -> why it does not apply to the objects it would fail on. Applied per object
# through checkov's own annotation on the copy written for checkov, never on what the operator
# creates.
CHILD_SKIPS: dict[str, str] = {
    "CKV_K8S_38": (
        "CKV_K8S_38 Service account tokens mounted: only where the service names a "
        "ServiceAccount and leaves automountServiceAccountToken unset, i.e. IRSA or EKS Pod "
        "Identity, which exchange that token for AWS credentials (the point of the example)"
    ),
    "CKV_K8S_11": (
        "CKV_K8S_11 CPU limits: Triton gets a CPU request and no CPU limit on purpose; CFS "
        "quota throttling of a limit stalls batches and breaks the latency SLO "
        "(manifests/triton.py _resources); memory and accelerators are limited"
    ),
    "CKV_K8S_15": (
        "CKV_K8S_15 imagePullPolicy Always: it makes every new replica depend on the registry "
        "answering, so a registry outage would block scale-up; pin images by digest instead"
    ),
    "CKV_K8S_40": (
        "CKV_K8S_40 High UID: NVIDIA's Triton images run as triton-server, UID 1000, which owns "
        "its home; the UID is INFERCOST_RUN_AS_USER for images built otherwise"
    ),
    "CKV_K8S_35": (
        "CKV_K8S_35 Secrets as files: the model-repository key must reach Triton's command line "
        "(--http-restricted-api takes the value itself; Triton reads no key file), so it is an "
        "env var from a secretKeyRef that only feeds the $(VAR) expansion of the arguments"
    ),
    "CKV_K8S_43": (
        "CKV_K8S_43 Image by digest: the examples name Triton images by tag because a digest "
        "belongs to the user's registry copy; pinning it is the user's release step"
    ),
}


def _children(example: Any) -> list[dict[str, Any]]:
    service = InferenceService.model_validate(example.body)
    allocations = [
        Allocation(
            variant=variant.name,
            pool=pool,
            replicas=2,
            batching=BatchConfig(max_batch_size=8, max_queue_delay_us=100),
            hourly_cost=1.0,
            throughput_per_replica=100.0,
        )
        for variant in service.spec.variants
        for pool, spec in POOLS.items()
        if spec.accelerator.type in variant.accelerator_types
    ]
    assert allocations, example.name
    return manifests.children(
        owner=manifests.Owner(
            name=service.metadata.name, namespace=service.metadata.namespace or "ml", uid="u-1"
        ),
        spec=service.spec,
        pools=POOLS,
        allocations=allocations,
        settings=manifests.ManifestSettings(network_policy=True),
        with_pod_monitor=True,
    )


ALL_CHILDREN = {e.name: _children(e) for e in SERVICES}


def test_every_example_service_is_rendered_on_every_pool_it_can_use() -> None:
    assert set(ALL_CHILDREN) >= {"bert-base", "resnet50", "bert-s3", "bert-pvc"}
    deployments = [o for c in ALL_CHILDREN.values() for o in c if o["kind"] == "Deployment"]
    pools = {d["spec"]["template"]["metadata"]["labels"]["infercost.io/pool"] for d in deployments}
    # No example serves on CPU (no published CPU figures for the example models).
    assert pools == {p for p, spec in POOLS.items() if spec.accelerator.type != "cpu"}


def test_every_triton_pod_meets_the_restricted_profile_neuron_included() -> None:
    checked: set[str] = set()
    for objects in ALL_CHILDREN.values():
        for obj in objects:
            if obj["kind"] == "Deployment":
                pod = obj["spec"]["template"]["spec"]
                assert restricted_violations(pod) == [], obj["metadata"]["name"]
                checked |= set(pod["containers"][0]["resources"]["limits"]) - {"memory"}
    assert checked == {"nvidia.com/gpu", "aws.amazon.com/neuroncore"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(ALL_CHILDREN))
def test_children_validate_strictly(name: str, version: str) -> None:
    checked = 0
    for obj in ALL_CHILDREN[name]:
        if obj["kind"] == "PodMonitor":
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} invalid on {version}: {error}")
        checked += 1
    assert checked >= 5


def _skips_for(obj: dict[str, Any]) -> list[str]:
    if obj["kind"] != "Deployment":
        return []
    pod = obj["spec"]["template"]["spec"]
    skips = ["CKV_K8S_11", "CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_40", "CKV_K8S_43"]
    if pod.get("serviceAccountName") and pod.get("automountServiceAccountToken"):
        skips.append("CKV_K8S_38")
    return skips


def _write_for_checkov(folder: Path, *, skips: bool = True) -> None:
    for name, objects in ALL_CHILDREN.items():
        for index, obj in enumerate(objects):
            copy = json.loads(json.dumps(obj))
            for number, check in enumerate(_skips_for(obj) if skips else [], start=1):
                copy["metadata"]["annotations"][f"checkov.io/skip{number}"] = (
                    f"{check}={CHILD_SKIPS[check]}"
                )
            (folder / f"{name}-{index}.yaml").write_text(yaml.safe_dump(copy))
    for index, obj in enumerate(SHIPPED):
        (folder / f"shipped-{index}.yaml").write_text(yaml.safe_dump(obj))


def _checkov(folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(tool("checkov")),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=ROOT,
        env={**os.environ, **OFFLINE_ENV},
    )
    assert done.stdout.strip(), f"checkov printed nothing:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    result: dict[str, Any] = report[0] if isinstance(report, list) else report
    return result


def test_children_pass_checkov(tmp_path: Path) -> None:
    _write_for_checkov(tmp_path)
    result = _checkov(tmp_path)
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']}"
        for c in result["results"]["failed_checks"]
    ]
    assert failed == []
    summary = result["summary"]
    assert summary["parsing_errors"] == 0
    passed = {c["check_id"] for c in result["results"]["passed_checks"]}
    # The restricted-pod checks ran on the Triton Deployments.
    assert {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_28", "CKV_K8S_37"} <= passed
    skipped = {c["check_id"] for c in result["results"]["skipped_checks"]}
    assert skipped == set(CHILD_SKIPS)
    # Each skip is still needed: without the annotations exactly those checks fail.
    bare = tmp_path / "bare"
    bare.mkdir()
    _write_for_checkov(bare, skips=False)
    unskipped = {c["check_id"] for c in _checkov(bare)["results"]["failed_checks"]}
    assert unskipped == set(CHILD_SKIPS)
    print(f"checkov on the children of {len(ALL_CHILDREN)} example services: {summary}")
