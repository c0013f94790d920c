"""The placement problem as the exact search reads it: plain lists, one entry per option."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Covering:
    """min Σ cost(n) s.t. Σ T·n ≥ required, bounds on Σ n, pool rooms, spot share, budget."""

    price: Sequence[float]  # $/h per replica
    throughput: Sequence[float]
    upper: Sequence[int]  # per-option bound (pool room, max total)
    held: Sequence[int]  # replicas running now (the first incumbent where feasible)
    group: Sequence[int]  # pool index of each option (rooms are shared by a pool's options)
    room: Sequence[int | None]  # per pool
    spot: Sequence[bool]
    required: float
    min_total: int
    max_total: int
    max_spot_fraction: float
    budget: float | None
