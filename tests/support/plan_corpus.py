"""A corpus of planner decisions: DecisionInputs recorded from simulator runs with their Plans.

Why: the planner's performance work must not change a single decision. The corpus pins the
Plans an engine returned for inputs the simulator really produces (5 example scenarios and
the bench-sim fleet, both policies that run the planner); tests/sim/test_plan_corpus.py
replays every input through today's `planner.decide` and asserts equal Plans.

Regenerate (only when the engine's BEHAVIOUR is meant to change, with the engine whose
Plans should be pinned checked out):

    .venv/bin/python -m tests.support.plan_corpus tests/sim/data/plan_corpus.json.gz

The file is JSON (gzip): dataclasses, enums, tuples and mappings are tagged, pydantic specs
are stored once by alias (a field added with a default does not break old corpora).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine import batching, model, planner

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "sim" / "data" / "plan_corpus.json.gz"

_DATACLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in vars(model).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
}
_DATACLASSES["BatchChoice"] = batching.BatchChoice
_ENUMS: dict[str, type[Enum]] = {"Reason": model.Reason, "ActionKind": model.ActionKind}
_MODELS: dict[str, type[BaseModel]] = {
    "InferenceServiceSpec": InferenceServiceSpec,
    "AcceleratorPoolSpec": AcceleratorPoolSpec,
}


class _Encoder:
    def __init__(self) -> None:
        self.refs: list[Any] = []
        self.ref_of: dict[int, int] = {}
        self.keep: list[object] = []  # ids stay valid while encoding

    def __call__(self, obj: object) -> Any:
        if isinstance(obj, Enum):
            return {"e": type(obj).__name__, "v": obj.value}
        if obj is None or isinstance(obj, bool | int | str):
            return obj
        if isinstance(obj, float):
            value = float(obj)  # JSON numbers round-trip finite floats exactly
            return value if value - value == 0 else {"f": repr(value)}
        if isinstance(obj, BaseModel):
            if id(obj) not in self.ref_of:
                self.keep.append(obj)
                self.ref_of[id(obj)] = len(self.refs)
                dumped = obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
                self.refs.append({"p": type(obj).__name__, "v": dumped})
            return {"r": self.ref_of[id(obj)]}
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            fields = {f.name: self(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            return {"d": type(obj).__name__, "v": fields}
        if isinstance(obj, tuple):
            return {"t": [self(x) for x in obj]}
        if isinstance(obj, list):
            return [self(x) for x in obj]
        if isinstance(obj, Mapping):
            return {"m": [[self(k), self(v)] for k, v in obj.items()]}
        raise TypeError(f"cannot encode {type(obj).__name__}")


def _decoder(refs: list[Any]) -> Callable[[Any], Any]:
    built: dict[int, Any] = {}

    def decode(data: Any) -> Any:
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if isinstance(data, list):
            return [decode(x) for x in data]
        if "f" in data:
            return float(data["f"])
        if "e" in data:
            return _ENUMS[data["e"]](data["v"])
        if "r" in data:
            index = data["r"]
            if index not in built:
                ref = refs[index]
                built[index] = _MODELS[ref["p"]].model_validate(ref["v"])
            return built[index]
        if "d" in data:
            fields = {name: decode(value) for name, value in data["v"].items()}
            # Recorded before CurrentDeployment's lost-replica counts replaced `stalled`:
            # false (every recorded entry) is no lost replicas, the counts' default.
            if fields.pop("stalled", False):
                raise ValueError("corpus entry with stalled=True: record the corpus again")
            # Recorded with the start penalty (first as move cost and payback hours), which
            # placement no longer has: it changed none of the recorded decisions.
            for gone in ("move_cost_hours", "move_payback_hours", "replica_start_penalty"):
                fields.pop(gone, None)
            if "learned_capacity_max" in fields:  # recorded before one bound replaced the two
                fields.pop("learned_capacity_min")
                fields["learned_capacity_bound"] = fields.pop("learned_capacity_max")
            # Recorded before demand-driven scale-up lost its HPA-like step bound.
            fields.pop("max_scale_up_step", None)
            # Recorded before the rejected share's limit became the SLO's own late share
            # (1 - percentile/100: 0.01 for every recorded service, all p99).
            if fields.pop("rejected_share_limit", 0.01) != 0.01:
                raise ValueError("corpus entry with its own rejected share limit: record it again")
            # Recorded before the spike baseline's time constant became the least spike gap
            # (equal, 1800 s, in every recorded entry).
            baseline = fields.pop("spike_baseline_seconds", None)
            if baseline is not None and baseline != fields["spike_min_gap_seconds"]:
                raise ValueError("corpus entry with its own spike baseline: record it again")
            # Recorded before the history's count bound went (its age bound, every window a
            # decision reads, keeps fewer: 241 at 15 s, below the recorded 256).
            if fields.pop("history_max_points", 256) != 256:
                raise ValueError("corpus entry with its own history bound: record it again")
            # Recorded before the spike period's tolerance was derived from the metrics
            # window and control interval (120 s set then; 150 s derived at the same ones).
            if fields.pop("spike_period_tolerance_seconds", 120.0) != 120.0:
                raise ValueError("corpus entry with its own spike tolerance: record it again")
            # Recorded before the busy guard on learning, the batch climb's step and the
            # cache's lookup threshold went.
            for gone in ("min_busy_fraction_to_learn", "batch_increase_step", "cache_min_lookups"):
                fields.pop(gone, None)
            return _DATACLASSES[data["d"]](**fields)
        if "t" in data:
            return tuple(decode(x) for x in data["t"])
        if "m" in data:
            return {decode(k): decode(v) for k, v in data["m"]}
        raise ValueError(f"bad corpus entry {sorted(data)}")

    return decode


def save(path: Path, cases: list[tuple[str, model.DecisionInput, model.Plan]]) -> None:
    encode = _Encoder()
    rows = [[label, encode(inp), encode(plan)] for label, inp, plan in cases]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as out:
        json.dump({"refs": encode.refs, "cases": rows}, out, separators=(",", ":"))


def load(path: Path = CORPUS) -> Iterator[tuple[str, model.DecisionInput, model.Plan]]:
    with gzip.open(path, "rt", encoding="utf-8") as src:
        data = json.load(src)
    decode = _decoder(data["refs"])
    for label, inp, plan in data["cases"]:
        yield label, decode(inp), decode(plan)


# (scenario, seconds simulated or None for the whole file, keep every n-th decision)
_RUNS: list[tuple[str, int | None, int]] = [
    ("azure-code-bert", None, 1),
    ("azure-conv-bert-capped", None, 1),
    ("azure-conv-resnet", None, 1),
    ("twitter-bert", None, 6),
    ("alibaba-resnet", None, 6),
    ("bench-sim", 3600, 24),
]


def record() -> list[tuple[str, model.DecisionInput, model.Plan]]:
    """Run every scenario under `infercost` and `single-pool`, keeping inputs and Plans."""
    from infercost.sim.bench import _scenario
    from infercost.sim.run import simulate
    from infercost.sim.scenario import load_scenario
    from infercost.sim.world import build_world

    original = planner.decide
    cases: list[tuple[str, model.DecisionInput, model.Plan]] = []
    try:
        for name, seconds, every in _RUNS:
            if name == "bench-sim":
                scenario = _scenario(100, seconds or 600)
            else:
                scenario = load_scenario(ROOT / "examples" / "scenarios" / f"{name}.yaml")
            for policy in ("infercost", "single-pool"):
                seen: list[int] = [0]

                def recorder(
                    inp: model.DecisionInput,
                    label: str = f"{name}/{policy}",
                    n: int = every,
                    seen: list[int] = seen,
                ) -> model.Plan:
                    plan = original(inp)
                    if seen[0] % n == 0:
                        cases.append((f"{label}#{seen[0]}", inp, plan))
                    seen[0] += 1
                    return plan

                planner.decide = recorder
                simulate(build_world(scenario), policy)
                print(f"{name}/{policy}: {seen[0]} decisions", file=sys.stderr)
    finally:
        planner.decide = original
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS
    recorded = record()
    save(target, recorded)
    print(f"{len(recorded)} decisions -> {target}", file=sys.stderr)
