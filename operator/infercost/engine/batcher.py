"""One Triton dynamic batcher under Poisson arrivals, simulated request by request.

Triton's rule (engine/queueing.py says how it was calibrated): a replica runs one batch at a
time; the next batch is cut when the instance frees, `max_batch_size` requests wait or the
oldest has waited `max_queue_delay`; with a queue timeout, a request still queued that long
after it arrived is rejected. `queueing.py` runs this at a grid of loads for its tables.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from infercost.engine.queueing import ExecCurve

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Batched:
    """What one run of the batcher gives, after a 10% warm-up."""

    latencies: FloatArray  # seconds, of the requests served
    busy: float  # fraction of time executing
    mean_batch: float
    queue_seconds: float  # mean wait of the served requests before their batch ran
    rejected: float  # share of arrivals rejected at the queue timeout


def simulate_batcher(
    curve: ExecCurve,
    *,
    rate: float,
    max_batch: int,
    queue_delay: float,
    gaps: FloatArray,
    queue_timeout: float = math.inf,
) -> Batched:
    """Poisson arrivals (unit gaps scaled by 1/rate) through one dynamic batcher.

    The loop runs once per batch on plain floats; per-request work is vectorised after it.
    """
    arrivals_np = np.cumsum(gaps / rate)
    arrivals = arrivals_np.tolist()
    count = len(arrivals)
    exec_table = curve.exec_seconds(np.arange(max_batch + 1)).tolist()
    if queue_delay == 0 and queue_timeout == math.inf:
        cuts = _cut_when_free(arrivals, max_batch=max_batch, exec_table=exec_table)
    else:
        cuts = _cut(
            arrivals,
            max_batch=max_batch,
            queue_delay=queue_delay,
            queue_timeout=queue_timeout,
            exec_table=exec_table,
        )
    firsts, size_arr = cuts.firsts, cuts.sizes
    runs = np.asarray(exec_table)[size_arr]
    start_at = np.repeat(cuts.begins, size_arr)
    done_at = start_at + np.repeat(runs, size_arr)
    skip = count // 10
    served = int(size_arr.sum())
    kept: slice | NDArray[np.bool_]
    if served == count:  # nothing rejected: every request, in arrival order
        arrived, kept = arrivals_np, slice(skip, None)
        rejected = 0.0
    else:  # the served requests' indices: each batch is a run of consecutive arrivals
        offsets = np.arange(served) - np.repeat(np.cumsum(size_arr) - size_arr, size_arr)
        index = np.repeat(firsts, size_arr) + offsets
        kept = index >= skip
        arrived = arrivals_np[index]
        rejected = 1.0 - int(np.count_nonzero(kept)) / (count - skip)
    busy = min(float(np.sum(runs)) / max(cuts.free, 1e-12), 1.0)
    return Batched(
        latencies=(done_at - arrived)[kept],
        busy=busy,
        mean_batch=served / len(size_arr) if len(size_arr) else 0.0,
        queue_seconds=float((start_at - arrived)[kept].mean()) if served else 0.0,
        rejected=rejected,
    )


class _Cuts(NamedTuple):
    """The batches one run cut, in order: each a run of consecutive arrivals."""

    firsts: NDArray[np.int64]  # index of each batch's oldest request
    sizes: NDArray[np.int64]
    begins: FloatArray  # when each batch starts executing
    free: float  # when the last batch ends


def _cut_when_free(arrivals: list[float], *, max_batch: int, exec_table: list[float]) -> _Cuts:
    """No queue delay and no timeout (the engine's modelled configs): a batch is cut when the
    instance frees, of what waits then. `_cut`'s rule with those terms dropped (the same
    floats: the oldest request plus a zero delay is the oldest request), in fewer steps."""
    count = len(arrivals)
    ends: list[int] = []
    begins: list[float] = []
    add_end, add_begin = ends.append, begins.append
    alone = exec_table[1]
    after = [*arrivals, math.inf]  # a request that never arrives ends the last batch
    free = 0.0
    first = 0
    while first < count:
        oldest = after[first]
        if oldest > free and after[first + 1] > oldest:
            # An idle instance and no other request at that instant: a batch of one now
            # (at low load, most batches). What the general step below gives, sooner.
            first += 1
            add_end(first)
            add_begin(oldest)
            free = oldest + alone
            continue
        begin = oldest if oldest > free else free
        stop = first + max_batch
        end = bisect_right(arrivals, begin, first, stop if stop < count else count)
        add_end(end)
        add_begin(begin)
        free = begin + exec_table[end - first]
        first = end
    ends_arr = np.asarray(ends, dtype=np.int64)
    firsts = np.concatenate([np.zeros(1, dtype=np.int64), ends_arr[:-1]])
    return _Cuts(firsts, ends_arr - firsts, np.asarray(begins, dtype=np.float64), free)


def _cut(
    arrivals: list[float],
    *,
    max_batch: int,
    queue_delay: float,
    queue_timeout: float,
    exec_table: list[float],
) -> _Cuts:
    """Triton's rule in full: queue delay (with its look-ahead) and queue timeout."""
    # Measured against a real tritonserver (tests/sim/test_calibration.py): with no queue delay
    # the next batch is whatever waits when the instance frees. With a delay, real batches
    # are cut as soon as the delay expires even while the instance is busy and then wait
    # behind it (one payload of look-ahead); modelling that is exact at high load and
    # pessimistic (up to ~45% on p50) at low load, where the simpler rule under-predicts.
    lookahead = queue_delay > 0
    count = len(arrivals)
    sizes: list[int] = []
    firsts: list[int] = []
    begins: list[float] = []
    add_size, add_first, add_begin = sizes.append, firsts.append, begins.append
    alone = exec_table[1]
    batching = max_batch > 1
    after = [*arrivals, math.inf]  # a request that never arrives ends the last batch
    free = slot = 0.0
    first = 0
    # Plain comparisons instead of min()/max() calls: the same floats, a third of the time.
    while first < count:
        oldest = arrivals[first]
        dispatch = oldest + queue_delay
        if (
            batching
            and after[first + 1] > dispatch
            and dispatch >= free
            and dispatch >= slot
            and dispatch - oldest <= queue_timeout
        ):
            # Alone when its delay runs out on an idle instance: a batch of one then, as the
            # general steps below give it (no cap, no slot, no timeout binds), sooner.
            add_size(1)
            add_first(first)
            add_begin(dispatch)
            free = dispatch + alone
            slot = dispatch if lookahead else free
            first += 1
            continue
        last = first + max_batch - 1
        if last < count and arrivals[last] < dispatch:
            dispatch = arrivals[last]
        if dispatch < oldest:
            dispatch = oldest
        if dispatch < slot:
            dispatch = slot
        if dispatch - oldest > queue_timeout:
            # Triton rejects what is still queued `queue_timeout` after it arrived: every
            # request older than that when this batch is cut; the next oldest is looked at anew.
            first = bisect_left(arrivals, dispatch - queue_timeout, first + 1, count)
            continue
        stop = first + max_batch
        end = (
            first + 1
            if max_batch == 1
            else bisect_right(arrivals, dispatch, first, stop if stop < count else count)
        )
        begin = dispatch if dispatch >= free else free
        add_size(end - first)
        add_first(first)
        add_begin(begin)
        free = begin + exec_table[end - first]
        slot = begin if lookahead else free
        first = end
    return _Cuts(
        np.asarray(firsts, dtype=np.int64),
        np.asarray(sizes, dtype=np.int64),
        np.asarray(begins, dtype=np.float64),
        free,
    )
