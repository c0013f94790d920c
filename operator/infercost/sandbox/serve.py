"""`python -m infercost.sandbox.serve --port N`: the sandbox API server in its own process.

`--kubernetes-version` picks the schemas built-in kinds are validated against (1.30 or
1.33); `--rbac` holds the operator's token (sandbox/rbac.py) to the chart's ClusterRole.
"""

from __future__ import annotations

import asyncio

import kmock

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.validation import DEFAULT_VERSION, VERSIONS


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    kubernetes_version: str = DEFAULT_VERSION,
    rbac: bool = False,
) -> None:
    """Serve until cancelled; prints `listening URL` once ready (for other processes)."""
    server = ApiServer(kubernetes_version=kubernetes_version, rbac=rbac)
    async with server, kmock.Server(server, host=host, port=port) as http:
        print(f"listening {http.url}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The sandbox Kubernetes API server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubernetes-version", choices=VERSIONS, default=DEFAULT_VERSION)
    parser.add_argument("--rbac", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(port=args.port, kubernetes_version=args.kubernetes_version, rbac=args.rbac))
