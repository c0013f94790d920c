"""RBAC of the operator's token, 429 Too Many Requests, and watches that resume.

References: RBAC (a request outside the role is 403 Forbidden, message `User "u" cannot
VERB resource "R" in API group "G" in the namespace "NS"`); API Priority and Fairness (429
with Retry-After); API concepts, "Efficient detection of changes" (a watch from a
resourceVersion gets the changes after it; one older than the server's history is 410 Gone).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import kmock
import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_TOKEN
from tests.integration.test_apiserver import CM, call

pytestmark = pytest.mark.integration

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


async def test_the_operator_token_gets_only_what_the_cluster_role_grants() -> None:
    async with ApiServer(rbac=True) as api, kmock.Server(api):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        # configmaps: list, create, patch. An apply that creates needs create and patch.
        made = await call(
            api,
            "PATCH",
            f"{CM}/c",
            cm,
            headers={**APPLY, **OPERATOR},
            params={"fieldManager": "infercost"},
        )
        assert made["_code"] == 200
        listed = await call(api, "GET", CM, headers=OPERATOR)
        assert [item["metadata"]["name"] for item in listed["items"]] == ["c"]
        fetched = await call(api, "GET", f"{CM}/c", headers=OPERATOR)  # get is not granted
        assert fetched["_code"] == 403
        assert fetched["reason"] == "Forbidden"
        assert fetched["message"] == (
            'configmaps "c" is forbidden: User "system:serviceaccount:infercost:infercost" '
            'cannot get resource "configmaps" in API group "" in the namespace "ml"'
        )
        status = await call(
            api,
            "PATCH",
            "/apis/apps/v1/namespaces/ml/deployments/d/status",
            {},
            headers={"Content-Type": "application/merge-patch+json", **OPERATOR},
        )
        assert status["_code"] == 403
        assert 'cannot patch resource "deployments/status" in API group "apps"' in status["message"]
        crds = await call(
            api,
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x",
            headers=OPERATOR,
        )
        assert crds["_code"] == 403
        assert crds["message"].endswith("at the cluster scope")
        # Anyone else (the tests, kubectl with the admin kubeconfig) is unrestricted.
        assert (await call(api, "GET", f"{CM}/c"))["_code"] == 200


async def test_apply_that_creates_needs_create_too() -> None:
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]}]
    from infercost.sandbox.rbac import Authorizer

    async with (
        ApiServer(rbac=True, authorizer=Authorizer.from_rules(rules)) as api,
        kmock.Server(api),
    ):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        params = {"fieldManager": "infercost"}
        refused = await call(
            api, "PATCH", f"{CM}/c", cm, headers={**APPLY, **OPERATOR}, params=params
        )
        assert refused["_code"] == 403
        assert "cannot create resource" in refused["message"]
        await call(api, "POST", CM, cm)
        cm["data"] = {"a": "1"}
        patched = await call(
            api, "PATCH", f"{CM}/c", cm, headers={**APPLY, **OPERATOR}, params=params
        )
        assert patched["data"] == {"a": "1"}


async def test_injected_429_carries_retry_after() -> None:
    async with ApiServer() as api, kmock.Server(api):
        api.fail_next(action="list", plural="configmaps", status=429, retry_after=7)
        async with api.get(CM) as response:
            body = await response.json()
            assert response.status == 429
            assert response.headers["Retry-After"] == "7"
        assert body["reason"] == "TooManyRequests"
        assert body["details"]["retryAfterSeconds"] == 7
        assert (await call(api, "GET", CM))["kind"] == "ConfigMapList"  # once only


async def watch_events(api: ApiServer, params: dict[str, str], count: int) -> list[Any]:
    events: list[Any] = []

    async def read() -> None:
        async with api.get(CM, params={"watch": "true", **params}) as response:
            async for line in response.content:
                if line.strip():
                    events.append(json.loads(line))
                    if len(events) >= count:
                        return

    await asyncio.wait_for(read(), timeout=60)
    return events


async def test_watch_resumes_after_a_resource_version_and_expires_old_ones() -> None:
    async with ApiServer(watch_history=3) as api, kmock.Server(api):
        made = [await call(api, "POST", CM, {"metadata": {"name": f"c{i}"}}) for i in range(3)]
        since = made[0]["metadata"]["resourceVersion"]
        events = await watch_events(api, {"resourceVersion": since}, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "c1"),
            ("ADDED", "c2"),
        ]  # only the changes after `since`; c0 is not replayed
        # Two more events: the history (3) no longer holds the one right after `since`.
        await call(api, "DELETE", f"{CM}/c1")
        await call(api, "DELETE", f"{CM}/c2")
        expired = await watch_events(api, {"resourceVersion": since}, 1)
        assert expired[0]["type"] == "ERROR"
        assert expired[0]["object"]["code"] == 410
        assert expired[0]["object"]["reason"] == "Expired"
        fresh = await watch_events(api, {}, 1)  # no resourceVersion: the current state
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in fresh] == [("ADDED", "c0")]
