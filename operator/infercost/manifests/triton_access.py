"""Who may change a Triton pod's models, and when a pod may serve (pure).

The repository key: Triton's model-repository API (load, unload, repository index) answers
only callers that send the header `REPOSITORY_KEY_HEADER` with the service's key, over HTTP
and gRPC (`--http-restricted-api`, `--grpc-restricted-protocol`); inference, health,
metadata and the model config stay open. The key lives in one Secret per InferenceService,
owned by it (garbage-collected with it, a leak exposes one service), created once by the
operator with a random value and never rewritten. The container reads it through an env
var from `secretKeyRef`, and Kubernetes expands `$(VAR)` in the args, so the pod spec
never holds the value.

The batching gate: the pod template's readiness gate `BATCHING_GATE`. Kubernetes counts a
pod Ready (Service endpoints, readyReplicas) only when its containers are ready AND the
gate's pod condition is True; the operator sets it after it has loaded the chosen batching
on that pod, so no request is served with the repository's own config.
"""

from __future__ import annotations

import base64
from typing import Any

from infercost.manifests.common import Owner, common_labels, metadata_for, short_name

REPOSITORY_KEY_HEADER = "infercost-repository-key"
REPOSITORY_KEY_ENV = "INFERCOST_REPOSITORY_KEY"
REPOSITORY_KEY_FIELD = "key"
BATCHING_GATE = "infercost.io/batching-applied"


def repository_key_secret_name(service: str) -> str:
    return short_name(service, "triton-key")


def repository_key_secret(*, owner: Owner, value: str) -> dict[str, Any]:
    """The Secret holding a service's repository key (`value`: random, chosen by the caller)."""
    encoded = base64.b64encode(value.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata_for(
            owner, repository_key_secret_name(owner.name), common_labels(owner)
        ),
        "data": {REPOSITORY_KEY_FIELD: encoded},
    }


def repository_key_of(secret: dict[str, Any]) -> str | None:
    """The key a Secret holds; None when it has none (edited by hand, say)."""
    encoded = (secret.get("data") or {}).get(REPOSITORY_KEY_FIELD)
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode() or None
    except (ValueError, UnicodeDecodeError):
        return None


def repository_key_args() -> list[str]:
    """Triton's flags restricting the model-repository API to the key's holders."""
    rule = f"model-repository:{REPOSITORY_KEY_HEADER}=$({REPOSITORY_KEY_ENV})"
    return [f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}"]


def repository_key_env(service: str) -> list[dict[str, Any]]:
    """The container env var the args expand: the key, from the service's Secret."""
    ref = {"name": repository_key_secret_name(service), "key": REPOSITORY_KEY_FIELD}
    return [{"name": REPOSITORY_KEY_ENV, "valueFrom": {"secretKeyRef": ref}}]


def batching_gates() -> list[dict[str, str]]:
    return [{"conditionType": BATCHING_GATE}]
