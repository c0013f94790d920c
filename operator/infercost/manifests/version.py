"""`spec.model.version` as Triton's model version policy (pure).

Triton serves the versions its `version_policy` names; without one it serves the latest
version folder of the model. A pinned version becomes `version_policy: {specific: {versions:
[N]}}` in the model config the operator produces: the config.pbtxt override of the ConfigMap
(`model_config_text`) and, for a live load through Triton's repository API, the JSON config
(`with_version_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def version_policy(version: str | None) -> dict[str, Any] | None:
    """The JSON form of the policy (Triton's model config JSON); None: leave Triton's."""
    if version is None:
        return None
    # int64 in ModelVersionPolicy.Specific; JSON keeps it a number (the API's pattern: digits).
    return {"specific": {"versions": [int(version)]}}


def version_policy_lines(version: str | None) -> list[str]:
    """The protobuf text form, for config.pbtxt; empty when no version is pinned."""
    if version is None:
        return []
    return [f"version_policy: {{ specific: {{ versions: [ {int(version)} ] }} }}"]


def with_version_policy(config: Mapping[str, Any], version: str | None) -> dict[str, Any]:
    """A model config (JSON, as read from Triton) that serves `version` when one is pinned."""
    policy = version_policy(version)
    return {**config, "version_policy": policy} if policy else dict(config)
