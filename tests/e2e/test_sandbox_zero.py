"""End to end: scale to zero with wake-up in `infercost sandbox` (issue 22), every part real
(about 4 minutes): the sandbox API server, the operator as `infercost run`, a tritonserver
process per replica, Prometheus, the load generator (tritonclient aio, following the stable
Service's selector as kube-proxy does) and the activator as `infercost activator`, a process
of the run whose `-replicas` backend Service the node agent plays (sandbox/activators.py).

Scenario examples/sandbox/zero.yaml (sandbox time): 10/s for 30 s, idle 60 s, 10/s for 20 s,
idle 70 s; minReplicas 0, idleSeconds 20 s. What must hold:
1. the service goes to zero in the first idle gap (no replica, $0/h, `Placed` ScaledToZero);
2. the first request of the second burst arrives at zero, is held by the activator and
   answered by a real tritonserver after the cold start (its latency is the cold start,
   printed); requests after it too;
3. no request is lost: every request the clients sent was answered (none failed);
4. after the trace the service is at zero again.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from infercost.sandbox.procs import leftovers
from tests.support.sandbox_run import SandboxRun, read_timeline

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sandbox" / "zero.yaml"
SECOND_BURST = 90.0  # seconds into the load: zero.rates' second burst (sandbox time)


def _requests(run: Path) -> list[tuple[float, float, bool]]:
    with open(run / "load.jsonl.requests.csv") as rows:
        return [
            (float(r["sent"]), float(r["latency_s"]), r["ok"] == "1") for r in csv.DictReader(rows)
        ]


@pytest.fixture(scope="module")
def run(sandbox_runs: dict[str, SandboxRun]) -> Path:
    return sandbox_runs[SCENARIO.name].result()


def test_no_process_of_the_run_is_left(run: Path) -> None:
    assert leftovers(run) == []


def test_the_idle_service_goes_to_zero_and_back_to_zero_after_the_trace(run: Path) -> None:
    timeline = read_timeline(run)
    load_start = min(s["time"] for s in timeline if (s["sent_rps"] or 0) > 0)
    in_gap = [s for s in timeline if load_start + 30 <= s["time"] <= load_start + SECOND_BURST]
    at_zero = [s for s in in_gap if sum(s["desired"].values()) == 0]
    assert at_zero, "no sample at zero replicas in the first idle gap"
    print(f"at zero {at_zero[0]['time'] - load_start:.0f} s into the load")
    assert all((s.get("hourly") or 0.0) == 0.0 for s in at_zero[1:]), "at zero, $0/h"
    assert sum(timeline[-1]["desired"].values()) == 0, "back at zero after the trace"
    operator_log = (run / "operator.log").read_text()
    assert operator_log.count("ScaledToZero") >= 2
    assert "WokenFromZero" in operator_log


def test_a_request_at_zero_is_held_and_answered_after_the_cold_start_none_lost(
    run: Path,
) -> None:
    requests = _requests(run)
    assert requests, "the load generator sent nothing"
    failed = [r for r in requests if not r[2]]
    assert failed == [], f"{len(failed)} of {len(requests)} requests failed"
    start = min(sent for sent, _, _ in requests)
    second = [r for r in requests if r[0] - start >= SECOND_BURST - 1]
    first = min(second)
    cold = first[1]
    steady = sorted(latency for _, latency, _ in requests if _ - start < 30)
    print(
        f"cold start seen by the first request at zero: {cold:.1f} s "
        f"(steady p50 {steady[len(steady) // 2] * 1e3:.0f} ms; {len(requests)} requests, "
        f"{len(second)} in the second burst, all answered)"
    )
    # Held, not refused: answered ok, and it waited for a replica to start (provisioning 8 s).
    assert cold > 5.0, "the first request of the second burst did not wait for a wake"
    activator_logs = list((run / "pods").glob("*/activator.log"))
    assert activator_logs, "no activator ran"
    assert any("a replica is ready after" in p.read_text() for p in activator_logs)
