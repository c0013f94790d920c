"""AcceleratorPool: a kind of node capacity, what it costs and how to schedule onto it."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from infercost.api.common import (
    AcceleratorType,
    Condition,
    LabelString,
    Model,
    ObjectMeta,
    Toleration,
    cel,
    cel_rules,
)

MSG_STATIC_PRICE = "pricing.hourlyPerNode is required when pricing.source is Static"


class CapacityType(StrEnum):
    SPOT = "Spot"
    ON_DEMAND = "OnDemand"


class PriceSource(StrEnum):
    STATIC = "Static"
    OPENCOST = "OpenCost"


class Accelerator(Model):
    """The accelerator a node of this pool carries and how pods request it."""

    type: AcceleratorType = Field(
        description=(
            "Accelerator kind, matched against variants' acceleratorTypes and profile points, "
            "e.g. inferentia2, nvidia-t4, nvidia-a10g, nvidia-l4, cpu."
        )
    )
    resource_name: str = Field(
        max_length=253,
        pattern=r"^[a-z0-9.\-/]+$",
        description=(
            "Extended resource each replica requests acceleratorsPerReplica of, e.g. "
            "nvidia.com/gpu, aws.amazon.com/neuroncore, aws.amazon.com/neuron, or cpu."
        ),
    )
    per_node: int = Field(
        default=1, ge=1, le=1024, description="How many of that resource one node provides."
    )


class Pricing(Model):
    """What one node of the pool costs."""

    model_config = cel_rules(
        cel(
            "self.source != 'Static' || has(self.hourlyPerNode)", MSG_STATIC_PRICE, ".hourlyPerNode"
        )
    )

    hourly_per_node: float | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="Price of one node per hour. Required for source Static; the fallback for OpenCost.",
    )
    currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        max_length=3,
        description="ISO 4217 currency code of the price.",
    )
    source: PriceSource = Field(
        default=PriceSource.STATIC,
        description=(
            "Static: use hourlyPerNode. OpenCost: read node_total_hourly_cost for the pool's "
            "nodes from Prometheus, falling back to hourlyPerNode when absent."
        ),
    )

    @model_validator(mode="after")
    def _static_needs_price(self) -> Pricing:
        if self.source == PriceSource.STATIC and self.hourly_per_node is None:
            raise ValueError(MSG_STATIC_PRICE)
        return self


class AcceleratorPoolSpec(Model):
    """Desired state of an AcceleratorPool."""

    accelerator: Accelerator = Field(description="Accelerator carried by each node of the pool.")
    node_selector: dict[str, LabelString] = Field(
        default_factory=dict,
        max_length=64,
        description="Node labels a replica on this pool is scheduled by.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations a replica on this pool needs."
    )
    capacity_type: CapacityType = Field(
        default=CapacityType.ON_DEMAND,
        description="Spot (may be reclaimed) or OnDemand; bounded per service by maxSpotFraction.",
    )
    pricing: Pricing = Field(description="What one node of the pool costs.")
    max_replicas: int | None = Field(
        default=None,
        ge=0,
        le=100000,
        description="Most replicas, of all services together, the pool may run. Empty: unbounded.",
    )
    provisioning_seconds: int = Field(
        default=120,
        ge=0,
        le=3600,
        description="Seconds a new node takes to join; part of a new replica's startup time.",
    )


class PoolStatus(Model):
    """Observed state of an AcceleratorPool."""

    replicas_in_use: int | None = Field(
        default=None, ge=0, description="Replicas of all services placed on the pool."
    )
    hourly_per_node: float | None = Field(
        default=None, ge=0, description="Price per node-hour in effect (static or from OpenCost)."
    )
    price_source: PriceSource | None = Field(
        default=None, description="Where that price came from."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Latest observations of the pool's state."
    )


class AcceleratorPool(Model):
    """A kind of node capacity (GPU, Inferentia, CPU), its price and how to schedule onto it."""

    kind_name: ClassVar[str] = "AcceleratorPool"
    plural: ClassVar[str] = "acceleratorpools"
    singular: ClassVar[str] = "acceleratorpool"
    short_names: ClassVar[tuple[str, ...]] = ("apool",)
    namespaced: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[dict[str, str], ...]] = (
        {"name": "Accelerator", "type": "string", "jsonPath": ".spec.accelerator.type"},
        {"name": "Capacity", "type": "string", "jsonPath": ".spec.capacityType"},
        {"name": "$/Node-h", "type": "number", "jsonPath": ".spec.pricing.hourlyPerNode"},
        {"name": "In-Use", "type": "integer", "jsonPath": ".status.replicasInUse"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

    api_version: Literal["infercost.io/v1alpha1"] = "infercost.io/v1alpha1"
    kind: Literal["AcceleratorPool"] = "AcceleratorPool"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AcceleratorPoolSpec
    status: PoolStatus | None = None
