"""End to end: a full pool spills to the next option (examples/sandbox/spill.yaml, ~3 min).

Every part real, as in test_sandbox.py: the sandbox API server, `infercost run`, a
tritonserver per replica, Prometheus, the load generator. The sandbox's scheduler gives the
Spot pool one node; the load's step asks for three replicas there. What must hold (from the
run's timeline and report):
1. pods on the Spot pool were Pending with PodScheduled=False, reason Unschedulable;
2. the operator placed the rest on the next option (g5-xlarge ready), reason
   PoolCapacityExhausted;
3. the Pending pods were removed: the Spot Deployment scaled down to what runs there;
4. the spill time (first Unschedulable pod -> replacement ready) is printed, and the report
   carries it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sandbox" / "spill.yaml"
FULL, NEXT = "inf2-xlarge-spot", "g5-xlarge"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sandbox") / "run"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from infercost.cli import app; app()",
            "sandbox",
            str(SCENARIO),
            "--out",
            str(out),
            "--no-live",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=480,
    )
    print(f"\nsandbox run: {time.monotonic() - started:.0f} s, exit {done.returncode}")
    print(done.stdout[-3000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _timeline(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "timeline.jsonl").read_text().splitlines()]


def test_a_full_pool_spills_to_the_next_option_and_its_pending_pods_go(run: Path) -> None:
    samples = _timeline(run)
    first = next((s for s in samples if s["unschedulable"].get(FULL)), None)
    assert first is not None, "no pod was ever Unschedulable on the Spot pool"
    after = [s for s in samples if s["time"] >= first["time"]]
    spilled = next((s for s in after if s["ready"].get(NEXT, 0) > 0), None)
    assert spilled is not None, "no replica became ready on the next option"
    reasons = {s["decision"].get("reason") for s in after}
    log = (run / "operator.log").read_text()
    assert "PoolCapacityExhausted" in reasons or "PoolCapacityExhausted" in log
    cleared = next(
        (
            s
            for s in after
            if not s["unschedulable"].get(FULL)
            and s["desired"].get(FULL, 0) == s["ready"].get(FULL, 0) > 0
        ),
        None,
    )
    assert cleared is not None, "the Pending pods stayed, or the Spot Deployment never settled"
    print(
        f"spill: first Unschedulable pod -> replacement ready on {NEXT}: "
        f"{spilled['time'] - first['time']:.1f} s; Pending pods gone after "
        f"{cleared['time'] - first['time']:.1f} s (sandbox seconds; x20 at full scale)"
    )
    summary = json.loads((run / "report" / "summary.json").read_text())
    spill = summary["capacity_events"]["spill"]
    assert spill["pools"] == [FULL]
    assert spill["replacement_ready_seconds"] is not None
    assert "Capacity events" in (run / "report" / "summary.md").read_text()
