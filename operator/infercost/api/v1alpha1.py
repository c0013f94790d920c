"""The `infercost.io/v1alpha1` API: the kinds users write and the operator reports on."""

from __future__ import annotations

from infercost.api.budget import BudgetPolicy, BudgetPolicySpec, BudgetPolicyStatus, BudgetSelector
from infercost.api.common import Condition, ConditionStatus, LabelSelector, ObjectMeta, Toleration
from infercost.api.pool import (
    Accelerator,
    AcceleratorPool,
    AcceleratorPoolSpec,
    CapacityType,
    PoolStatus,
    PriceSource,
    Pricing,
)
from infercost.api.service import (
    SLO,
    Batching,
    BatchingMode,
    Budget,
    BudgetAction,
    InferenceService,
    InferenceServiceSpec,
    ModelRef,
    Placement,
    ProfilePoint,
    Resources,
    Scaling,
    Variant,
)
from infercost.api.status import (
    BatchingStatus,
    CostStatus,
    DecisionStatus,
    ObservedStatus,
    PlacementStatus,
    ServiceStatus,
)

GROUP = "infercost.io"
VERSION = "v1alpha1"
KINDS = (AcceleratorPool, InferenceService, BudgetPolicy)

__all__ = [
    "GROUP",
    "KINDS",
    "SLO",
    "VERSION",
    "Accelerator",
    "AcceleratorPool",
    "AcceleratorPoolSpec",
    "Batching",
    "BatchingMode",
    "BatchingStatus",
    "Budget",
    "BudgetAction",
    "BudgetPolicy",
    "BudgetPolicySpec",
    "BudgetPolicyStatus",
    "BudgetSelector",
    "CapacityType",
    "Condition",
    "ConditionStatus",
    "CostStatus",
    "DecisionStatus",
    "InferenceService",
    "InferenceServiceSpec",
    "LabelSelector",
    "ModelRef",
    "ObjectMeta",
    "ObservedStatus",
    "Placement",
    "PlacementStatus",
    "PoolStatus",
    "PriceSource",
    "Pricing",
    "ProfilePoint",
    "Resources",
    "Scaling",
    "ServiceStatus",
    "Toleration",
    "Variant",
]
