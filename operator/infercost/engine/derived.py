"""Values derived from a frozen spec object, kept exactly as long as that object lives.

A service's parsed spec (and its variants and batching) is one frozen object for as long as
the spec is unchanged, and every decision derives the same things from it again (profile
curves, static option facts, the modelled batching). Those are remembered per object: the
entries go when the object is collected, so an operator with 10,000 services keeps 10,000
services' worth and a cyclic round over them never evicts what the next round needs (a
global table capped at a few thousand entries did, at every lookup, past ~1,500 services).
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Derived(Generic[V]):
    """Per owner object, a small table of values derived from it (and from the key).

    A value must not refer to its owner: it would keep the owner, and itself, alive."""

    def __init__(self, *, per_owner: int = 256) -> None:
        # By id: specs hold lists, so they are not hashable; the finalizer drops an owner's
        # table before its id can be reused. `per_owner` bounds the keys that vary apart
        # from the owner (pools, settings objects) over a long-lived owner's life.
        self._tables: dict[int, dict[Hashable, V]] = {}
        self._per_owner = per_owner

    def get(self, owner: object, key: Hashable) -> V | None:
        table = self._tables.get(id(owner))
        return None if table is None else table.get(key)

    def put(self, owner: object, key: Hashable, value: V) -> None:
        ident = id(owner)
        table = self._tables.get(ident)
        if table is None:
            table = self._tables[ident] = {}
            weakref.finalize(owner, self._tables.pop, ident, None)
        elif len(table) >= self._per_owner:
            table.clear()
        table[key] = value

    def clear(self) -> None:
        """Drop every owner's table (benchmarks that time the work the tables save)."""
        self._tables.clear()

    def __len__(self) -> int:
        """Owners with a table (tests: an owner's table goes with it)."""
        return len(self._tables)
