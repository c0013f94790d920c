"""docs/horizon-ramp.png: a smooth ramp with long start-ups, fixed headroom against the
start-up horizon's quantile (the scenario of tests/sim/test_horizon_ramp.py).

    .venv/bin/python benchmarks/horizon_figure.py docs/horizon-ramp.png

Prints each run's $/1M good, SLO attainment and the 15 s blocks with p99 above the SLO.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import numpy as np

from infercost.engine.model import EngineSettings
from infercost.sim import planned
from infercost.sim.family import smooth_ramp
from infercost.sim.report import _pyplot
from infercost.sim.run import Result, simulate
from infercost.sim.scenario import load_scenario
from infercost.sim.world import build_world

ROOT = Path(__file__).resolve().parents[1]
DURATION, RAMP_SECONDS, RATIO = 3600, 2880, 6.0


def ramp_scenario(out: Path) -> Path:
    return smooth_ramp(
        out=out,
        examples=ROOT / "examples",
        duration=DURATION,
        ramp_seconds=RAMP_SECONDS,
        ratio=RATIO,
    )


def run(scenario: Path, **settings: float) -> Result:
    planned.EngineSettings = functools.partial(EngineSettings, **settings)  # type: ignore[misc]
    return simulate(build_world(load_scenario(scenario)), "infercost")


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        scenario = ramp_scenario(Path(folder))
        results = {
            "fixed 20% headroom": run(scenario, horizon_quantile=0.0),
            "start-up horizon, q 0.99": run(scenario),
        }
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for name, result in results.items():
        minutes = np.asarray(result.timeline.time) / 60.0
        replicas = np.sum([np.asarray(s) for s in result.timeline.replicas_by_pool.values()], 0)
        p99 = np.vstack(result.timeline.p99_ms)[:, 0]
        late = int(np.sum(p99 > result.slo_ms[0]))
        print(
            f"{name}: $/1M good {result.cost_per_million_good:.4f}, SLO attainment "
            f"{result.slo_attainment:.4f}, {late} blocks of 15 s with p99 above the SLO"
        )
        axes[1].step(minutes, replicas, where="post", label=f"{name} ({late} late blocks)")
        axes[2].plot(minutes, p99, lw=0.8, label=name)
    first = next(iter(results.values()))
    axes[0].plot(np.asarray(first.timeline.time) / 60.0, first.timeline.demand, lw=0.8)
    axes[0].set_ylabel("demand (req/s)")
    axes[1].set_ylabel("replicas")
    axes[1].legend(fontsize=8, loc="upper left")
    axes[2].axhline(first.slo_ms[0], color="k", ls="--", lw=0.8)
    axes[2].set(yscale="log", ylabel="p99 ms (SLO dashed)", xlabel="minutes")
    axes[2].legend(fontsize=8, loc="upper left")
    fig.suptitle("smooth ramp 1x -> 6x, replicas start in 250-320 s")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "horizon-ramp.png")
