"""The batcher model's faster paths give the same answers as the full rule (issue 23).

`batcher._cut_when_free` is `_cut` with no queue delay and no timeout, in fewer steps; the
engine's `slo_safe_load` simulates loads only as far up the grid as a caller needs and
resumes later. Both must be exact: the plans the engine makes from them may not change.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np
import pytest

from infercost.engine import queueing
from infercost.engine.batcher import _cut, _cut_when_free
from infercost.engine.queueing import (
    EVENT_REQUESTS,
    LOAD_GRID,
    MAX_LOAD,
    ExecCurve,
    TableKey,
    latency_table,
    slo_safe_load,
)

pytestmark = pytest.mark.unit

GPU = ExecCurve((1, 8, 32), (0.00125, 0.003333, 0.01))  # fast against a 25 ms SLO
SLOW = ExecCurve((1, 4), (0.022, 0.028))  # a 28 ms batch against a 60 ms SLO


@pytest.mark.parametrize(("curve", "max_batch"), [(GPU, 1), (GPU, 8), (GPU, 32), (SLOW, 4)])
@pytest.mark.parametrize("load", [0.05, 0.4, 0.8, 0.98])
def test_cutting_when_free_is_the_full_rule_without_delay_or_timeout(
    curve: ExecCurve, max_batch: int, load: float
) -> None:
    gaps = np.random.default_rng(7).exponential(1.0, EVENT_REQUESTS)
    arrivals = np.cumsum(gaps / (load * curve.capacity(max_batch))).tolist()
    exec_table = curve.exec_seconds(np.arange(max_batch + 1)).tolist()
    fast = _cut_when_free(arrivals, max_batch=max_batch, exec_table=exec_table)
    full = _cut(
        arrivals,
        max_batch=max_batch,
        queue_delay=0.0,
        queue_timeout=math.inf,
        exec_table=exec_table,
    )
    assert np.array_equal(fast.firsts, full.firsts)
    assert np.array_equal(fast.sizes, full.sizes)
    assert np.array_equal(fast.begins, full.begins)  # bit for bit, not approximately
    assert fast.free == full.free
    assert int(fast.sizes.sum()) == EVENT_REQUESTS


def _one_batch_at_a_time(
    arrivals: list[float],
    *,
    max_batch: int,
    queue_delay: float,
    queue_timeout: float,
    exec_table: list[float],
) -> tuple[list[tuple[int, int, float]], float]:
    """Triton's rule (engine/batcher.py) stated plainly: (first, size, begin) per batch."""
    batches: list[tuple[int, int, float]] = []
    count, free, slot, first = len(arrivals), 0.0, 0.0, 0
    while first < count:
        oldest = arrivals[first]
        dispatch = oldest + queue_delay  # the delay runs out, or the batch fills first
        if first + max_batch - 1 < count:
            dispatch = min(dispatch, arrivals[first + max_batch - 1])
        dispatch = max(dispatch, oldest, slot)
        if dispatch - oldest > queue_timeout:  # rejected, with all queued as long
            first = bisect_left(arrivals, dispatch - queue_timeout, first + 1, count)
            continue
        end = first + 1
        while end < min(first + max_batch, count) and arrivals[end] <= dispatch:
            end += 1
        begin = max(dispatch, free)
        batches.append((first, end - first, begin))
        free = begin + exec_table[end - first]
        slot = begin if queue_delay > 0 else free
        first = end
    return batches, free


@pytest.mark.parametrize("max_batch", [1, 4, 8])
@pytest.mark.parametrize(("delay", "timeout"), [(0.0, math.inf), (0.002, math.inf), (0.002, 0.03)])
@pytest.mark.parametrize("load", [0.1, 0.6, 0.97])
def test_the_batcher_cuts_batches_as_the_rule_says(
    max_batch: int, delay: float, timeout: float, load: float
) -> None:
    curve = ExecCurve((1, 4, 8), (0.004, 0.006, 0.010))
    gaps = np.random.default_rng(11).exponential(1.0, 3000)
    arrivals = np.cumsum(gaps / (load * curve.capacity(max_batch))).tolist()
    exec_table = curve.exec_seconds(np.arange(max_batch + 1)).tolist()
    expected, free = _one_batch_at_a_time(
        arrivals,
        max_batch=max_batch,
        queue_delay=delay,
        queue_timeout=timeout,
        exec_table=exec_table,
    )
    cut = _cut(
        arrivals,
        max_batch=max_batch,
        queue_delay=delay,
        queue_timeout=timeout,
        exec_table=exec_table,
    )
    got = list(zip(cut.firsts.tolist(), cut.sizes.tolist(), cut.begins.tolist(), strict=True))
    assert got == expected  # bit for bit
    assert cut.free == free


KEYS: list[TableKey] = [
    (GPU, 32, 0, 25.0, 0),
    (GPU, 32, 0, 12.0, 0),  # breaks inside the grid
    (SLOW, 4, 0, 60.0, 0),
    (SLOW, 4, 0, 60.0, 40_000),  # with a queue timeout
    (ExecCurve((1, 8), (0.001641, 0.003642)), 8, 5300, 25.0, 0),  # with a queue delay
]


@pytest.mark.parametrize("key", KEYS)
def test_the_safe_load_asked_in_steps_is_the_whole_tables(key: TableKey) -> None:
    curve, size, delay, slo_ms, timeout = key
    table = latency_table(
        curve, max_batch=size, queue_delay_us=delay, slo_ms=slo_ms, queue_timeout_us=timeout
    )
    whole = table.load_at_slo(0.99)
    capacity = curve.capacity(size)
    queueing._CHECKED.clear()
    # Ask for ever more of the grid; each answer is exact below what was asked for.
    for share in (0.1, 0.5, 0.84, 0.9):
        enough = share * capacity
        safe = slo_safe_load(key, 0.99, enough_rate=enough)
        if whole * capacity < enough:
            assert safe.share == whole  # the limit the caller asked about, found exactly
        else:
            assert whole >= safe.share  # "not below": a lower bound, no further simulated
            assert safe.rate >= enough
    resumed = slo_safe_load(key, 0.99)
    queueing._CHECKED.clear()
    fresh = slo_safe_load(key, 0.99)
    assert resumed == fresh
    assert fresh.share == whole
    assert fresh.rate == whole * capacity
    assert 0.0 < whole <= MAX_LOAD


def test_a_question_answered_low_on_the_grid_simulates_no_further() -> None:
    key: TableKey = (GPU, 32, 0, 25.0, 0)
    queueing._CHECKED.clear()
    slo_safe_load(key, 0.99, enough_rate=0.3 * GPU.capacity(32))
    checked = queueing._CHECKED[(key, 0.99)]
    assert not checked.broken
    assert LOAD_GRID[checked.loads - 1] == pytest.approx(0.3)
    assert checked.loads < len(LOAD_GRID)
