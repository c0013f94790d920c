"""The static shape of a run: services, their (variant, pool) options, prices and tables."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from infercost.api.pool import AcceleratorPool
from infercost.api.service import InferenceService, Variant
from infercost.engine.batching import queue_timeout_us
from infercost.engine.model import BatchConfig, EngineSettings
from infercost.engine.queueing import (
    LOAD_GRID,
    REL_GRID,
    ExecCurve,
    LatencyTable,
    TableKey,
    table_key,
    table_of,
)
from infercost.sim.scenario import Scenario
from infercost.sim.traces import rate_per_step

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Option:
    """One (variant, pool) a service may run on: a future Deployment."""

    index: int
    service: int
    variant: Variant
    pool: AcceleratorPool
    curve: ExecCurve
    price_per_replica: float  # $/h
    accelerators: int
    startup_seconds: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.variant.name, self.pool.metadata.name)


@dataclass
class Tables:
    """All latency tables in use, stacked so a step gathers rows for every deployment at once."""

    tables: list[LatencyTable] = field(default_factory=list)
    keys: dict[TableKey, int] = field(default_factory=dict)
    cdf: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID), len(REL_GRID))))
    p99_rel: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID))))
    busy: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID))))
    batch: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID))))
    queue: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID))))
    mean: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID))))
    rejected: FloatArray = field(default_factory=lambda: np.zeros((0, len(LOAD_GRID))))
    capacity: FloatArray = field(default_factory=lambda: np.zeros(0))
    slo_seconds: FloatArray = field(default_factory=lambda: np.zeros(0))

    def index(self, curve: ExecCurve, batching: BatchConfig, slo_ms: float) -> int:
        key = table_key(curve, batching, slo_ms)
        if key not in self.keys:
            self.keys[key] = len(self.tables)
            self.tables.append(table_of(key))
            self._stack()
        return self.keys[key]

    def _stack(self) -> None:
        ts = self.tables
        self.cdf = np.stack([t.cdf for t in ts])
        self.p99_rel = np.stack(
            [[np.interp(0.99, np.maximum.accumulate(row), REL_GRID) for row in t.cdf] for t in ts]
        )
        self.busy = np.stack([t.busy for t in ts])
        self.batch = np.stack([t.mean_batch for t in ts])
        self.queue = np.stack([t.queue_seconds for t in ts])
        self.mean = np.stack([t.mean_seconds for t in ts])
        self.rejected = np.stack([t.rejected for t in ts])
        self.capacity = np.array([t.capacity for t in ts])
        self.slo_seconds = np.array([t.slo_seconds for t in ts])


def price_per_replica(pool: AcceleratorPool, variant: Variant) -> float:
    hourly = pool.spec.pricing.hourly_per_node or 0.0
    return hourly * variant.accelerators_per_replica / pool.spec.accelerator.per_node


@dataclass
class World:
    scenario: Scenario
    services: list[InferenceService]
    rates: NDArray[np.float32]  # [service, step] requests per second the replicas compute
    options: list[Option]
    tables: Tables
    step: int
    steps: int
    interval_steps: int
    # [service] share of requests answered from Triton's response cache (Workload
    # cacheHitRatio): they never reach the replicas, so `rates` leaves them out.
    hit_ratio: FloatArray

    def cached_share(self) -> FloatArray:
        """Per service: cached answers per computed request, h / (1 - h)."""
        out: FloatArray = self.hit_ratio / (1.0 - self.hit_ratio)
        return out

    def answered_per_computed(self) -> FloatArray:
        """Per service: requests answered (computed or cached) per computed one, 1 / (1 - h)."""
        out: FloatArray = 1.0 / (1.0 - self.hit_ratio)
        return out

    def cached_good(self, computed: FloatArray, *, reachable: NDArray[np.bool_]) -> FloatArray:
        """Per service: the cached answers to `computed` [service, step] requests, counted good
        in the steps where the Service had an endpoint (`reachable`): a request reaches the
        cache through a ready replica, so without one it fails like the rest."""
        cached = np.where(reachable, computed, 0.0) * self.cached_share()[:, None]
        out: FloatArray = cached.sum(axis=1)
        return out

    @property
    def service_of(self) -> IntArray:
        return np.array([o.service for o in self.options], dtype=np.int64)

    def options_of(self, service: int) -> list[Option]:
        return [o for o in self.options if o.service == service]

    def slo_ms(self, service: int) -> float:
        return self.services[service].spec.slo.latency_ms

    def best_batching(self, option: Option) -> BatchConfig:
        """Fixed batching with the most throughput within the SLO (the baselines' choice),
        with the queue timeout the spec's `rejectLateRequests` asks Triton for."""
        slo = self.slo_ms(option.service)
        best, best_rate = BatchConfig(max_batch_size=1, max_queue_delay_us=0), -1.0
        for size in option.curve.batch:
            config = BatchConfig(max_batch_size=size, max_queue_delay_us=0)
            table = self.tables.tables[self.tables.index(option.curve, config, slo)]
            rate = table.capacity * table.load_at_slo()
            if rate > best_rate:
                best, best_rate = config, rate
        if not self.services[option.service].spec.batching.reject_late_requests:
            return best
        execution_ms = float(option.curve.exec_seconds(np.array([best.max_batch_size]))[0]) * 1e3
        timeout = queue_timeout_us(
            execution_ms=execution_ms,
            delay_us=best.max_queue_delay_us,
            slo_ms=slo,
            margin=EngineSettings().latency_margin,
        )
        return replace(best, queue_timeout_us=timeout)

    def slo_capacity(self, option: Option, batching: BatchConfig) -> float:
        """Inferences/s one replica serves with 99% of requests inside the SLO."""
        table = self.tables.tables[
            self.tables.index(option.curve, batching, self.slo_ms(option.service))
        ]
        return table.capacity * table.load_at_slo()


def build_world(scenario: Scenario) -> World:
    spec = scenario.workload.spec
    services: list[InferenceService] = []
    rates: list[FloatArray] = []
    hit_ratio = np.array([entry.cache_hit_ratio for entry in spec.services], dtype=np.float64)
    options: list[Option] = []
    for s_index, entry in enumerate(spec.services):
        svc = scenario.service(entry.namespace, entry.name)
        services.append(svc)
        requests = rate_per_step(
            entry, base_dir=scenario.base_dir, duration=spec.duration, step=spec.step
        )
        rates.append(requests * (1.0 - entry.cache_hit_ratio))
        for variant in svc.spec.variants:
            for pool in scenario.pools:
                kind = pool.spec.accelerator.type
                points = [p for p in variant.profile if p.accelerator_type == kind]
                if kind not in variant.accelerator_types or not points:
                    continue
                options.append(
                    Option(
                        index=len(options),
                        service=s_index,
                        variant=variant,
                        pool=pool,
                        curve=ExecCurve.from_profile(points).scaled(entry.execution_time_factor),
                        price_per_replica=price_per_replica(pool, variant),
                        accelerators=variant.accelerators_per_replica,
                        startup_seconds=pool.spec.provisioning_seconds + variant.startup_seconds,
                    )
                )
    return World(
        scenario=scenario,
        services=services,
        rates=np.stack(rates).astype(np.float32),  # a week x 100 services: halve the memory
        options=options,
        tables=Tables(),
        step=spec.step,
        steps=spec.duration // spec.step,
        interval_steps=spec.control_interval // spec.step,
        hit_ratio=hit_ratio,
    )
