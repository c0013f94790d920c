"""The candidates of one service: every (variant, pool), what it costs, serves, or why not.

An option is feasible when the pool is selected by the service, carries an accelerator the
variant runs on and was profiled on, the variant meets the accuracy floor, the pool has
room, and some batching meets the SLO. Infeasible options are kept with the reason, so
`infercost plan` can show why a cheaper-looking pool was not chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from infercost.api.common import LabelSelector
from infercost.api.pool import AcceleratorPoolSpec, CapacityType
from infercost.api.service import BatchingMode, InferenceServiceSpec, Variant
from infercost.engine.batching import BatchChoice, choose_batching
from infercost.engine.cost import (
    ProfileCurve,
    cost_per_million,
    profile_curve,
    replica_hourly_cost,
)
from infercost.engine.derived import Derived
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


@dataclass(kw_only=True)
class _Pricing:
    """What every option of one call shares, with a per-call memo of batching choices."""

    spec: InferenceServiceSpec
    settings: EngineSettings
    learned: Mapping[Key, float]
    previous_batching: Mapping[Key, BatchConfig]
    observed_p99: Mapping[Key, float]
    choices: dict[tuple[object, ...], BatchChoice | None] = field(default_factory=dict)

    def batching(self, key: Key, curve: ProfileCurve, accelerator: str) -> BatchChoice | None:
        previous, p99 = self.previous_batching.get(key), self.observed_p99.get(key)
        # Pools of one accelerator type (spot and on-demand) get the same choice: compute once.
        memo = (key[0], accelerator, previous, p99)
        if memo not in self.choices:
            self.choices[memo] = choose_batching(
                curve,
                spec=self.spec.batching,
                slo_ms=self.spec.slo.latency_ms,
                settings=self.settings,
                previous=previous,
                observed_p99_ms=p99,
                attainment=self.spec.slo.percentile / 100.0,
            )
        return self.choices[memo]


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
    pricing = _Pricing(
        spec=spec,
        settings=settings,
        learned=learned,
        previous_batching=previous_batching,
        observed_p99=observed_p99,
    )
    ordered = sorted(pools, key=lambda pool: pool.name)
    return [_option(pricing, variant, pool) for variant in spec.variants for pool in ordered]


@dataclass(frozen=True, kw_only=True)
class _Static:
    """What an option is regardless of metrics and memory: one per (spec, variant, pool)."""

    accelerator: str
    free: int | None
    curve: ProfileCurve | None
    why_not: str | None
    hourly_cost: float
    spot: bool
    startup_seconds: float


# _Static by the spec it is derived from, then the variant and pool spec objects (held in the
# value, so their ids stay theirs), the pool's labels (by value: a caller may build the
# mapping anew each time), price and room: every decision of a service asks again.
_STATICS: Derived[tuple[tuple[object, ...], _Static]] = Derived()


def _static(spec: InferenceServiceSpec, variant: Variant, pool: PoolView) -> _Static:
    free = None
    if pool.spec.max_replicas is not None:
        free = max(0, pool.spec.max_replicas - pool.replicas_used_by_others)
    held = (variant, pool.spec)
    labels = tuple(sorted(pool.labels.items()))
    memo = (*map(id, held), labels, pool.name, pool.hourly_per_node, free)
    hit = _STATICS.get(spec, memo)
    if hit is not None and all(a is b for a, b in zip(hit[0], held, strict=True)):
        return hit[1]
    accelerator = pool.spec.accelerator.type
    curve = profile_curve(variant, accelerator)
    static = _Static(
        accelerator=accelerator,
        free=free,
        curve=curve,
        why_not=_static_why_not(variant=variant, pool=pool, spec=spec, profiled=curve is not None),
        hourly_cost=replica_hourly_cost(pool, variant),
        spot=pool.spec.capacity_type == CapacityType.SPOT,
        startup_seconds=float(pool.spec.provisioning_seconds + variant.startup_seconds),
    )
    _STATICS.put(spec, memo, (held, static))
    return static


def _option(pricing: _Pricing, variant: Variant, pool: PoolView) -> Option:
    key = (variant.name, pool.name)
    spec, settings = pricing.spec, pricing.settings
    static = _static(spec, variant, pool)
    accelerator, free, curve, why_not = (
        static.accelerator,
        static.free,
        static.curve,
        static.why_not,
    )
    throughput, choice = 0.0, None
    if why_not is None and curve is not None:
        choice = pricing.batching(key, curve, accelerator)
        if choice is None:
            why_not = _too_slow(curve, spec=spec, settings=settings)
        else:
            factor = pricing.learned.get(key, 1.0)
            throughput = curve.throughput_at(choice.config.max_batch_size) * factor
            if free == 0:
                why_not = "pool is full (maxReplicas used by other services)"
    return Option(
        variant=variant.name,
        pool=pool.name,
        accelerator_type=accelerator,
        hourly_cost=static.hourly_cost,
        throughput=throughput,
        batching=choice,
        spot=static.spot,
        free_replicas=free,
        startup_seconds=static.startup_seconds,
        why_not=why_not,
    )


def _too_slow(curve: ProfileCurve, *, spec: InferenceServiceSpec, settings: EngineSettings) -> str:
    budget = settings.latency_margin * spec.slo.latency_ms
    fixed = spec.batching.mode == BatchingMode.FIXED
    batch = (spec.batching.max_batch_size or 1) if fixed else 1
    which = "the fixed batching" if fixed else "the smallest batch"
    return (
        f"p99 {curve.latency_at(batch):.1f} ms at {which} exceeds "
        f"{settings.latency_margin:g} x SLO = {budget:.1f} ms"
    )


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
