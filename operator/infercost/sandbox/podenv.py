"""What the kubelet hands a container: its env (a secretKeyRef read from its Secret) and the
`$(VAR)` expansion of its args. The sandbox builds Triton's other flags itself (its own ports
and repository) and keeps only the pod's API restrictions, so the sandbox's servers are as
locked down as the Deployment asks."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from infercost.sandbox.client import Api

RESTRICTING = ("--http-restricted-api=", "--grpc-restricted-protocol=")
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Kubernetes' `$(VAR)` expansion: an undefined variable is left as written."""
    return [VARIABLE.sub(lambda m: env.get(m[1], m[0]), arg) for arg in args]


def secret_value(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """One key of a Secret's `data` (base64), as a secretKeyRef reads it; None when absent."""
    encoded = ((secret or {}).get("data") or {}).get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


async def container_env(api: Api, pod: Mapping[str, Any]) -> dict[str, str] | None:
    """The first container's env; None while a Secret it reads is missing (the kubelet then
    waits: CreateContainerConfigError)."""
    container = ((pod.get("spec") or {}).get("containers") or [{}])[0]
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            env[var["name"]] = str(var.get("value", ""))
            continue
        path = f"/api/v1/namespaces/{pod['metadata']['namespace']}/secrets/{ref['name']}"
        value = secret_value(await api.get(path), ref["key"])
        if value is None:
            return None
        env[var["name"]] = value
    return env


async def restricted_args(api: Api, pod: Mapping[str, Any]) -> list[str] | None:
    """The pod's Triton API restrictions, expanded; None while its Secret is missing."""
    env = await container_env(api, pod)
    if env is None:
        return None
    container = ((pod.get("spec") or {}).get("containers") or [{}])[0]
    return expand([a for a in container.get("args") or [] if a.startswith(RESTRICTING)], env)
