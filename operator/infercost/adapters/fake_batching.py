"""A batching applier that records what it was asked: for tests without Triton servers.

Tests that use it say so; the e2e tests use the real one (triton.py) against real tritonserver.
"""

from __future__ import annotations

from infercost.adapters.batching import BatchingOutcome, BatchingTarget
from infercost.engine.model import BatchConfig


class FakeBatching:
    def __init__(self, *, fail: str | None = None) -> None:
        self.calls: list[tuple[BatchingTarget, BatchConfig]] = []
        self.new_pods_only: list[bool] = []  # per call
        self.fail = fail  # the failure message to answer with; None: succeed

    async def apply(
        self, target: BatchingTarget, batching: BatchConfig, *, new_pods_only: bool = False
    ) -> BatchingOutcome:
        self.calls.append((target, batching))
        self.new_pods_only.append(new_pods_only)
        pod = f"{target.service}-{target.variant}-{target.pool}-0"
        if self.fail is not None:
            return BatchingOutcome(pods=(), failed=self.fail)
        return BatchingOutcome(pods=(pod,), changed=(pod,))
