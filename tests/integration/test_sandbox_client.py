"""The sandbox's tools' client (sandbox/client.py) on the shared kubeclient: reads, merge
patches, errors as ApiError, and a User-Agent the request log does not count as the operator's."""

from __future__ import annotations

import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.client import Api, ApiError
from tests.integration import objects as o
from tests.integration.conftest import operator_requests

pytestmark = pytest.mark.integration


async def test_sandbox_client_reads_patches_and_reports_errors(api: ApiServer) -> None:
    client = Api(str(api.url))
    try:
        await client.call("POST", o.POOLS, o.INF2)
        assert await client.get(f"{o.POOLS}/nope") is None
        pools = await client.items(o.POOLS, labelSelector="team=ml")
        assert [p["metadata"]["name"] for p in pools] == ["inf2-xlarge"]
        assert await client.items(o.POOLS, labelSelector="team=other") == []
        await client.call("PATCH", f"{o.POOLS}/inf2-xlarge", {"metadata": {"labels": {"x": "y"}}})
        pool = await client.get(f"{o.POOLS}/inf2-xlarge")
        assert pool is not None
        assert pool["metadata"]["labels"]["x"] == "y"
        with pytest.raises(ApiError) as error:
            await client.call("POST", o.POOLS, o.INF2)  # exists already
        assert error.value.status == 409
    finally:
        await client.close()
    assert operator_requests(api) == []  # infercost-sandbox/ is not the operator
