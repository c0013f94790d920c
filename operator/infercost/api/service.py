"""InferenceService: a model to serve, the ways it can be served, its SLO and its budget."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from infercost.api.advise import MSG_ADVISE_TARGET, Advise, ServiceMode
from infercost.api.caching import ResponseCache
from infercost.api.common import (
    Condition,
    LabelSelector,
    Model,
    ObjectMeta,
    cel,
    cel_rules,
)
from infercost.api.modelref import ModelRef
from infercost.api.pod import SPEC_RULES, PodSettings, variant_pod_errors
from infercost.api.routing import Routing
from infercost.api.status import ServiceStatus

# Re-exported: callers import the variant types from here too.
from infercost.api.variant import MSG_PROFILE_TYPE, ProfilePoint, Resources, Variant

# Variants merge by name under server-side apply (GitOps tools patch one variant at a time).
LIST_MAP_BY_NAME: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
}

# Messages of the cross-field rules: one text for the CEL rule and its pydantic mirror.
MSG_MIN_MAX = "scaling.minReplicas must be less than or equal to scaling.maxReplicas"
# Issue 22: with no replica, nothing answers the Service and nothing wakes it (no component
# holds requests at zero), so 0 would be a trap. The engine and the simulator model scale to
# zero (engine/idle.py, a Workload's scaleToZero); the CRD accepts 0 once wake-up exists.
MSG_FIXED_SIZE = "batching.maxBatchSize is required when batching.mode is Fixed"
MSG_ONE_VARIANT = "spec.variants needs at least one variant"
MSG_UNIQUE_VARIANTS = "spec.variants[].name must be unique"


class SLO(Model):
    """The latency objective the service must meet."""

    latency_ms: float = Field(
        strict=True,
        allow_inf_nan=False,
        gt=0,
        le=600000,
        description="Latency objective in milliseconds.",
    )
    percentile: float = Field(
        strict=True,
        allow_inf_nan=False,
        default=99,
        gt=0,
        lt=100,
        description="Percentile the objective applies to, in (0, 100).",
    )

    @property
    def late_share(self) -> float:
        """The share of requests the objective lets miss its latency: 1% at the 99th
        percentile. A request Triton rejects misses it too."""
        return (100.0 - self.percentile) / 100.0


class Scaling(Model):
    """Bounds and pace of replica scaling."""

    model_config = cel_rules(
        cel("self.minReplicas <= self.maxReplicas", MSG_MIN_MAX, ".minReplicas"),
    )

    min_replicas: int = Field(
        strict=True,
        default=1,
        ge=0,
        le=10000,
        description=(
            "Fewest replicas in total; 0: scale to zero after idleSeconds without demand "
            "(a request at zero is held by the activator and wakes the service)."
        ),
    )
    max_replicas: int = Field(
        strict=True, default=10, ge=1, le=10000, description="Most replicas in total."
    )
    scale_down_delay_seconds: int = Field(
        strict=True,
        default=300,
        ge=0,
        le=86400,
        description="Demand must stay low this long before replicas are removed.",
    )
    idle_seconds: int = Field(
        strict=True,
        default=300,
        ge=1,
        le=86400,
        description=(
            "With minReplicas 0: demand must have been zero this long before the last replica "
            "goes (scale to zero); a request at zero is held and wakes the service. Ignored "
            "when minReplicas is 1 or more."
        ),
    )
    headroom: float = Field(
        strict=True,
        allow_inf_nan=False,
        default=0.2,
        ge=0,
        le=10,
        description=(
            "Capacity kept above forecast demand, as a fraction (0.2 = 20% spare): the least "
            "margin; more where demand varied over a replica's start-up (docs/horizon.md)."
        ),
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> Scaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"{MSG_MIN_MAX} ({self.min_replicas} > {self.max_replicas})")
        return self


class BatchingMode(StrEnum):
    AUTO = "Auto"
    FIXED = "Fixed"
    OFF = "Off"


class Batching(Model):
    """How Triton's dynamic batcher is configured."""

    model_config = cel_rules(
        cel("self.mode != 'Fixed' || has(self.maxBatchSize)", MSG_FIXED_SIZE, ".maxBatchSize")
    )

    mode: BatchingMode = Field(
        default=BatchingMode.AUTO,
        description="Auto: tuned to the SLO; Fixed: use the values given; Off: no dynamic batching.",
    )
    max_batch_size: int | None = Field(
        strict=True,
        default=None,
        ge=1,
        le=4096,
        description="Upper bound (Auto) or exact value (Fixed).",
    )
    max_queue_delay_microseconds: int | None = Field(
        strict=True,
        default=None,
        ge=0,
        le=10_000_000,
        description="Upper bound (Auto) or exact value (Fixed) of the batcher's queue delay.",
    )
    reject_late_requests: bool = Field(
        strict=True,
        default=False,
        description=(
            "Triton rejects a request still queued when it can no longer meet the SLO "
            "(default_queue_policy REJECT after latencyMargin x SLO minus one batch's "
            "execution, never sooner than the batcher's delay plus one batch; Auto batching "
            "shortens its delay to keep both inside the margin): an overload fails the excess "
            "requests fast instead of making every request late; rejections count as demand."
        ),
    )

    @model_validator(mode="after")
    def _fixed_needs_size(self) -> Batching:
        if self.mode == BatchingMode.FIXED and self.max_batch_size is None:
            raise ValueError(MSG_FIXED_SIZE)
        return self


class Placement(Model):
    """Which pools the service may use and how much churn is worth a saving."""

    pool_selector: LabelSelector | None = Field(
        default=None, description="Labels of the AcceleratorPools the service may use; empty: all."
    )
    max_spot_fraction: float = Field(
        strict=True,
        allow_inf_nan=False,
        default=1.0,
        ge=0,
        le=1,
        description="Largest share of replicas allowed on Spot pools.",
    )
    min_accuracy: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        ge=0,
        le=1,
        description="Variants whose accuracy is lower are not used.",
    )
    min_savings_to_move: float = Field(
        strict=True,
        allow_inf_nan=False,
        default=0.1,
        ge=0,
        le=1,
        description="Fraction of hourly cost a new placement must save before replicas move.",
    )


class BudgetAction(StrEnum):
    CAP = "Cap"
    WARN = "Warn"


class Budget(Model):
    """The most the service may cost."""

    max_hourly_cost: float = Field(
        strict=True,
        allow_inf_nan=False,
        ge=0,
        le=1e6,
        description="Most the service may cost per hour.",
    )
    on_exceeded: BudgetAction = Field(
        default=BudgetAction.CAP,
        description="Cap: never place more than the budget buys; Warn: place and report OverBudget.",
    )


class InferenceServiceSpec(Model):
    """Desired state of an InferenceService."""

    model_config = cel_rules(
        cel("size(self.variants) >= 1", MSG_ONE_VARIANT, ".variants"),
        cel(
            "self.variants.all(v, self.variants.exists_one(w, w.name == v.name))",
            MSG_UNIQUE_VARIANTS,
            ".variants",
        ),
        *SPEC_RULES,
        cel("self.mode != 'Advise' || has(self.advise)", MSG_ADVISE_TARGET, ".advise"),
    )

    mode: ServiceMode = Field(
        default=ServiceMode.MANAGE,
        description=(
            "Manage: the operator runs the service (children, replicas, batching). Advise: it "
            "only reports in status.advice what it would do for spec.advise.targetRef, a "
            "Deployment that runs Triton now; it writes nothing else (docs/advise.md)."
        ),
    )
    advise: Advise | None = Field(
        default=None, description="The Deployment advised on; required with mode Advise."
    )
    model: ModelRef = Field(description="The Triton model to serve.")
    variants: list[Variant] = Field(
        min_length=1,
        max_length=16,
        description="Ways to serve the model; at least one, names unique.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    slo: SLO = Field(description="The latency objective.")
    scaling: Scaling = Field(default_factory=Scaling, description="Replica bounds and pace.")
    batching: Batching = Field(default_factory=Batching, description="Triton dynamic batching.")
    placement: Placement = Field(default_factory=Placement, description="Pool choice rules.")
    budget: Budget | None = Field(default=None, description="Hourly cost limit; empty: none.")
    priority: int = Field(
        strict=True,
        default=0,
        ge=-1_000_000,
        le=1_000_000,
        description=(
            "Rank under a BudgetPolicy that caps this service with others: higher is served "
            "first when the shared limit does not buy every service's demand."
        ),
    )
    caching: ResponseCache = Field(
        default_factory=ResponseCache, description="Triton's response cache; off by default."
    )
    routing: Routing | None = Field(
        default=None,
        description=(
            "Weight requests by each Deployment's capacity through a Gateway API Gateway (an "
            "HTTPRoute the operator writes); empty: equal shares per replica through the "
            "Service. HTTP only (docs/install.md)."
        ),
    )
    pod: PodSettings = Field(
        default_factory=PodSettings,
        description=(
            "What every Triton pod of the service gets besides what the operator sets: service "
            "account, env, image pull Secrets, volumes, labels, annotations, priority, spread."
        ),
    )

    @model_validator(mode="after")
    def _pods_fit(self) -> InferenceServiceSpec:
        errors = variant_pod_errors(self.pod, self.variants)
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @model_validator(mode="after")
    def _advise_has_target(self) -> InferenceServiceSpec:
        if self.mode == ServiceMode.ADVISE and self.advise is None:
            raise ValueError(MSG_ADVISE_TARGET)
        return self

    @model_validator(mode="after")
    def _unique_variant_names(self) -> InferenceServiceSpec:
        names = [variant.name for variant in self.variants]
        if not names:
            raise ValueError(MSG_ONE_VARIANT)
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{MSG_UNIQUE_VARIANTS}: {', '.join(repeated)} repeated")
        return self


class InferenceService(Model):
    """A model served by Triton at the lowest cost per throughput that meets its SLO."""

    kind_name: ClassVar[str] = "InferenceService"
    plural: ClassVar[str] = "inferenceservices"
    singular: ClassVar[str] = "inferenceservice"
    short_names: ClassVar[tuple[str, ...]] = ("ics",)
    namespaced: ClassVar[bool] = True
    printer_columns: ClassVar[tuple[dict[str, str], ...]] = (
        {"name": "Pools", "type": "string", "jsonPath": ".status.pools"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
        {"name": "P99-ms", "type": "number", "jsonPath": ".status.observed.p99LatencyMs"},
        {"name": "$/h", "type": "number", "jsonPath": ".status.cost.hourly"},
        {"name": "$/1M", "type": "number", "jsonPath": ".status.cost.perMillionInferences"},
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        # Advise mode (docs/advise.md): the saving the advice would bring.
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
        {"name": "Saving-$/h", "type": "number", "jsonPath": ".status.advice.savingPerHour"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

    api_version: Literal["infercost.io/v1alpha1"] = "infercost.io/v1alpha1"
    kind: Literal["InferenceService"] = "InferenceService"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: InferenceServiceSpec
    status: ServiceStatus | None = None


__all__ = [
    "MSG_PROFILE_TYPE",
    "Condition",
    "InferenceService",
    "InferenceServiceSpec",
    "ModelRef",
    "ProfilePoint",
    "Resources",
    "Variant",
]
