"""Triton's own counters of one model, read from its /metrics (no Prometheus in between).

Triton counts a request after sending its response, so a read made as the last reply
arrives can miss it (seen in loaded clean-clone runs): `counters_when` polls until the
counters hold what the test sent, with a deadline only a hung server reaches.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Mapping

from infercost.localtriton import TritonServer

Counters = dict[str, float]


def read_counters(
    triton: TritonServer, wanted: Mapping[str, str], *, model: str = "synth"
) -> Counters:
    """{short name: value} of the metric families in `wanted` ({family: short name})."""
    with urllib.request.urlopen(triton.metrics_url, timeout=10) as response:
        body = response.read().decode()
    found: Counters = {}
    for line in body.splitlines():
        series, _, value = line.rpartition(" ")
        name = series.partition("{")[0]
        if name in wanted and f'model="{model}"' in series:
            found[wanted[name]] = float(value)
    return found


def counters_when(
    read: Callable[[], Counters], done: Callable[[Counters], bool], *, timeout: float = 120
) -> Counters:
    """`read()` once `done` holds for what it returns (or at the deadline, for the test's
    own assertions to fail on)."""
    deadline = time.monotonic() + timeout
    while True:
        now = read()
        if done(now) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)
