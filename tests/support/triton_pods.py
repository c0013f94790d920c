"""Pods in the sandbox API server that point at a real tritonserver, for the e2e tests of the
Triton batching adapter: the pod's `status.podIP` and port annotation name the server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import tritonclient.http.aio as triton_http

from infercost.localtriton import TritonServer
from infercost.sandbox.apiserver import ApiServer


async def post_pod(
    server: ApiServer, name: str, port: int, *, namespace: str, labels: Mapping[str, str]
) -> None:
    """A running pod `name` whose Triton answers on 127.0.0.1:`port`."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {"infercost.io/triton-http-port": str(port)},
        },
        "spec": {"containers": [{"name": "triton", "image": "triton"}]},
    }
    await request(server, "POST", f"/api/v1/namespaces/{namespace}/pods", pod)
    await request(
        server,
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{name}/status",
        {"status": {"podIP": "127.0.0.1", "phase": "Running"}},
    )


async def request(server: ApiServer, method: str, url: str, body: Any = None) -> Any:
    """One call to the API server; a status of 300 or more fails the test."""
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    data = None if body is None else json.dumps(body)
    async with server.request(method, url, data=data, headers=headers) as response:
        payload = await response.json(content_type=None)
        assert response.status < 300, payload
        return payload


async def model_config(triton: TritonServer, model: str = "synth") -> dict[str, Any]:
    """The config the server runs for `model`, as Triton's HTTP API returns it."""
    client = triton_http.InferenceServerClient(triton.url)
    try:
        return dict(await client.get_model_config(model))
    finally:
        await client.close()
