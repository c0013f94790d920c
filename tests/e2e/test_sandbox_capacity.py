"""End to end: a full pool spills to the next option (examples/sandbox/spill.yaml) and a
Spot reclaim with notice is replaced before its pods go (examples/sandbox/reclaim.yaml);
about 3 minutes each, run beside the other sandbox scenarios (tests/e2e/conftest.py).

Every part real, as in test_sandbox.py: the sandbox API server, `infercost run`, a
tritonserver per replica, Prometheus, the load generator; the sandbox's scheduler plays the
node autoscaler and the AWS node termination handler (sandbox/scheduler.py).

Spill: the Spot pool can get one node; the load's step asks for three replicas there.
1. pods on the Spot pool were Pending with PodScheduled=False, reason Unschedulable, and
   cluster-autoscaler's NotTriggerScaleUp Event (the sandbox scheduler's) refused them;
2. the operator placed the rest on the next option (g5-xlarge ready), PoolCapacityExhausted;
3. the Pending pods were removed: the Spot Deployment scaled down to what runs there;
4. the spill time (first Unschedulable pod -> replacement ready) is printed and reported.

Reclaim: two of the Spot pool's nodes get the interruption taint, then go with their pods.
1. a replacement was asked for on g5-xlarge while the noticed pods still ran;
2. it became ready; reason SpotReclaimed; the noticed pods are gone afterwards;
3. the reclaim time (notice -> replacement ready) is printed and reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.sandbox_run import SandboxRun, read_timeline

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FULL, NEXT = "inf2-xlarge-spot", "g5-xlarge"


@pytest.fixture(scope="module")
def spill(sandbox_runs: dict[str, SandboxRun]) -> Path:
    return sandbox_runs["spill.yaml"].result()


@pytest.fixture(scope="module")
def reclaim(sandbox_runs: dict[str, SandboxRun]) -> Path:
    return sandbox_runs["reclaim.yaml"].result()


def test_a_full_pool_spills_to_the_next_option_and_its_pending_pods_go(spill: Path) -> None:
    run = spill
    samples = read_timeline(run)
    # The sandbox scheduler writes cluster-autoscaler's NotTriggerScaleUp on the pod it marks
    # Unschedulable; the operator acts on it at once, so the pod may be gone before a sample.
    first = next(
        (s for s in samples if s["unschedulable"].get(FULL) or s.get("refused", {}).get(FULL)),
        None,
    )
    assert first is not None, "no pod was ever Unschedulable (or refused) on the Spot pool"
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
        f"spill: first Unschedulable (or refused) pod -> replacement ready on {NEXT}: "
        f"{spilled['time'] - first['time']:.1f} s; Pending pods gone after "
        f"{cleared['time'] - first['time']:.1f} s (sandbox seconds; x20 at full scale)"
    )
    summary = json.loads((run / "report" / "summary.json").read_text())
    spill = summary["capacity_events"]["spill"]
    assert spill["pools"] == [FULL]
    assert spill["replacement_ready_seconds"] is not None
    assert "Capacity events" in (run / "report" / "summary.md").read_text()


def test_a_spot_reclaim_notice_starts_replacements_before_the_pods_go(reclaim: Path) -> None:
    run = reclaim
    samples = read_timeline(run)
    notice = next((s for s in samples if s["noticed"].get(FULL)), None)
    assert notice is not None, "no pod was ever on a node with an interruption notice"
    after = [s for s in samples if s["time"] >= notice["time"]]
    early = next(
        (s for s in after if s["noticed"].get(FULL) and s["desired"].get(NEXT, 0) > 0), None
    )
    assert early is not None, "no replacement was asked for while the noticed pods still ran"
    ready = next((s for s in after if s["ready"].get(NEXT, 0) > 0), None)
    assert ready is not None, "no replacement became ready"
    gone = next((s for s in after if not s["noticed"].get(FULL)), None)
    assert gone is not None, "the noticed pods never went"
    reasons = {s["decision"].get("reason") for s in after}
    assert "SpotReclaimed" in reasons or "SpotReclaimed" in (run / "operator.log").read_text()
    print(
        f"reclaim: notice -> replacement asked {early['time'] - notice['time']:.1f} s, "
        f"ready on {NEXT} {ready['time'] - notice['time']:.1f} s; noticed pods gone after "
        f"{gone['time'] - notice['time']:.1f} s (sandbox seconds; x20 at full scale)"
    )
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["capacity_events"]["reclaim"]["pools"] == [FULL]
