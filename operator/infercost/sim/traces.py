"""Traces -> per-step request rates: CSV of requests, CSV of rates, or a bare rate series.

gzip and bzip2 files are read directly; a tar archive (.tar.gz, .tbz2) must hold one file
or name it in `trace.member`. Every trace becomes a cumulative-count function of trace time,
sampled at the simulation's step edges, so compression (`timeScale`) and looping a short
trace over a long run are the same arithmetic.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from infercost.sim.scenario import ScenarioError, Trace, TraceFormat, WorkloadService

FloatArray = NDArray[np.float64]
PEAK_WINDOW_SECONDS = 60.0  # peakRps is the peak of the 1-minute mean rate (the contract)


def read_bytes(path: Path, member: str | None = None) -> bytes:
    """The file's content, decompressed, or its tar archive's single (or named) member."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ScenarioError(f"trace {path}: {error.strerror}; check trace.path") from None
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as archive:
            files = [m for m in archive.getmembers() if m.isfile()]
            chosen = [m for m in files if member is None or m.name == member]
            if len(chosen) != 1:
                names = ", ".join(m.name for m in files)
                raise ScenarioError(
                    f"trace {path} is an archive of {names}; name one in trace.member"
                )
            handle = archive.extractfile(chosen[0])
            assert handle is not None  # a regular file always has content
            return handle.read()
    except tarfile.TarError:
        pass
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    if raw[:3] == b"BZh":
        return bz2.decompress(raw)
    return raw


def _column(rows: list[dict[str, str]], name: str, path: Path) -> list[str]:
    if not rows or name not in rows[0]:
        found = ", ".join(rows[0]) if rows else "no rows"
        raise ScenarioError(f"trace {path}: no column {name!r} (columns: {found})")
    return [row[name] for row in rows]


def _times(values: list[str], path: Path, column: str) -> FloatArray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        pass
    try:
        stamps = np.asarray(values, dtype="datetime64[ns]")
    except ValueError:
        raise ScenarioError(
            f"trace {path}: column {column!r} holds neither numbers (seconds) nor ISO times"
        ) from None
    seconds: FloatArray = (stamps - stamps.min()).astype(np.int64).astype(np.float64) / 1e9
    return seconds


class Cumulative:
    """Requests arrived by trace time t (t from 0 to span), a piecewise-linear function."""

    def __init__(self, knots: FloatArray, counts: FloatArray, *, stepwise: bool = False) -> None:
        # stepwise: counts jump at each knot (single requests) instead of growing linearly.
        self.knots, self.counts, self.stepwise = knots, counts, stepwise
        self.span = float(knots[-1])
        if self.span <= 0 or counts[-1] <= 0:
            raise ScenarioError("the trace is empty (no time span or no requests)")

    def at(self, t: FloatArray) -> FloatArray:
        laps, rest = np.divmod(t, self.span)
        if self.stepwise:
            index = np.searchsorted(self.knots, rest, side="right") - 1
            inside: FloatArray = self.counts[np.maximum(index, 0)]
        else:
            inside = np.interp(rest, self.knots, self.counts)
        total: FloatArray = laps * self.counts[-1] + inside
        return total


def _from_requests(rows: list[dict[str, str]], trace: Trace, path: Path) -> Cumulative:
    assert trace.time_column is not None
    times = np.sort(_times(_column(rows, trace.time_column, path), path, trace.time_column))
    times -= times[0]
    counts = np.arange(1, len(times) + 1, dtype=np.float64)
    # The trace lasts until its last arrival plus one mean gap, so looping keeps the mean rate.
    span = times[-1] + (times[-1] / max(len(times) - 1, 1))
    knots = np.concatenate([[0.0], times, [span]])
    # Knot 0 at t=0 with count 0 is replaced by the first arrival (also at t=0, count 1).
    return Cumulative(knots[1:], np.concatenate([counts, [counts[-1]]]), stepwise=True)


def _from_rates(times: FloatArray, rates: FloatArray, hold: float | None) -> Cumulative:
    order = np.argsort(times, kind="stable")
    times, rates = times[order], rates[order]
    unique, index = np.unique(times, return_inverse=True)
    summed = np.bincount(index, weights=rates)  # one row per container: sum them
    unique = unique - unique[0]
    typical = float(np.median(np.diff(unique))) if len(unique) > 1 else 1.0
    gaps = np.diff(np.append(unique, unique[-1] + (hold if hold is not None else typical)))
    held = gaps if hold is None else np.minimum(gaps, hold)
    # Each sample covers [t, t + held) at its rate, then zero until the next sample.
    knots = np.empty(2 * len(unique) + 1)
    counts = np.empty_like(knots)
    knots[0] = counts[0] = 0.0
    knots[1::2] = unique + held
    knots[2::2] = unique + gaps
    area = np.cumsum(summed * held)
    counts[1::2] = area
    counts[2::2] = area
    return Cumulative(knots, counts)


SMOOTH_REQUESTS = 100.0  # default requests-csv smoothing: a window holding this many requests


@lru_cache(maxsize=32)
def load_cumulative(trace: Trace, base_dir: Path) -> Cumulative:
    """Parsed once per (trace, folder): scenarios often replay one file for many services."""
    path = (base_dir / trace.path).resolve()
    data = read_bytes(path, trace.member)
    if trace.format == TraceFormat.RATE_SERIES:
        try:
            rates = np.asarray(data.split(), dtype=np.float64)
        except ValueError:
            raise ScenarioError(f"trace {path}: rate-series must hold numbers only") from None
        step = trace.sample_seconds or 1.0
        return _from_rates(np.arange(len(rates), dtype=np.float64) * step, rates, step)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8", errors="replace"))))
    if trace.format == TraceFormat.REQUESTS_CSV:
        return _from_requests(rows, trace, path)
    assert trace.time_column is not None
    assert trace.rate_column is not None
    times = _times(_column(rows, trace.time_column, path), path, trace.time_column)
    try:
        rates = np.asarray(_column(rows, trace.rate_column, path), dtype=np.float64)
    except ValueError:
        raise ScenarioError(f"trace {path}: column {trace.rate_column!r} must be numbers") from None
    return _from_rates(times, rates, trace.sample_seconds)


def rate_per_step(
    entry: WorkloadService, *, base_dir: Path, duration: int, step: int
) -> FloatArray:
    """Mean request rate (per second) of each simulation step, rescaled to entry.peakRps."""
    cumulative = load_cumulative(entry.trace, base_dir)
    steps = duration // step
    edges = entry.offset_seconds + np.arange(steps + 1, dtype=np.float64) * step * entry.time_scale
    rates = np.diff(cumulative.at(edges)) / step
    smooth = entry.trace.smooth_seconds
    if smooth is None and entry.trace.format == TraceFormat.REQUESTS_CSV:
        smooth = SMOOTH_REQUESTS * cumulative.span / cumulative.counts[-1]
    width = round((smooth or 0.0) / entry.time_scale / step)
    if width > 1:
        # Circular moving average: the trace loops, so its ends meet.
        padded = np.concatenate([rates[-(width // 2) :], rates, rates[: width - width // 2 - 1]])
        rates = np.convolve(padded, np.ones(width) / width, mode="valid")
    if entry.peak_rps is not None:
        window = max(round(PEAK_WINDOW_SECONDS / step), 1)
        kernel = np.ones(min(window, steps)) / min(window, steps)
        peak = float(np.convolve(rates, kernel, mode="valid").max())
        if peak <= 0:
            raise ScenarioError(f"service {entry.name}: the trace has no requests in the run")
        rates = rates * (entry.peak_rps / peak)
    return rates
