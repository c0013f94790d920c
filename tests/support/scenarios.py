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


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def steady_bert_base(folder: Path, *, rate: float, seconds: int, name: str, extra: str) -> Path:
    """A Workload file in `folder`: the example bert-base service on the example pools at a
    steady `rate` for `seconds`, its service entry ending with the YAML line `extra`."""
    trace = folder / "rates.txt"
    trace.write_text("\n".join(f"{rate:.1f}" for _ in range(seconds)))
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""apiVersion: sim.infercost.io/v1alpha1
kind: Workload
metadata: {{name: {name}}}
spec:
  duration: {seconds}
  baselinePool: g6-xlarge
  include: [{EXAMPLES / "pools"}, {EXAMPLES / "services" / "bert-base.yaml"}]
  services:
  - name: bert-base
    namespace: ml
    trace: {{path: {trace}, format: rate-series}}
    {extra}
"""
    )
    return path
