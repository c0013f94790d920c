"""The sandbox's scaling of a scenario and its synthetic latency curves (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infercost.api.variant import ProfilePoint
from infercost.sandbox.scenario import load
from infercost.sandbox.triton import synthetic_model
from infercost.sim.scenario import ScenarioError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "sandbox" / "bert.yaml"


def point(batch: int, throughput: float) -> ProfilePoint:
    return ProfilePoint(
        accelerator_type="x", batch_size=batch, throughput=throughput, p99_latency_ms=1.0
    )


def test_the_curve_passes_through_two_profile_points() -> None:
    model = synthetic_model([point(1, 1998.21), point(8, 2674.19)], name="m", max_batch_size=1)
    for batch, throughput in ((1, 1998.21), (8, 2674.19)):
        assert model.exec_ms(batch) == pytest.approx(batch / throughput * 1e3, abs=2e-3)


def test_one_point_is_read_as_no_batching_gain_below_it() -> None:
    model = synthetic_model([point(32, 9857)], name="m", max_batch_size=4)
    assert model.base_ms == 0
    assert model.throughput(32) == pytest.approx(9857, rel=1e-2)
    assert model.max_batch_size == 4


def test_the_demo_is_scaled_consistently() -> None:
    scaled = load(DEMO)
    s, c = scaled.rate_scale, scaled.time_scale
    original = scaled.scenario.service("ml", "bert").spec
    service = next(o for o in scaled.objects if o["kind"] == "InferenceService")["spec"]
    assert service["slo"]["latencyMs"] == pytest.approx(original.slo.latency_ms * s)
    for before, after in zip(original.variants, service["variants"], strict=True):
        for p0, p1 in zip(before.profile, after["profile"], strict=True):
            assert p1["throughput"] == pytest.approx(p0.throughput / s, rel=1e-4)
            assert p1["p99LatencyMs"] == pytest.approx(p0.p99_latency_ms * s)
    assert len(scaled.rates[("ml", "bert")]) == round(scaled.scenario.workload.spec.duration / c)
    assert max(scaled.rates[("ml", "bert")]) <= 8000 / s * 1.05  # peak 8,000/s at full scale


def test_an_unknown_sandbox_annotation_names_the_known_ones() -> None:
    text = DEMO.read_text().replace("sandbox.infercost.io/rate-scale", "sandbox.infercost.io/rate")
    bad = DEMO.parent / "bad-annotation.yaml"  # beside it: trace paths are relative
    try:
        bad.write_text(text)
        with pytest.raises(ScenarioError, match="rate-scale"):
            load(bad)
    finally:
        bad.unlink()


SPILL = ROOT / "examples" / "sandbox" / "reclaim.yaml"


def test_pool_node_annotations_are_checked_and_their_times_scaled() -> None:
    scaled = load(SPILL)
    pool = next(o for o in scaled.objects if o["kind"] == "AcceleratorPool")
    notes = pool["metadata"]["annotations"]
    assert float(notes["sandbox.infercost.io/reclaim-at-seconds"]) == 1600 / scaled.time_scale
    assert float(notes["sandbox.infercost.io/reclaim-nodes"]) == 2  # a count: not scaled
    text = SPILL.read_text().replace("reclaim-nodes", "reclaim-count")
    bad = SPILL.parent / "bad-pool-annotation.yaml"
    try:
        bad.write_text(text)
        with pytest.raises(ScenarioError, match=r"inf2-xlarge-spot.*sandbox\.infercost\.io/nodes"):
            load(bad)
    finally:
        bad.unlink()
