"""Triton's batching, changed live: model config read and reload via tritonclient.http.aio.

Which pods: those of the (variant, pool) by the contract labels, listed through the
Kubernetes adapter; each is reached at `status.podIP` on Triton's HTTP port (8000, or the
pod annotation `settings.triton_port_annotation` — the sandbox runs several servers on one
address). One pod at a time: read its config, reload it only when it differs, wait until the
model is ready again before the next pod. A failed reload stops the rollout: Triton keeps
serving the config it had, and the caller reports the failure and tries again later.
The config sent is always valid: preferred batch sizes never exceed max_batch_size.

A new pod is kept out of the Service by its batching readiness gate (pod_gate.py) until it
runs the chosen config: once loaded and read back, the gate is opened. A pod the kubelet
reports as starting (ContainersReady False) is left for a later call. Load and unload need
the service's repository key (triton_keys.py), sent as a header; Triton refuses them without.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import tritonclient.http.aio as triton_http
from tritonclient.utils import InferenceServerException

from infercost.adapters.batching import BatchingOutcome, BatchingTarget
from infercost.adapters.kubernetes import ApiError, KubeApi
from infercost.adapters.pod_gate import awaiting, open_gate, starting
from infercost.adapters.triton_keys import RepositoryKeys
from infercost.engine.model import BatchConfig
from infercost.manifests.caching import with_response_cache
from infercost.manifests.triton_access import REPOSITORY_KEY_HEADER
from infercost.settings import Settings

logger = logging.getLogger("infercost.triton")
HTTP_PORT = 8000
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def with_batching(config: Mapping[str, Any], batching: BatchConfig) -> dict[str, Any]:
    """The model config with this batching; preferred sizes above the maximum are dropped."""
    size = max(1, batching.max_batch_size)
    preferred = sorted({b for b in batching.preferred_batch_sizes if 1 <= b <= size})
    dynamic = dict(config.get("dynamic_batching") or {})
    dynamic["max_queue_delay_microseconds"] = max(0, batching.max_queue_delay_us)
    dynamic["preferred_batch_size"] = preferred
    policy = dict(dynamic.get("default_queue_policy") or {})
    if batching.queue_timeout_us > 0:
        policy["timeout_action"] = "REJECT"
        policy["default_timeout_microseconds"] = batching.queue_timeout_us
    elif policy.get("timeout_action") == "REJECT":
        policy["default_timeout_microseconds"] = 0  # a timeout we set earlier: lift it
    if policy:
        dynamic["default_queue_policy"] = policy
    return {**config, "max_batch_size": size, "dynamic_batching": dynamic}


def batching_of(config: Mapping[str, Any]) -> BatchConfig:
    """What a model config runs (Triton's JSON gives uint64 fields as strings)."""
    dynamic = config.get("dynamic_batching") or {}
    policy = dynamic.get("default_queue_policy") or {}
    rejects = policy.get("timeout_action") == "REJECT"
    return BatchConfig(
        max_batch_size=int(config.get("max_batch_size") or 0),
        max_queue_delay_us=int(dynamic.get("max_queue_delay_microseconds") or 0),
        preferred_batch_sizes=tuple(
            sorted(int(b) for b in dynamic.get("preferred_batch_size") or ())
        ),
        queue_timeout_us=int(policy.get("default_timeout_microseconds") or 0) if rejects else 0,
    )


def same(a: BatchConfig, b: BatchConfig) -> bool:
    """Equal as Triton runs them: it lists max_batch_size as preferred when none is given."""
    return (a.max_batch_size, a.max_queue_delay_us, a.queue_timeout_us) == (
        b.max_batch_size,
        b.max_queue_delay_us,
        b.queue_timeout_us,
    ) and (
        set(a.preferred_batch_sizes) - {a.max_batch_size}
        == set(b.preferred_batch_sizes) - {b.max_batch_size}
    )


def cache_of(config: Mapping[str, Any]) -> bool:
    """Whether a model config (Triton's JSON) has the response cache on."""
    return bool((config.get("response_cache") or {}).get("enable", False))


def runs(config: Mapping[str, Any], batching: BatchConfig) -> bool:
    return same(batching_of(config), batching_of(with_batching(config, batching)))


def pod_url(pod: Mapping[str, Any], annotation: str) -> str | None:
    """host:port of a pod's Triton HTTP endpoint; None while it has no IP."""
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        return None
    port = (pod["metadata"].get("annotations") or {}).get(annotation, HTTP_PORT)
    try:
        return f"{ip}:{int(port)}"
    except ValueError:
        logger.warning(
            "pod %s: annotation %s=%r is not a port", pod["metadata"]["name"], annotation, port
        )
        return None


class TritonBatching:
    """`BatchingApplier` over the real Triton HTTP API."""

    def __init__(
        self, api: KubeApi, settings: Settings, *, keys: RepositoryKeys | None = None
    ) -> None:
        self.api, self.settings = api, settings
        self.keys = keys or RepositoryKeys(api)

    async def pods(self, target: BatchingTarget) -> list[dict[str, Any]]:
        found = await self.api.list(
            "Pod", namespace=target.namespace, label_selector=target.selector
        )
        live = [p for p in found if not p["metadata"].get("deletionTimestamp")]
        return sorted(live, key=lambda p: str(p["metadata"]["name"]))

    async def apply(
        self, target: BatchingTarget, batching: BatchConfig, *, new_pods_only: bool = False
    ) -> BatchingOutcome:
        # Without a Secret (pods started before the key existed run unrestricted) no header
        # is sent: a Triton that wants one refuses, and that is reported as a failure.
        key = await self.keys.key(target.namespace, target.service)
        headers = {REPOSITORY_KEY_HEADER: key} if key else {}
        done: list[str] = []
        changed: list[str] = []
        for pod in await self.pods(target):
            name = pod["metadata"]["name"]
            url = pod_url(pod, self.settings.triton_port_annotation)
            if url is None or starting(pod):
                # Not serving yet: a later call loads it. Its container may be waiting for
                # a Secret deleted since: the next reconcile looks again (and recreates it).
                self.keys.forget(target.namespace, target.service)
                continue
            if new_pods_only and not awaiting(pod):
                continue  # runs the config already
            try:
                reloaded = await self._one(url, target, batching, headers)
                if awaiting(pod):
                    await open_gate(self.api, pod, message=f"runs {batching}")
            except (InferenceServerException, ApiError, *TRANSPORT_ERRORS) as error:
                if isinstance(error, InferenceServerException) and error.status() == "403":
                    self.keys.forget(target.namespace, target.service)  # read it again next time
                message = f"pod {name}: {_describe(error)}"
                logger.warning("batching of %s/%s not applied: %s", target.namespace, name, message)
                return BatchingOutcome(pods=tuple(done), failed=message, changed=tuple(changed))
            done.append(name)
            if reloaded:
                changed.append(name)
        return BatchingOutcome(pods=tuple(done), changed=tuple(changed))

    async def _one(
        self, url: str, target: BatchingTarget, batching: BatchConfig, headers: dict[str, str]
    ) -> bool:
        """Bring one server's model to `batching`; True when it had to be reloaded."""
        client = triton_http.InferenceServerClient(
            url, conn_timeout=self.settings.triton_timeout_seconds
        )
        model = target.model
        try:
            config = await client.get_model_config(model)
            wanted = with_batching(config, batching)
            if target.caching is not None:
                wanted = with_response_cache(wanted, target.caching)
            if runs(config, batching) and cache_of(config) == cache_of(wanted):
                return False
            if int(config.get("max_batch_size") or 0) == 0:
                raise InferenceServerException(
                    f"model {model} does not support batching (max_batch_size 0)"
                )
            await client.load_model(model, config=json.dumps(wanted), headers=headers)
            await self._wait_ready(client, model)
            loaded = await client.get_model_config(model)
            after = batching_of(loaded)
            if not same(after, batching_of(wanted)) or cache_of(loaded) != cache_of(wanted):
                raise InferenceServerException(
                    f"model {model} reloaded but runs {after}, response cache {cache_of(loaded)}"
                )
            return True
        finally:
            await client.close()

    async def _wait_ready(self, client: triton_http.InferenceServerClient, model: str) -> None:
        deadline = time.monotonic() + self.settings.triton_ready_timeout_seconds
        while not await client.is_model_ready(model):
            if time.monotonic() > deadline:
                raise InferenceServerException(f"model {model} not ready after reload")
            await asyncio.sleep(0.5)


def _describe(error: BaseException) -> str:
    if isinstance(error, InferenceServerException):
        return str(error.message() or error)[:500]
    return f"{type(error).__name__}: {error}"[:500]
