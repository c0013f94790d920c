"""A benchmark figure beside its goal, shared by `make bench-engine`, `bench-sim` and `bench`.

Figures are printed, never asserted (speed goals are not test assertions): a MISS is news to
read the day it happens, not a failing build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One measured figure and the goal it is held to (`goal` None: reported only)."""

    area: str  # engine, operator, simulator
    name: str
    value: float
    unit: str
    goal: float | None = None  # the figure must stay below this (`at_least`: reach it)
    note: str = ""
    at_least: bool = False

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "-"
        met = self.value >= self.goal if self.at_least else self.value < self.goal
        return "PASS" if met else "MISS"

    @property
    def _goal(self) -> str:
        return f"{'>=' if self.at_least else '<'} {self.goal:.3g} {self.unit}"

    def line(self) -> str:
        goal = f"goal {self._goal}" if self.goal is not None else "no goal"
        note = f"  ({self.note})" if self.note else ""
        return f"{self.name}: {self.value:.2f} {self.unit} [{goal}: {self.verdict}]{note}"

    def row(self) -> str:
        goal = self._goal if self.goal is not None else "-"
        return (
            f"| {self.area} | {self.name} | {self.value:.2f} {self.unit} | {goal} "
            f"| {self.verdict} | {self.note} |"
        )


TABLE_HEAD = "| area | figure | measured | goal | verdict | note |\n|---|---|---|---|---|---|"


def operator_figures(result: Mapping[str, object], *, interval: float) -> list[Figure]:
    """benchmarks/bench_operator.py's result beside its goals: no API writes in a steady
    round, and a round's CPU within the control interval (one process keeps up)."""

    def value(name: str) -> float:
        return float(str(result[name]))

    label = f"{int(value('services')):,} services"
    replicas = int(value("replicas")) if "replicas" in result else 1
    keeps = "one process keeps"
    if replicas > 1:
        label += f", {replicas} replicas"
        keeps = f"the busiest of {replicas} replica processes keeps"
    return [
        Figure(
            area="operator",
            name=f"{label}: steady round CPU",
            value=value("steady_cpu_s_per_round"),
            unit="s",
            goal=interval,
            note=f"{keeps} a {interval:g} s interval",
        ),
        Figure(
            area="operator",
            name=f"{label}: reconciles per service in a steady round",
            value=value("steady_reconciles_per_service_round"),
            unit="",
            goal=0.95,
            at_least=True,
            note="1: every service's timer kept the interval; less: the process fell behind",
        ),
        Figure(
            area="operator",
            name=f"{label}: API writes per steady round",
            value=value("steady_api_writes_per_round"),
            unit="writes",
            goal=0.5,
            note="nothing changed: 0",
        ),
        Figure(
            area="operator",
            name=f"{label}: one driven round, wall",
            value=value("driven_round_wall_s"),
            unit="s",
            goal=interval,
            note=f"CPU {value('driven_round_cpu_s'):.2f} s",
        ),
        Figure(
            area="operator",
            name=f"{label}: first round (every service placed), wall",
            value=value("first_round_wall_s"),
            unit="s",
            note=f"CPU {value('first_round_cpu_s'):.1f} s, with the API server's work beside it",
        ),
        Figure(
            area="operator",
            name=f"{label}: RSS",
            value=value("operator_rss_mib"),
            unit="MiB",
            note=f"{value('operator_rss_growth_mib'):.0f} MiB of it grew with the services",
        ),
    ]
