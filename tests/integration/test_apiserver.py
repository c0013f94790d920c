"""The sandbox API server keeps the rules of the Kubernetes API documentation, over real HTTP.

References: API concepts (resourceVersion, generation, no-op writes), the status subresource
of CustomResourceDefinitions, server-side apply (fieldManager required; apply creates),
label selectors, and garbage collection (background cascading deletion).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration.conftest import eventually
from tests.integration.objects import GPU_VARIANT, service

pytestmark = pytest.mark.integration

ISVC = "/apis/infercost.io/v1alpha1/namespaces/ml/inferenceservices"
CM = "/api/v1/namespaces/ml/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        yield server


async def call(api: ApiServer, method: str, url: str, body: Any = None, **kw: Any) -> Any:
    data = None if body is None else json.dumps(body)
    async with api.request(method, url, data=data, **kw) as response:
        payload = await response.json()
        payload["_code"] = response.status
        return payload


def isvc(name: str = "bert", **spec: Any) -> dict[str, Any]:
    body = service(name, GPU_VARIANT, **spec)
    del body["metadata"]["namespace"]
    body["status"] = {"replicas": 99}
    return body


async def test_create_assigns_identity_and_ignores_status(api: ApiServer) -> None:
    created = await call(api, "POST", ISVC, isvc())
    meta = created["metadata"]
    assert created["_code"] == 200
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"]
    assert meta["generation"] == 1
    assert meta["namespace"] == "ml"
    assert "status" not in created  # status subresource: create ignores status
    again = await call(api, "POST", ISVC, isvc())
    assert again["_code"] == 409


async def test_generation_moves_with_spec_only_and_noop_writes_change_nothing(
    api: ApiServer,
) -> None:
    created = await call(api, "POST", ISVC, isvc())
    labelled = await call(
        api, "PATCH", f"{ISVC}/bert", {"metadata": {"labels": {"a": "b"}}}, headers=MERGE
    )
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    five = {"spec": {"scaling": {"maxReplicas": 5}}}
    changed = await call(api, "PATCH", f"{ISVC}/bert", five, headers=MERGE)
    assert changed["metadata"]["generation"] == 2
    same = await call(api, "PATCH", f"{ISVC}/bert", five, headers=MERGE)
    assert same["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]
    gone = {"spec": {"scaling": {"scaleDownDelaySeconds": None}}}
    removed = await call(api, "PATCH", f"{ISVC}/bert", gone, headers=MERGE)
    assert removed["spec"]["scaling"]["scaleDownDelaySeconds"] == 300  # the CRD's default
    assert removed["metadata"]["generation"] == 3


async def test_status_subresource_separates_spec_and_status(api: ApiServer) -> None:
    await call(api, "POST", ISVC, isvc())
    status = await call(
        api,
        "PATCH",
        f"{ISVC}/bert/status",
        {"spec": {"model": {"name": "evil"}}, "status": {"replicas": 3}},
        headers=MERGE,
    )
    assert status["status"] == {"replicas": 3}
    assert status["spec"]["model"]["name"] == "bert_base"
    assert status["metadata"]["generation"] == 1
    main = await call(api, "PATCH", f"{ISVC}/bert", {"status": {"replicas": 7}}, headers=MERGE)
    assert main["status"] == {"replicas": 3}


async def test_resource_version_precondition_conflicts(api: ApiServer) -> None:
    created = await call(api, "POST", ISVC, isvc())
    five = {"spec": {"scaling": {"maxReplicas": 5}}}
    await call(api, "PATCH", f"{ISVC}/bert", five, headers=MERGE)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    conflict = await call(api, "PATCH", f"{ISVC}/bert", {**stale, **five}, headers=MERGE)
    assert conflict["_code"] == 409
    assert conflict["reason"] == "Conflict"


async def test_server_side_apply_creates_replaces_and_needs_a_manager(api: ApiServer) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    refused = await call(api, "PATCH", f"{CM}/c", body, headers=APPLY)
    assert refused["_code"] == 422
    created = await call(api, "PATCH", f"{CM}/c?fieldManager=infercost", body, headers=APPLY)
    assert created["_code"] == 200
    assert created["metadata"]["uid"]
    assert created["metadata"]["managedFields"][0]["manager"] == "infercost"
    body["data"] = {"b": "2"}
    replaced = await call(api, "PATCH", f"{CM}/c?fieldManager=infercost", body, headers=APPLY)
    assert replaced["data"] == {"b": "2"}  # the manager stopped applying `a`: it is removed
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    # An apply that creates is authorized as create and patch; one that updates as patch only.
    applies = [entry for entry in api.request_log() if entry[2] == "configmaps"]
    assert applies == [
        ("patch", "", "configmaps", "ml"),  # refused: no field manager
        ("patch", "", "configmaps", "ml"),
        ("create", "", "configmaps", "ml"),
        ("patch", "", "configmaps", "ml"),
    ]


async def test_label_selectors_filter_lists(api: ApiServer) -> None:
    for name, labels in [("a", {"x": "1", "y": "2"}), ("b", {"x": "2"}), ("c", {})]:
        await call(api, "POST", CM, {"metadata": {"name": name, "labels": labels}})

    async def names(selector: str) -> list[str]:
        listed = await call(api, "GET", CM, params={"labelSelector": selector})
        assert listed["kind"] == "ConfigMapList"
        return sorted(item["metadata"]["name"] for item in listed["items"])

    assert await names("x=1") == ["a"]
    assert await names("x") == ["a", "b"]
    assert await names("!x") == ["c"]
    assert await names("x!=1") == ["b", "c"]
    assert await names("x in (1,2),y") == ["a"]
    assert await names("x notin (1)") == ["b", "c"]


async def test_a_list_holds_its_resource_and_namespace_as_they_are_now(api: ApiServer) -> None:
    """Lists are answered from an index of the store by resource and namespace: one taken
    after more writes sees them, a deleted object goes, other namespaces and kinds stay out."""
    other_ns = CM.replace("/ml/", "/other/")
    await call(api, "POST", CM, {"metadata": {"name": "a"}})
    await call(api, "POST", other_ns, {"metadata": {"name": "elsewhere"}})
    await call(api, "POST", ISVC, isvc())

    async def names(url: str) -> list[str]:
        return [item["metadata"]["name"] for item in (await call(api, "GET", url))["items"]]

    assert await names(CM) == ["a"]
    await call(api, "POST", CM, {"metadata": {"name": "b"}})
    await call(api, "DELETE", f"{CM}/a")
    assert await names(CM) == ["b"]
    assert await names("/api/v1/configmaps") == ["elsewhere", "b"]


async def test_request_counts_are_served_by_verb_and_resource(api: ApiServer) -> None:
    """`GET /sandbox/requests` (for a benchmark in another process) counts the API requests
    so far by verb and resource, filtered by User-Agent prefix, and is not counted itself."""
    await call(api, "POST", CM, {"metadata": {"name": "a"}}, headers={"User-Agent": "op/1"})
    await call(api, "GET", f"{CM}/a", headers={"User-Agent": "op/1"})
    await call(api, "GET", f"{CM}/a", headers={"User-Agent": "kubectl/1"})
    counted = await call(api, "GET", "/sandbox/requests", params={"agents": "op/"})
    assert counted["counts"] == {"create /configmaps": 1, "get /configmaps": 1}
    assert counted["writes"] == 1
    everyone = await call(api, "GET", "/sandbox/requests")
    assert everyone["counts"] == {"create /configmaps": 1, "get /configmaps": 2}


async def test_owner_deletion_collects_dependents(api: ApiServer) -> None:
    owner = await call(api, "POST", ISVC, isvc())
    ref = {"apiVersion": "infercost.io/v1alpha1", "kind": "InferenceService", "name": "bert"}
    ref["uid"] = owner["metadata"]["uid"]
    await call(api, "POST", CM, {"metadata": {"name": "owned", "ownerReferences": [ref]}})
    await call(api, "POST", CM, {"metadata": {"name": "free"}})
    deleted = await call(api, "DELETE", f"{ISVC}/bert")
    assert deleted["_code"] == 200
    listed = await call(api, "GET", CM)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["free"]


async def test_finalizers_delay_deletion_until_removed(api: ApiServer) -> None:
    body = isvc()
    body["metadata"]["finalizers"] = ["x"]
    await call(api, "POST", ISVC, body)
    marked = await call(api, "DELETE", f"{ISVC}/bert")
    assert marked["metadata"]["deletionTimestamp"]
    assert (await call(api, "GET", f"{ISVC}/bert"))["_code"] == 200
    await call(api, "PATCH", f"{ISVC}/bert", {"metadata": {"finalizers": None}}, headers=MERGE)
    assert (await call(api, "GET", f"{ISVC}/bert"))["_code"] == 404


async def test_generate_name_and_injected_faults(api: ApiServer) -> None:
    first = await call(api, "POST", CM, {"metadata": {"generateName": "ev-"}})
    second = await call(api, "POST", CM, {"metadata": {"generateName": "ev-"}})
    assert first["metadata"]["name"].startswith("ev-")
    assert first["metadata"]["name"] != second["metadata"]["name"]
    await call(api, "POST", ISVC, isvc())
    api.fail_next(action="update", plural="inferenceservices", subresource="status")
    three = {"status": {"replicas": 3}}
    failed = await call(api, "PATCH", f"{ISVC}/bert/status", three, headers=MERGE)
    assert failed["_code"] == 409
    passed = await call(api, "PATCH", f"{ISVC}/bert/status", three, headers=MERGE)
    assert passed["status"] == {"replicas": 3}


async def test_watch_streams_filtered_events(api: ApiServer) -> None:
    events: list[tuple[str, str]] = []
    streaming = asyncio.Event()

    async def watch() -> None:
        params = {"watch": "true", "labelSelector": "keep=yes"}
        async with api.get(CM, params=params) as response:
            streaming.set()  # the server answered: the stream is open
            async for line in response.content:
                if line.strip():
                    event = json.loads(line)
                    events.append((event["type"], event["object"]["metadata"]["name"]))

    task = asyncio.create_task(watch())
    await asyncio.wait_for(streaming.wait(), timeout=60)
    await call(api, "POST", CM, {"metadata": {"name": "k", "labels": {"keep": "yes"}}})
    await call(api, "POST", CM, {"metadata": {"name": "d", "labels": {"keep": "no"}}})
    await call(api, "DELETE", f"{CM}/k")
    # "d" was created between the two events of "k": once "k"'s deletion arrived, "d"'s creation
    # would have arrived before it had the selector let it through.
    await eventually(lambda: _at_least(events, 2), what="the watch events of k")
    task.cancel()
    assert events == [("ADDED", "k"), ("DELETED", "k")]


async def _at_least(events: list[tuple[str, str]], count: int) -> bool:
    return len(events) >= count


async def test_json_patch_test_operation_guards_the_resource_version(api: ApiServer) -> None:
    created = await call(api, "POST", ISVC, isvc())
    rv = created["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["f"]},
    ]
    json_patch = {"Content-Type": "application/json-patch+json"}
    patched = await call(api, "PATCH", f"{ISVC}/bert", ops, headers=json_patch)
    assert patched["metadata"]["finalizers"] == ["f"]
    stale = await call(api, "PATCH", f"{ISVC}/bert", ops, headers=json_patch)
    assert stale["_code"] == 422  # the test failed: the object changed since rv was read
