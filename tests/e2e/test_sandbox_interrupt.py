"""End to end: kubectl works against a running sandbox, and Ctrl-C leaves no process behind.

Real: the `infercost sandbox` command with every part running (see test_sandbox.py), the
`kubectl` client on the image, and SIGINT as a terminal's Ctrl-C sends it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infercost.sandbox.procs import leftovers

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sandbox" / "step-test.yaml"


def _ready_replicas(run: Path) -> int:
    timeline = run / "timeline.jsonl"
    if not timeline.exists():
        return 0
    lines = timeline.read_text().splitlines()
    return sum(json.loads(lines[-1])["ready"].values()) if lines else 0


def _kubectl(run: Path, *args: str) -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl is not installed (it is on the image: apt kubectl)"
    done = subprocess.run(
        [kubectl, "--kubeconfig", str(run / "kubeconfig"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_works_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with open(tmp_path / "out.log", "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from infercost.cli import app; app()",
                "sandbox",
                str(SCENARIO),
                "--out",
                str(run),
                "--no-live",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while _ready_replicas(run) == 0:
            assert process.poll() is None, (tmp_path / "out.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no ready replica within 240 s"
            time.sleep(1)
        services = _kubectl(run, "get", "ics", "-A")
        pods = _kubectl(run, "get", "pods", "-n", "ml")
        # No server-side tables in kmock: kubectl prints NAME and AGE; the phase by jsonpath.
        phases = _kubectl(run, "get", "pods", "-n", "ml", "-o", "jsonpath={.items[*].status.phase}")
        deployments = _kubectl(run, "get", "deployments", "-n", "ml")
        print(services, pods, phases, deployments, sep="\n")
        assert "bert" in services
        assert "bert-neuron-bf16-inf2-xlarge-spot-" in pods
        assert "Running" in phases.split()
        assert "bert-neuron-bf16-inf2-xlarge-spot" in deployments
        assert leftovers(run), "the running sandbox's processes carry its marker"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=90)
        print(f"stopped {time.monotonic() - started:.1f} s after Ctrl-C, exit {code}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert code == 0, (tmp_path / "out.log").read_text()[-3000:]
    assert leftovers(run) == []
    assert (run / "report" / "summary.md").exists()  # the partial report of what ran
