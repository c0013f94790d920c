"""Server-side apply with field ownership per manager, as the Kubernetes docs describe it.

References: "Server-Side Apply" (managers, Apply and Update operations, conflicts, `force`,
fields removed when their only manager stops applying them, keyed lists merged by item).
"""

from __future__ import annotations

from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration.test_apiserver import CM, MERGE, api, call

pytestmark = pytest.mark.integration
__all__ = ["api"]

APPLY = {"Content-Type": "application/apply-patch+yaml"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/ml/deployments"


def config(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["manager"]: entry for entry in obj["metadata"]["managedFields"]}


async def apply(api: ApiServer, url: str, body: dict[str, Any], manager: str, **params: str) -> Any:
    return await call(
        api, "PATCH", url, body, headers=APPLY, params={"fieldManager": manager, **params}
    )


async def test_managers_own_their_fields_and_conflict_over_different_values(api: ApiServer) -> None:
    first = await apply(api, f"{CM}/c", config(a="1", b="2"), "alice")
    assert owners(first)["alice"]["operation"] == "Apply"
    assert owners(first)["alice"]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    conflict = await apply(api, f"{CM}/c", config(a="9"), "bob")
    assert conflict["_code"] == 409
    assert conflict["reason"] == "Conflict"
    assert (
        conflict["message"]
        == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.a'
    )
    assert conflict["details"]["causes"][0]["field"] == ".data.a"
    shared = await apply(api, f"{CM}/c", config(a="1", c="3"), "bob")  # same value: shared
    assert shared["data"] == {"a": "1", "b": "2", "c": "3"}
    # alice stops applying a and b: b goes (hers alone), a stays (bob owns it too).
    after = await apply(api, f"{CM}/c", config(), "alice")
    assert after["data"] == {"a": "1", "c": "3"}
    forced = await apply(api, f"{CM}/c", config(c="4"), "alice", force="true")
    assert forced["data"]["c"] == "4"
    assert "f:c" not in owners(forced)["bob"]["fieldsV1"]["f:data"]  # taken over by force


async def test_updates_take_fields_over_without_conflicts(api: ApiServer) -> None:
    await apply(api, f"{CM}/c", config(a="1"), "alice")
    edited = await call(
        api,
        "PATCH",
        f"{CM}/c",
        {"data": {"a": "2"}},
        headers=MERGE,
        params={"fieldManager": "kubectl-edit"},
    )
    assert edited["data"]["a"] == "2"
    entries = owners(edited)
    assert entries["kubectl-edit"]["operation"] == "Update"
    assert "alice" not in entries  # she owned only `a`, now kubectl-edit's
    conflict = await apply(api, f"{CM}/c", config(a="1"), "alice")
    assert conflict["_code"] == 409
    assert '"kubectl-edit"' in conflict["message"]


async def test_keyed_lists_merge_by_item_and_atomic_lists_are_replaced(api: ApiServer) -> None:
    def deployment(containers: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": containers},
                },
            },
        }

    main = {"name": "main", "image": "triton:1", "env": [{"name": "A", "value": "1"}]}
    ours = await apply(api, f"{DEPLOYMENTS}/web", deployment([main]), "infercost")
    assert ours["_code"] == 200, ours
    sidecar = {"name": "proxy", "image": "envoy"}
    theirs = await apply(api, f"{DEPLOYMENTS}/web", deployment([sidecar]), "mesh")
    names = [c["name"] for c in theirs["spec"]["template"]["spec"]["containers"]]
    assert names == ["main", "proxy"]  # containers merge by name
    main["env"] = [{"name": "B", "value": "2"}]
    again = await apply(api, f"{DEPLOYMENTS}/web", deployment([main]), "infercost")
    assert again["_code"] == 200, again["message"]
    containers = {c["name"]: c for c in again["spec"]["template"]["spec"]["containers"]}
    assert containers["main"]["env"] == [{"name": "B", "value": "2"}]  # A dropped: ours alone
    assert "proxy" in containers  # the mesh's container stays: the mesh still owns it
    fields = owners(again)["infercost"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
    assert 'k:{"name":"main"}' in fields["f:containers"]
