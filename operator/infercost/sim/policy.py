"""The interface every policy implements, and the reactive baselines (hpa, keda-queue, static).

The baselines run one variant on the Workload's baselinePool with the fixed batching that
gives the most throughput inside the SLO. Their knobs are the documented defaults below,
chosen to make each the best of its kind rather than a straw man.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from infercost.sim.fleet import Fleet
from infercost.sim.latency import LOAD_GRID
from infercost.sim.observe import window
from infercost.sim.traces import PEAK_WINDOW_SECONDS
from infercost.sim.world import Option, World

IntArray = NDArray[np.int64]

HPA_TARGET_UTILISATION = 0.7  # of a replica's throughput at the SLO; HPA's usual 70%
HPA_TOLERANCE = 0.1  # HPA v2 default: no change within 10% of the target
HPA_SCALE_UP_PODS = 4  # HPA v2 default scale-up policy: max(4 pods, 100%) per 15 s
HPA_SCALE_UP_PERCENT = 100
HPA_STABILISATION_SECONDS = 300  # HPA v2 default scale-down stabilisation window


class Policy:
    """Decides replicas (and batching) between blocks; the simulator applies them."""

    name = "policy"
    capacity_routing = False  # True only for the oracle's ideal load balancing
    reactive = True  # False: never changes course, so the loop may take longer blocks

    def start(self, fleet: Fleet) -> None:
        """Initial placement at time 0, ready at once (every policy starts warm)."""

    def control(self, fleet: Fleet, *, step: int) -> None:
        """One control interval's decision at `step`."""

    def oracle_ready(self, start: int, steps: int) -> IntArray | None:
        return None


def baseline_options(world: World) -> list[Option]:
    """Per service: its first variant that runs on the baseline pool."""
    pool = world.scenario.workload.spec.baseline_pool
    chosen = []
    for s in range(len(world.services)):
        chosen.append(next(o for o in world.options_of(s) if o.pool.metadata.name == pool))
    return chosen


def replica_bounds(world: World, option: Option) -> tuple[int, int]:
    scaling = world.services[option.service].spec.scaling
    pool_max = option.pool.spec.max_replicas
    upper = scaling.max_replicas if pool_max is None else min(scaling.max_replicas, pool_max)
    return scaling.min_replicas, upper


def peak_rate(world: World, service: int) -> float:
    window_steps = max(int(PEAK_WINDOW_SECONDS // world.step), 1)
    rates = world.rates[service]
    kernel = np.ones(min(window_steps, len(rates))) / min(window_steps, len(rates))
    return float(np.convolve(rates, kernel, mode="valid").max())


class StaticPeak(Policy):
    """Fixed replicas sized for the peak 1-minute demand of the whole trace (hindsight)."""

    name = "static-peak"
    reactive = False

    def start(self, fleet: Fleet) -> None:
        world = fleet.world
        for option in baseline_options(world):
            per_replica = world.slo_capacity(option, fleet.batching[option.index])
            low, high = replica_bounds(world, option)
            need = math.ceil(peak_rate(world, option.service) / max(per_replica, 1e-9))
            fleet.scale(option.index, min(max(need, low), high), step=0, instant=True)


class ReactiveScaler(Policy):
    """HPA v2's algorithm on one metric per replica; subclasses choose the metric."""

    def start(self, fleet: Fleet) -> None:
        world = fleet.world
        self.options = baseline_options(world)
        self.index = np.array([o.index for o in self.options])
        bounds = [replica_bounds(world, o) for o in self.options]
        self.low = np.array([b[0] for b in bounds])
        self.high = np.array([b[1] for b in bounds])
        self.per_replica = np.array(
            [world.slo_capacity(o, fleet.batching[o.index]) for o in self.options]
        )
        history = max(HPA_STABILISATION_SECONDS // world.scenario.workload.spec.control_interval, 1)
        first = np.ceil(
            world.rates[:, :60].mean(axis=1) / (self.per_replica * HPA_TARGET_UTILISATION)
        )
        initial = np.clip(first.astype(np.int64), self.low, self.high)
        self.recommendations = np.repeat(initial[:, None], history, axis=1)
        self.slot = 0
        for option, count in zip(self.options, initial, strict=True):
            fleet.scale(option.index, int(count), step=0, instant=True)

    def metric_ratio(self, fleet: Fleet) -> NDArray[np.float64]:
        raise NotImplementedError

    def control(self, fleet: Fleet, *, step: int) -> None:
        current = fleet.replicas[self.index]
        ratio = self.metric_ratio(fleet)
        within = np.abs(ratio - 1.0) <= HPA_TOLERANCE
        raw = np.where(within, current, np.ceil(ratio * np.maximum(current, 1)).astype(np.int64))
        raw = np.clip(raw, self.low, self.high)
        self.recommendations[:, self.slot] = raw
        self.slot = (self.slot + 1) % self.recommendations.shape[1]
        # Scale-down uses the highest recommendation of the window; scale-up is rate limited.
        stabilised = np.where(
            raw < current, np.minimum(self.recommendations.max(axis=1), current), raw
        )
        up_limit = np.maximum(
            current + HPA_SCALE_UP_PODS, current * (100 + HPA_SCALE_UP_PERCENT) // 100
        )
        desired = np.minimum(stabilised, up_limit)
        for d, target, now in zip(self.index, desired, current, strict=True):
            if target != now:
                fleet.scale(int(d), int(target), step=step)


class Hpa(ReactiveScaler):
    """HPA on per-replica throughput as a share of its capacity at the SLO (utilisation)."""

    name = "hpa"

    def metric_ratio(self, fleet: Fleet) -> NDArray[np.float64]:
        served = window(fleet).served_rps[self.index]
        # Unready replicas count as idle when scaling up, as HPA does.
        replicas = np.maximum(fleet.replicas[self.index], 1)
        ratio: NDArray[np.float64] = served / (replicas * self.per_replica * HPA_TARGET_UTILISATION)
        return ratio


class KedaQueue(ReactiveScaler):
    """KEDA scaling on pending requests per replica, counted as its HTTP add-on does.

    Pending = requests in flight (queued or running): Triton's queued-only gauge is near zero
    at any healthy load and makes a useless scaling signal, so the add-on's count is the
    stronger baseline.
    """

    name = "keda-queue"

    def start(self, fleet: Fleet) -> None:
        super().start(fleet)
        tables = fleet.world.tables
        # Target: the queue a replica holds at the HPA's operating point, so both aim alike.
        targets = []
        for option in self.options:
            t = int(fleet.table[option.index])
            load = HPA_TARGET_UTILISATION * tables.tables[t].load_at_slo()
            rate = load * tables.capacity[t]
            targets.append(max(rate * float(np.interp(load, LOAD_GRID, tables.mean[t])), 1.0))
        self.target = np.array(targets)

    def metric_ratio(self, fleet: Fleet) -> NDArray[np.float64]:
        pending = window(fleet).in_flight[self.index] + fleet.backlog[self.index]
        replicas = np.maximum(fleet.replicas[self.index], 1)
        ratio: NDArray[np.float64] = pending / (replicas * self.target)
        return ratio
