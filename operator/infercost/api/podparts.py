"""Kubernetes sub-objects of `spec.pod` (api/pod.py): env vars, envFrom, volumes, mounts,
spread constraints, and what the operator reserves for itself in the Triton pod.

They are typed so the CRD stays structural and `kubectl explain` describes them; a volume's
*source* is the one place left open (see `PodVolume`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from infercost.api.common import (
    DNS_SUBDOMAIN_PATTERN,
    DnsLabel,
    LabelSelector,
    LabelString,
    Model,
    cel,
    cel_rules,
)

# What the operator itself puts in every Triton pod; users cannot override them. The manifests
# use exactly these (tests/unit/test_pod_manifests.py checks that the two agree).
OPERATOR_VOLUMES = ("tmp", "dshm")
OPERATOR_MOUNT_PATHS = ("/tmp", "/dev/shm")
OPERATOR_LABEL_PREFIX = "infercost.io/"
# The operator sets the recommended labels (app.kubernetes.io/*) on its pods; users cannot.
# Prefixes, not key lists: a prefix test keeps the CEL rule's estimated cost small.
OPERATOR_LABEL_PREFIXES = (OPERATOR_LABEL_PREFIX, "app.kubernetes.io/")
# Environment variables the operator sets on the Triton container (the model-repository key
# its arguments expand, manifests/triton_access.py). A name listed here is refused in `env`.
OPERATOR_ENV: tuple[str, ...] = ("INFERCOST_REPOSITORY_KEY",)

MSG_VOLUME_RESERVED = f"volume names {', '.join(OPERATOR_VOLUMES)} are the operator's"
MSG_MOUNT_RESERVED = f"mount paths {', '.join(OPERATOR_MOUNT_PATHS)} are the operator's"
MSG_LABEL_RESERVED = "labels infercost.io/* and app.kubernetes.io/* are the operator's"
MSG_ANNOTATION_RESERVED = "annotations infercost.io/* are the operator's"
MSG_MOUNT_UNDECLARED = "volumeMounts[].name must name a volume of spec.pod.volumes"
MSG_VARIANT_MOUNT_UNDECLARED = (
    "variants[].pod.volumeMounts[].name must name a volume of spec.pod.volumes or of the variant"
)
MSG_UNIQUE_VOLUMES = "volume names must be unique across spec.pod.volumes and the variant's"
MSG_ENV_VALUE_OR_FROM = "env[]: set value or valueFrom, not both"
MSG_ONE_SOURCE = "set exactly one source"
MSG_MIN_DOMAINS = "minDomains applies only with whenUnsatisfiable DoNotSchedule"

SubdomainName = Annotated[
    str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)
]
EnvName = Annotated[
    str, StringConstraints(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", min_length=1, max_length=253)
]
LabelValue = Annotated[
    str, StringConstraints(pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", max_length=63)
]
AnnotationValue = Annotated[str, StringConstraints(max_length=4096)]
MountPath = Annotated[str, StringConstraints(pattern=r"^/[^:]*$", min_length=1, max_length=1024)]


def quoted_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


class KeyRef(Model):
    """One key of a Secret or ConfigMap in the service's namespace."""

    name: SubdomainName = Field(description="Name of the Secret or ConfigMap.")
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key whose value becomes the variable's value.",
    )
    optional: bool | None = Field(
        strict=True,
        default=None,
        description="Start the pod even when the object or key is missing.",
    )


class FieldRef(Model):
    """A field of the pod (Kubernetes downward API), e.g. metadata.name or status.podIP."""

    field_path: str = Field(
        min_length=1, max_length=256, description="Path of the field, e.g. status.hostIP."
    )
    api_version: str | None = Field(
        default=None, max_length=32, description="Schema version of the path; default v1."
    )


class ResourceFieldRef(Model):
    """A resource request or limit of the Triton container (downward API)."""

    resource: str = Field(
        min_length=1, max_length=64, description="limits.memory, requests.cpu and so on."
    )
    container_name: str | None = Field(
        default=None, max_length=63, description="Container; only `triton` exists."
    )
    divisor: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^[0-9.]+[a-zA-Z]*$",
        description="Unit the value is divided by, a quantity such as 1Mi; default 1.",
        json_schema_extra={"x-kubernetes-int-or-string": True},
    )


class EnvSource(Model):
    """Where a variable's value comes from: exactly one of the four."""

    model_config = cel_rules(
        cel(
            "(has(self.secretKeyRef) ? 1 : 0) + (has(self.configMapKeyRef) ? 1 : 0)"
            " + (has(self.fieldRef) ? 1 : 0) + (has(self.resourceFieldRef) ? 1 : 0) == 1",
            MSG_ONE_SOURCE,
        )
    )

    secret_key_ref: KeyRef | None = Field(default=None, description="A key of a Secret.")
    config_map_key_ref: KeyRef | None = Field(default=None, description="A key of a ConfigMap.")
    field_ref: FieldRef | None = Field(default=None, description="A field of the pod.")
    resource_field_ref: ResourceFieldRef | None = Field(
        default=None, description="A resource of the container."
    )

    @model_validator(mode="after")
    def _one_source(self) -> EnvSource:
        chosen = [self.secret_key_ref, self.config_map_key_ref, self.field_ref]
        if sum(x is not None for x in [*chosen, self.resource_field_ref]) != 1:
            raise ValueError(f"valueFrom: {MSG_ONE_SOURCE}")
        return self


class EnvVar(Model):
    """An environment variable of the Triton container, e.g. AWS_REGION."""

    model_config = cel_rules(
        cel("!(has(self.value) && has(self.valueFrom))", MSG_ENV_VALUE_OR_FROM, ".valueFrom"),
        *(
            [cel(f"!(self.name in {quoted_list(OPERATOR_ENV)})", "env names set by the operator")]
            if OPERATOR_ENV
            else []
        ),
    )

    name: EnvName = Field(description="Variable name.")
    value: str | None = Field(default=None, max_length=32768, description="Literal value.")
    value_from: EnvSource | None = Field(
        default=None, description="Take the value from a Secret, ConfigMap or pod field."
    )

    @model_validator(mode="after")
    def _value_or_from(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError(f"{MSG_ENV_VALUE_OR_FROM} ({self.name})")
        if self.name in OPERATOR_ENV:
            raise ValueError(f"env {self.name} is set by the operator")
        return self


class NameRef(Model):
    """A ConfigMap or Secret in the service's namespace, by name."""

    name: SubdomainName = Field(description="Object name.")
    optional: bool | None = Field(
        strict=True, default=None, description="Start the pod even when missing."
    )


class EnvFrom(Model):
    """Every key of a ConfigMap or a Secret as environment variables: exactly one of the two."""

    model_config = cel_rules(
        cel("has(self.configMapRef) != has(self.secretRef)", MSG_ONE_SOURCE, ".configMapRef")
    )

    prefix: str | None = Field(
        default=None, max_length=253, description="Prepended to every variable name."
    )
    config_map_ref: NameRef | None = Field(default=None, description="The ConfigMap to read.")
    secret_ref: NameRef | None = Field(default=None, description="The Secret to read.")

    @model_validator(mode="after")
    def _one_source(self) -> EnvFrom:
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError(f"envFrom: {MSG_ONE_SOURCE} of configMapRef and secretRef")
        return self


class LocalObjectRef(Model):
    """An object in the service's namespace, by name (e.g. an image pull Secret)."""

    name: SubdomainName = Field(description="Object name.")


class PodVolume(Model):
    """A pod volume: a name plus exactly one Kubernetes volume source, e.g.
    `persistentVolumeClaim: {claimName: models, readOnly: true}`, `csi`, `secret`, `ephemeral`.

    The source is kept as written (`x-kubernetes-preserve-unknown-fields`): Kubernetes has some
    thirty source types, and re-declaring them here would copy core/v1 and drift from it. The
    API server checks the source when the operator applies the Deployment; a bad one is then
    reported on the service (the apply fails with the field named). The name is typed and checked.
    pydantic does not check the source either, so `infercost plan` and `kubectl apply` agree.
    """

    # An open object: the crdgen turns `additionalProperties: true` into preserve-unknown-fields.
    model_config = ConfigDict(
        extra="allow",
        **cel_rules(
            cel(f"!(self.name in {quoted_list(OPERATOR_VOLUMES)})", MSG_VOLUME_RESERVED, ".name")
        ),
    )

    name: DnsLabel = Field(description="Volume name, a DNS label, referenced by volumeMounts.")

    @model_validator(mode="after")
    def _checked(self) -> PodVolume:
        if self.name in OPERATOR_VOLUMES:
            raise ValueError(f"{MSG_VOLUME_RESERVED}: {self.name}")
        return self


class VolumeMount(Model):
    """Where a volume appears in the Triton container."""

    model_config = cel_rules(
        cel(
            f"!(self.mountPath in {quoted_list(OPERATOR_MOUNT_PATHS)})",
            MSG_MOUNT_RESERVED,
            ".mountPath",
        )
    )

    name: DnsLabel = Field(description="Name of a volume of spec.pod.volumes or the variant's.")
    mount_path: MountPath = Field(description="Absolute path in the container, e.g. /models.")
    read_only: bool | None = Field(strict=True, default=None, description="Mount read-only.")
    sub_path: str | None = Field(
        default=None,
        max_length=1024,
        description="Path inside the volume to mount instead of its root.",
    )

    @model_validator(mode="after")
    def _not_reserved(self) -> VolumeMount:
        if self.mount_path in OPERATOR_MOUNT_PATHS:
            raise ValueError(f"{MSG_MOUNT_RESERVED}: mountPath {self.mount_path}")
        return self


class TopologySpread(Model):
    """How replicas spread over a topology (Kubernetes topologySpreadConstraints)."""

    model_config = cel_rules(
        cel(
            "!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
            MSG_MIN_DOMAINS,
            ".minDomains",
        )
    )

    max_skew: int = Field(strict=True, ge=1, le=1000, description="Largest allowed imbalance.")
    topology_key: LabelString = Field(
        min_length=1, description="Node label of the domains, e.g. topology.kubernetes.io/zone."
    )
    when_unsatisfiable: str = Field(
        pattern=r"^(DoNotSchedule|ScheduleAnyway)$",
        max_length=16,
        description="DoNotSchedule (hard) or ScheduleAnyway (a preference).",
    )
    label_selector: LabelSelector | None = Field(
        default=None, description="Pods counted; empty: all replicas of this service."
    )
    min_domains: int | None = Field(
        strict=True, default=None, ge=1, le=1000, description="Fewest domains (DoNotSchedule only)."
    )
    match_label_keys: list[LabelString] = Field(
        default_factory=list, max_length=16, description="Pod label keys narrowing the count."
    )
    node_affinity_policy: str | None = Field(
        default=None, pattern=r"^(Honor|Ignore)$", max_length=6, description="Honor or Ignore."
    )
    node_taints_policy: str | None = Field(
        default=None, pattern=r"^(Honor|Ignore)$", max_length=6, description="Honor or Ignore."
    )

    @model_validator(mode="after")
    def _min_domains_when_hard(self) -> TopologySpread:
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError(MSG_MIN_DOMAINS)
        return self


def reserved_label(key: str) -> bool:
    return key.startswith(OPERATOR_LABEL_PREFIXES)
