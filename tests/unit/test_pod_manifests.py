"""The Triton pod's platform side (manifests/pod.py, manifests/version.py): spec.pod reaches the
pod, the lifecycle is sized from the spec and settings, the disruption stance follows the
spec, and nothing in the pod template depends on the replica count (pure)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from tests.support.crdcheck import load_examples

from infercost import manifests
from infercost.api.podparts import (
    OPERATOR_ENV,
    OPERATOR_LABEL_PREFIXES,
    OPERATOR_MOUNT_PATHS,
    OPERATOR_VOLUMES,
)
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig
from infercost.manifests.pod import DO_NOT_DISRUPT, ZONE_KEY

pytestmark = pytest.mark.unit

EXAMPLES = {e.name: e.body for e in load_examples()}
POOL = AcceleratorPoolSpec.model_validate(EXAMPLES["g5-xlarge"]["spec"])
OWNER = manifests.Owner(name="bert-base", namespace="ml", uid="u-1")
SETTINGS = manifests.ManifestSettings()


def _spec(**changes: Any) -> InferenceServiceSpec:
    body = copy.deepcopy(EXAMPLES["bert-base"]["spec"])
    for key, value in changes.items():
        body[key] = value
    return InferenceServiceSpec.model_validate(body)


def _children(
    spec: InferenceServiceSpec,
    *,
    replicas: int = 2,
    settings: manifests.ManifestSettings = SETTINGS,
) -> dict[str, dict[str, Any]]:
    allocation = Allocation(
        variant="gpu-trt-int8",
        pool="g5-xlarge",
        replicas=replicas,
        batching=BatchConfig(max_batch_size=8, max_queue_delay_us=100),
        hourly_cost=1.0,
        throughput_per_replica=100.0,
    )
    objects = manifests.children(
        owner=OWNER,
        spec=spec,
        pools={"g5-xlarge": POOL},
        allocations=[allocation],
        settings=settings,
        with_pod_monitor=False,
    )
    return {obj["kind"]: obj for obj in objects}


def _pod(spec: InferenceServiceSpec, **kwargs: Any) -> dict[str, Any]:
    template: dict[str, Any] = _children(spec, **kwargs)["Deployment"]["spec"]["template"]
    return template


@pytest.mark.parametrize("startup", [0, 7, 60, 601, 3600])
def test_the_startup_probe_covers_startup_seconds_with_the_margin(startup: int) -> None:
    body = copy.deepcopy(EXAMPLES["bert-base"]["spec"])
    body["variants"][1]["startupSeconds"] = startup
    container = _pod(InferenceServiceSpec.model_validate(body))["spec"]["containers"][0]
    probe = container["startupProbe"]
    assert probe["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    budget = probe["failureThreshold"] * probe["periodSeconds"]
    assert budget >= startup * SETTINGS.startup_margin
    assert budget < startup * SETTINGS.startup_margin + probe["periodSeconds"] or budget == 30
    for name in ("livenessProbe", "readinessProbe"):
        assert "initialDelaySeconds" not in container[name], name


def test_a_stopping_pod_drains_within_its_grace_period() -> None:
    pod = _pod(_spec())["spec"]
    (container,) = pod["containers"]
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    exit_timeout = int(
        next(a for a in container["args"] if a.startswith("--exit-timeout-secs=")).split("=")[1]
    )
    assert sleep == SETTINGS.prestop_sleep_seconds > 0
    assert exit_timeout == SETTINGS.triton_exit_timeout_seconds
    assert pod["terminationGracePeriodSeconds"] > sleep + exit_timeout


def test_the_progress_deadline_is_provisioning_plus_startup_plus_slack() -> None:
    deployment = _children(_spec())["Deployment"]
    startup = math.ceil(60 * SETTINGS.startup_margin)
    expected = POOL.provisioning_seconds + startup + SETTINGS.progress_deadline_slack_seconds
    assert deployment["spec"]["progressDeadlineSeconds"] == expected


def test_the_pod_template_does_not_depend_on_the_replica_count() -> None:
    # A template that changed with the count would restart every replica at each scaling step.
    for spec in (_spec(), _spec(scaling={"minReplicas": 1, "maxReplicas": 1})):
        assert _pod(spec, replicas=1) == _pod(spec, replicas=5)


def test_zones_are_spread_by_default_only_when_more_than_one_replica_may_run() -> None:
    (spread,) = _pod(_spec())["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == ZONE_KEY
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"] == {"matchLabels": {"infercost.io/service": "bert-base"}}
    single = _spec(scaling={"minReplicas": 1, "maxReplicas": 1})
    assert "topologySpreadConstraints" not in _pod(single)["spec"]
    off = manifests.ManifestSettings(zone_spread=False)
    assert "topologySpreadConstraints" not in _pod(_spec(), settings=off)["spec"]


def test_the_user_s_spread_replaces_the_default_and_counts_the_service_s_pods() -> None:
    given = {
        "maxSkew": 2,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
    }
    (spread,) = _pod(_spec(pod={"topologySpreadConstraints": [given]}))["spec"][
        "topologySpreadConstraints"
    ]
    assert spread == {
        **given,
        "labelSelector": {"matchLabels": {"infercost.io/service": "bert-base"}},
    }


@pytest.mark.parametrize(
    ("min_replicas", "policy", "annotations", "expected"),
    [
        (1, "SingleReplica", {}, "true"),
        (2, "SingleReplica", {}, None),
        (2, "Always", {}, "true"),
        (1, "Never", {}, None),
        (1, "SingleReplica", {DO_NOT_DISRUPT: "false"}, None),
        (2, "SingleReplica", {DO_NOT_DISRUPT: "30m"}, "30m"),
    ],
)
def test_karpenter_do_not_disrupt_follows_the_spec_and_the_user(
    min_replicas: int, policy: str, annotations: dict[str, str], expected: str | None
) -> None:
    spec = _spec(
        scaling={"minReplicas": min_replicas, "maxReplicas": 4}, pod={"annotations": annotations}
    )
    settings = manifests.ManifestSettings(karpenter_do_not_disrupt=policy)
    metadata = _pod(spec, settings=settings)["metadata"]
    assert metadata.get("annotations", {}).get(DO_NOT_DISRUPT) == expected


def test_an_unknown_disruption_policy_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="SingleReplica, Always, Never"):
        _pod(_spec(), settings=manifests.ManifestSettings(karpenter_do_not_disrupt="Sometimes"))


@pytest.mark.parametrize(
    ("pod", "automount"),
    [
        ({}, False),
        ({"serviceAccountName": "triton"}, True),
        ({"serviceAccountName": "triton", "automountServiceAccountToken": False}, False),
        ({"automountServiceAccountToken": True}, True),
    ],
)
def test_the_token_is_mounted_when_a_service_account_is_named(
    pod: dict[str, Any], automount: bool
) -> None:
    spec = _pod(_spec(pod=pod))["spec"]
    assert spec["automountServiceAccountToken"] is automount
    assert spec.get("serviceAccountName") == pod.get("serviceAccountName")


def test_variant_env_and_volumes_add_to_the_service_s() -> None:
    body = copy.deepcopy(EXAMPLES["bert-base"]["spec"])
    body["pod"] = {
        "env": [{"name": "A", "value": "service"}, {"name": "B", "value": "service"}],
        "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": "m"}}],
        "volumeMounts": [{"name": "models", "mountPath": "/models"}],
    }
    body["variants"][1]["pod"] = {
        "env": [{"name": "B", "value": "variant"}],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "volumeMounts": [
            {"name": "cache", "mountPath": "/cache"},
            {"name": "models", "mountPath": "/m2"},
        ],
    }
    pod = _pod(InferenceServiceSpec.model_validate(body))["spec"]
    (container,) = pod["containers"]
    assert container["env"][1:] == [
        {"name": "A", "value": "service"},
        {"name": "B", "value": "variant"},
    ]
    assert {"models", "cache"} <= {v["name"] for v in pod["volumes"]}
    assert {"/models", "/cache", "/m2"} <= {m["mountPath"] for m in container["volumeMounts"]}
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "m"}} in pod["volumes"]


def test_what_the_api_reserves_is_what_the_operator_uses() -> None:
    template = _pod(_spec())
    pod = template["spec"]
    (container,) = pod["containers"]
    assert {v["name"] for v in pod["volumes"]} == set(OPERATOR_VOLUMES)
    assert {m["mountPath"] for m in container["volumeMounts"]} == set(OPERATOR_MOUNT_PATHS)
    assert all(key.startswith(OPERATOR_LABEL_PREFIXES) for key in template["metadata"]["labels"])
    assert {p["containerPort"] for p in container["ports"]} == {8000, 8001, 8002}
    assert {e["name"] for e in container["env"]} == set(OPERATOR_ENV)


def test_user_labels_join_the_operator_s() -> None:
    labels = _pod(_spec(pod={"labels": {"team": "ml"}}))["metadata"]["labels"]
    assert labels["team"] == "ml"
    assert labels["infercost.io/service"] == "bert-base"


def test_a_pinned_version_reaches_the_model_config_and_none_leaves_triton_s_policy() -> None:
    pinned = _children(_spec(model={"name": "bert_base", "version": "3"}))["ConfigMap"]
    (text,) = pinned["data"].values()
    assert "version_policy: { specific: { versions: [ 3 ] } }" in text
    (plain,) = _children(_spec())["ConfigMap"]["data"].values()
    assert "version_policy" not in plain


def test_a_version_change_rolls_the_pods_and_a_batching_change_does_not() -> None:
    one = _pod(_spec(model={"name": "bert_base", "version": "1"}))
    two = _pod(_spec(model={"name": "bert_base", "version": "2"}))
    assert one != two
    assert two["metadata"]["annotations"]["infercost.io/model-version"] == "2"
    assert "infercost.io/model-version" not in _pod(_spec())["metadata"].get("annotations", {})


def test_the_disruption_budget_allows_drains_and_evicting_unready_pods() -> None:
    budget = _children(_spec())["PodDisruptionBudget"]["spec"]
    assert budget["maxUnavailable"] == SETTINGS.pdb_max_unavailable >= 1
    assert "minAvailable" not in budget
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_user_env_joins_the_operator_s_repository_key() -> None:
    (container,) = _pod(_spec(pod={"env": [{"name": "AWS_REGION", "value": "us-east-1"}]}))["spec"][
        "containers"
    ]
    assert [e["name"] for e in container["env"]] == [*OPERATOR_ENV, "AWS_REGION"]
