"""The OpenAPI v3 documents kubectl reads to learn that the server validates fields itself.

`kubectl apply` / `create` with the default `--validate=strict` ask the server whether it
supports the `fieldValidation` query parameter: from `/openapi/v3` (one document per
group/version) they look for the PATCH operation of the object's group/version/kind and
its `fieldValidation` parameter. When present, kubectl sends `fieldValidation=Strict` and
leaves validation to the server (sandbox/validation.py) instead of downloading the
OpenAPI v2 schema, which this server does not serve. The documents hold just that: one
PATCH operation per served resource, no schemas.
"""

from __future__ import annotations

import hashlib
from typing import Any

import kmock
from kmock._internal import rendering


def _documents(server: Any) -> dict[str, dict[str, Any]]:
    """`api/v1` or `apis/GROUP/VERSION` -> its OpenAPI v3 document."""
    documents: dict[str, dict[str, Any]] = {}
    for resource in server.resources:
        info = server.resources[resource]
        prefix = f"apis/{resource.group}/{resource.version}" if resource.group else "api/v1"
        doc = documents.setdefault(
            prefix,
            {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": f"v{server.kubernetes_version}.0"},
                "paths": {},
                "components": {"schemas": {}},
            },
        )
        scope = "namespaces/{namespace}/" if info.namespaced else ""
        doc["paths"][f"/{prefix}/{scope}{resource.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": resource.group,
                    "version": resource.version,
                    "kind": info.kind,
                },
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return documents


def serve(server: Any) -> None:
    """Route `/openapi/v3` and `/openapi/v3/<group-version>` on a kmock server."""

    async def root(request: rendering.Request) -> dict[str, Any]:
        paths = {}
        for prefix, doc in _documents(server).items():
            digest = hashlib.sha256(repr(sorted(doc["paths"])).encode()).hexdigest()[:16].upper()
            paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
        return {"paths": paths}

    async def document(request: rendering.Request) -> dict[str, Any]:
        prefix = request.url.path.removeprefix("/openapi/v3/").strip("/")
        documents = _documents(server)
        if prefix not in documents:
            raise kmock.KubernetesNotFoundError()
        return documents[prefix]

    server["get /openapi/v3"] << root
    for prefix in _documents(server):
        server[f"get /openapi/v3/{prefix}"] << document
