"""InferenceService status: what the operator decided and observed. Only the operator writes it."""

from __future__ import annotations

from pydantic import Field

from infercost.api.advise import AdviceStatus
from infercost.api.common import Condition, Model, Rfc3339


class PlacementStatus(Model):
    """Replicas of one variant on one pool."""

    variant: str = Field(description="Variant name.")
    pool: str = Field(description="AcceleratorPool name.")
    replicas: int = Field(strict=True, ge=0, description="Desired replicas.")
    ready_replicas: int = Field(
        strict=True, default=0, ge=0, description="Replicas ready to serve."
    )
    max_batch_size: int | None = Field(
        strict=True, default=None, description="Triton max_batch_size in use."
    )
    max_queue_delay_microseconds: int | None = Field(
        strict=True, default=None, description="Triton max_queue_delay_microseconds in use."
    )
    queue_timeout_microseconds: int | None = Field(
        strict=True,
        default=None,
        description="Triton default_queue_policy timeout in use (REJECT); absent: no timeout.",
    )


class BatchingStatus(Model):
    """Batching of the largest placement."""

    max_batch_size: int | None = Field(
        strict=True, default=None, description="Triton max_batch_size."
    )
    max_queue_delay_microseconds: int | None = Field(
        strict=True, default=None, description="Triton max_queue_delay_microseconds."
    )
    queue_timeout_microseconds: int | None = Field(
        strict=True,
        default=None,
        description="Triton default_queue_policy timeout (REJECT); absent: no timeout.",
    )


class CostStatus(Model):
    """What the current placement costs."""

    hourly: float = Field(
        strict=True,
        allow_inf_nan=False,
        ge=0,
        description="Cost per hour of all replicas, in the pools' currency.",
    )
    per_million_inferences: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        ge=0,
        description="Cost per million inferences at the observed demand.",
    )


class ObservedStatus(Model):
    """The latest metrics the decision was based on."""

    demand_rps: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        description="Observed inferences per second.",
    )
    rejected_rps: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        description="Requests per second Triton rejected after its queue timeout "
        "(spec.batching.rejectLateRequests); absent where nothing reports them.",
    )
    cache_hit_ratio: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        ge=0,
        le=1,
        description="Share of requests Triton answered from its response cache "
        "(spec.caching), over the metrics window; replicas are sized for the rest once "
        "enough lookups were seen. Absent where no cache reports.",
    )
    p99_latency_ms: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        description="Observed p99 latency in milliseconds (max over pods).",
    )
    time: Rfc3339 | None = Field(
        default=None,
        description="RFC 3339 time of the sample.",
        json_schema_extra={"format": "date-time"},
    )


class DecisionStatus(Model):
    """The latest decision and why it was taken."""

    time: Rfc3339 = Field(
        description="RFC 3339 time of the decision.", json_schema_extra={"format": "date-time"}
    )
    action: str = Field(description="What was done, e.g. ScaleUp, ScaleDown, Migrate, Hold.")
    reason: str = Field(description="Machine-readable reason, e.g. LatencyAboveSLO.")
    message: str = Field(default="", description="Human-readable explanation.")


class ServiceStatus(Model):
    """Observed state of an InferenceService."""

    observed_generation: int | None = Field(
        strict=True, default=None, description="metadata.generation the status was computed for."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Placed, MetricsAvailable and WithinBudget."
    )
    placement: list[PlacementStatus] = Field(
        default_factory=list, description="Replicas per variant and pool."
    )
    pools: str | None = Field(default=None, description="Pools in use, comma-separated.")
    replicas: int | None = Field(
        strict=True, default=None, description="Desired replicas over all pools."
    )
    ready_replicas: int | None = Field(
        strict=True, default=None, description="Ready replicas over all pools."
    )
    batching: BatchingStatus | None = Field(default=None, description="Batching in use.")
    cost: CostStatus | None = Field(default=None, description="Cost of the placement.")
    observed: ObservedStatus | None = Field(default=None, description="Latest metrics.")
    last_decision: DecisionStatus | None = Field(default=None, description="Latest decision.")
    advice: AdviceStatus | None = Field(
        default=None, description="Advise mode: what the operator would do (docs/advise.md)."
    )
