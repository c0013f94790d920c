"""Sharding's pure rules (controller/shard_plan.py): a stable shard per service, fair shares
that converge when replicas join and leave."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from infercost.cli import app
from infercost.controller.shard_plan import fair_limit, moves, shard_of
from infercost.controller.shards import member_lease_name
from infercost.settings import Settings


def test_a_service_keeps_its_shard_across_processes() -> None:
    """Python salts str hashes per process: the shard must not depend on it."""
    here = [shard_of("team-a", f"svc-{i}", shards=7) for i in range(50)]
    code = (
        "from infercost.controller.shard_plan import shard_of;"
        "print([shard_of('team-a', f'svc-{i}', shards=7) for i in range(50)])"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == str(here)
    assert shard_of("team-a", "svc-0", shards=7) == shard_of("team-a", "svc-0", shards=7)


def test_services_spread_over_all_shards() -> None:
    counts = Counter(shard_of("ns", f"svc-{i}", shards=8) for i in range(8000))
    assert sorted(counts) == list(range(8))
    assert min(counts.values()) > 800  # 1000 each on average


def test_namespace_and_name_both_count() -> None:
    shards = {shard_of(ns, "svc", shards=64) for ns in ("a", "b", "c", "d", "e", "f")}
    assert len(shards) > 1


@pytest.mark.parametrize(
    ("shards", "live", "below_base", "limit"),
    [(4, 1, False, 4), (4, 2, False, 2), (4, 3, False, 2), (4, 3, True, 1), (2, 3, False, 1)],
)
def test_fair_limit(shards: int, live: int, below_base: bool, limit: int) -> None:
    assert fair_limit(shards=shards, live=live, below_base=below_base) == limit


def converge(shards: int, replicas: list[str], holders: dict[int, str]) -> dict[int, str]:
    """Apply every replica's moves in turn until nothing changes (takes always succeed)."""
    for _ in range(50):
        changed = False
        for me in replicas:
            mine = {k for k, h in holders.items() if h == me}
            plan = moves(shards=shards, me=me, live=replicas, holders=holders, mine=mine)
            for k in plan.release:
                holders[k] = ""
                changed = True
            for k in plan.take:
                if sum(1 for h in holders.values() if h == me) >= plan.limit:
                    break
                holders[k] = me
                changed = True
        if not changed:
            return holders
    raise AssertionError(f"no convergence: {holders}")


def test_a_single_replica_takes_every_shard() -> None:
    assert converge(4, ["a"], {}) == {0: "a", 1: "a", 2: "a", 3: "a"}


@pytest.mark.parametrize(("shards", "replicas"), [(4, 2), (4, 3), (8, 3), (6, 4), (3, 5)])
def test_a_joining_replica_gets_a_fair_share(shards: int, replicas: int) -> None:
    names = [f"r{i}" for i in range(replicas)]
    holders = converge(shards, names[:1], {})
    holders = converge(shards, names, holders)
    counts = Counter(holders.values())
    assert len(holders) == shards  # every shard held
    assert all(holders.values())
    assert max(counts.values()) - min(counts.get(n, 0) for n in names) <= 1


def test_a_dead_replicas_shards_are_taken_by_the_survivors() -> None:
    holders = converge(6, ["a", "b", "c"], {})
    survivors = ["a", "b"]
    plan = moves(
        shards=6,
        me="a",
        live=survivors,
        holders=holders,
        mine={k for k, h in holders.items() if h == "a"},
    )
    orphaned = {k for k, h in holders.items() if h == "c"}
    assert orphaned <= set(plan.take)
    holders = converge(6, survivors, holders)
    assert Counter(holders.values()) == {"a": 3, "b": 3}


def test_a_live_replicas_shard_is_never_contested() -> None:
    plan = moves(shards=4, me="b", live=["a", "b"], holders={0: "a", 1: "a", 2: "a"}, mine=set())
    assert plan.take == (3,)


def test_a_replica_retakes_a_shard_whose_renewal_it_missed() -> None:
    """The Lease still names it (nobody took it): the replica must not wait for itself."""
    plan = moves(
        shards=4, me="b", live=["a", "b"], holders={0: "a", 1: "a", 2: "b", 3: "b"}, mine={3}
    )
    assert plan.take[0] == 2


def test_member_lease_names_are_dns_names() -> None:
    assert member_lease_name("infercost", "Pod_7f3a.x") == "infercost-member-pod-7f3a-x"


def test_sharding_and_leader_election_exclude_each_other() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(leader_election=True, sharding_shards=4)
    assert "INFERCOST_SHARDING_SHARDS" in str(error.value)


def test_run_refuses_kopf_peering_with_sharding(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf pauses every peer of equal priority: sharded replicas would all stand still."""
    monkeypatch.setenv("INFERCOST_SHARDING_SHARDS", "4")
    result = CliRunner().invoke(app, ["run", "--peering", "infercost"])
    assert result.exit_code == 2
    assert "--peering and INFERCOST_SHARDING_SHARDS exclude each other" in result.output
