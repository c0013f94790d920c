"""What Prometheus would report about the simulated replicas over the last minute."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from infercost.sim.fleet import HISTORY_STEPS, Fleet, weighted_p99

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Window:
    """Per deployment, over the last HISTORY_STEPS steps (a `rate(...[1m])` window)."""

    served_rps: FloatArray
    p99_ms: FloatArray  # NaN where nothing was served
    busy: FloatArray
    batch: FloatArray
    queue_ms: FloatArray
    in_flight: FloatArray  # mean requests queued or running (Little's law)


def window(fleet: Fleet) -> Window:
    served, p99, busy, batch, queue, latency = fleet.hist
    seconds = HISTORY_STEPS * float(fleet.world.step)
    served_sum = served.sum(axis=1)
    weights = np.where(served_sum[:, None] > 0, served, 1.0)

    def mean(values: FloatArray) -> FloatArray:
        out: FloatArray = (values * weights).sum(axis=1) / weights.sum(axis=1)
        return out

    return Window(
        served_rps=served_sum / seconds,
        p99_ms=weighted_p99(served, p99) * 1e3,
        busy=busy.mean(axis=1),
        batch=mean(batch),
        queue_ms=mean(queue) * 1e3,
        in_flight=(served / float(fleet.world.step) * latency).mean(axis=1),
    )
