"""`python -m infercost.sandbox.serve --port N`: the sandbox API server in its own process."""

from __future__ import annotations

import asyncio

import kmock

from infercost.sandbox.apiserver import ApiServer


async def serve(*, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until cancelled; prints `listening URL` once ready (for other processes)."""
    async with ApiServer() as server, kmock.Server(server, host=host, port=port) as http:
        print(f"listening {http.url}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The sandbox Kubernetes API server.")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(port=parser.parse_args().port))
