"""429 Too Many Requests from the API server (priority and fairness) on the operator's writes.

The sandbox API server answers 429 with `Retry-After` and `details.retryAfterSeconds`
(`ApiServer.fail_next(status=429)`), as a real server does when a priority level's queue is
full: injected, because no test can fill a real server's queues on cue. The operator must
wait and retry within the same reconcile, not fail it.
"""

from __future__ import annotations

import logging

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration.conftest import OperatorFactory
from tests.reliability.test_api_faults import converged, start

pytestmark = pytest.mark.integration


async def test_throttled_writes_are_retried_after_retry_after(
    api: ApiServer, start_operator: OperatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next(action="update", plural="deployments", status=429, times=2, retry_after=1)
    api.fail_next(
        action="update", plural="inferenceservices", subresource="status", status=429, times=2
    )
    with caplog.at_level(logging.INFO):
        operator = await start(api, start_operator)
        assert await converged(api, operator, "bert", rps=3000.0) == [
            "bert-neuron-bf16-inf2-xlarge"
        ]
    retries = [r.getMessage() for r in caplog.records if "after 429" in r.getMessage()]
    assert len(retries) == 4, retries  # every throttled write retried, none given up
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and "429" in r.getMessage()]
    assert failures == [], "a throttled write failed its reconcile instead of waiting"
