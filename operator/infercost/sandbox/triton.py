"""One pod's container: a real `tritonserver` serving the synthetic model of its profile.

The model's execution time for a batch of b is `base_ms + per_item_ms * b`, the straight line
through the profile's (batch, batch / throughput) points of the variant on the pool's
accelerator type (least squares; through the origin when there is one point, the engine's
own reading of a single point below it). The profile in the sandbox is already scaled
(`infercost.sandbox.scenario`), so the server is as slow as the scaled profile says.

The model repository ships `max_batch_size: repository_max_batch` (the sandbox setting,
default 1), as a remote repository does: a new pod is kept out of service by its batching
readiness gate until the operator has loaded the chosen config into it (nodeagent.py).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from infercost.api.variant import ProfilePoint
from infercost.localtriton.server import find_site_packages
from infercost.localtriton.synthetic import SyntheticModel, write_model
from infercost.sandbox.procs import Children
from infercost.sandbox.prometheus import free_port


def synthetic_model(
    points: Sequence[ProfilePoint], *, name: str, max_batch_size: int
) -> SyntheticModel:
    """The straight-line execution-time model through a variant's profile points."""
    if not points:
        raise ValueError("no profile point for this accelerator type")
    xs = [float(p.batch_size) for p in points]
    ys = [p.batch_size / p.throughput * 1e3 for p in points]  # ms per batch at full occupancy
    if len(set(xs)) == 1:
        base, per_item = 0.0, sum(ys) / len(ys) / xs[0]
    else:
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        per_item = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        base = mean_y - per_item * mean_x
        if base < 0:  # a curve cheaper than free at batch 0 is noise: through the origin
            base, per_item = (
                0.0,
                sum(y * x for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs),
            )
    return SyntheticModel(
        name=name,
        base_ms=round(base, 3),
        per_item_ms=round(max(per_item, 0.001), 3),
        max_batch_size=max_batch_size,
    )


@dataclass
class Ports:
    http: int
    grpc: int
    metrics: int

    @classmethod
    def free(cls) -> Ports:
        return cls(http=free_port(), grpc=free_port(), metrics=free_port())


class TritonFactory:
    """Starts tritonserver processes for pods; one backend directory shared by all."""

    def __init__(self, *, children: Children, venv: Path, root: Path) -> None:
        self.children, self.root = children, root
        self.site = find_site_packages(venv)
        self.venv = venv
        self.backends = root / "backends"
        if not self.backends.exists():
            source = self.site / "pytriton" / "tritonserver"
            target = self.backends / "python"
            shutil.copytree(source / "backends" / "python", target)
            shutil.copy2(
                source / "python_backend_stubs" / "3.11" / "triton_python_backend_stub", target
            )

    def start(
        self, pod: str, model: SyntheticModel, ports: Ports, *, extra_args: Sequence[str] = ()
    ) -> None:
        """Start the server of `pod` (returns at once; `ready` tells when it serves);
        `extra_args`: the pod's own flags the sandbox keeps (its API restrictions)."""
        folder = self.root / "pods" / pod
        write_model(folder / "models", model)
        command = [
            str(self.site / "pytriton" / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={folder / 'models'}",
            f"--backend-directory={self.backends}",
            "--model-control-mode=explicit",
            f"--load-model={model.name}",
            "--http-address=127.0.0.1",
            f"--http-port={ports.http}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={ports.grpc}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={ports.metrics}",
            "--metrics-config=summary_latencies=true",
            "--exit-timeout-secs=2",
            "--log-warning=false",
            *extra_args,
        ]
        env = {
            "LD_LIBRARY_PATH": str(self.site / "nvidia_pytriton.libs"),
            "VIRTUAL_ENV": str(self.venv),
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
        }
        self.children.start(f"pod/{pod}", command, log=folder / "triton.log", env=env)

    def alive(self, pod: str) -> bool:
        process = self.children.procs.get(f"pod/{pod}")
        return process is not None and process.poll() is None

    async def stop(self, pod: str) -> None:
        await asyncio.to_thread(self.children.stop, f"pod/{pod}", grace=5.0)
        shutil.rmtree(self.root / "pods" / pod / "models", ignore_errors=True)


async def ready(session: aiohttp.ClientSession, port: int) -> bool:
    """Triton's readiness endpoint, as the kubelet's probe would call it."""
    try:
        url = f"http://127.0.0.1:{port}/v2/health/ready"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False
