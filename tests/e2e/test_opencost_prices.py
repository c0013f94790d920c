"""Pool prices from OpenCost, through a REAL Prometheus scraping OpenCost-shaped series.

The exposition carries OpenCost's `node_total_hourly_cost` and kube-state-metrics'
`kube_node_labels` as those exporters name them; Prometheus scrapes it for real. The pool
status is written to the sandbox API server (kmock with Kubernetes semantics).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kmock
import pytest

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.opencost import OpenCostPrices
from infercost.api.pool import AcceleratorPoolSpec
from infercost.controller.picture import Picture
from infercost.controller.pool_status import write_pools
from infercost.controller.pricing import PoolPricing
from infercost.sandbox.apiserver import ApiServer
from infercost.settings import Settings
from tests.support.prometheus import Exposition, LocalPrometheus, free_port

pytestmark = pytest.mark.e2e
TYPE = "label_node_kubernetes_io_instance_type"
CAPACITY = "label_karpenter_sh_capacity_type"
EXPOSITION = f"""\
node_total_hourly_cost{{node="n1",instance_type="g5.xlarge"}} 1.2
node_total_hourly_cost{{node="n2",instance_type="g5.xlarge"}} 1.0
node_total_hourly_cost{{node="n3",instance_type="g6.xlarge"}} 0.8
kube_node_labels{{node="n1",{TYPE}="g5.xlarge",{CAPACITY}="on-demand"}} 1
kube_node_labels{{node="n2",{TYPE}="g5.xlarge",{CAPACITY}="on-demand"}} 1
kube_node_labels{{node="n3",{TYPE}="g6.xlarge",{CAPACITY}="spot"}} 1
kube_node_labels{{node="n4",{TYPE}="inf2.xlarge",{CAPACITY}="on-demand"}} 1
"""


def pool(name: str, selector: dict[str, str], *, source: str = "OpenCost") -> dict[str, Any]:
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "AcceleratorPool",
        "metadata": {"name": name},
        "spec": {
            "accelerator": {"type": "nvidia-a10g", "resourceName": "nvidia.com/gpu", "perNode": 1},
            "nodeSelector": selector,
            "pricing": {"source": source, "hourlyPerNode": 1.006},
        },
    }


POOLS = {
    "g5": pool("g5", {"node.kubernetes.io/instance-type": "g5.xlarge"}),
    "g6-spot": pool(
        "g6-spot",
        {"node.kubernetes.io/instance-type": "g6.xlarge", "karpenter.sh/capacity-type": "spot"},
    ),
    "inf2": pool("inf2", {"node.kubernetes.io/instance-type": "inf2.xlarge"}),  # no cost series
    "p5": pool("p5", {"node.kubernetes.io/instance-type": "p5.48xlarge"}),  # no such node
    "static": pool("static", {"node.kubernetes.io/instance-type": "g5.xlarge"}, source="Static"),
}
SPECS = {name: AcceleratorPoolSpec.model_validate(body["spec"]) for name, body in POOLS.items()}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[LocalPrometheus]:
    prom = LocalPrometheus().start()
    exposition = Exposition(lambda: EXPOSITION)
    try:
        prom.add_target(exposition.address, {"job_kind": "opencost"})
        prom.wait_for("kube_node_labels", count=4)
        prom.wait_for("node_total_hourly_cost", count=3)
        yield prom
    finally:
        prom.close()
        exposition.close()


async def test_opencost_pools_take_the_mean_price_of_their_nodes(
    prometheus: LocalPrometheus,
) -> None:
    prices = await OpenCostPrices(Settings(prometheus_url=prometheus.url)).pool_prices(SPECS)
    assert "static" not in prices  # Static pools never ask
    assert prices["g5"].hourly_per_node == pytest.approx(1.1)
    assert (prices["g5"].source, prices["g5"].nodes) == ("OpenCost", 2)
    assert prices["g6-spot"].hourly_per_node == pytest.approx(0.8)  # both selector labels match
    assert prices["inf2"].fallback_reason == "OpenCostPriceMissing"
    assert prices["inf2"].hourly_per_node == 1.006
    assert prices["p5"].fallback_reason == "OpenCostNodesNotFound"
    assert "allowlist" in prices["p5"].message


async def test_node_gpu_hourly_cost_can_be_chosen_in_settings(
    prometheus: LocalPrometheus,
) -> None:
    # The query is a setting: here a series that does not exist, so every pool falls back.
    settings = Settings(
        prometheus_url=prometheus.url,
        prometheus_queries={"node_cost": "avg by (node) (node_gpu_hourly_cost)"},
    )
    prices = await OpenCostPrices(settings).pool_prices(SPECS)
    assert prices["g5"].fallback_reason == "OpenCostPriceMissing"
    assert prices["g5"].source == "Static"


async def test_without_prometheus_the_static_price_stands_in() -> None:
    settings = Settings(prometheus_url=f"http://127.0.0.1:{free_port()}")
    prices = await OpenCostPrices(settings).pool_prices(SPECS)
    assert prices["g5"].hourly_per_node == 1.006
    assert prices["g5"].fallback_reason == "PrometheusUnreachable"


@pytest.fixture
async def kube() -> AsyncIterator[tuple[ApiServer, KubeApi]]:
    async with ApiServer() as server, kmock.Server(server):
        api = KubeApi(Credentials(server=str(server.url)))
        try:
            yield server, api
        finally:
            await api.close()


async def test_prices_reach_the_decision_and_the_pool_status(
    prometheus: LocalPrometheus, kube: tuple[ApiServer, KubeApi]
) -> None:
    server, api = kube
    picture = Picture()
    for name in ("g5", "p5"):
        async with server.request(
            "POST", "/apis/infercost.io/v1alpha1/acceleratorpools", data=json.dumps(POOLS[name])
        ) as response:
            assert response.status < 300
            picture.pool_seen(await response.json(content_type=None))
    pricing = PoolPricing(api=api, source=OpenCostPrices(Settings(prometheus_url=prometheus.url)))

    async def interval(now: float) -> None:  # as the operator does: prices, then pool status
        await pricing.refresh(picture, now=now)
        await write_pools(api=api, pools=picture.pools, totals={}, prices=pricing.latest, now=now)

    await interval(time.time())

    views = {v.name: v.hourly_per_node for v in picture.pool_views(("ml", "bert"))}
    assert views == {"g5": pytest.approx(1.1), "p5": 1.006}
    for name, source, ok, reason in (
        ("g5", "OpenCost", "True", "OpenCost"),
        ("p5", "Static", "False", "OpenCostNodesNotFound"),
    ):
        async with server.request(
            "GET", f"/apis/infercost.io/v1alpha1/acceleratorpools/{name}"
        ) as response:
            status = (await response.json(content_type=None))["status"]
        assert status["priceSource"] == source
        (condition,) = status["conditions"]
        assert (condition["type"], condition["status"], condition["reason"]) == (
            "PriceAvailable",
            ok,
            reason,
        )
    # Nothing changed: no second write.
    writes = server.writes()
    await interval(time.time() + 15)
    assert server.writes() == writes
