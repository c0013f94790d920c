"""Cold starts: requests that arrive while a scale-to-zero service has no ready replica.

With a Workload's `scaleToZero`, something (the activator issue 22 asks for) holds each
request that finds no endpoint until the first replica is ready, and reports the held
requests as demand (the wake signal). Without it such a request fails (sim/fleet.py).

A request arriving in step t, first ready step r, waits (r - t - 0.5) x step on average
(arrivals spread over their step; a replica ready in step r serves from its start). It is:
* dropped when the wait exceeds the wake timeout (or the client's requestTimeoutSeconds);
* answered otherwise, and good only when the wait is within the SLO (the execution that
  follows is left out: optimistic by one batch's latency, negligible beside a cold start).
Held requests do not add to the load of the replica that wakes (they are at most the wake
timeout's worth of a sparse workload's requests): a documented limit (docs/levers.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from infercost.sim.scale_to_zero import ScaleToZero
from infercost.sim.world import World

FloatArray = NDArray[np.float64]
# Upper edges (seconds) of the cold-start wait histogram the bench prints; the last is open.
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, float("inf"))


@dataclass
class HeldTotals:
    """What the requests held at zero came to, per service, over the run so far."""

    held: FloatArray  # requests that found no ready replica (answered-per-computed units)
    good: FloatArray  # answered within the SLO
    answered: FloatArray  # answered within the wake timeout (good or late)
    dropped: FloatArray  # held past the wake timeout
    # The wait of the first request held in each episode at zero, until a replica was
    # ready: the cold starts clients saw (all services), in seconds.
    cold_starts: list[float] = field(default_factory=list)
    # Answered held requests per WAIT_BUCKETS bucket of their wait (all services).
    wait_histogram: FloatArray = field(default_factory=lambda: np.zeros(len(WAIT_BUCKETS)))


def scale_to_zero_of(world: World) -> list[ScaleToZero | None]:
    """Per service of the world, its Workload entry's scaleToZero (found by namespace and
    name: a sharded world, sim/shard.py, holds a slice of the Workload's services)."""
    entries = {
        (entry.namespace, entry.name): entry.scale_to_zero
        for entry in world.scenario.workload.spec.services
    }
    return [
        entries.get((svc.metadata.namespace or "default", svc.metadata.name))
        for svc in world.services
    ]


class Holding:
    """The activator of every scale-to-zero service of a world, step by step."""

    def __init__(self, world: World, policies: list[ScaleToZero | None]) -> None:
        client = world.scenario.workload.spec.request_timeout_seconds
        self.world = world
        self.services = [s for s, policy in enumerate(policies) if policy is not None]
        self.timeout = {
            s: min(policy.wake_timeout_seconds, client)
            for s, policy in enumerate(policies)
            if policy is not None
        }
        services = self.services
        self.slo_s = {s: world.slo_ms(s) / 1e3 for s in services}
        self.scale = world.answered_per_computed()
        # Per service: held requests not yet answered, (arrival step, computed requests).
        self.pending: dict[int, list[tuple[int, float]]] = {s: [] for s in services}
        self.held_rps: dict[int, float] = dict.fromkeys(services, 0.0)
        # Per service: the arrival step of the first request of the episode at zero whose
        # requests all timed out (None when no such episode is open).
        self.first_expired: dict[int, int | None] = dict.fromkeys(services)
        n = len(world.services)
        self.totals = HeldTotals(
            held=np.zeros(n), good=np.zeros(n), answered=np.zeros(n), dropped=np.zeros(n)
        )

    @classmethod
    def of(cls, world: World) -> Holding | None:
        """The holding of a world, None when no service scales to zero."""
        policies = scale_to_zero_of(world)
        return cls(world, policies) if any(policies) else None

    def block(self, start: int, rate: FloatArray, endpoints: FloatArray) -> FloatArray:
        """Per service, the held requests answered inside the SLO in this block (good ones,
        to add to the block's good count). `rate` [service, step] is the computed request
        rate, `endpoints` [service, step] > 0 where the Service has a ready replica."""
        good = np.zeros(len(self.world.services))
        dt = float(self.world.step)
        steps = rate.shape[1]
        for s in self.services:
            zero = endpoints[s] <= 0
            arrivals = rate[s] * dt
            held_steps = np.flatnonzero(zero & (arrivals > 0))
            self.held_rps[s] = float(arrivals[held_steps].sum()) / (steps * dt)
            waiting = self.pending[s] + [(start + int(t), float(arrivals[t])) for t in held_steps]
            ready_steps = start + np.flatnonzero(~zero)
            released: list[tuple[int, float, int]] = []  # (arrival, count, release step)
            carried: list[tuple[int, float]] = []
            if waiting:
                at = np.array([a for a, _ in waiting])
                pos = np.searchsorted(ready_steps, at)
                for (arrival, count), p in zip(waiting, pos.tolist(), strict=True):
                    if p < len(ready_steps):
                        released.append((arrival, count, int(ready_steps[p])))
                    else:
                        carried.append((arrival, count))
            self._cold_starts(s, released, ready_steps, dt)
            good[s] = self._settle(s, released, dt)
            self.pending[s] = self._expire(s, carried, now=start + steps, dt=dt)
        return good

    def _cold_starts(
        self, s: int, released: list[tuple[int, float, int]], ready: NDArray[np.int64], dt: float
    ) -> None:
        """One cold start per episode at zero that ended: its first request's wait."""
        first: dict[int, int] = {}  # release step -> first arrival it ends
        for arrival, _, release in released:
            first[release] = min(first.get(release, arrival), arrival)
        expired = self.first_expired[s]
        if expired is not None and len(ready) and ready[-1] >= expired:
            release = int(ready[np.searchsorted(ready, expired)])
            first[release] = min(first.get(release, expired), expired)
            self.first_expired[s] = None
        self.totals.cold_starts.extend((r - a - 0.5) * dt for r, a in sorted(first.items()))

    def _settle(self, s: int, released: list[tuple[int, float, int]], dt: float) -> float:
        """Account the released requests; returns the good ones (answered units)."""
        totals, scale, good = self.totals, float(self.scale[s]), 0.0
        for arrival, count, release in released:
            wait = (release - arrival - 0.5) * dt
            n = count * scale
            totals.held[s] += n
            if wait > self.timeout[s]:
                totals.dropped[s] += n
                continue
            totals.answered[s] += n
            self._histogram(wait, n)
            if wait <= self.slo_s[s]:
                totals.good[s] += n
                good += n
        return good

    def _expire(
        self, s: int, carried: list[tuple[int, float]], *, now: int, dt: float
    ) -> list[tuple[int, float]]:
        """Drop the held requests that waited out the timeout with no replica ready."""
        kept = []
        scale = float(self.scale[s])
        for arrival, count in carried:
            if (now - arrival - 0.5) * dt > self.timeout[s]:
                self.totals.held[s] += count * scale
                self.totals.dropped[s] += count * scale
                first = self.first_expired[s]
                self.first_expired[s] = arrival if first is None else min(first, arrival)
            else:
                kept.append((arrival, count))
        return kept

    def _histogram(self, wait: float, count: float) -> None:
        bucket = next(i for i, edge in enumerate(WAIT_BUCKETS) if wait <= edge)
        self.totals.wait_histogram[bucket] += count
