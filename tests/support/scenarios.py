"""Bundled scenarios cut short for tests that need minutes, not a whole trace."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from infercost.sim.scenario import Scenario, load_scenario


def shortened(path: Path, seconds: int) -> Scenario:
    """The scenario at `path` with its Workload's duration cut to `seconds`."""
    scenario = load_scenario(path)
    spec = scenario.workload.spec.model_copy(update={"duration": seconds})
    return replace(scenario, workload=scenario.workload.model_copy(update={"spec": spec}))
