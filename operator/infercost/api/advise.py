"""Advisory mode: what infercost would do for a Triton Deployment it does not manage.

`spec.mode: Advise` with `spec.advise.targetRef` naming a Deployment in the service's own
namespace. The operator reads that Deployment, its pods, their pool and their Triton metrics
and reports in `status.advice` what it would run instead and what that would save; it never
writes to the target and creates no children. `mode: Manage` (the default) takes over
(docs/advise.md).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from infercost.api.common import DNS_SUBDOMAIN_PATTERN, Model, Rfc3339

MSG_ADVISE_TARGET = (
    "spec.advise.targetRef is required when spec.mode is Advise: name the Triton Deployment "
    "to advise on (spec.advise.targetRef.name), or set spec.mode to Manage"
)


class ServiceMode(StrEnum):
    MANAGE = "Manage"
    ADVISE = "Advise"


class TargetApiVersion(StrEnum):
    APPS_V1 = "apps/v1"


class TargetKind(StrEnum):
    DEPLOYMENT = "Deployment"


class TargetRef(Model):
    """The Deployment advised on, in the InferenceService's own namespace."""

    api_version: TargetApiVersion = Field(
        default=TargetApiVersion.APPS_V1, description="Only apps/v1."
    )
    kind: TargetKind = Field(default=TargetKind.DEPLOYMENT, description="Only Deployment.")
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of the Deployment that runs Triton now (not created by infercost).",
    )


class Advise(Model):
    """What Advise mode reads."""

    target_ref: TargetRef = Field(description="The Deployment that runs Triton now.")


class BatchingNow(Model):
    """Triton's dynamic batching as the target runs it, read from its model config."""

    max_batch_size: int = Field(strict=True, ge=0, description="max_batch_size.")
    max_queue_delay_microseconds: int = Field(
        strict=True, ge=0, description="dynamic_batching.max_queue_delay_microseconds."
    )


class CurrentRun(Model):
    """What runs now, as read from the target Deployment, its pods and their nodes."""

    replicas: int = Field(strict=True, ge=0, description="The Deployment's spec.replicas.")
    ready_replicas: int = Field(strict=True, default=0, ge=0, description="Ready replicas.")
    pool: str | None = Field(
        default=None,
        description="AcceleratorPool whose nodeSelector its nodes match; absent: none.",
    )
    hourly_cost: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        ge=0,
        description="$/h of its replicas at the pool's price; absent: unknown (see message).",
    )
    batching: BatchingNow | None = Field(
        default=None, description="Batching read from Triton; absent: unknown (batchingSource)."
    )
    batching_source: str = Field(
        default="", description="Where batching was read, or why it is unknown."
    )


class AdvisedPlacement(Model):
    """Replicas the operator would run of one variant on one pool."""

    variant: str = Field(description="Variant name.")
    pool: str = Field(description="AcceleratorPool name.")
    replicas: int = Field(strict=True, ge=0, description="Replicas.")
    max_batch_size: int = Field(strict=True, ge=0, description="Triton max_batch_size.")
    max_queue_delay_microseconds: int = Field(
        strict=True, ge=0, description="Triton max_queue_delay_microseconds."
    )


class AdviceStatus(Model):
    """What the operator would do for the target (written only in Advise mode)."""

    time: Rfc3339 = Field(
        description="RFC 3339 time of the advice.", json_schema_extra={"format": "date-time"}
    )
    target: str = Field(description="The Deployment advised on.")
    current: CurrentRun | None = Field(default=None, description="What runs now.")
    demand_rps: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        description="Inferences/s the target's pods served (their Triton metrics).",
    )
    p99_latency_ms: float | None = Field(
        strict=True, allow_inf_nan=False, default=None, description="Their p99 (ms)."
    )
    placement: list[AdvisedPlacement] = Field(
        default_factory=list, description="What the operator would run."
    )
    replicas: int | None = Field(strict=True, default=None, description="Advised replicas.")
    hourly_cost: float | None = Field(
        strict=True, allow_inf_nan=False, default=None, ge=0, description="Advised $/h."
    )
    saving_per_hour: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        description="Current $/h minus advised $/h (negative: the advice costs more).",
    )
    saving_percent: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        description="savingPerHour as a percentage of the current $/h.",
    )
    reasons: list[str] = Field(
        default_factory=list, description="The engine's reasons (e.g. Steady, BatchingTuned)."
    )
    message: str = Field(default="", description="The advice in words, or why there is none.")
