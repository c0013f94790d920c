"""The batched-service queueing model (no processes: pure arithmetic on a profile)."""

from __future__ import annotations

import numpy as np
import pytest

from infercost.api.service import ProfilePoint
from infercost.engine.queueing import LOAD_GRID, REL_GRID, SLO_INDEX, ExecCurve, latency_table

pytestmark = pytest.mark.sim


def _curve() -> ExecCurve:
    points = [
        ProfilePoint(
            accelerator_type="cpu",
            batch_size=b,
            throughput=b / (0.02 + 0.002 * b),
            p99_latency_ms=1.0,
        )
        for b in (1, 8)
    ]
    return ExecCurve.from_profile(points)


def test_exec_time_follows_the_profile_and_capacity_uses_full_batches() -> None:
    curve = _curve()
    assert curve.exec_seconds(np.array([1, 8])).tolist() == pytest.approx([0.022, 0.036])
    assert curve.capacity(8) == pytest.approx(8 / 0.036)


def test_latency_grows_with_load_and_batches_grow_too() -> None:
    table = latency_table(_curve(), max_batch=8, queue_delay_us=0, slo_ms=100.0)
    p50 = [table.quantile_ms(load, 0.5) for load in (0.2, 0.5, 0.8)]
    assert p50 == sorted(p50)
    assert p50[0] >= 22.0  # never faster than one batch-1 execution
    assert np.all(np.diff(table.mean_batch[1:]) >= -0.05)
    assert np.all(np.diff(table.cdf[:, SLO_INDEX]) <= 1e-12)  # fewer good requests with load
    assert 0.0 < table.load_at_slo() <= LOAD_GRID[-1]


def test_a_queue_delay_costs_latency_at_low_load() -> None:
    fast = latency_table(_curve(), max_batch=8, queue_delay_us=0, slo_ms=100.0)
    slow = latency_table(_curve(), max_batch=8, queue_delay_us=10_000, slo_ms=100.0)
    assert slow.quantile_ms(0.1, 0.5) > fast.quantile_ms(0.1, 0.5) + 5


def test_a_queue_timeout_rejects_below_capacity_and_more_with_load() -> None:
    # Half a full batch's execution (36 ms): a request arriving as a batch starts waits longer.
    plain = latency_table(_curve(), max_batch=8, queue_delay_us=0, slo_ms=100.0)
    strict = latency_table(
        _curve(), max_batch=8, queue_delay_us=0, slo_ms=100.0, queue_timeout_us=18_000
    )
    half = int(np.flatnonzero(np.isclose(LOAD_GRID, 0.5))[0])
    assert not plain.rejected.any()
    assert strict.rejected[0] == 0.0  # no traffic, nothing to reject
    assert 0.05 < strict.rejected[half] < strict.rejected[-1] < 1.0
    assert np.all(np.diff(strict.rejected) >= 0.0)
    # What is served waited at most the timeout: done within it plus one batch of 8.
    within = int(np.searchsorted(REL_GRID, (18 + 36 + 1) / 100.0))
    assert np.all(strict.cdf[1:, within] == 1.0)
    # A rejected request is not a good one: the timeout costs SLO capacity here.
    assert np.all(strict.good_share() <= strict.cdf[:, SLO_INDEX])
    assert strict.load_at_slo() < plain.load_at_slo()


@pytest.mark.parametrize("package", ["infercost.sim", "infercost.localtriton"])
def test_packages_say_what_they_own_and_must_not_import(package: str) -> None:
    import importlib

    doc = importlib.import_module(package).__doc__ or ""
    assert "Owns:" in doc
    assert "Must not import" in doc
