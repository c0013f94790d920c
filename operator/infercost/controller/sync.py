"""Bring one service's live children in line with the desired ones: the only child writer.

Level-triggered (children.py judges each child against what the watches last saw): a missing,
scaled or edited child is applied again, an owned child of any kind no longer desired is
deleted, and a child that matches costs no API call. The picture is updated with what the
API server answered, so the next round does not act on a watch event not yet arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from infercost.adapters.kubernetes import KubeApi
from infercost.controller import children
from infercost.controller.children import CHILD_KINDS, Child, Synced
from infercost.controller.picture import Picture

logger = logging.getLogger("infercost")


def child_seen(picture: Picture, kind: str, body: Mapping[str, Any]) -> None:
    if kind == "Deployment":
        picture.deployment_seen(body)  # also kept in picture.children
    else:
        picture.children.seen(kind, body)


def child_gone(picture: Picture, kind: str, namespace: str, name: str) -> None:
    if kind == "Deployment":
        picture.deployment_gone(namespace, name)
    else:
        picture.children.gone(kind, namespace, name)


async def sync_children(
    *,
    api: KubeApi,
    picture: Picture,
    owner: Mapping[str, Any],
    desired: Sequence[dict[str, Any]],
    synced: dict[Child, Synced],
) -> None:
    """Apply what differs, delete what is not desired; `synced` remembers what matched."""
    namespace, uid = owner["namespace"], owner["uid"]
    live = picture.children.owned(namespace, uid)
    wanted = set()
    for obj in desired:
        child = (obj["kind"], obj["metadata"]["name"])
        wanted.add(child)
        previous = synced.get(child)
        # A kind not in CHILD_KINDS is not watched: judged by what was applied instead.
        unwatched = obj["kind"] not in CHILD_KINDS
        if unwatched and previous and previous.digest == children.desired_digest(obj):
            continue
        why, matched = children.check(obj, live.get(child), previous)
        if why is None and matched is not None:
            synced[child] = matched
            continue
        applied = await api.apply(obj)
        synced[child] = children.after_apply(obj, applied)
        if not unwatched:  # an unwatched kind stays until its owner goes (garbage collection)
            child_seen(picture, obj["kind"], applied)
        if why == children.PLAN_CHANGED or (why == children.MISSING and previous is None):
            logger.info("applied %s %s/%s", obj["kind"], namespace, child[1])
        else:  # drift: someone scaled, edited or deleted it since it last matched
            logger.warning("repaired %s %s/%s: %s", obj["kind"], namespace, child[1], why)
    for kind, name in sorted(set(live) - wanted):
        # An owned child of any kind no longer desired: a pool or variant out of use, a
        # NetworkPolicy turned off, a child an older operator left under another name.
        await api.delete(kind, namespace=namespace, name=name)
        child_gone(picture, kind, namespace, name)
        synced.pop((kind, name), None)
        logger.info("deleted %s %s/%s", kind, namespace, name)
