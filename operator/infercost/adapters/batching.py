"""The batching interface: bring the Triton pods of one (variant, pool) to a batching config.

Implementations: `triton.py` (live reload through Triton's model-load API, one pod at a time)
and `fake_batching.py` (records calls; for tests without Triton servers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from infercost.api.caching import ResponseCache
from infercost.engine.model import BatchConfig


@dataclass(frozen=True, kw_only=True)
class BatchingTarget:
    """The pods of one (variant, pool) of one service, and the model they serve."""

    namespace: str
    service: str
    variant: str
    pool: str
    model: str
    selector: str  # label selector of its pods (the contract labels)
    # spec.caching: the model's response_cache is set to match in the config loaded; None:
    # left as the pod runs it.
    caching: ResponseCache | None = None


@dataclass(frozen=True, kw_only=True)
class BatchingOutcome:
    """Pods now running the config; `failed` says why the rollout stopped (None: it finished)."""

    pods: tuple[str, ...]
    failed: str | None = None
    changed: tuple[str, ...] = ()  # pods reloaded by this call


class BatchingApplier(Protocol):
    async def apply(
        self, target: BatchingTarget, batching: BatchConfig, *, new_pods_only: bool = False
    ) -> BatchingOutcome:
        """Reload pods whose config differs, one at a time; stop at the first failure.

        Each pod not yet admitted (its batching readiness gate not True) is admitted once it
        runs `batching`; `new_pods_only` visits only those (the others run it already)."""
        ...
