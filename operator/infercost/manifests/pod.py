"""The Triton pod's platform side: what `spec.pod` adds, its lifecycle and its disruption stance.

Pure: `with_pod_settings` takes the Deployment triton.py built and returns it with

* the user's service account (token mounted when one is named: IRSA / EKS Pod Identity),
  env, envFrom, image pull Secrets, volumes and mounts, labels and annotations, priority;
* a startupProbe sized from the variant's startupSeconds (Triton opens its HTTP port only
  after the model has loaded), liveness and readiness without an initial delay;
* a graceful stop: preStop sleeps while endpoints drop the pod, then Triton drains in-flight
  requests for `--exit-timeout-secs`; terminationGracePeriodSeconds covers both;
* zone spread by default for services that may run more than one replica;
* `karpenter.sh/do-not-disrupt` for services that may run a single replica (docs/install.md);
* progressDeadlineSeconds sized from the pool's provisioning and the variant's startup.

Everything here depends on the spec and settings only, never on the current replica count:
a pod template that changed with the count would restart every replica on each scaling step.
"""

from __future__ import annotations

import math
from typing import Any

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec, Variant
from infercost.manifests.common import LABEL_SERVICE, ManifestSettings, Owner, short_name

ZONE_KEY = "topology.kubernetes.io/zone"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
# A pinned model version is a release: changing it rolls the pods (surge first, so capacity
# never dips), which then start with the new version policy of the model config.
ANNOTATION_MODEL_VERSION = "infercost.io/model-version"
DISRUPT_POLICIES = ("SingleReplica", "Always", "Never")


def drain_args(settings: ManifestSettings) -> list[str]:
    """Triton's own drain: how long it waits for in-flight requests after SIGTERM."""
    return [f"--exit-timeout-secs={settings.triton_exit_timeout_seconds}"]


def termination_grace_seconds(settings: ManifestSettings) -> int:
    """preStop sleep + Triton's drain + slack: the kubelet must not SIGKILL a draining Triton."""
    return (
        settings.prestop_sleep_seconds
        + settings.triton_exit_timeout_seconds
        + settings.termination_slack_seconds
    )


def startup_probe(variant: Variant, settings: ManifestSettings) -> dict[str, Any]:
    """Liveness waits until Triton answers once; failureThreshold x period covers the load.

    startupSeconds is an estimate, so it is multiplied by `startup_margin`.
    """
    period = settings.startup_probe_period_seconds
    budget = variant.startup_seconds * settings.startup_margin
    return {
        "httpGet": {"path": "/v2/health/live", "port": "http"},
        "periodSeconds": period,
        "failureThreshold": max(3, math.ceil(budget / period)),
    }


def liveness_probe() -> dict[str, Any]:
    return {
        "httpGet": {"path": "/v2/health/live", "port": "http"},
        "periodSeconds": 10,
        "failureThreshold": 3,
    }


def progress_deadline_seconds(
    *, variant: Variant, pool: AcceleratorPoolSpec, settings: ManifestSettings
) -> int:
    """A rollout stuck longer than a node's provisioning plus the model's (margined) startup
    plus slack (scheduling, the image pull) is reported as ProgressDeadlineExceeded."""
    startup = math.ceil(variant.startup_seconds * settings.startup_margin)
    return pool.provisioning_seconds + startup + settings.progress_deadline_slack_seconds


def may_run_one_replica(spec: InferenceServiceSpec) -> bool:
    return spec.scaling.min_replicas <= 1


def zone_spread(
    *, spec: InferenceServiceSpec, owner: Owner, settings: ManifestSettings
) -> list[dict[str, Any]]:
    """The user's constraints (counting this service's pods unless they say otherwise), or
    a soft spread over zones when the service may run more than one replica."""
    own_pods = {"matchLabels": {LABEL_SERVICE: short_name(owner.name)}}
    if spec.pod.topology_spread_constraints:
        constraints = []
        for given in spec.pod.topology_spread_constraints:
            constraint = given.model_dump(by_alias=True, exclude_none=True)
            if not constraint.get("matchLabelKeys"):
                constraint.pop("matchLabelKeys", None)
            constraint.setdefault("labelSelector", own_pods)
            constraints.append(constraint)
        return constraints
    if spec.scaling.max_replicas <= 1 or not settings.zone_spread:
        return []
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE_KEY,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": own_pods,
        }
    ]


def pod_annotations(spec: InferenceServiceSpec, settings: ManifestSettings) -> dict[str, str]:
    """The user's annotations over the operator's Karpenter stance (the user's value wins)."""
    policy = settings.karpenter_do_not_disrupt
    if policy not in DISRUPT_POLICIES:
        raise ValueError(
            f"karpenter_do_not_disrupt {policy!r}: use one of {', '.join(DISRUPT_POLICIES)}"
        )
    protect = policy == "Always" or (policy == "SingleReplica" and may_run_one_replica(spec))
    stance = {DO_NOT_DISRUPT: "true"} if protect else {}
    annotations = {**stance, **spec.pod.annotations}
    if annotations.get(DO_NOT_DISRUPT) == "false":
        # The user's opt-out: Karpenter knows only "true" or a duration, so say nothing.
        del annotations[DO_NOT_DISRUPT]
    return annotations


def _env(spec: InferenceServiceSpec, variant: Variant) -> list[dict[str, Any]]:
    """Service env, then the variant's; a name in both takes the variant's value (in place)."""
    merged: dict[str, dict[str, Any]] = {}
    for var in [*spec.pod.env, *variant.pod.env]:
        merged[var.name] = var.model_dump(by_alias=True, exclude_none=True)
    return list(merged.values())


def _dumped(items: Any) -> list[dict[str, Any]]:
    return [item.model_dump(by_alias=True, exclude_none=True) for item in items]


def with_pod_settings(
    deployment: dict[str, Any],
    *,
    owner: Owner,
    spec: InferenceServiceSpec,
    variant: Variant,
    pool: AcceleratorPoolSpec,
    settings: ManifestSettings,
) -> dict[str, Any]:
    """`deployment` (triton.py's) with the platform side applied; the operator's own labels,
    volumes and mounts are kept (the API refuses names that would collide with them)."""
    template = deployment["spec"]["template"]
    pod = template["spec"]
    (container,) = pod["containers"]
    pod_spec = spec.pod

    template["metadata"]["labels"] = {**pod_spec.labels, **template["metadata"]["labels"]}
    annotations = pod_annotations(spec, settings)
    if spec.model.version is not None:
        annotations[ANNOTATION_MODEL_VERSION] = spec.model.version
    if annotations:
        template["metadata"]["annotations"] = {
            **annotations,
            **template["metadata"].get("annotations", {}),
        }

    named = pod_spec.service_account_name
    if named:
        pod["serviceAccountName"] = named
    automount = pod_spec.automount_service_account_token
    pod["automountServiceAccountToken"] = automount if automount is not None else bool(named)
    if pod_spec.image_pull_secrets:
        pod["imagePullSecrets"] = _dumped(pod_spec.image_pull_secrets)
    if pod_spec.priority_class_name:
        pod["priorityClassName"] = pod_spec.priority_class_name
    spread = zone_spread(spec=spec, owner=owner, settings=settings)
    if spread:
        pod["topologySpreadConstraints"] = spread
    pod["volumes"] = [*pod["volumes"], *_dumped(pod_spec.volumes), *_dumped(variant.pod.volumes)]
    pod["terminationGracePeriodSeconds"] = termination_grace_seconds(settings)

    env = _env(spec, variant)
    if env:  # after the operator's own (the repository key), whose names users cannot take
        container["env"] = [*container.get("env", []), *env]
    if pod_spec.env_from:
        container["envFrom"] = _dumped(pod_spec.env_from)
    container["volumeMounts"] = [
        *container["volumeMounts"],
        *_dumped(pod_spec.volume_mounts),
        *_dumped(variant.pod.volume_mounts),
    ]
    container["startupProbe"] = startup_probe(variant, settings)
    container["livenessProbe"] = liveness_probe()
    # Endpoints (kube-proxy, load balancers) drop a terminating pod asynchronously: keep
    # serving a moment before Triton stops accepting requests. The sleep action (Kubernetes
    # >= 1.30, the chart's floor) needs no shell or binary in the image.
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": settings.prestop_sleep_seconds}}}

    deployment["spec"]["progressDeadlineSeconds"] = progress_deadline_seconds(
        variant=variant, pool=pool, settings=settings
    )
    return deployment
