"""Sharding's pure rules: which shard a service is in, and how many shards a replica holds.

A service's shard is sha256("namespace/name") mod the number of shards: stable across
processes, restarts and Python versions (Python's own hash() of a str is salted per process).

Fair share among the live replicas (n of them, S shards): base = S // n. While some live
replica holds fewer than base shards (one just joined), every replica holds at most base, so
the ones above give shards up and the newcomer takes them; otherwise a replica may hold base
+ 1 when S does not divide evenly, so that every shard is held. The rule converges without a
coordinator: each replica applies it to the same Lease objects, and a take is one Lease
write of which only one candidate wins.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass


def shard_of(namespace: str, name: str, *, shards: int) -> int:
    """The shard of the service `namespace/name`, in range(shards)."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def fair_limit(*, shards: int, live: int, below_base: bool) -> int:
    """The most shards one of `live` replicas may hold now."""
    base, extra = divmod(shards, max(1, live))
    return base if below_base or not extra else base + 1


@dataclass(frozen=True)
class Moves:
    release: tuple[int, ...]  # held shards to give up (holder emptied), so others may take them
    take: tuple[int, ...]  # shards to try, in order, until the limit is reached
    limit: int


def moves(
    *,
    shards: int,
    me: str,
    live: Collection[str],
    holders: Mapping[int, str],
    mine: Collection[int],
) -> Moves:
    """What replica `me` should do now.

    `live`: identities of the live replicas (their member Leases renewed lately), `holders`:
    each shard Lease's holder as read (empty: released), `mine`: the shards `me` holds.
    """
    members = set(live) | {me}
    counts = Counter(holder for holder in holders.values() if holder in members)
    counts[me] = len(mine)
    base = shards // len(members)
    below_base = any(counts[member] < base for member in members)
    limit = fair_limit(shards=shards, live=len(members), below_base=below_base)
    held = sorted(mine)
    release = tuple(held[limit:]) if len(held) > limit else ()
    if len(held) >= limit:
        return Moves(release=release, take=(), limit=limit)
    # Shards whose Lease still names `me` though `me` stopped acting on them (a renewal
    # missed its deadline: nobody else has written the Lease since, so retaking it is safe),
    # released shards, then those of replicas no longer live (their Lease must still lapse
    # as the elector sees it); a live replica's shard is never contested.
    others = [k for k in range(shards) if k not in mine]
    lapsed = [k for k in others if holders.get(k) == me]
    free = [k for k in others if not holders.get(k)]
    orphaned = [k for k in others if holders.get(k) and holders[k] not in members]
    return Moves(release=(), take=tuple(lapsed + free + orphaned), limit=limit)
