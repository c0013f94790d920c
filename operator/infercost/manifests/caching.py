"""`spec.caching` as Triton's response cache (pure).

Caching needs both sides (Triton's response cache guide): the server gets a cache
(`--cache-config local,size=BYTES`; tritonserver 2.51 looks for the local cache in its default
`--cache-directory` /opt/tritonserver/caches, where NVIDIA's images have it, and will not
start without it) and the model config `response_cache { enable: true }`, in the
config.pbtxt override of the ConfigMap and, for the live load through Triton's repository API
that the batching rollout makes (adapters/triton.py), in the JSON config
(`with_response_cache`). A model config with the cache enabled loads on a
server without one (checked on tritonserver 2.51: it just is not cached), so the two sides
may change in either order. The cache lives in the container's memory, which the request and
limit account for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from infercost.api.caching import ResponseCache

MIB = 1 << 20
# Kubernetes quantity suffixes (binary and decimal), as memory requests are written.
_SUFFIX = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "Pi": 1 << 50,
    "Ei": 1 << 60,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-zA-Z]*)$")


def response_cache_lines(caching: ResponseCache | None) -> list[str]:
    """The protobuf text form, for config.pbtxt; empty when caching is off."""
    return ["response_cache { enable: true }"] if caching is not None and caching.enabled else []


def with_response_cache(config: Mapping[str, Any], caching: ResponseCache | None) -> dict[str, Any]:
    """A model config (JSON, as read from Triton) with the response cache as `caching` says."""
    enabled = caching is not None and caching.enabled
    return {**config, "response_cache": {"enable": enabled}}


def cache_args(caching: ResponseCache | None) -> list[str]:
    """tritonserver's arguments for the local cache of `caching.sizeMB`; none when off."""
    if caching is None or not caching.enabled:
        return []
    return [f"--cache-config=local,size={caching.size_mb * MIB}"]


def memory_bytes(quantity: str) -> int | None:
    """Bytes of a Kubernetes memory quantity (`2Gi`, `512M`, `1.5Gi`); None if unreadable."""
    match = _QUANTITY.match(quantity)
    if match is None or match.group(2) not in _SUFFIX:
        return None
    return math.ceil(float(match.group(1)) * _SUFFIX[match.group(2)])


def with_cache_memory(
    resources: Mapping[str, Any], caching: ResponseCache | None
) -> dict[str, Any]:
    """Container resources with the cache's size added to the memory request and limit."""
    if caching is None or not caching.enabled:
        return dict(resources)
    out: dict[str, Any] = {}
    for part, values in resources.items():
        values = dict(values)
        memory = values.get("memory")
        size = memory_bytes(str(memory)) if memory is not None else None
        if size is not None:
            values["memory"] = f"{math.ceil(size / MIB) + caching.size_mb}Mi"
        out[part] = values
    return out
