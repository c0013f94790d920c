"""The Triton repository key of each service, kept in its Secret (manifests/triton_access.py).

Created once with a random value when the service is first reconciled, and read back after
an operator restart; never rewritten, so running pods and the operator always agree. Held in
memory once read; `forget` drops it (the service is gone, or Triton refused the key, which
happens only when someone replaced the Secret: the next call reads it again).
"""

from __future__ import annotations

import logging
import secrets

from infercost.adapters.kubernetes import KubeApi
from infercost.manifests.common import Owner
from infercost.manifests.triton_access import (
    repository_key_of,
    repository_key_secret,
    repository_key_secret_name,
)

logger = logging.getLogger("infercost.triton")
KEY_BYTES = 32  # 256 random bits, hex: no ',', ':' or '=' that Triton's flag syntax uses


class RepositoryKeys:
    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._known: dict[tuple[str, str], str] = {}

    async def ensure(self, owner: Owner) -> None:
        """The service's Secret exists (created now when missing; an existing one is kept)."""
        if (owner.namespace, owner.name) in self._known:
            return
        name = repository_key_secret_name(owner.name)
        found = await self.api.get("Secret", namespace=owner.namespace, name=name)
        if found is None:
            body = repository_key_secret(owner=owner, value=secrets.token_hex(KEY_BYTES))
            found = await self.api.create(body)
            if found is None:  # created meanwhile by another replica: read its value
                found = await self.api.get("Secret", namespace=owner.namespace, name=name)
            else:
                logger.info("created Secret %s/%s (Triton repository key)", owner.namespace, name)
        value = repository_key_of(found) if found is not None else None
        if value is not None:
            self._known[(owner.namespace, owner.name)] = value

    async def key(self, namespace: str, service: str) -> str | None:
        """The service's key; None when its Secret is missing or holds none."""
        known = self._known.get((namespace, service))
        if known is not None:
            return known
        name = repository_key_secret_name(service)
        found = await self.api.get("Secret", namespace=namespace, name=name)
        value = repository_key_of(found) if found is not None else None
        if value is not None:
            self._known[(namespace, service)] = value
        return value

    def forget(self, namespace: str, service: str) -> None:
        self._known.pop((namespace, service), None)
