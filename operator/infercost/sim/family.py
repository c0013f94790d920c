"""A seeded family of synthetic scenarios: workloads the engine's settings were not tuned on.

`generate(seed=N, out=DIR, examples=...)` writes, per member, `NAME.yaml` (the bundled
AcceleratorPools and one bundled InferenceService, with start-up times and
`rejectLateRequests` varied, plus one Workload) and `NAME.rates` (a rate-series trace, one
rate per second, that the Workload replays rescaled to its peakRps), and `family.json` with
every member's features and parameters. The same seed writes the same bytes.

Members cycle through the feature axes with coprime periods, so any 30 consecutive members
hold every shape, burst kind, noise level, start-up class, service and rejectLateRequests
value; the seed draws the figures inside each (slopes, burst heights and lengths, peaks,
start-up seconds).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from infercost.sim.scenario import ScenarioError

FloatArray = NDArray[np.float64]

SHAPES = ("diurnal-gentle", "diurnal-medium", "diurnal-steep", "weekly", "sparse", "flat")
# Peak-to-trough ratio of a diurnal ramp over the run: the "slope" of the ramps.
DIURNAL_RATIOS = {"diurnal-gentle": 1.5, "diurnal-medium": 3.0, "diurnal-steep": 8.0}
BURSTS = ("none", "step", "spike", "three-spikes")
NOISES = {"none": 0.0, "low": 0.05, "high": 0.2}
STARTUPS = {"short": ((60, 120), (30, 50)), "long": ((180, 240), (60, 90))}
SERVICES = {"bert-base": (4000.0, 30000.0), "resnet50": (5000.0, 40000.0)}
SPARSE_PEAK = (20.0, 200.0)  # requests/s at the peak minute of a sparse member
BURST_HEIGHT = (1.3, 3.0)  # the bursts: 1.3-3x for 30 s to 15 min
STEP_SECONDS = (120, 900)
SPIKE_SECONDS = (30, 120)
REAL_TRACES = (
    "alibaba-resnet",
    "azure-code-bert",
    "azure-conv-bert-capped",
    "azure-conv-resnet",
    "twitter-bert",
)


@dataclass(frozen=True)
class Member:
    """One generated scenario and what it exercises (family.json holds these)."""

    name: str
    shape: str
    burst: str
    noise: str
    startup: str
    service: str
    reject_late: bool
    peak_rps: float
    params: dict[str, float] = field(default_factory=dict)

    @property
    def features(self) -> set[str]:
        reject = "reject-late" if self.reject_late else "no-reject-late"
        return {self.shape, f"burst-{self.burst}", f"noise-{self.noise}",
                f"startup-{self.startup}", self.service, reject}  # fmt: skip


def _shape(
    kind: str, duration: int, rng: np.random.Generator, params: dict[str, float]
) -> FloatArray:
    t = np.arange(duration, dtype=np.float64)
    if kind in DIURNAL_RATIOS:
        # Half a day's cosine from trough to peak and partly back: a smooth ramp.
        ratio = DIURNAL_RATIOS[kind] * float(rng.uniform(0.8, 1.25))
        phase = float(rng.uniform(0.0, 0.5))
        params |= {"ratio": round(ratio, 3), "phase": round(phase, 3)}
        wave = 0.5 - 0.5 * np.cos(2 * np.pi * (t / duration * 0.75 + phase))
        return 1.0 + (ratio - 1.0) * wave
    if kind == "weekly":
        # Seven "days" in the run; weekend days carry a fraction of a weekday's load.
        weekend = float(rng.uniform(0.3, 0.6))
        params |= {"weekend": round(weekend, 3)}
        day = duration / 7
        level = np.where((t // day) % 7 >= 5, weekend, 1.0)
        return level * (1.2 - np.cos(2 * np.pi * t / day))
    if kind == "sparse":
        # Requests in sessions: on for 1-5 minutes, off for 2-10 minutes.
        rate = np.zeros(duration)
        at = int(rng.integers(0, 300))
        while at < duration:
            length = int(rng.integers(60, 300))
            rate[at : at + length] = rng.uniform(0.3, 1.0)
            at += length + int(rng.integers(120, 600))
        rate[: max(int(rng.integers(60, 300)), 1)] = 0.5  # never an empty trace
        return rate
    return np.ones(duration)


def _bursts(
    kind: str, base: FloatArray, rng: np.random.Generator, params: dict[str, float]
) -> FloatArray:
    duration = len(base)
    out = base.copy()
    count = 3 if kind == "three-spikes" else (0 if kind == "none" else 1)
    for k in range(count):
        height = float(rng.uniform(*BURST_HEIGHT))
        lo, hi = STEP_SECONDS if kind == "step" else SPIKE_SECONDS
        length = min(int(rng.integers(lo, hi + 1)), duration // 3)  # short runs: shorter
        start = int(rng.integers(duration // 10, duration - length - 1))
        params |= {f"burst{k}_height": round(height, 3), f"burst{k}_start": start,
                   f"burst{k}_seconds": length}  # fmt: skip
        if kind == "step":
            out[start : start + length] *= height
        else:
            # A spike rises in a few seconds and decays over its length.
            t = np.arange(length, dtype=np.float64)
            out[start : start + length] *= 1 + (height - 1) * np.minimum(t / 5, 1) * np.exp(
                -3 * t / length
            )
    return out


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _pools(examples: Path, startup: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    (low, high), _ = STARTUPS[startup]
    pools = []
    for file in sorted((examples / "pools").glob("*.yaml")):
        for doc in _docs(file):
            doc["spec"]["provisioningSeconds"] = int(rng.integers(low // 10, high // 10 + 1)) * 10
            pools.append(doc)
    return pools


def _service(examples: Path, member: Member, rng: np.random.Generator) -> dict[str, Any]:
    (doc,) = _docs(examples / "services" / f"{member.service}.yaml")
    _, (low, high) = STARTUPS[member.startup]
    for variant in doc["spec"]["variants"]:
        variant["startupSeconds"] = int(rng.integers(low // 5, high // 5 + 1)) * 5
    doc["spec"].setdefault("batching", {})["rejectLateRequests"] = member.reject_late
    if member.shape == "sparse":
        doc["spec"].pop("budget", None)  # a minimum fleet for a trickle: the budget is moot
    return doc


def _member(index: int, seed: int, rng: np.random.Generator) -> Member:
    shape = SHAPES[index % len(SHAPES)]
    service = list(SERVICES)[(index // len(SHAPES)) % 2]
    low, high = SPARSE_PEAK if shape == "sparse" else SERVICES[service]
    return Member(
        name=f"family-{seed}-{index:02d}-{shape}",
        shape=shape,
        burst=BURSTS[index % len(BURSTS)],
        noise=list(NOISES)[index % len(NOISES)],
        startup=list(STARTUPS)[(index // 5) % 2],
        service=service,
        reject_late=index % 7 not in (0, 3, 5),
        peak_rps=round(float(rng.uniform(low, high)), 1),
    )


def generate(
    *, seed: int, out: Path, examples: Path, count: int = 30, duration: int = 7200
) -> list[Member]:
    """Write `count` scenarios of `duration` simulated seconds into `out`; returns them."""
    if count < 1 or duration < 600:
        raise ScenarioError("a family needs --count >= 1 and --duration >= 600 seconds")
    if not (examples / "pools").is_dir() or not (examples / "services").is_dir():
        raise ScenarioError(f"{examples} has no pools/ and services/; pass --examples")
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        member = _member(index, seed, rng)
        params: dict[str, float] = {}
        rate = _bursts(member.burst, _shape(member.shape, duration, rng, params), rng, params)
        sigma = NOISES[member.noise]
        if sigma:
            rate = rate * np.maximum(1 + sigma * rng.standard_normal(duration), 0.0)
        member = Member(**{**asdict(member), "params": params})
        (out / f"{member.name}.rates").write_text(
            "\n".join(f"{value:.6g}" for value in rate) + "\n"
        )
        workload = {
            "apiVersion": "sim.infercost.io/v1alpha1",
            "kind": "Workload",
            "metadata": {"name": member.name},
            "spec": {
                "duration": duration,
                "baselinePool": "g5-xlarge",
                "services": [
                    {
                        "name": member.service,
                        "namespace": "ml",
                        "trace": {"path": f"{member.name}.rates", "format": "rate-series"},
                        "peakRps": member.peak_rps,
                    }
                ],
            },
        }
        docs = [*_pools(examples, member.startup, rng), _service(examples, member, rng), workload]
        header = f"# Generated by `infercost scenarios generate --seed {seed}`: {member.name}\n"
        (out / f"{member.name}.yaml").write_text(header + yaml.safe_dump_all(docs, sort_keys=False))
        members.append(member)
    meta = {"seed": seed, "duration": duration, "members": [asdict(m) for m in members]}
    (out / "family.json").write_text(json.dumps(meta, indent=1) + "\n")
    return members


def read_family(folder: Path) -> list[Member]:
    """The members `generate` wrote into `folder` (from its family.json)."""
    try:
        meta = json.loads((folder / "family.json").read_text())
    except (OSError, ValueError) as error:
        raise ScenarioError(f"{folder}/family.json unreadable ({error}); run generate") from None
    return [Member(**m) for m in meta["members"]]


def smooth_ramp(
    *, out: Path, examples: Path, duration: int, ramp_seconds: int, ratio: float
) -> Path:
    """A family member with long start-up whose demand rises smoothly (a half cosine) from 1
    to `ratio` over `ramp_seconds`, then holds: the held-out failure of issue 21 (docs/horizon.md)
    as one scenario file in `out`."""
    member = generate(seed=21, out=out, examples=examples, count=9, duration=duration)[8]
    t = np.arange(duration, dtype=np.float64)
    rate = 1 + (ratio - 1) * (0.5 - 0.5 * np.cos(np.pi * np.minimum(t / ramp_seconds, 1.0)))
    (out / f"{member.name}.rates").write_text("\n".join(f"{v:.6g}" for v in rate) + "\n")
    path = out / f"{member.name}.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    docs[-1]["spec"]["duration"] = duration
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path
