"""What a platform team adds to the Triton pods (`spec.pod`, and per variant `variants[].pod`):
identity (service account: IRSA, EKS Pod Identity, GKE Workload Identity), environment,
image pull Secrets, volumes (a model repository on a PVC), metadata, priority and spread.

Pools keep owning nodeSelector and tolerations; the operator keeps owning what the model server
needs to work (its labels, ports, config mount), which the rules below refuse to override.
Every CEL rule has a pydantic mirror, so `kubectl apply` and `infercost plan` agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from infercost.api.common import Model, cel, cel_rules
from infercost.api.podparts import (
    MSG_ANNOTATION_RESERVED,
    MSG_LABEL_RESERVED,
    MSG_MOUNT_UNDECLARED,
    MSG_UNIQUE_VOLUMES,
    MSG_VARIANT_MOUNT_UNDECLARED,
    OPERATOR_LABEL_PREFIX,
    AnnotationValue,
    EnvFrom,
    EnvVar,
    LabelValue,
    LocalObjectRef,
    PodVolume,
    SubdomainName,
    TopologySpread,
    VolumeMount,
    reserved_label,
)

MSG_UNIQUE_MOUNT_PATHS = "volumeMounts[].mountPath must be unique across spec.pod and the variant"

_NAMES_UNIQUE = (
    "!has(self.volumes) || self.volumes.all(v, self.volumes.exists_one(w, w.name == v.name))"
)
_PATHS_UNIQUE = (
    "!has(self.volumeMounts) || "
    "self.volumeMounts.all(m, self.volumeMounts.exists_one(n, n.mountPath == m.mountPath))"
)


class VariantPod(Model):
    """What one variant adds to the service-wide `spec.pod` (e.g. its own model volume)."""

    model_config = cel_rules(
        cel(_NAMES_UNIQUE, MSG_UNIQUE_VOLUMES, ".volumes"),
        cel(_PATHS_UNIQUE, MSG_UNIQUE_MOUNT_PATHS, ".volumeMounts"),
    )

    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Variables added to spec.pod.env; a name given in both takes this value.",
    )
    volumes: list[PodVolume] = Field(
        default_factory=list, max_length=16, description="Volumes added to spec.pod.volumes."
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list,
        max_length=16,
        description="Mounts added to spec.pod.volumeMounts; of this variant's or the service's volumes.",
    )

    @model_validator(mode="after")
    def _unique(self) -> VariantPod:
        _refuse_repeats([v.name for v in self.volumes], MSG_UNIQUE_VOLUMES)
        _refuse_repeats([m.mount_path for m in self.volume_mounts], MSG_UNIQUE_MOUNT_PATHS)
        return self


class PodSettings(Model):
    """Service-wide additions to every Triton pod of the service."""

    model_config = cel_rules(
        cel(
            "!has(self.labels) || self.labels.all(k, !k.startsWith('infercost.io/') && "
            "!k.startsWith('app.kubernetes.io/'))",
            MSG_LABEL_RESERVED,
            ".labels",
        ),
        cel(
            "!has(self.annotations) || self.annotations.all(k, !k.startsWith('infercost.io/'))",
            MSG_ANNOTATION_RESERVED,
            ".annotations",
        ),
        cel(
            "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && "
            "self.volumes.exists(v, v.name == m.name))",
            MSG_MOUNT_UNDECLARED,
            ".volumeMounts",
        ),
        cel(_NAMES_UNIQUE, MSG_UNIQUE_VOLUMES, ".volumes"),
        cel(_PATHS_UNIQUE, MSG_UNIQUE_MOUNT_PATHS, ".volumeMounts"),
    )

    service_account_name: SubdomainName | None = Field(
        default=None,
        description=(
            "ServiceAccount the pods run as, e.g. one annotated for IRSA "
            "(eks.amazonaws.com/role-arn) or GKE Workload Identity (iam.gke.io/gcp-service-account)."
        ),
    )
    automount_service_account_token: bool | None = Field(
        strict=True,
        default=None,
        description=(
            "Mount the ServiceAccount's API token; default: true when serviceAccountName is set "
            "(IRSA and EKS Pod Identity exchange it for cloud credentials), false otherwise."
        ),
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Environment variables of the Triton container, e.g. AWS_REGION.",
    )
    env_from: list[EnvFrom] = Field(
        default_factory=list,
        max_length=16,
        description="ConfigMaps and Secrets whose every key becomes an environment variable.",
    )
    image_pull_secrets: list[LocalObjectRef] = Field(
        default_factory=list,
        max_length=16,
        description="Secrets of type kubernetes.io/dockerconfigjson for a private registry.",
    )
    volumes: list[PodVolume] = Field(
        default_factory=list,
        max_length=16,
        description="Volumes of the pod, e.g. a PersistentVolumeClaim holding the model repository.",
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list,
        max_length=16,
        description="Where volumes of spec.pod.volumes appear in the Triton container.",
    )
    annotations: dict[str, AnnotationValue] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "Pod annotations; infercost.io/* are the operator's. Setting "
            "karpenter.sh/do-not-disrupt here overrides the operator's choice (docs/install.md)."
        ),
    )
    labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "Pod labels; infercost.io/* and app.kubernetes.io/* are the operator's (it sets "
            "the recommended labels)."
        ),
    )
    priority_class_name: SubdomainName | None = Field(
        default=None, description="PriorityClass of the pods (preemption order under pressure)."
    )
    topology_spread_constraints: list[TopologySpread] = Field(
        default_factory=list,
        max_length=8,
        description=(
            "Replace the default spread (over topology.kubernetes.io/zone, ScheduleAnyway, when "
            "scaling.maxReplicas > 1); a constraint without labelSelector counts this service's pods."
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> PodSettings:
        reserved = sorted(key for key in self.labels if reserved_label(key))
        if reserved:
            raise ValueError(f"{MSG_LABEL_RESERVED}: labels {', '.join(reserved)}")
        owned = sorted(k for k in self.annotations if k.startswith(OPERATOR_LABEL_PREFIX))
        if owned:
            raise ValueError(f"{MSG_ANNOTATION_RESERVED}: annotations {', '.join(owned)}")
        declared = {volume.name for volume in self.volumes}
        missing = sorted({m.name for m in self.volume_mounts} - declared)
        if missing:
            raise ValueError(f"{MSG_MOUNT_UNDECLARED}: volumeMounts name {', '.join(missing)}")
        _refuse_repeats([v.name for v in self.volumes], MSG_UNIQUE_VOLUMES)
        _refuse_repeats([m.mount_path for m in self.volume_mounts], MSG_UNIQUE_MOUNT_PATHS)
        return self


# Rules across spec.pod and variants[].pod, declared on InferenceServiceSpec (service.py).
SPEC_RULES: tuple[dict[str, str], ...] = (
    cel(
        "self.variants.all(x, !has(x.pod) || !has(x.pod.volumeMounts) || "
        "x.pod.volumeMounts.all(m, (has(x.pod.volumes) && x.pod.volumes.exists(v, v.name == m.name))"
        " || (has(self.pod) && has(self.pod.volumes) && self.pod.volumes.exists(v, v.name == m.name))))",
        MSG_VARIANT_MOUNT_UNDECLARED,
        ".variants",
    ),
    cel(
        "!has(self.pod) || !has(self.pod.volumes) || self.variants.all(x, !has(x.pod) || "
        "!has(x.pod.volumes) || x.pod.volumes.all(v, !self.pod.volumes.exists(w, w.name == v.name)))",
        MSG_UNIQUE_VOLUMES,
        ".variants",
    ),
    cel(
        "!has(self.pod) || !has(self.pod.volumeMounts) || self.variants.all(x, !has(x.pod) || "
        "!has(x.pod.volumeMounts) || x.pod.volumeMounts.all(m, "
        "!self.pod.volumeMounts.exists(n, n.mountPath == m.mountPath)))",
        MSG_UNIQUE_MOUNT_PATHS,
        ".variants",
    ),
)


def variant_pod_errors(service: PodSettings, variants: Sequence[Any]) -> list[str]:
    """The pydantic mirror of SPEC_RULES: what each variant's pod adds must fit the service's."""
    errors = []
    service_volumes = {volume.name for volume in service.volumes}
    service_paths = {mount.mount_path for mount in service.volume_mounts}
    for variant in variants:
        pod: VariantPod = variant.pod
        own = {volume.name for volume in pod.volumes}
        missing = sorted({m.name for m in pod.volume_mounts} - own - service_volumes)
        if missing:
            errors.append(
                f"{MSG_VARIANT_MOUNT_UNDECLARED}: variants[{variant.name}] mounts {missing}"
            )
        repeated = sorted(own & service_volumes)
        if repeated:
            errors.append(f"{MSG_UNIQUE_VOLUMES}: variants[{variant.name}] repeats {repeated}")
        paths = {m.mount_path for m in pod.volume_mounts} & service_paths
        if paths:
            errors.append(
                f"{MSG_UNIQUE_MOUNT_PATHS}: variants[{variant.name}] repeats {sorted(paths)}"
            )
    return errors


def _refuse_repeats(values: list[str], message: str) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{message}: {', '.join(repeated)} repeated")


__all__ = ["EnvFrom", "EnvVar", "LocalObjectRef", "PodSettings", "PodVolume", "VariantPod"]
