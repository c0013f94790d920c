"""The periodic full collection then freeze (controller/heap.py), with the real collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from infercost.controller.heap import collect_and_freeze, freeze_periodically

pytestmark = pytest.mark.unit


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session runs with Python's own schedule


@pytest.mark.usefixtures("unfrozen_after")
def test_what_is_alive_is_frozen_and_a_frozen_cycle_is_collected_at_the_next_period() -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: only the collector frees it
    gone = weakref.ref(first)
    kept = Node()
    assert collect_and_freeze() > 0
    assert gc.is_tracked(kept)
    assert gc.get_freeze_count() > 0  # the cycle, alive then, frozen with the rest
    del first, second
    gc.collect()  # an automatic-style run does not look at the frozen
    assert gone() is not None
    collect_and_freeze()  # the next period's full collection does
    assert gone() is None


async def test_a_period_of_zero_is_off() -> None:
    frozen = gc.get_freeze_count()
    await freeze_periodically(0)  # returns at once: no task runs for ever
    assert gc.get_freeze_count() == frozen
