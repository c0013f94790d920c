"""The Triton repository key's Secret against the sandbox API server: created once, owned by
its service, never rotated by later reconciles or a restart, and made again after a deletion
once the rollout saw a pod waiting (a deleted Secret keeps new pods from starting)."""

from __future__ import annotations

import pytest

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.triton_keys import RepositoryKeys
from infercost.manifests import Owner
from infercost.manifests.triton_access import repository_key_of
from infercost.sandbox.apiserver import ApiServer
from tests.integration.conftest import call

pytestmark = pytest.mark.integration
NS = "ml"
SECRET = f"/api/v1/namespaces/{NS}/secrets/bert-triton-key"
OWNER = Owner(name="bert", namespace=NS, uid="u-1")


async def test_the_key_is_made_once_kept_across_restarts_and_made_again_if_deleted(
    api: ApiServer,
) -> None:
    kube = KubeApi(Credentials(server=str(api.url)))
    try:
        keys = RepositoryKeys(kube)
        await keys.ensure(OWNER)
        secret = await call(api, "GET", SECRET)
        first = repository_key_of(secret)
        assert first is not None
        assert len(first) == 64  # 256 random bits, hex
        assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        version = secret["metadata"]["resourceVersion"]

        await keys.ensure(OWNER)  # a later reconcile
        restarted = RepositoryKeys(kube)  # an operator restart: read back, not rewritten
        await restarted.ensure(OWNER)
        assert await restarted.key(NS, "bert") == first
        assert (await call(api, "GET", SECRET))["metadata"]["resourceVersion"] == version
        other = RepositoryKeys(kube)
        await other.ensure(Owner(name="gpt", namespace=NS, uid="u-2"))
        assert await other.key(NS, "gpt") != first, "one key per service"

        await call(api, "DELETE", SECRET)
        assert await keys.key(NS, "bert") == first  # held in memory until told otherwise
        keys.forget(NS, "bert")  # what the rollout does when a pod has not started
        await keys.ensure(OWNER)
        second = await keys.key(NS, "bert")
        assert second is not None
        assert second != first
        assert repository_key_of(await call(api, "GET", SECRET)) == second
    finally:
        await kube.close()
