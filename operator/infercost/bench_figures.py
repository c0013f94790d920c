"""A benchmark figure beside its goal, shared by `make bench-engine`, `bench-sim` and `bench`.

Figures are printed, never asserted (speed goals are not test assertions): a MISS is news to
read the day it happens, not a failing build.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One measured figure and the goal it is held to (`goal` None: reported only)."""

    area: str  # engine, operator, simulator
    name: str
    value: float
    unit: str
    goal: float | None = None  # the figure must stay below this
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "-"
        return "PASS" if self.value < self.goal else "MISS"

    def line(self) -> str:
        goal = f"goal < {self.goal:.3g} {self.unit}" if self.goal is not None else "no goal"
        note = f"  ({self.note})" if self.note else ""
        return f"{self.name}: {self.value:.2f} {self.unit} [{goal}: {self.verdict}]{note}"

    def row(self) -> str:
        goal = f"< {self.goal:.3g} {self.unit}" if self.goal is not None else "-"
        return (
            f"| {self.area} | {self.name} | {self.value:.2f} {self.unit} | {goal} "
            f"| {self.verdict} | {self.note} |"
        )


TABLE_HEAD = "| area | figure | measured | goal | verdict | note |\n|---|---|---|---|---|---|"
