"""ResponseCache: Triton's response cache for the service's model (spec.caching)."""

from __future__ import annotations

from pydantic import Field

from infercost.api.common import Model

DEFAULT_CACHE_MB = 256


class ResponseCache(Model):
    """Triton's local response cache: identical requests answered without running the model."""

    enabled: bool = Field(
        strict=True,
        default=False,
        description=(
            "Answer a request whose inputs Triton has seen before from its cache "
            "(model config response_cache, server --cache-config local): the replicas are "
            "sized for the misses only, at the hit ratio observed. Only for a deterministic "
            "model whose answers may be reused across clients. Changing it restarts the "
            "replicas (the server's arguments change)."
        ),
    )
    size_mb: int = Field(
        strict=True,
        default=DEFAULT_CACHE_MB,
        ge=1,
        le=65536,
        alias="sizeMB",
        description=(
            "Cache size per replica in MiB (2^20 bytes), held in the container's host memory "
            "and added to its memory request and limit; when full, Triton evicts answers to "
            "make room. Changing it restarts the replicas."
        ),
    )
