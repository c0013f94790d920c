"""examples/serving: every InferenceService is accepted by pydantic, the CRD's schema and every
CEL rule; every Kubernetes object beside it validates strictly on Kubernetes 1.30 and 1.33;
the profiles repeat the cited figures of examples/services; and what each example is for
(IRSA, Workload Identity, a PVC repository, a private registry) reaches the Triton pod."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from tests.support.crdcheck import (
    EXAMPLES,
    Example,
    api_server_errors,
    load_examples,
    pydantic_errors,
)

from infercost import manifests
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceService
from infercost.engine.model import Allocation, BatchConfig

pytestmark = pytest.mark.unit

SERVING = load_examples(EXAMPLES / "serving")
OURS = [e for e in SERVING if e.body["apiVersion"].startswith("infercost.io/")]
KUBERNETES = [e for e in SERVING if e not in OURS]
CITED = {
    e.name: InferenceService.model_validate(e.body) for e in load_examples(EXAMPLES / "services")
}
POOLS = {
    e.name: AcceleratorPoolSpec.model_validate(e.body["spec"])
    for e in load_examples(EXAMPLES / "pools")
}


def test_the_serving_examples_cover_the_four_cases() -> None:
    assert {e.name for e in OURS} == {"bert-s3", "resnet50-gcs", "bert-pvc", "bert-private"}
    assert {e.kind for e in KUBERNETES} == {"ServiceAccount", "PersistentVolumeClaim"}


@pytest.mark.parametrize("example", OURS, ids=str)
def test_serving_service_is_accepted_by_the_crd_and_pydantic(example: Example) -> None:
    assert api_server_errors(example.body) == []
    assert pydantic_errors(example.body) == []


@pytest.mark.parametrize("version", ["1.30", "1.33"])
@pytest.mark.parametrize("example", KUBERNETES, ids=str)
def test_kubernetes_objects_of_the_examples_validate_strictly(
    example: Example, version: str
) -> None:
    kubernetes_validate.validate(example.body, version, strict=True)


@pytest.mark.parametrize("example", OURS, ids=str)
def test_serving_profiles_are_the_cited_ones(example: Example) -> None:
    service = InferenceService.model_validate(example.body)
    model = "bert-base" if service.spec.model.name == "bert_base" else "resnet50"
    for variant in service.spec.variants:
        (source,) = [v for v in CITED[model].spec.variants if v.name == variant.name]
        assert variant.profile == source.profile, variant.name


def _pod(name: str, variant: str) -> dict[str, Any]:
    (example,) = [e for e in OURS if e.name == name]
    service = InferenceService.model_validate(example.body)
    (chosen,) = [v for v in service.spec.variants if v.name == variant]
    pool = next(p for p, s in POOLS.items() if s.accelerator.type in chosen.accelerator_types)
    allocation = Allocation(
        variant=variant,
        pool=pool,
        replicas=1,
        batching=BatchConfig(max_batch_size=8, max_queue_delay_us=100),
        hourly_cost=1.0,
        throughput_per_replica=100.0,
    )
    objects = manifests.children(
        owner=manifests.Owner(name=name, namespace="ml", uid="u"),
        spec=service.spec,
        pools=POOLS,
        allocations=[allocation],
        settings=manifests.ManifestSettings(),
        with_pod_monitor=False,
    )
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    template: dict[str, Any] = deployment["spec"]["template"]
    return template


def _sa_of(file: str) -> dict[str, Any]:
    (sa,) = [e.body for e in KUBERNETES if e.path.name == file and e.kind == "ServiceAccount"]
    return sa


def test_irsa_pods_run_as_the_annotated_service_account_with_its_token_and_region() -> None:
    pod = _pod("bert-s3", "gpu-trt-int8")["spec"]
    sa = _sa_of("s3-irsa.yaml")
    assert "eks.amazonaws.com/role-arn" in sa["metadata"]["annotations"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert pod["priorityClassName"] == "model-serving"


def test_workload_identity_pods_use_the_bound_service_account_without_a_token() -> None:
    template = _pod("resnet50-gcs", "gpu-trt-int8")
    sa = _sa_of("gcs-workload-identity.yaml")
    assert "iam.gke.io/gcp-service-account" in sa["metadata"]["annotations"]
    assert template["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert template["spec"]["automountServiceAccountToken"] is False
    assert template["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
    (spread,) = template["spec"]["topologySpreadConstraints"]
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"] == {"matchLabels": {"infercost.io/service": "resnet50-gcs"}}


def test_each_pvc_repository_is_mounted_where_its_variant_reads_it() -> None:
    claims = {e.body["metadata"]["name"] for e in KUBERNETES if e.kind == "PersistentVolumeClaim"}
    for variant, volume_name in (("gpu-trt-int8", "models"), ("neuron-bf16", "neuron-models")):
        pod = _pod("bert-pvc", variant)["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == volume_name]
        assert volume["persistentVolumeClaim"]["claimName"] in claims
        container = pod["containers"][0]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume_name]
        repository = next(a for a in container["args"] if a.startswith("--model-repository="))
        assert repository.split("=", 1)[1].startswith(mount["mountPath"] + "/")
    # The Neuron claim is the Neuron variant's alone; the service-wide one reaches both.
    gpu = {v["name"] for v in _pod("bert-pvc", "gpu-trt-int8")["spec"]["volumes"]}
    neuron = {v["name"] for v in _pod("bert-pvc", "neuron-bf16")["spec"]["volumes"]}
    assert "neuron-models" not in gpu
    assert {"models", "neuron-models"} <= neuron


def test_the_private_image_is_pulled_with_the_secret_and_the_opt_out_is_honoured() -> None:
    template = _pod("bert-private", "gpu-trt-int8")
    assert template["spec"]["imagePullSecrets"] == [{"name": "registry-example-com"}]
    assert template["spec"]["containers"][0]["image"].startswith("registry.example.com/")
    # minReplicas 1 would protect the pod; the service's "false" opts out, and the operator
    # then writes no annotation at all (Karpenter knows only "true" or a duration).
    assert "karpenter.sh/do-not-disrupt" not in template["metadata"].get("annotations", {})
    assert template["metadata"]["labels"]["team"] == "ml"
