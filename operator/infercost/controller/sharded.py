"""The operator's work split by shard (settings.sharding_shards > 0; shards.py holds the Leases).

Every replica watches everything (the picture: services, pools, Deployments, Nodes), because
the engine's inputs span services: pool capacity and prices, a BudgetPolicy's split. What a
replica writes is split:

- per service: a service is reconciled (children, status, Events, its Triton batching) only
  by the holder of its shard; kopf's handlers and timers still fire for all, and `reconcile`
  returns at once for a service of another shard;
- global (spanning services): AcceleratorPool status and BudgetPolicy status (with their
  metrics) are written by the holder of shard 0 only, each control interval.

Gaining a shard reconciles its services at once with their memory dropped, so the first
reconcile lists their children from the API and recalls demand from Prometheus, as after a
restart (level-triggered: nothing carried over from an earlier holding). Retaking a shard
whose renewal missed its deadline while its Lease still names this replica (nobody else held
it: an API server too slow for a while) resumes it as it was, without that cost. Giving one up
waits for its services' reconciles in flight, then nothing of it is written any more.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from infercost.adapters.metrics import ServiceKey
from infercost.controller.pool_status import report_once
from infercost.controller.service import Reconciler
from infercost.controller.shards import ShardConfig, ShardKeeper
from infercost.engine.model import Plan
from infercost.kubeclient import Transport

logger = logging.getLogger("infercost")
GLOBAL = ("", "")  # the budget round's key when run for the policies' status alone


class ShardedReconciler(Reconciler):
    """A Reconciler acting only on the services of the shards its keeper holds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keeper: ShardKeeper | None = None
        self._catching_up: set[asyncio.Task[None]] = set()
        self.budgets.reports = lambda: self.keeper is not None and self.keeper.owns_shard(0)

    async def reconcile(self, key: ServiceKey) -> Plan | None:
        if self.keeper is None or not self.keeper.owns(key):
            return None
        plan = await super().reconcile(key)
        if not self.keeper.owns(key):  # the shard lapsed meanwhile: its metrics are another's
            self.telemetry.forget(key)
        return plan

    def in_shard(self, shard: int) -> list[ServiceKey]:
        keeper = self.keeper
        return [key for key in list(self.picture.services) if keeper and keeper.shard(key) == shard]

    def _drop(self, key: ServiceKey) -> None:
        """Forget what this replica knew of the service (the picture, shared, stays)."""
        self.memory.pop(key, None)
        self.telemetry.forget(key)
        self.rollout.forget(*key)
        self.keys.forget(*key)

    async def gained(self, shard: int, fresh: bool) -> None:
        """Reconcile the shard's services now, from the API as after a restart; a shard
        resumed (its Lease still named this replica: nobody else acted) goes on as it was."""
        if not fresh:
            return
        keys = self.in_shard(shard)
        for key in keys:
            self._drop(key)
        task = asyncio.create_task(self._catch_up(shard, keys))
        self._catching_up.add(task)
        task.add_done_callback(self._catching_up.discard)

    async def _catch_up(self, shard: int, keys: list[ServiceKey]) -> None:
        for key in keys:
            try:
                await self.reconcile(key)
            except Exception:  # one service's failure must not stop the others' takeover
                logger.exception("%s/%s: reconcile after taking shard %d failed", *key, shard)
        logger.info("shard %d: %d services reconciled after taking it", shard, len(keys))

    async def losing(self, shard: int) -> None:
        """Wait for the shard's reconciles in flight (later ones see the shard not held)."""
        for key in self.in_shard(shard):
            async with self._locks[key]:
                self._drop(key)

    def lost(self, shard: int) -> None:
        """The shard's Lease lapsed: nothing more is written (`owns` is False already) and
        its services' metrics go; their memory stays for a resume (`gained` drops it when
        another replica held the shard meanwhile)."""
        for key in self.in_shard(shard):
            self.telemetry.forget(key)

    def keep_shards(self, transport: Transport, *, identity: str) -> ShardKeeper:
        """The keeper of this replica's shards, on leader election's Lease settings."""
        settings = self.settings
        config = ShardConfig(
            shards=settings.sharding_shards,
            namespace=settings.leader_election_namespace,
            prefix=settings.leader_election_lease_name,
            identity=identity,
            lease_duration=settings.leader_election_lease_duration_seconds,
            renew_deadline=settings.leader_election_renew_deadline_seconds,
            retry_period=settings.leader_election_retry_period_seconds,
        )
        self.keeper = ShardKeeper(
            transport, config, gained=self.gained, losing=self.losing, lost=self.lost
        )
        return self.keeper

    async def run_shards(self) -> None:
        await asyncio.gather(self._keeper().run(), self._global_forever())

    def _keeper(self) -> ShardKeeper:
        if self.keeper is None:
            raise RuntimeError("keep_shards() first")
        return self.keeper

    async def _global_forever(self) -> None:
        """Pool and BudgetPolicy status, each control interval, while holding shard 0."""
        while True:
            await asyncio.sleep(self.settings.control_interval_seconds)
            if self.keeper is None or not self.keeper.owns_shard(0):
                continue
            try:
                await report_once(self)
                if self.budgets.bodies:  # the round reports the policies' status (budgets.py)
                    await self.budgets.share(GLOBAL, now=self.clock(), inputs=self._team_inputs)
            except Exception:  # the next interval tries again; the shards' Leases go on
                logger.exception("global status (pools, BudgetPolicies) not written")

    async def close(self) -> None:
        """Stop catching up, give every shard up (a clean stop) and close the Lease client."""
        for task in list(self._catching_up):
            task.cancel()
        await asyncio.gather(*self._catching_up, return_exceptions=True)
        if self.keeper is not None:
            await self.keeper.close()
