"""Replicas, their readiness, queues and the latency of every request, one block at a time.

A block is one control interval: decisions change replica targets only between blocks, so
within a block every quantity is an array over (deployment, step) and the backlog recursion
(requests beyond capacity wait) is solved with cumulative sums (Lindley's recursion).
Requests reach the ready replicas of a service in equal shares per replica, as a Kubernetes
Service does; the oracle alone routes in proportion to capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from infercost.engine.model import BatchConfig
from infercost.engine.queueing import LOAD_GRID, MAX_LOAD, REL_GRID, SLO_INDEX
from infercost.sim.coldstart import Holding
from infercost.sim.world import World

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
HISTORY_STEPS = 60  # Prometheus rate()/quantile window the observations are built from


@dataclass
class BlockResult:
    requests: FloatArray  # [service]
    good: FloatArray  # [service]
    cost: FloatArray  # [service] dollars
    accel_seconds: FloatArray  # [service]
    over_accel_seconds: FloatArray  # [service]
    budget_violation_seconds: FloatArray  # [service]
    p99_ms: FloatArray  # [service] over the block, NaN without traffic
    replicas: FloatArray  # [deployment] mean over the block


class Fleet:
    def __init__(self, world: World, *, capacity_routing: bool = False) -> None:
        self.world = world
        d_count = len(world.options)
        self.svc = world.service_of
        self.replicas = np.zeros(d_count, dtype=np.int64)  # incl. starting
        self.ready = np.zeros(d_count, dtype=np.int64)
        max_start = max((o.startup_seconds for o in world.options), default=0)
        self.ring = max_start // world.step + world.interval_steps + 2
        self.pending = np.zeros((d_count, self.ring), dtype=np.int64)
        self.delay_steps = np.array(
            [-(-o.startup_seconds // world.step) for o in world.options], dtype=np.int64
        )
        self.table = np.zeros(d_count, dtype=np.int64)
        self.batching: list[BatchConfig] = [
            BatchConfig(max_batch_size=1, max_queue_delay_us=0) for _ in world.options
        ]
        self.backlog = np.zeros(d_count)
        self.price = np.array([o.price_per_replica for o in world.options])
        self.accel = np.array([o.accelerators for o in world.options], dtype=np.float64)
        # Options are listed service by service, so per-service sums are reduceat over rows.
        self.offsets = np.searchsorted(self.svc, np.arange(len(world.services)))
        self.capacity_routing = capacity_routing
        self.slo_s = np.array([world.slo_ms(s) / 1e3 for s in range(len(world.services))])
        budgets = [svc.spec.budget for svc in world.services]
        self.budget = np.array([b.max_hourly_cost if b else np.inf for b in budgets])
        self.timeout = world.scenario.workload.spec.request_timeout_seconds
        # Per deployment: how long a request may wait (the client's timeout, or Triton's
        # queue timeout where it rejects late requests: then Triton counts the rejections).
        self.wait_limit = np.full(d_count, float(self.timeout))
        self.rejects = np.zeros(d_count, dtype=bool)
        # Rolling per-step history for observations: served count, load, wait (s), p99 (s),
        # requests Triton rejected.
        self.hist = np.zeros((5, d_count, HISTORY_STEPS))
        self._slo_load_tables = -1
        self._slo_load_by_table = np.zeros(0)
        self.hist_pos = 0
        self.hist_steps = 0  # steps recorded so far, up to HISTORY_STEPS
        # Requests held while a scale-to-zero service has no ready replica (sim/coldstart.py).
        self.holding = Holding.of(world)
        for option in world.options:
            self.set_batching(option.index, world.best_batching(option))

    def set_batching(self, d: int, batching: BatchConfig) -> None:
        option = self.world.options[d]
        self.batching[d] = batching
        timeout = batching.queue_timeout_us / 1e6
        self.rejects[d] = 0 < timeout < self.timeout
        self.wait_limit[d] = timeout if self.rejects[d] else float(self.timeout)
        self.table[d] = self.world.tables.index(
            option.curve, batching, self.world.slo_ms(option.service)
        )

    def scale(self, d: int, target: int, *, step: int, instant: bool = False) -> None:
        """Move deployment d to `target` replicas; new ones become ready after their startup."""
        target = max(int(target), 0)
        current = int(self.replicas[d])
        if target > current:
            if instant:
                self.ready[d] += target - current
            else:
                self.pending[d, (step + self.delay_steps[d]) % self.ring] += target - current
        elif target < current:
            surplus = current - target
            # Kubernetes removes replicas that are not ready yet first (newest first).
            for offset in range(self.delay_steps[d], 0, -1):
                if surplus == 0:
                    break
                col = (step + offset) % self.ring
                take = min(surplus, int(self.pending[d, col]))
                self.pending[d, col] -= take
                surplus -= take
            self.ready[d] -= surplus
            self.backlog[d] = 0.0 if self.ready[d] == 0 else self.backlog[d]
        self.replicas[d] = target

    def run_block(
        self, start: int, steps: int, oracle_ready: IntArray | None = None
    ) -> BlockResult:
        w, dt = self.world, float(self.world.step)
        cols = (start + np.arange(steps)) % self.ring
        if oracle_ready is None:
            ready = self.ready[:, None] + np.cumsum(self.pending[:, cols], axis=1)
            self.pending[:, cols] = 0
            self.ready = ready[:, -1].copy()
            replicas = np.broadcast_to(self.replicas[:, None], ready.shape)
        else:
            ready = replicas = oracle_ready
        cap_rate = self.world.tables.capacity[self.table][:, None]  # inferences/s per replica
        slo_load = self.slo_load()[:, None]
        weight = np.asarray(
            ready * (cap_rate * slo_load if self.capacity_routing else 1.0), dtype=np.float64
        )
        total = self._per_service(weight)  # [service, step]
        rate = w.rates[:, start : start + steps].astype(np.float64)
        # Without a ready replica the Service has no endpoints: those requests fail (not good).
        share = np.divide(
            weight, total[self.svc], out=np.zeros_like(weight), where=total[self.svc] > 0
        )
        arrivals = rate[self.svc] * share * dt
        # Scale to zero: requests finding no endpoint are held for the first ready replica.
        held_good = 0.0 if self.holding is None else self.holding.block(start, rate, total)
        # Only deployments with ready replicas or a backlog need the queueing model.
        act = np.flatnonzero(ready.any(axis=1) | (self.backlog > 0))
        a_ready, a_cap, a_arr = ready[act], cap_rate[act], arrivals[act]
        capacity = a_ready * a_cap * MAX_LOAD * dt
        load = np.minimum(a_arr / (np.maximum(a_ready, 1) * a_cap * dt), MAX_LOAD)
        # Requests dropped at a timeout are never good, whatever the wait of the rest; only
        # Triton's own timeout is counted as rejected (the history's last row stays 0 else).
        kept: FloatArray = a_arr
        rejected: tuple[FloatArray, ...] = ()
        if self.rejects[act].any():
            served, backlog, wait, dropped = self._queue_exact(act, a_arr, capacity)
            # Below capacity Triton still rejects a request that waited out the timeout
            # behind running batches (the table's share at this load); a step with a backlog
            # has its rejections from the backlog's bound instead.
            late = np.where(
                wait > 0, 0.0, a_arr * self.blend(self.world.tables.rejected, act, load)
            )
            kept = np.maximum(a_arr - dropped - late, 0.0)
            served = np.maximum(served - late, 0.0)
            rejected = (np.where(self.rejects[act][:, None], dropped, 0.0) + late,)
        else:
            served, backlog, wait = self._queue(act, a_arr, capacity)
        good_frac, p99_s = self._lookup(act, load, wait)
        self._remember(act, steps, served, load, wait, p99_s, *rejected)
        self.backlog[:] = 0.0
        self.backlog[act] = backlog
        good = np.zeros(len(self.svc))
        good[act] = (kept * good_frac).sum(axis=1)
        hourly = self._per_service(replicas * self.price[:, None])
        held = self._per_service(replicas * self.accel[:, None])
        needed = self._per_service(arrivals / dt / (cap_rate * slo_load) * self.accel[:, None])
        over = np.maximum(held - needed, 0)
        p99_dep = np.full(len(self.svc), np.nan)
        if act.size:
            p99_dep[act] = np.where(served > 0, p99_s, -np.inf).max(axis=1)
        p99_service = np.full(len(self.world.services), np.nan)
        ok = p99_dep > -np.inf  # NaN compares False too
        np.fmax.at(p99_service, self.svc[ok], p99_dep[ok])
        return BlockResult(
            requests=(rate * dt).sum(axis=1) * w.answered_per_computed(),
            good=self._per_service(good)
            + w.cached_good(rate * dt, reachable=total > 0)
            + held_good,
            cost=hourly.sum(axis=1) * dt / 3600.0,
            accel_seconds=held.sum(axis=1) * dt,
            over_accel_seconds=over.sum(axis=1) * dt,
            budget_violation_seconds=(hourly > self.budget[:, None] + 1e-9).sum(axis=1) * dt,
            p99_ms=p99_service * 1e3,
            replicas=replicas.mean(axis=1),
        )

    def _per_service(self, values: FloatArray) -> FloatArray:
        out: FloatArray = np.add.reduceat(values, self.offsets, axis=0)
        return out

    def _queue(
        self, act: IntArray, arrivals: FloatArray, capacity: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Backlog per step (Lindley), served counts and the wait of each step's arrivals."""
        q0 = self.backlog[act]
        cum = np.cumsum(arrivals - capacity, axis=1)
        low = np.minimum(np.minimum.accumulate(cum, axis=1), -q0[:, None])
        queue = cum - low
        # Clients time out: a backlog longer than the timeout is dropped (and was bad anyway).
        limit = capacity / float(self.world.step) * self.timeout
        queue = np.minimum(queue, limit)
        before = np.concatenate([q0[:, None], queue[:, :-1]], axis=1)
        # Requests dropped at the timeout were never executed: a replica completes at most its
        # capacity, which is what Triton's inference counters (and so the planner) would see.
        served = np.minimum(np.maximum(arrivals + before - queue, 0.0), capacity)
        return served, queue[:, -1].copy(), self._wait(before, queue, capacity)

    def _queue_exact(
        self, act: IntArray, arrivals: FloatArray, capacity: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """`_queue` step by step, for queues bounded by a short timeout (Triton rejecting
        late requests): the backlog is clipped at the bound every step, so a queue that
        overflowed empties as soon as the load falls (the closed form would keep it full
        for the rest of the block). Also returns the requests dropped per step."""
        limit = capacity / float(self.world.step) * self.wait_limit[act][:, None]
        queue = np.empty_like(arrivals)
        served = np.empty_like(arrivals)
        dropped = np.empty_like(arrivals)
        q = self.backlog[act].copy()
        for t in range(arrivals.shape[1]):
            offered = q + arrivals[:, t]
            served[:, t] = np.minimum(offered, capacity[:, t])
            rest = offered - served[:, t]
            q = np.minimum(rest, limit[:, t])
            dropped[:, t] = rest - q
            queue[:, t] = q
        before = np.concatenate([self.backlog[act][:, None], queue[:, :-1]], axis=1)
        return served, queue[:, -1].copy(), self._wait(before, queue, capacity), dropped

    def _wait(self, before: FloatArray, queue: FloatArray, capacity: FloatArray) -> FloatArray:
        """The wait of each step's arrivals: the mean backlog over the step at the drain rate."""
        drain = capacity / float(self.world.step)
        pending = before + queue
        wait = np.divide(pending, 2 * drain, out=np.full_like(queue, np.inf), where=drain > 0)
        out: FloatArray = np.where(pending > 0, wait, 0.0)
        return out

    def _rows(self, act: IntArray, load: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """Table id, lower load-grid row and blend weight per (deployment, step)."""
        pos = np.interp(load, LOAD_GRID, np.arange(len(LOAD_GRID), dtype=np.float64))
        i0 = np.minimum(pos.astype(np.int64), len(LOAD_GRID) - 2)
        return self.table[act][:, None], i0, pos - i0

    def blend(self, series: FloatArray, act: IntArray, load: FloatArray) -> FloatArray:
        """A per-load table series (busy, batch, ...) at each (deployment, step) load."""
        tid, i0, f = self._rows(act, load)
        out: FloatArray = series[tid, i0] * (1 - f) + series[tid, i0 + 1] * f
        return out

    def _lookup(
        self, act: IntArray, load: FloatArray, wait: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Per step: the fraction of requests inside the SLO and the p99 (seconds)."""
        cdf = self.world.tables.cdf
        tid, i0, f = self._rows(act, load)
        slo = self.slo_s[self.svc[act]][:, None]
        jpos = np.interp(
            1.0 - wait / slo, REL_GRID, np.arange(len(REL_GRID), dtype=np.float64), left=-1.0
        )
        j0 = np.clip(jpos.astype(np.int64), 0, len(REL_GRID) - 2)
        g = np.clip(jpos - j0, 0.0, 1.0)

        def at_j(j: int | IntArray) -> FloatArray:
            out: FloatArray = cdf[tid, i0, j] * (1 - f) + cdf[tid, i0 + 1, j] * f
            return out

        queued = wait > 0
        good = at_j(SLO_INDEX)
        if queued.any():
            good = np.where(queued, at_j(j0) * (1 - g) + at_j(j0 + 1) * g, good)
            good = np.where(jpos < 0, 0.0, good)
        p99_rel = self.world.tables.p99_rel
        p99 = (p99_rel[tid, i0] * (1 - f) + p99_rel[tid, i0 + 1] * f) * slo + wait
        return good, p99

    def slo_load(self) -> FloatArray:
        """Per deployment: the highest load at which 99% of requests meet the SLO."""
        tables = self.world.tables
        if self._slo_load_tables != len(tables.tables):
            self._slo_load_by_table = np.array([max(t.load_at_slo(), 1e-3) for t in tables.tables])
            self._slo_load_tables = len(tables.tables)
        out: FloatArray = self._slo_load_by_table[self.table]
        return out

    def _remember(self, act: IntArray, steps: int, *series: FloatArray) -> None:
        cols = (self.hist_pos + np.arange(steps)) % HISTORY_STEPS
        self.hist[:, :, cols] = 0.0
        for row, values in enumerate(series):
            self.hist[row][np.ix_(act, cols)] = values
        self.hist_pos = (self.hist_pos + steps) % HISTORY_STEPS
        self.hist_steps = min(self.hist_steps + steps, HISTORY_STEPS)


def weighted_p99(counts: FloatArray, p99: FloatArray) -> FloatArray:
    """Per row: the 0.99 request-weighted quantile of per-step p99s (a window's p99)."""
    order = np.argsort(p99, axis=1)
    sorted_p99 = np.take_along_axis(p99, order, axis=1)
    cum = np.cumsum(np.take_along_axis(counts, order, axis=1), axis=1)
    total = cum[:, -1:]
    idx = np.argmax(cum >= 0.99 * total, axis=1)
    return np.where(total[:, 0] > 0, sorted_p99[np.arange(len(idx)), idx], np.nan)
