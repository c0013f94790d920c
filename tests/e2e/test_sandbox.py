"""End to end: `infercost sandbox` on a step load, every part real (about 3 minutes).

Real: the sandbox API server (kmock with Kubernetes semantics) over HTTP, the operator as
`infercost run` reaching it through the kubeconfig, a tritonserver process per replica
(nvidia-pytriton's binary, the synthetic model of each pool's profile), Debian's Prometheus
scraping them, and the load generator (tritonclient aio). Nothing is faked; the scenario's
load is a synthetic step (examples/sandbox/step-test.yaml) so the test knows its phases:
40/s for 20 s, 130/s for 40 s, 30/s for 90 s (sandbox scale), scale-down delay 10 s.

What must hold (read from the run's timeline, sampled each second, and the operator's log):
1. load up -> the first scale-up is on the pool with the best cost per throughput;
2. the clients' p99 is back under the SLO within P99_INTERVALS control intervals of the
   step, and stays there for 5 s;
3. batching tuned on the real servers: each ready Triton, asked for its model config, runs
   the max_batch_size of the service's status, above the repository's own (1);
4. load down -> replicas go down, and not before the scale-down delay after the load fell;
5. status cost ($/h) equals the sum over pools of price per replica x replicas;
6. after the run: exit code 0 and no process of the run left (a /proc scan for its marker).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from infercost.sandbox.procs import leftovers
from infercost.sandbox.report import replica_prices
from infercost.sandbox.scenario import load
from tests.support.sandbox_run import SandboxRun, read_timeline

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sandbox" / "step-test.yaml"
INTERVAL = 4.0  # the scenario's control interval (sandbox seconds)
# Replicas take 18-20 s to be ready (pool provisioning and model start, scaled) while the one
# running takes the whole step; its backlog drains at its capacity less its equal share, so
# p99 comes back only after the load falls. Measured 6-8 intervals before the engine waited
# out the metrics window after replicas join (p99 from the old fleet); 8.9-16.2 since
# (2026-11-26); 18.0-18.2 (2026-12-07). README "Known limits" notes it.
P99_INTERVALS = 20
SCALE_DOWN_DELAY = 10.0  # 200 s / time scale 20
HIGH, LOW = 100.0, 35.0  # rps thresholds that tell the phases apart (130/s vs 40/s, 30/s)


def _total(sample: dict[str, Any], key: str = "desired") -> int:
    return sum(sample[key].values())


@pytest.fixture(scope="module")
def run(sandbox_runs: dict[str, SandboxRun]) -> Path:
    return sandbox_runs[SCENARIO.name].result()


def test_no_process_of_the_run_is_left(run: Path) -> None:
    assert leftovers(run) == []


def test_scale_up_on_the_best_pool_and_p99_back_under_the_slo(run: Path) -> None:
    scenario = load(SCENARIO)
    prices = replica_prices(scenario)
    capacity = {"inf2-xlarge-spot": 2674.19, "g5-xlarge": 9857.0}  # profile, full scale
    best = min(prices, key=lambda p: prices[p] / capacity[p])
    timeline = read_timeline(run)
    step = next(s for s in timeline if (s["sent_rps"] or 0) >= HIGH)
    before = _total(step)
    first_up = next(s for s in timeline if s["time"] >= step["time"] and _total(s) > before)
    grew = [p for p in first_up["desired"] if first_up["desired"][p] > step["desired"].get(p, 0)]
    print(
        f"best cost per throughput: {best}; first scale-up after the step: {grew}, "
        f"{first_up['time'] - step['time']:.1f} s after it ({before} -> {_total(first_up)})"
    )
    assert grew == [best]
    slo = step["slo_ms"]
    after = [s for s in timeline if s["time"] > step["time"] and s["client_p99_ms"] is not None]
    back = next(
        (
            s
            for i, s in enumerate(after)
            if all(x["client_p99_ms"] <= slo for x in after[i : i + 5]) and len(after[i:]) >= 5
        ),
        None,
    )
    assert back is not None, "the clients' p99 never came back under the SLO"
    waited = (back["time"] - step["time"]) / INTERVAL
    print(f"clients' p99 back under the SLO {waited:.1f} intervals after the step")
    assert waited <= P99_INTERVALS


def test_batching_is_tuned_on_the_real_servers(run: Path) -> None:
    timeline = read_timeline(run)
    read = [s for s in timeline if s["triton_batches"] and s["placement_batches"]]
    # Each pool has its own batching (status.placement[].maxBatchSize): every Triton must run
    # one of those; status.batching is only the largest placement's.
    tuned = [s for s in read if set(s["triton_batches"]) <= set(s["placement_batches"])]
    print(
        f"{len(tuned)} of {len(read)} samples: every Triton runs its pool's batching in status; "
        f"sizes seen {sorted({b for s in read for b in s['triton_batches']})}"
    )
    assert tuned, "no sample where the servers ran the batching in status"
    assert (
        max(max(s["placement_batches"]) for s in tuned) > 1
    )  # the repository ships max_batch_size 1
    # By the end (load low and steady) every server runs it: reloads follow each change.
    assert all(s in tuned for s in read[-5:]), read[-5:]


def _step_down(run: Path) -> float:
    """When the load fell, by the schedule: the wall time the load generator was due to send
    the first second of the low phase (its `time` is its start + that second).

    Not the monitor's samples: a sample carries the latest load line, written a couple of
    seconds after the second it counts and taken up to 5 s old, and `sent` is what a client
    starved of CPU managed to send, which can dip at any moment. Measured from either, a
    scale-down on time read as 4 s early on a loaded machine (5.8 s for a 10 s delay).
    """
    lines = [json.loads(line) for line in (run / "load.jsonl").read_text().splitlines()]
    bert = sorted((x for x in lines if x["service"] == "ml/bert"), key=lambda x: x["second"])
    last_high = max(i for i, x in enumerate(bert) if x["target_rps"] >= HIGH)
    return float(next(x["time"] for x in bert[last_high:] if x["target_rps"] <= LOW))


def test_scale_down_after_the_load_falls_and_the_delay(run: Path) -> None:
    timeline = read_timeline(run)
    fell = _step_down(run)
    peak = max(_total(s) for s in timeline if s["time"] <= fell + 1)
    # A scale-down for the load, not the old pool's replicas leaving after a migration.
    # Sample a still shows the old placement, b the new one: the decision came in between.
    down = next(
        (
            (a, b)
            for a, b in itertools.pairwise(timeline)
            # Status placement and lastDecision come from one status write; a Deployment read
            # may lag or lead it, so the decision is judged against the placement beside it.
            if b["time"] > fell
            and _total(b, "placement") < _total(a, "placement")
            and b["decision"]["reason"] != "MovedToCheaperPool"
        ),
        None,
    )
    assert down is not None, f"no scale-down from {peak} replicas after the load fell"
    before, after = down
    print(
        f"scale-down {peak} -> {_total(after)} between {before['time'] - fell:.1f} and "
        f"{after['time'] - fell:.1f} s after the load fell (delay {SCALE_DOWN_DELAY:.0f} s); "
        f"last: {after['decision']}"
    )
    # The decision is known to the sampling gap: it came after `before` was read, by `after`.
    # The delay is counted from the schedule's step; the operator sees the fall later still
    # (Prometheus' rate window), so an on-time scale-down clears this with seconds to spare.
    assert after["time"] - fell >= SCALE_DOWN_DELAY


def test_status_cost_is_the_sum_of_price_times_replicas(run: Path) -> None:
    prices = replica_prices(load(SCENARIO))
    timeline = read_timeline(run)
    priced = [s for s in timeline if s["hourly"] is not None and s["placement"]]
    assert priced
    for sample in priced:
        expected = sum(prices[p] * n for p, n in sample["placement"].items())
        assert sample["hourly"] == pytest.approx(expected, rel=1e-3, abs=1e-4), sample
    # The status' replicas are the Deployments' once a change has settled (10 s unchanged,
    # over two control intervals): the status is written after the apply and the live
    # batching reloads of a reconcile, which take seconds each on a busy machine.
    settled = [
        window[-1]
        for window in zip(*(timeline[i:] for i in range(10)), strict=False)
        if all(w["desired"] == window[0]["desired"] for w in window)
    ]
    assert settled
    for sample in settled:
        assert {p: n for p, n in sample["placement"].items() if n} == {
            p: n for p, n in sample["desired"].items() if n
        }, sample
    print(f"{len(priced)} samples: status $/h = sum(price x replicas); {len(settled)} settled")
