"""Read one Triton server's model config (Advise mode): the batching a target runs now.

Read only: `GET /v2/models/<model>/config` needs no repository key and changes nothing.
Reached at the pod's IP on Triton's HTTP port: the pod annotation
`settings.triton_port_annotation` if set, else the container port named `http`, else 8000.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tritonclient.http.aio as triton_http
from tritonclient.utils import InferenceServerException

from infercost.adapters.triton import HTTP_PORT, TRANSPORT_ERRORS, batching_of
from infercost.engine.model import BatchConfig

READ_ERRORS = (*TRANSPORT_ERRORS, InferenceServerException)


def target_url(pod: Mapping[str, Any], *, container: str, annotation: str) -> str | None:
    """host:port of the pod's Triton HTTP endpoint; None while it has no IP."""
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        return None
    port: Any = (pod["metadata"].get("annotations") or {}).get(annotation)
    if port is None:
        for each in (pod.get("spec") or {}).get("containers") or []:
            if each.get("name") == container:
                named = [p for p in each.get("ports") or [] if p.get("name") == "http"]
                port = named[0].get("containerPort") if named else None
    try:
        return f"{ip}:{int(port if port is not None else HTTP_PORT)}"
    except ValueError:
        return None


async def read_batching(url: str, model: str, *, timeout: float) -> BatchConfig:
    """The model's batching as this server runs it; raises one of READ_ERRORS when it cannot say."""
    client = triton_http.InferenceServerClient(url, conn_timeout=timeout)
    try:
        return batching_of(await client.get_model_config(model))
    finally:
        await client.close()


def describe(error: BaseException) -> str:
    """Triton's own words for a refusal, else the transport error's type and text."""
    if isinstance(error, InferenceServerException):
        return str(error.message() or error)[:300]
    return f"{type(error).__name__}: {error}"[:300]
