"""The interface every policy implements, and the reactive baselines (hpa, keda-queue, static).

The baselines run one variant on the Workload's baselinePool with the fixed batching that
gives the most throughput inside the SLO. Their knobs are the documented defaults below,
chosen to make each the best of its kind rather than a straw man.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from infercost.engine.queueing import LOAD_GRID
from infercost.sim.fleet import Fleet
from infercost.sim.observe import window
from infercost.sim.traces import PEAK_WINDOW_SECONDS
from infercost.sim.world import Option, World

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

HPA_TARGET_UTILISATION = 0.7  # of a replica's throughput at the SLO; HPA's usual 70%
HPA_TOLERANCE = 0.1  # HPA v2 default: no change within 10% of the target
HPA_SCALE_UP_PODS = 4  # HPA v2 default scale-up policy: max(4 pods, 100%) per 15 s
HPA_SCALE_UP_PERCENT = 100
HPA_STABILISATION_SECONDS = 300  # HPA v2 default scale-down stabilisation window
KEDA_RATE_WINDOW_SECONDS = 60  # HTTP add-on request-rate window default (1 minute)


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
    """The HPA v2 controller around one replica proposal per interval; subclasses propose."""

    def start(self, fleet: Fleet) -> None:
        world = fleet.world
        self.options = baseline_options(world)
        self.index = np.array([o.index for o in self.options])
        self.service = np.array([o.service for o in self.options])
        bounds = [replica_bounds(world, o) for o in self.options]
        self.low = np.array([b[0] for b in bounds])
        self.high = np.array([b[1] for b in bounds])
        self.per_replica = np.array(
            [world.slo_capacity(o, fleet.batching[o.index]) for o in self.options]
        )
        # The rate one replica should carry: HPA's target utilisation of its SLO capacity.
        self.target_rate = self.per_replica * HPA_TARGET_UTILISATION
        history = max(HPA_STABILISATION_SECONDS // world.scenario.workload.spec.control_interval, 1)
        first = np.ceil(world.rates[:, :60].mean(axis=1)[self.service] / self.target_rate)
        initial = np.clip(first.astype(np.int64), self.low, self.high)
        self.recommendations = np.repeat(initial[:, None], history, axis=1)
        self.slot = 0
        for option, count in zip(self.options, initial, strict=True):
            fleet.scale(option.index, int(count), step=0, instant=True)

    def propose(self, fleet: Fleet, *, step: int) -> IntArray:
        """Desired replicas per deployment before stabilisation and rate limits."""
        raise NotImplementedError

    def control(self, fleet: Fleet, *, step: int) -> None:
        current = fleet.replicas[self.index]
        raw = np.clip(self.propose(fleet, step=step), self.low, self.high)
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


def pods_metric_replicas(*, usage: FloatArray, ready: IntArray, replicas: IntArray) -> IntArray:
    """HPA v2's replica count for a per-pod metric (usage: sum over ready pods / target).

    Pods still starting report no metric: "missing" pods count as 100% of the target when
    scaling down and 0% when scaling up; a proposal that then flips direction, falls within
    the tolerance, or moves against its ratio keeps the current count (kube-controller-manager
    replica_calculator, and the "Algorithm details" of the HPA documentation).
    """
    out = replicas.copy()
    for k in range(len(usage)):
        have, now = int(ready[k]), int(replicas[k])
        if have == 0:
            continue  # no metrics at all: the HPA cannot compute and holds
        ratio = usage[k] / have
        missing = max(now - have, 0)
        if missing == 0:
            if abs(ratio - 1.0) > HPA_TOLERANCE:
                out[k] = math.ceil(ratio * have)
            continue
        filled = usage[k] + (missing if ratio < 1.0 else 0.0)
        new = filled / (have + missing)
        flips = (ratio > 1.0 > new) or (ratio < 1.0 < new)
        if flips or abs(new - 1.0) <= HPA_TOLERANCE:
            continue
        proposal = math.ceil(new * (have + missing))
        if (new < 1.0 and proposal > now) or (new > 1.0 and proposal < now):
            continue
        out[k] = proposal
    return out


def external_metric_replicas(
    *, total: FloatArray, target: FloatArray, replicas: IntArray
) -> IntArray:
    """HPA v2's replica count for an External metric with an AverageValue target (what KEDA
    exposes): ceil(total / target), unless total / (target x replicas) is within tolerance."""
    ratio = total / (target * np.maximum(replicas, 1))
    wanted = np.ceil(total / target - 1e-9).astype(np.int64)
    out: IntArray = np.where(np.abs(ratio - 1.0) <= HPA_TOLERANCE, replicas, wanted)
    return out


class Hpa(ReactiveScaler):
    """HPA v2 on a Pods metric: inferences/s per replica, target 70% of its SLO capacity."""

    name = "hpa"

    def propose(self, fleet: Fleet, *, step: int) -> IntArray:
        served = window(fleet).served_rps[self.index]
        return pods_metric_replicas(
            usage=served / self.target_rate,
            ready=fleet.ready[self.index],
            replicas=fleet.replicas[self.index],
        )


class KedaQueue(ReactiveScaler):
    """KEDA's HTTP add-on: pending requests (concurrency) and request-rate targets, the larger
    proposal wins, on HPA v2's default behaviour.

    Concurrency = requests inside the replicas (Little's law on the window, the model's
    latency without queueing) plus the requests queued in front of them now. Its target is
    that figure for one replica at the hpa operating point (70% of its SLO capacity); the
    request-rate target is that rate. Both count arrivals, not completions, so a queue is seen
    at once; the rate target keeps a scale-down from undershooting where in-flight requests
    fall faster than load (a replica's latency shrinks as it empties).
    """

    name = "keda-queue"

    def start(self, fleet: Fleet) -> None:
        super().start(fleet)
        tables = fleet.world.tables
        targets = []
        for option, rate in zip(self.options, self.target_rate, strict=True):
            t = int(fleet.table[option.index])
            load = rate / tables.capacity[t]
            targets.append(max(rate * float(np.interp(load, LOAD_GRID, tables.mean[t])), 1e-6))
        self.target_pending = np.array(targets)
        self.rate_steps = max(KEDA_RATE_WINDOW_SECONDS // fleet.world.step, 1)

    def propose(self, fleet: Fleet, *, step: int) -> IntArray:
        win = window(fleet)
        every = np.arange(len(fleet.svc))
        latency = fleet.blend(fleet.world.tables.mean, every, win.load)
        inside = (win.served / float(fleet.world.step) * latency).mean(axis=1)[self.index]
        pending = inside + fleet.backlog[self.index]
        arrivals = fleet.world.rates[self.service, max(step - self.rate_steps, 0) : step]
        rate = arrivals.mean(axis=1) if arrivals.shape[1] else np.zeros(len(self.index))
        replicas = fleet.replicas[self.index]
        by_queue = external_metric_replicas(
            total=pending, target=self.target_pending, replicas=replicas
        )
        by_rate = external_metric_replicas(total=rate, target=self.target_rate, replicas=replicas)
        out: IntArray = np.maximum(by_queue, by_rate)
        return out
