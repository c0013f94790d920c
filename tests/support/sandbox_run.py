"""One `infercost sandbox` run for the e2e tests that read its output, and its timeline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_sandbox(scenario: Path, out: Path, *, timeout: float = 480) -> Path:
    """Run the sandbox on `scenario` into `out` (no live view) and return `out`; the run must
    exit 0. `timeout` only ends a hung run: each scenario finishes in a few minutes."""
    started = time.monotonic()
    done = subprocess.run(
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
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(f"\nsandbox run: {time.monotonic() - started:.0f} s, exit {done.returncode}")
    print(done.stdout[-3000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def read_timeline(run: Path) -> list[dict[str, Any]]:
    """The run's timeline.jsonl, one sample a second."""
    return [json.loads(line) for line in (run / "timeline.jsonl").read_text().splitlines()]
