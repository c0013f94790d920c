"""The candidates of one service: every (variant, pool), what it costs, serves, or why not.

An option is feasible when the pool is selected by the service, carries an accelerator the
variant runs on and was profiled on, the variant meets the accuracy floor, the pool has
room, and some batching meets the SLO. Infeasible options are kept with the reason, so
`infercost plan` can show why a cheaper-looking pool was not chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from infercost.api.common import LabelSelector
from infercost.api.pool import AcceleratorPoolSpec, CapacityType
from infercost.api.service import InferenceServiceSpec, Variant
from infercost.engine.batching import BatchChoice, choose_batching
from infercost.engine.cost import cost_per_million, profile_curve, replica_hourly_cost
from infercost.engine.model import BatchConfig, EngineSettings, PoolView

Key = tuple[str, str]  # (variant, pool)


@dataclass(frozen=True, kw_only=True)
class Option:
    """One (variant, pool) candidate."""

    variant: str
    pool: str
    accelerator_type: str
    hourly_cost: float  # $/h of one replica
    throughput: float  # inferences/s of one replica at the SLO (0 when infeasible)
    batching: BatchChoice | None
    spot: bool
    free_replicas: int | None  # pool room left by other services; None = unbounded
    startup_seconds: float  # pool provisioning + model load
    why_not: str | None = None  # None when feasible

    @property
    def key(self) -> Key:
        return (self.variant, self.pool)

    @property
    def feasible(self) -> bool:
        return self.why_not is None

    @property
    def cost_per_million(self) -> float | None:
        return cost_per_million(self.hourly_cost, self.throughput)


def selects(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: all matchLabels and all matchExpressions hold."""
    if selector is None:
        return True
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        held = {
            "In": present and value in requirement.values,
            "NotIn": not present or value not in requirement.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[requirement.operator]
        if not held:
            return False
    return True


def build_options(
    *,
    spec: InferenceServiceSpec,
    pools: tuple[PoolView, ...],
    settings: EngineSettings,
    learned: Mapping[Key, float],
    previous_batching: Mapping[Key, BatchConfig],
    observed_p99: Mapping[Key, float],
) -> list[Option]:
    """Every (variant, pool) of the service in a stable order (spec order, then pool name)."""
    ordered = sorted(pools, key=lambda pool: pool.name)
    return [
        _option(
            variant=variant,
            pool=pool,
            spec=spec,
            settings=settings,
            learned=learned,
            previous_batching=previous_batching,
            observed_p99=observed_p99,
        )
        for variant in spec.variants
        for pool in ordered
    ]


def _option(
    *,
    variant: Variant,
    pool: PoolView,
    spec: InferenceServiceSpec,
    settings: EngineSettings,
    learned: Mapping[Key, float],
    previous_batching: Mapping[Key, BatchConfig],
    observed_p99: Mapping[Key, float],
) -> Option:
    key = (variant.name, pool.name)
    accelerator = pool.spec.accelerator.type
    free = None
    if pool.spec.max_replicas is not None:
        free = max(0, pool.spec.max_replicas - pool.replicas_used_by_others)
    base = Option(
        variant=variant.name,
        pool=pool.name,
        accelerator_type=accelerator,
        hourly_cost=replica_hourly_cost(pool, variant),
        throughput=0.0,
        batching=None,
        spot=pool.spec.capacity_type == CapacityType.SPOT,
        free_replicas=free,
        startup_seconds=float(pool.spec.provisioning_seconds + variant.startup_seconds),
    )
    curve = profile_curve(variant, accelerator)
    why_not = _static_why_not(variant=variant, pool=pool, spec=spec, profiled=curve is not None)
    if why_not is not None or curve is None:
        return replace(base, why_not=why_not or "not profiled")
    choice = choose_batching(
        curve,
        spec=spec.batching,
        slo_ms=spec.slo.latency_ms,
        settings=settings,
        previous=previous_batching.get(key),
        observed_p99_ms=observed_p99.get(key),
    )
    if choice is None:
        budget = settings.latency_margin * spec.slo.latency_ms
        return replace(
            base,
            why_not=(
                f"p99 {curve.latency_at(1):.1f} ms at batch 1 (or the fixed batching) exceeds "
                f"{settings.latency_margin:g} x SLO = {budget:.1f} ms"
            ),
        )
    throughput = curve.throughput_at(choice.config.max_batch_size) * learned.get(key, 1.0)
    why_full = "pool is full (maxReplicas used by other services)" if free == 0 else None
    return replace(base, throughput=throughput, batching=choice, why_not=why_full)


def _static_why_not(
    *, variant: Variant, pool: PoolView, spec: InferenceServiceSpec, profiled: bool
) -> str | None:
    accelerator = pool.spec.accelerator.type
    if not selects(spec.placement.pool_selector, pool.labels):
        return "pool not selected by placement.poolSelector"
    if accelerator not in variant.accelerator_types:
        return f"variant does not run on {accelerator}"
    floor = spec.placement.min_accuracy
    if floor is not None and (variant.accuracy is None or variant.accuracy < floor):
        return f"variant accuracy {variant.accuracy} below placement.minAccuracy {floor}"
    if not profiled:
        return f"variant has no profile points for {accelerator}"
    return None


def pool_view(
    name: str,
    *,
    labels: Mapping[str, str],
    spec: AcceleratorPoolSpec,
    used_by_others: int = 0,
    hourly_per_node: float | None = None,
) -> PoolView:
    """A PoolView from an AcceleratorPool's parts; the price defaults to the static one.

    Raises ValueError when no price is known (an OpenCost pool without a fallback price).
    """
    price = hourly_per_node if hourly_per_node is not None else spec.pricing.hourly_per_node
    if price is None:
        raise ValueError(
            f"pool {name}: no price known; set spec.pricing.hourlyPerNode (the OpenCost fallback)"
        )
    return PoolView(
        name=name,
        labels=dict(labels),
        spec=spec,
        hourly_per_node=price,
        replicas_used_by_others=used_by_others,
    )
