"""Sharding the operator across replicas on coordination.k8s.io/v1 Leases.

Each of S shards is owned through its own Lease, `<lease name>-shard-<k>`, under exactly
leader election's rules (leader.py: one `LeaderElector` per shard Lease), and every replica
renews a member Lease, `<lease name>-member-<identity>`, so each can count the live replicas
(a member Lease renewed within a lease duration, as its own clock observes) and how many
shards each holds. From those Lease objects alone each replica decides (shard_plan.py) what
to give up (the holder emptied, so a newcomer takes it at its next try) and what to take (a
released shard, or one whose holder's Lease has lapsed). No membership protocol of our own:
the API server's optimistic concurrency on the Lease objects is the only arbiter.

A replica acts on a shard's services only while it `leads` that shard's Lease (renewed within
the renew deadline, shorter than the lease duration): one that cannot renew stops acting
before another may take the shard. Member Leases left by replicas gone for good (a pod
replaced) are deleted by the holder of shard 0 once unchanged for `STALE_DURATIONS` lease
durations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from infercost.adapters.kubernetes import path
from infercost.adapters.metrics import ServiceKey
from infercost.controller.leader import LeaderElector, LeaseConfig
from infercost.controller.shard_plan import moves, shard_of
from infercost.kubeclient import ApiError, Transport

logger = logging.getLogger(__name__)
STALE_DURATIONS = 4  # a member Lease this many lease durations unchanged is deleted
Hook = Callable[[int], Awaitable[None]]
Gained = Callable[[int, bool], Awaitable[None]]  # (shard, fresh): False when resumed


@dataclass(frozen=True, kw_only=True)
class ShardConfig:
    shards: int
    namespace: str
    prefix: str  # the Lease names' prefix (leader_election_lease_name)
    identity: str
    lease_duration: float
    renew_deadline: float
    retry_period: float

    def lease(self, name: str) -> LeaseConfig:
        return LeaseConfig(
            namespace=self.namespace,
            name=name,
            identity=self.identity,
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
        )


def member_lease_name(prefix: str, identity: str) -> str:
    """A DNS subdomain name for the identity's member Lease (identities hold `_`)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", identity.lower()).strip("-")
    return f"{prefix}-member-{slug}"[:253].rstrip("-")


class ShardKeeper:
    """Holds this replica's fair share of the shard Leases; `owns` answers per service."""

    def __init__(
        self,
        transport: Transport,
        config: ShardConfig,
        *,
        gained: Gained,
        losing: Hook,
        lost: Callable[[int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api, self.config, self._clock = transport, config, clock
        self._gained, self._losing, self._lost = gained, losing, lost
        self.member = LeaderElector(
            transport, config.lease(member_lease_name(config.prefix, config.identity)), clock=clock
        )
        self.electors = [
            LeaderElector(transport, config.lease(f"{config.prefix}-shard-{k}"), clock=clock)
            for k in range(config.shards)
        ]
        self.held: set[int] = set()
        self._members: dict[str, tuple[tuple[str, str], float]] = {}  # name -> record, seen at

    def shard(self, key: ServiceKey) -> int:
        return shard_of(key[0], key[1], shards=self.config.shards)

    def owns(self, key: ServiceKey) -> bool:
        return self.electors[self.shard(key)].leading

    def owns_shard(self, shard: int) -> bool:
        return self.electors[shard].leading

    async def run(self) -> None:
        """Keep the share, one round per retry period (with jitter), until cancelled."""
        while True:
            try:
                await self.tick()
            except ApiError as error:  # the API unwell: held shards lapse on their own deadline
                logger.warning("sharding: round failed: %s", error)
            except Exception:  # never stop keeping the share: the next round tries again
                logger.exception("sharding: round failed")
            await asyncio.sleep(self.config.retry_period * random.uniform(1.0, 1.2))

    async def tick(self) -> None:
        """One round: renew what is held, read the Leases, give up or take shards."""
        await self.member.try_acquire_or_renew()
        held = sorted(self.held)
        renewed = await asyncio.gather(*(self.electors[k].renew() for k in held))
        for shard, ok in zip(held, renewed, strict=True):
            if not ok:
                logger.error(
                    "sharding: shard %d's Lease not renewed in time; acting no more", shard
                )
                self.held.discard(shard)
                self._lost(shard)  # not awaiting reconciles in flight: the API may be down
        live, holders = await self._read()
        plan = moves(
            shards=self.config.shards,
            me=self.config.identity,
            live=live,
            holders=holders,
            mine=self.held,
        )
        for shard in plan.release:
            await self.give_up(shard)
        for shard in plan.take:
            if len(self.held) >= plan.limit:
                break
            if await self.electors[shard].try_acquire_or_renew():
                # The Lease still named this replica: nobody else held the shard since this
                # replica last acted on it, so what it remembers of its services still holds.
                fresh = holders.get(shard) != self.config.identity
                logger.info(
                    "sharding: %s %s shard %d",
                    self.config.identity,
                    "holds" if fresh else "resumes",
                    shard,
                )
                self.held.add(shard)
                await self._gained(shard, fresh)

    async def give_up(self, shard: int) -> None:
        """Stop acting on the shard (in-flight work finished), then release its Lease."""
        self.held.discard(shard)
        self.electors[shard].stop_leading()  # a reconcile starting now leaves it alone
        await self._losing(shard)
        await self.electors[shard].release()
        logger.info("sharding: %s gave shard %d up", self.config.identity, shard)

    async def _read(self) -> tuple[set[str], dict[int, str]]:
        """The live members' identities and each shard Lease's holder, from one LIST."""
        listed = await self._api.call("GET", path("Lease", namespace=self.config.namespace))
        now, live, holders = self._clock(), set(), {}
        members, shards = f"{self.config.prefix}-member-", f"{self.config.prefix}-shard-"
        seen = set()
        for lease in listed.get("items") or []:
            name, spec = lease["metadata"]["name"], lease.get("spec") or {}
            holder = str(spec.get("holderIdentity") or "")
            if name.startswith(shards) and name[len(shards) :].isdigit():
                shard = int(name[len(shards) :])
                if shard < self.config.shards:
                    holders[shard] = holder
                    self.electors[shard].observe(lease)  # a lapse is timed from this read
            elif name.startswith(members) and holder:
                seen.add(name)
                if await self._member_live(name, (holder, str(spec.get("renewTime"))), now):
                    live.add(holder)
        for name in set(self._members) - seen:
            del self._members[name]
        return live, holders

    async def _member_live(self, name: str, record: tuple[str, str], now: float) -> bool:
        before = self._members.get(name)
        if before is None or before[0] != record:
            self._members[name] = before = (record, now)
        unchanged = now - before[1]
        if unchanged >= STALE_DURATIONS * self.config.lease_duration and self.owns_shard(0):
            with contextlib.suppress(ApiError):  # gone already, or the API unwell: next round
                url = path("Lease", namespace=self.config.namespace, name=name)
                await self._api.call("DELETE", url)
                logger.info("sharding: deleted the member Lease %s of a replica gone", name)
        return unchanged < self.config.lease_duration

    async def close(self) -> None:
        """Give every shard up and delete the member Lease (a clean stop: the others count one
        replica fewer at once), then close the client."""
        for shard in sorted(self.held):
            self.held.discard(shard)
            await self.electors[shard].release()
        with contextlib.suppress(ApiError):
            await self._api.call("DELETE", self.member_url)
        await self._api.close()

    @property
    def member_url(self) -> str:
        return path("Lease", namespace=self.config.namespace, name=self.member.config.name)
