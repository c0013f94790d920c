"""A small HTTP client of the sandbox API server, for the node agent, the load generator and
the live view (they read and write like any Kubernetes client would, over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

MERGE = "application/merge-patch+json"


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Api:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": MERGE if method == "PATCH" else "application/json"}
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method, self.url + path, data=data, headers=headers
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise ApiError(response.status, text[:300])
            return json.loads(text) if text else None

    async def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        listed = await self.call("GET", path + (f"?{query}" if query else ""))
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
