"""The cyclic garbage collector kept off the operator's long-lived objects.

An operator's heap is mostly objects that live as long as what they describe: every watched
body (the picture), each service's memory, kopf's per-object state; ~250 kB a service. Python's
collector scans all of it in each run of its oldest generation, which it starts whenever a
quarter as many objects again have survived into that generation; in a steady operator those
survivors are each interval's short-lived state (a timer's sleep, a plan), so the oldest
generation's runs scanned the whole heap again and again: a sixth to a quarter of a steady
round's CPU at 3,000-10,000 services, the part of it sharding does not split (measured in
docs/performance.md).

So, every `gc_freeze_seconds`: one full collection (the frozen objects given back to it first,
so a cycle that became garbage since the last one is found), then `gc.freeze()`: what is alive
now is out of the automatic runs until the next period, which then scan only what was made
since. Objects frozen and later released are freed as usual (reference counting); only a
cycle among them waits for the next period's full collection. The full collection itself
blocks the event loop once a period (about a second at 10,000 services).

Owns: that periodic task. Imports nothing of the operator.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

logger = logging.getLogger(__name__)


def collect_and_freeze() -> int:
    """One full collection over everything, the frozen too, then freeze what is alive;
    returns the objects frozen."""
    gc.unfreeze()
    started = time.process_time()
    collected = gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.debug(
        "garbage collection: %d collected in %.2f CPU-s, %d frozen",
        collected,
        time.process_time() - started,
        frozen,
    )
    return frozen


async def freeze_periodically(period: float) -> None:
    """collect_and_freeze() every `period` seconds until cancelled (a period of 0: never)."""
    if period <= 0:
        return
    while True:
        await asyncio.sleep(period)
        collect_and_freeze()
