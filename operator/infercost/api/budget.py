"""BudgetPolicy: one hourly dollar limit across the InferenceServices of a team or product.

A service's own `spec.budget` still holds beside it; the tighter of the two wins.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from infercost.api.common import (
    Condition,
    DnsLabel,
    LabelString,
    Model,
    ObjectMeta,
    cel,
    cel_rules,
)
from infercost.api.service import BudgetAction

MSG_SELECTOR_EMPTY = (
    "spec.selector needs spec.selector.namespaces or spec.selector.matchLabels (or both): "
    "an empty selector would cap every service of the cluster; name the namespaces or labels"
)
MSG_UNIQUE_NAMESPACES = "spec.selector.namespaces must not repeat a namespace"


class BudgetSelector(Model):
    """Which InferenceServices the policy covers: all conditions given must hold."""

    model_config = cel_rules(
        cel(
            "(has(self.namespaces) && size(self.namespaces) > 0)"
            " || (has(self.matchLabels) && size(self.matchLabels) > 0)",
            MSG_SELECTOR_EMPTY,
        ),
        cel(
            "!has(self.namespaces) || self.namespaces.all(n, self.namespaces.exists_one(m, m == n))",
            MSG_UNIQUE_NAMESPACES,
            ".namespaces",
        ),
    )

    namespaces: list[DnsLabel] = Field(
        default_factory=list,
        max_length=256,
        description="Namespaces whose InferenceServices the policy covers; empty: any namespace.",
    )
    match_labels: dict[str, LabelString] = Field(
        default_factory=dict,
        max_length=64,
        description="Labels an InferenceService must carry, key to exact value; empty: any.",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> BudgetSelector:
        if not self.namespaces and not self.match_labels:
            raise ValueError(MSG_SELECTOR_EMPTY)
        repeated = sorted({n for n in self.namespaces if self.namespaces.count(n) > 1})
        if repeated:
            raise ValueError(f"{MSG_UNIQUE_NAMESPACES}: {', '.join(repeated)} repeated")
        return self

    def selects(self, *, namespace: str, labels: dict[str, str]) -> bool:
        """Whether an InferenceService in `namespace` with `labels` is covered."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        return all(labels.get(key) == value for key, value in self.match_labels.items())


class BudgetPolicySpec(Model):
    """Desired state of a BudgetPolicy."""

    selector: BudgetSelector = Field(
        description="The InferenceServices the limit covers (namespaces and/or labels)."
    )
    max_hourly_cost: float = Field(
        strict=True,
        allow_inf_nan=False,
        gt=0,
        le=1e7,
        description="Most the selected services may cost together per hour; more than 0.",
    )
    on_exceeded: BudgetAction = Field(
        default=BudgetAction.CAP,
        description=(
            "Cap: split the limit across the services (highest spec.priority first, then the "
            "most SLO-meeting throughput per dollar) and never plan more; Warn: plan as if "
            "there were no limit and report Exceeded."
        ),
    )


class BudgetPolicyStatus(Model):
    """Observed state of a BudgetPolicy."""

    spend_per_hour: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        ge=0,
        description="$/h the selected services are planned to cost this interval.",
    )
    limited_services: list[str] = Field(
        default_factory=list,
        max_length=4096,
        description="namespace/name of each service the limit holds below its demand.",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Exceeded: whether the services want more than the limit."
    )


class BudgetPolicy(Model):
    """An hourly cost limit shared by the InferenceServices a selector picks."""

    kind_name: ClassVar[str] = "BudgetPolicy"
    plural: ClassVar[str] = "budgetpolicies"
    singular: ClassVar[str] = "budgetpolicy"
    short_names: ClassVar[tuple[str, ...]] = ("bpol",)
    namespaced: ClassVar[bool] = False
    printer_columns: ClassVar[tuple[dict[str, str], ...]] = (
        {"name": "MaxHourlyCost", "type": "number", "jsonPath": ".spec.maxHourlyCost"},
        {"name": "Spend", "type": "number", "jsonPath": ".status.spendPerHour"},
        {"name": "OnExceeded", "type": "string", "jsonPath": ".spec.onExceeded"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

    api_version: Literal["infercost.io/v1alpha1"] = "infercost.io/v1alpha1"
    kind: Literal["BudgetPolicy"] = "BudgetPolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: BudgetPolicySpec
    status: BudgetPolicyStatus | None = None
