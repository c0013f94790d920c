"""Discovery against the sandbox API server: callers asking at once share one request (after
a start every service's first reconcile asks whether PodMonitors and HTTPRoutes are served)."""

from __future__ import annotations

import asyncio

import pytest

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.sandbox.apiserver import ApiServer

pytestmark = pytest.mark.integration


def discovery_requests(api: ApiServer, group_version: str) -> int:
    return sum(1 for r in api._requests if r.url.path == f"/apis/{group_version}")


async def test_concurrent_discovery_is_one_request_and_a_later_one_asks_again(
    api: ApiServer,
) -> None:
    kube = KubeApi(Credentials(server=str(api.url)))
    try:
        asked = [kube.has_resource("monitoring.coreos.com/v1", "podmonitors") for _ in range(50)]
        assert await asyncio.gather(*asked) == [True] * 50
        assert discovery_requests(api, "monitoring.coreos.com/v1") == 1
        assert not await kube.has_resource("monitoring.coreos.com/v1", "nothings")
        assert discovery_requests(api, "monitoring.coreos.com/v1") == 2  # not remembered
        assert not await kube.has_resource("nowhere.example.com/v1", "things")  # 404: False
    finally:
        await kube.close()
