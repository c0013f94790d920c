"""`infercost sandbox` runs for the e2e tests that read their output, and their timelines.

A run spends its minutes waiting: its clock is real time x 20 and its processes are mostly
idle (the whole run, operator and tritonservers included, used ~3% of the 2-core machine while
its load ran). The e2e conftest therefore starts every selected scenario at once, the first time
a test asks for one, and each test waits for its own: side by side they take about as long as
the longest, where one after another they took 12 of the suite's 33 minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Long enough for the slowest scenario (~3.5 minutes alone) with the others beside it; it only
# ends a hung run.
TIMEOUT_SECONDS = 600.0


class SandboxRun:
    """One `infercost sandbox` run (no live view), started in the background."""

    def __init__(self, scenario: Path, out: Path) -> None:
        self.scenario, self.out = scenario, out
        out.parent.mkdir(parents=True, exist_ok=True)
        self._logs = out.parent / "sandbox.stdout", out.parent / "sandbox.stderr"
        self.started = time.monotonic()
        # The child writes to its own copies of these files: ours close at once, so a run
        # that is never waited for (a test deselected with -k) leaves no open file behind.
        with self._logs[0].open("w") as stdout, self._logs[1].open("w") as stderr:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from infercost.cli import app; app()",
                    "sandbox",
                    str(scenario),
                    "--out",
                    str(out),
                    "--no-live",
                ],
                cwd=ROOT,
                stdout=stdout,
                stderr=stderr,
                text=True,
            )

    def result(self) -> Path:
        """Wait for the run and return its folder; the run must exit 0."""
        left = max(1.0, TIMEOUT_SECONDS - (time.monotonic() - self.started))
        try:
            code = self._process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        stdout, stderr = (log.read_text() for log in self._logs)
        print(f"\nsandbox run {self.scenario.name}: exit {code}")
        print(stdout[-3000:], stderr[-3000:])
        assert code == 0, stderr[-3000:]
        return self.out

    def stop(self) -> None:
        """End the run as Ctrl-C does (it stops its processes), and kill it if it lingers."""
        if self._process.poll() is not None:
            return
        os.kill(self._process.pid, signal.SIGINT)
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def read_timeline(run: Path) -> list[dict[str, Any]]:
    """The run's timeline.jsonl, one sample a second."""
    return [json.loads(line) for line in (run / "timeline.jsonl").read_text().splitlines()]
