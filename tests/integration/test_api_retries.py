"""Retry-After: a 429 from API Priority and Fairness (or a 503) is waited out, within bounds.

The API server answers the injected 429/503 with a Retry-After header and a Status body, as
kube-apiserver's APF filter does (`fail_next(..., retry_after=N)`).
"""

from __future__ import annotations

import pytest

from infercost.kubeclient import ApiError, Credentials, RetryPolicy, Transport
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually, operator_requests
from tests.integration.test_placement import deployments

pytestmark = pytest.mark.integration


class Waits:
    """Records the transport's waits instead of sitting them out (FAKE clock: only the time
    is faked; the server and its answers are real)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_waited_then_the_request_succeeds(api: ApiServer, status: int) -> None:
    waits = Waits()
    client = Transport(
        Credentials(server=str(api.url)), policy=RetryPolicy(attempts=5), sleep=waits
    )
    api.fail_next(action="list", plural="deployments", status=status, times=2, retry_after=7)
    listed = await client.call("GET", o.DEPLOYMENTS)
    await client.close()
    assert listed["items"] == []
    assert waits.seconds == [7.0, 7.0]  # what the server asked, not the 5xx backoff


async def test_retry_after_is_capped_and_the_tries_bounded(api: ApiServer) -> None:
    waits = Waits()
    policy = RetryPolicy(attempts=3, retry_after_max=2.5)
    client = Transport(Credentials(server=str(api.url)), policy=policy, sleep=waits)
    api.fail_next(action="list", plural="deployments", status=429, times=5, retry_after=600)
    with pytest.raises(ApiError) as error:
        await client.call("GET", o.DEPLOYMENTS)
    await client.close()
    assert error.value.status == 429
    assert waits.seconds == [2.5, 2.5]  # three tries, two capped waits


async def test_operator_waits_out_429_on_its_writes(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await start_operator(api_retry_after_max_seconds=1)
    api.fail_next(action="update", plural="deployments", status=429, times=2, retry_after=1)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    await eventually(lambda: deployments(api, "bert"), what="children despite two 429s")
    patches = [r for r in operator_requests(api) if r[:3] == ("patch", "apps", "deployments")]
    assert len(patches) >= 3  # two refused, then served
