"""Leader election rules (controller/leader.py) against the sandbox API server's Leases.

The candidates' clocks are FAKE (a number the test advances) so "not before the lease
duration" is asserted without waiting; the Lease, its resourceVersion preconditions and the
409s are the API server's, over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from infercost.controller.leader import LeaderElector, LeaseConfig
from infercost.controller.runner import LeadershipLost
from infercost.kubeclient import Credentials, RetryPolicy, Transport
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_NAMESPACE
from infercost.settings import Settings
from tests.integration.conftest import OperatorFactory, eventually

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def candidate(
    api: ApiServer, name: str, *, clock: Callable[[], float], **timing: float
) -> LeaderElector:
    transport = Transport(
        Credentials(server=str(api.url)), policy=RetryPolicy(attempts=1), user_agent="test/1"
    )
    config = LeaseConfig(namespace=OPERATOR_NAMESPACE, name="infercost", identity=name, **timing)
    return LeaderElector(transport, config, clock=clock)


async def test_a_held_lease_is_taken_only_after_a_lease_duration_without_renewal(
    api: ApiServer,
) -> None:
    clock = Clock()
    a, b = candidate(api, "a", clock=clock), candidate(api, "b", clock=clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    clock.now += 14.9  # a stops renewing; b has seen the same record for 14.9 s
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()  # a renews: the record changes, b's wait restarts
    clock.now += 10
    assert not await b.try_acquire_or_renew()
    clock.now += 15.1
    assert await b.try_acquire_or_renew()
    assert not await a.try_acquire_or_renew()  # a lost it (and would stop)
    for elector in (a, b):
        await elector.close()


async def test_a_released_lease_is_taken_at_once(api: ApiServer) -> None:
    clock = Clock()
    a, b = candidate(api, "a", clock=clock), candidate(api, "b", clock=clock)
    assert await a.try_acquire_or_renew()
    await a.release()
    assert await b.try_acquire_or_renew()
    for elector in (a, b):
        await elector.close()


async def test_of_two_simultaneous_candidates_exactly_one_wins(api: ApiServer) -> None:
    clock = Clock()
    electors = [candidate(api, name, clock=clock) for name in ("a", "b", "c")]
    won = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
    assert sum(won) == 1
    for elector in electors:
        await elector.close()


async def test_the_leader_stops_when_it_cannot_renew_within_the_deadline(api: ApiServer) -> None:
    timing = {"lease_duration": 1.0, "renew_deadline": 0.5, "retry_period": 0.05}
    leader = candidate(api, "a", clock=time.monotonic, **timing)  # real time for hold()'s deadline
    await leader.acquire()
    api.fail_next(action="update", plural="leases", status=500, times=10_000)
    holding = asyncio.create_task(leader.hold())

    async def gave_up() -> bool:
        return holding.done()

    await eventually(gave_up, what="the leader giving up")
    await leader.close()


async def test_the_operator_stops_with_leadership_lost_when_renewals_fail(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    operator = await start_operator(
        leader_election=True,
        leader_election_namespace=OPERATOR_NAMESPACE,
        leader_election_lease_duration_seconds=2,
        leader_election_renew_deadline_seconds=1,
        leader_election_retry_period_seconds=0.1,
    )
    api.fail_next(action="update", plural="leases", status=500, times=10_000)
    with pytest.raises(LeadershipLost):
        await asyncio.wait_for(operator.task, timeout=60)


def test_a_renew_deadline_not_below_the_lease_duration_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(
            leader_election_lease_duration_seconds=10, leader_election_renew_deadline_seconds=10
        )
    assert "INFERCOST_LEADER_ELECTION_RENEW_DEADLINE_SECONDS must be less than" in str(error.value)
