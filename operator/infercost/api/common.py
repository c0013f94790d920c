"""Building blocks shared by the kinds: the base model, names, Kubernetes core shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints
from pydantic.alias_generators import to_camel

# DNS-1123 label: what Kubernetes accepts for the names our children are derived from.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
# Accelerator kinds are free-form names such as `nvidia-a10g`, `inferentia2` or `cpu`.
AcceleratorType = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=63)
]
# A label key or value (prefix/name), bounded so CEL cost estimation stays small.
LabelString = Annotated[str, StringConstraints(max_length=317)]


def _rfc3339(value: str) -> str:
    """Accept what the API server's `format: date-time` accepts: a full time with a zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError(f"{value!r} is not an RFC 3339 time such as 2026-11-26T04:00:00Z")
    return value


# Times in status: text on the wire, checked like the CRD's `format: date-time`.
Rfc3339 = Annotated[str, AfterValidator(_rfc3339)]


class Model(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """One observation of the object's state, in the shape of metav1.Condition."""

    type: str = Field(
        description="Kind of condition: Ready, Placed, MetricsAvailable or WithinBudget."
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="Machine-readable CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details of the last transition.")
    last_transition_time: Rfc3339 | None = Field(
        default=None,
        description="RFC 3339 time when the status last changed.",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation the condition was set for.", ge=0
    )


class LabelSelectorRequirement(Model):
    """A label selector requirement: a key, an operator and values."""

    key: LabelString = Field(description="Label key the selector applies to.")
    operator: str = Field(
        description="In, NotIn, Exists or DoesNotExist.",
        pattern=r"^(In|NotIn|Exists|DoesNotExist)$",
        max_length=12,
    )
    values: list[LabelString] = Field(
        default_factory=list,
        max_length=64,
        description="Values for In and NotIn; empty for Exists and DoesNotExist.",
    )


class LabelSelector(Model):
    """Selects objects by their labels, as a Kubernetes metav1.LabelSelector."""

    match_labels: dict[str, LabelString] = Field(
        default_factory=dict,
        max_length=64,
        description="Labels an object must carry, key to exact value.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=32, description="Requirements an object must meet."
    )


class Toleration(Model):
    """A pod toleration copied onto every replica placed on the pool."""

    key: LabelString | None = Field(default=None, description="Taint key the toleration matches.")
    operator: str = Field(
        default="Equal",
        pattern=r"^(Exists|Equal)$",
        max_length=6,
        description="Exists or Equal (default).",
    )
    value: LabelString | None = Field(default=None, description="Taint value for Equal.")
    effect: str | None = Field(
        default=None,
        pattern=r"^(NoSchedule|PreferNoSchedule|NoExecute)$",
        max_length=16,
        description="Taint effect to match: NoSchedule, PreferNoSchedule or NoExecute; empty matches all.",
    )
    toleration_seconds: int | None = Field(
        default=None, description="How long a NoExecute taint is tolerated, in seconds."
    )


class ObjectMeta(BaseModel):
    """The part of metadata the operator reads; everything else is kept as it is."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    name: str = Field(default="", description="Object name.")
    namespace: str | None = Field(default=None, description="Namespace of namespaced objects.")
    labels: dict[str, str] = Field(default_factory=dict, description="Object labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Object annotations.")
    generation: int | None = Field(default=None, description="Spec generation.")
    uid: str | None = Field(default=None, description="Unique id assigned by the API server.")
    resource_version: str | None = Field(default=None, description="Version for concurrency.")


def cel_rules(*rules: dict[str, str]) -> ConfigDict:
    """Model config carrying CEL rules (`x-kubernetes-validations`) into the generated CRD.

    Each rule is mirrored by a pydantic validator on the same model, so a spec gets the same
    verdict from `kubectl apply` and from `infercost plan`.
    """
    validations: list[JsonValue] = [dict(rule) for rule in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; `fieldPath` points users at the offending field."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry
