"""A sandbox run's scenario: a simulator scenario file, scaled down to fit one small machine.

The file is an ordinary scenario (`infercost simulate` runs it unchanged): AcceleratorPools
and InferenceServices at their real figures and one Workload. The sandbox reads its own knobs
from the Workload's annotations (documented defaults below) and scales two things:

* the data plane, by `rate-scale` S: every replica is S times slower — profile throughput
  / S, profile p99 and the SLO x S — and the trace's rates / S. Replica counts, batch sizes,
  p99 / SLO and $/h are then those of the full-scale service; $/1M is S times the real one
  (the report gives both).
* time, by `time-scale` C: the trace is replayed C times faster, and pool provisioning,
  variant startup, the scale-down delay and idleSeconds are C times shorter. The control
  interval and Prometheus' windows cannot shrink with it (1 s scrapes), so they are sandbox settings.

AcceleratorPools may carry the sandbox scheduler's knobs as annotations (sandbox.scheduler):
`sandbox.infercost.io/nodes` (nodes the pool can get; absent: unbounded) and a Spot
interruption, `reclaim-at-seconds`, `reclaim-nodes`, `reclaim-notice-seconds` (times at full
scale, shortened by C like provisioning). `infercost simulate` ignores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from infercost.sandbox.scheduler import POOL_ANNOTATIONS
from infercost.sim.scenario import Scenario, ScenarioError, load_scenario
from infercost.sim.traces import rate_per_step

PREFIX = "sandbox.infercost.io/"
DEFAULTS = {
    "rate-scale": 50.0,  # replicas S x slower: BERT on Inferentia2 (2,674/s) -> 53/s per replica
    "time-scale": 20.0,  # 180 s provisioning -> 9 s; 300 s scale-down delay -> 15 s
    "control-interval-seconds": 4.0,  # 4 Prometheus scrapes; 80 s at full scale (default 15 s)
    "rate-window": 8.0,  # seconds of rate(): 8 scrapes
    "repository-max-batch-size": 1.0,  # the model repository's own config (see sandbox.triton)
    "max-replicas": 5.0,  # cap per service: at most this many tritonserver processes each
    "tail-seconds": 0.0,  # keep running after the trace ends (sandbox seconds)
}


@dataclass(frozen=True)
class SandboxScenario:
    scenario: Scenario
    path: Path
    knobs: dict[str, float]
    objects: list[dict[str, Any]]  # scaled, as applied to the API server
    rates: dict[tuple[str, str], NDArray[np.float64]]  # (namespace, service) -> rps per second

    @property
    def rate_scale(self) -> float:
        return self.knobs["rate-scale"]

    @property
    def time_scale(self) -> float:
        return self.knobs["time-scale"]

    @property
    def seconds(self) -> int:
        return max(len(r) for r in self.rates.values())


def load(path: Path, **overrides: float) -> SandboxScenario:
    """Parse, validate and scale a scenario; raises ScenarioError naming the field to fix."""
    scenario = load_scenario(path)
    knobs: dict[str, float] = dict(DEFAULTS)
    for key, value in scenario.workload.metadata.annotations.items():
        if not key.startswith(PREFIX):
            continue
        name = key.removeprefix(PREFIX)
        if name not in DEFAULTS:
            raise ScenarioError(
                f"Workload annotation {key!r} is unknown; known: "
                + ", ".join(PREFIX + k for k in DEFAULTS)
            )
        try:
            knobs[name] = float(str(value))
        except ValueError:
            raise ScenarioError(f"Workload annotation {key!r} must be a number") from None
    knobs.update({k.replace("_", "-"): v for k, v in overrides.items()})
    for name, number in knobs.items():
        if not (number > 0 or (name == "tail-seconds" and number >= 0)):
            raise ScenarioError(f"Workload annotation {PREFIX}{name} must be positive")
    objects = [
        _pool(p.model_dump(by_alias=True, mode="json", exclude_none=True), knobs)
        for p in scenario.pools
    ]
    objects += [
        _service(s.model_dump(by_alias=True, mode="json", exclude_none=True), knobs)
        for s in scenario.services
    ]
    return SandboxScenario(
        scenario=scenario, path=path, knobs=knobs, objects=objects, rates=_rates(scenario, knobs)
    )


def _seconds(value: float, knobs: dict[str, float]) -> int:
    return max(1, round(value / knobs["time-scale"])) if value > 0 else 0


def _pool(pool: dict[str, Any], knobs: dict[str, float]) -> dict[str, Any]:
    spec = pool["spec"]
    spec["provisioningSeconds"] = _seconds(spec.get("provisioningSeconds", 0), knobs)
    _pool_nodes(pool, knobs)
    _mark(pool, knobs)
    return pool


def _service(service: dict[str, Any], knobs: dict[str, float]) -> dict[str, Any]:
    s, spec = knobs["rate-scale"], service["spec"]
    for variant in spec["variants"]:
        variant["startupSeconds"] = _seconds(variant.get("startupSeconds", 0), knobs)
        for point in variant["profile"]:
            point["throughput"] = round(point["throughput"] / s, 4)
            point["p99LatencyMs"] = round(point["p99LatencyMs"] * s, 3)
    spec["slo"]["latencyMs"] = round(spec["slo"]["latencyMs"] * s, 3)
    scaling = spec.setdefault("scaling", {})
    scaling["scaleDownDelaySeconds"] = _seconds(scaling.get("scaleDownDelaySeconds", 300), knobs)
    if "idleSeconds" in scaling:  # scale to zero: the idle period, as short as the delay
        scaling["idleSeconds"] = _seconds(scaling["idleSeconds"], knobs)
    cap = int(knobs["max-replicas"])
    scaling["maxReplicas"] = min(int(scaling.get("maxReplicas", 10)), cap)
    scaling["minReplicas"] = min(int(scaling.get("minReplicas", 1)), scaling["maxReplicas"])
    _mark(service, knobs)
    return service


def _mark(obj: dict[str, Any], knobs: dict[str, float]) -> None:
    notes = obj["metadata"].setdefault("annotations", {})
    notes[PREFIX + "scaled"] = f"rate/{knobs['rate-scale']:g} time/{knobs['time-scale']:g}"
    for field in ("uid", "resourceVersion", "generation"):
        obj["metadata"].pop(field, None)


def _rates(
    scenario: Scenario, knobs: dict[str, float]
) -> dict[tuple[str, str], NDArray[np.float64]]:
    """Requests per sandbox second of each service: the trace's real-scale rates, averaged over
    each C real seconds and divided by S."""
    workload = scenario.workload.spec
    c, s = knobs["time-scale"], knobs["rate-scale"]
    seconds = math.ceil(workload.duration / c)
    rates = {}
    for entry in workload.services:
        real = rate_per_step(entry, base_dir=scenario.base_dir, duration=seconds * int(c), step=1)
        per_second = real[: seconds * int(c)].reshape(seconds, int(c)).mean(axis=1) / s
        tail = np.full(int(knobs["tail-seconds"]), per_second[-1])
        rates[(entry.namespace, entry.name)] = np.concatenate([per_second, tail])
    return rates


def _pool_nodes(pool: dict[str, Any], knobs: dict[str, float]) -> None:
    """The pool's sandbox annotations (sandbox.scheduler): checked, times scaled like
    provisioning (`reclaim-at-seconds` counts from the sandbox's start)."""
    notes = pool["metadata"].get("annotations") or {}
    name = pool["metadata"]["name"]
    for key, value in list(notes.items()):
        if not key.startswith(PREFIX):
            continue
        knob = key.removeprefix(PREFIX)
        if knob not in POOL_ANNOTATIONS:
            raise ScenarioError(
                f"AcceleratorPool {name} annotation {key!r} is unknown; known: "
                + ", ".join(PREFIX + k for k in POOL_ANNOTATIONS)
            )
        try:
            number = float(str(value))
        except ValueError:
            raise ScenarioError(
                f"AcceleratorPool {name} annotation {key!r} must be a number"
            ) from None
        if number < 0:
            raise ScenarioError(f"AcceleratorPool {name} annotation {key!r} must be >= 0")
        if knob.endswith("-seconds"):
            notes[key] = str(number / knobs["time-scale"])
