"""The sandbox's client of its API server, for the node agent, the load generator and the live
view (they read and write like any Kubernetes client would, over HTTP): the project's one
client (infercost.kubeclient), without retries, so the tools see every answer as it came.
Its User-Agent is not the operator's, so the request log tells them apart.
"""

from __future__ import annotations

from typing import Any

from infercost.kubeclient import ApiError, Credentials, RetryPolicy, Transport

MERGE = "application/merge-patch+json"

__all__ = ["MERGE", "Api", "ApiError", "is_ready"]


class Api:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.transport = Transport(
            Credentials(server=self.url),
            policy=RetryPolicy(attempts=1),
            timeout=10,
            user_agent="infercost-sandbox/0.1.0",
        )

    async def close(self) -> None:
        await self.transport.close()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        content_type = MERGE if method == "PATCH" else "application/json"
        return await self.transport.call(method, path, body=body, content_type=content_type)

    async def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        listed = await self.transport.call("GET", path, params=params or None)
        return list(listed.get("items") or [])

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return dict(await self.call("GET", path))
        except ApiError as error:
            if error.status == 404:
                return None
            raise


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
