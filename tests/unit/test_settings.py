"""Settings: environment variables, engine passthrough, every knob documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from infercost.engine.model import EngineSettings
from infercost.settings import Settings

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_environment_sets_operator_and_engine_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERCOST_CONTROL_INTERVAL_SECONDS", "7")
    monkeypatch.setenv("INFERCOST_DRY_RUN", "true")
    monkeypatch.setenv("INFERCOST_ENGINE__MOVE_COOLDOWN_SECONDS", "1800")
    settings = Settings()
    assert settings.dry_run is True
    engine = settings.for_engine()
    assert engine.control_interval_seconds == 7.0
    assert engine.move_cooldown_seconds == 1800.0


def test_defaults() -> None:
    settings = Settings()
    assert settings.control_interval_seconds == 15.0
    assert settings.dry_run is False
    assert settings.for_engine() == EngineSettings()


@pytest.mark.parametrize(
    ("window", "lag", "memory", "stale"),
    [("1m", 0.0, 60.0, 120.0), ("8s", 52.0, 60.0, 16.0), ("2m", 0.0, 120.0, 240.0)],
)
def test_the_engine_knows_how_long_the_metrics_remember(
    monkeypatch: pytest.MonkeyPatch, window: str, lag: float, memory: float, stale: float
) -> None:
    # Triton's summaries keep 60 s of answers; rates over a shorter window forget an overload
    # sooner, and the engine withholds p99 for the difference after one. The metrics remember
    # the old fleet for the longer of the two (the rates over 2m: two minutes). A series is
    # stale once two rate windows passed without a sample; a variable that still sets it (or
    # the routing model, or the spike period's tolerance) is overridden.
    monkeypatch.setenv("INFERCOST_PROMETHEUS_RATE_WINDOW", window)
    monkeypatch.setenv("INFERCOST_ENGINE__METRICS_STALE_SECONDS", "30")
    monkeypatch.setenv("INFERCOST_ENGINE__EQUAL_SHARE_ROUTING", "false")
    engine = Settings().for_engine()
    assert engine.summary_lag_seconds == lag
    assert engine.metrics_window_seconds == memory
    assert engine.metrics_stale_seconds == stale
    assert engine.equal_share_routing is True
    assert engine.spike_period_tolerance_seconds == 2 * (memory + 15.0)


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    for name in Settings.model_fields:
        if name != "engine":
            assert f"`INFERCOST_{name.upper()}`" in text, name
    for field in dataclasses.fields(EngineSettings):
        derived = {
            "control_interval_seconds",
            "summary_lag_seconds",
            "metrics_window_seconds",
            "metrics_stale_seconds",
            "equal_share_routing",
        }
        if field.name not in derived:
            assert f"`INFERCOST_ENGINE__{field.name.upper()}`" in text, field.name


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1"])
def test_a_horizon_quantile_that_is_no_probability_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("INFERCOST_ENGINE__HORIZON_QUANTILE", value)
    with pytest.raises(ValueError, match="INFERCOST_ENGINE__HORIZON_QUANTILE must be"):
        Settings()
    monkeypatch.setenv("INFERCOST_ENGINE__HORIZON_QUANTILE", "0")
    assert Settings().for_engine().horizon_quantile == 0.0
