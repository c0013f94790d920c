"""From Prometheus vector results to Observations: the cases a live Prometheus makes rare.

The inputs are results in the query API's JSON shape (the e2e tests get them from a real
Prometheus); here one pod of a service may be stale while another is fresh, a quantile NaN.
"""

from __future__ import annotations

import math

import pytest

from infercost.adapters import promql
from infercost.adapters.metrics import observation_for
from infercost.adapters.prometheus import PrometheusMetrics
from infercost.settings import Settings

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0


def sample(pod: str, value: float, *, service: str = "bert", pool: str = "g5") -> dict[str, object]:
    labels = {
        "namespace": "ml",
        "infercost_io_service": service,
        "infercost_io_variant": "gpu",
        "infercost_io_pool": pool,
        "pod": pod,
    }
    return {"metric": labels, "value": [NOW, "NaN" if math.isnan(value) else str(value)]}


def results(**by_query: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    return {name: by_query.get(name, []) for name in promql.DEFAULT_QUERIES}


def test_a_stale_pod_is_left_out_and_a_nan_quantile_ignored() -> None:
    observed = promql.observations(
        results(
            demand=[sample("a", 30.0), sample("b", 99.0)],
            execs=[sample("a", 15.0), sample("b", 99.0)],
            busy=[sample("a", 0.6e6), sample("b", 0.9e6)],
            p99=[sample("a", math.nan), sample("b", 5e5)],
            age=[sample("a", 2.0), sample("b", 500.0)],
        ),
        now=NOW,
        stale_after=120,
    )
    bert = observed[("ml", "bert")]
    assert bert.demand_rps == 30.0  # pod b's samples are 500 s old
    assert bert.p99_latency_ms is None  # a's quantile is NaN (idle summary window)
    assert bert.per_deployment[("gpu", "g5")].busy_fraction == pytest.approx(0.3)


def test_rejected_requests_are_read_per_deployment() -> None:
    observed = promql.observations(
        results(
            demand=[sample("a", 300.0), sample("b", 200.0)],
            rejected=[sample("a", 40.0), sample("b", 10.0)],
        ),
        now=NOW,
        stale_after=120,
    )
    metrics = observed[("ml", "bert")].per_deployment[("gpu", "g5")]
    assert metrics.rejected_per_second == pytest.approx(50.0)
    assert metrics.inferences_per_second == pytest.approx(500.0)  # completions only
    assert 'reason="REJECTED"' in promql.queries({}, window="1m")["rejected"]


def test_series_without_the_contract_labels_are_not_a_service() -> None:
    stray = {"metric": {"namespace": "ml", "pod": "x"}, "value": [NOW, "5"]}
    observed = promql.observations(results(demand=[stray]), now=NOW, stale_after=120)
    assert dict(observed) == {}
    missing = observation_for(observed, ("ml", "x"), now=NOW)
    assert missing is not None
    assert missing.unavailable_reason == "MetricsMissing"


def test_templates_keep_promql_braces_and_reject_unknown_names() -> None:
    rendered = promql.queries({}, window="30s")
    assert 'quantile="0.99"' in rendered["p99"]
    assert "[30s]" in rendered["demand"]
    assert promql.BY in rendered["demand"]
    with pytest.raises(ValueError, match="demnad"):
        promql.queries({"demnad": "up"}, window="1m")


def test_the_adapter_refuses_an_unknown_query_name_at_start() -> None:
    settings = Settings(prometheus_url="http://127.0.0.1:1", prometheus_queries={"p98": "up"})
    with pytest.raises(ValueError, match=r"unknown name.*p98.*known"):
        PrometheusMetrics(settings)


def test_cached_answers_count_as_demand_and_the_cache_rates_are_summed() -> None:
    """Triton's nv_inference_count leaves out requests answered from the response cache;
    demand adds them back, at the computed requests' inferences per request (2 here)."""
    observed = promql.observations(
        results(
            demand=[sample("a", 40.0), sample("b", 20.0)],
            cache_hits=[sample("a", 10.0), sample("b", math.nan)],
            cache_misses=[sample("a", 20.0), sample("b", 10.0)],
        ),
        now=NOW,
        stale_after=120,
    )
    bert = observed[("ml", "bert")]
    assert bert.cache_hits_per_second == 10.0
    assert bert.cache_misses_per_second == 30.0
    assert bert.demand_rps == pytest.approx(60.0 + 10.0 * 2)


def test_without_cache_series_demand_is_what_triton_computed() -> None:
    observed = promql.observations(results(demand=[sample("a", 40.0)]), now=NOW, stale_after=120)
    bert = observed[("ml", "bert")]
    assert (bert.cache_hits_per_second, bert.cache_misses_per_second) == (None, None)
    assert bert.demand_rps == 40.0
