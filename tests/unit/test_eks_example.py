"""examples/eks/karpenter-nodepools.yaml gives every GPU and Inferentia2 example pool a node.

Karpenter's CRDs are not available offline, so the NodePools are checked for what matters to
infercost rather than against Karpenter's schema: each example pool's nodeSelector is a label
set exactly one NodePool's requirements admit, and the pool's tolerations admit that
NodePool's taints."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.crdcheck import EXAMPLES, load_examples

from infercost.api.pool import AcceleratorPoolSpec

pytestmark = pytest.mark.unit

DOCS = [e.body for e in load_examples(EXAMPLES / "eks")]
NODE_POOLS = [d for d in DOCS if d["kind"] == "NodePool"]
POOLS = {e.name: e.body for e in load_examples(EXAMPLES / "pools")}
ACCELERATED = sorted(
    name
    for name, body in POOLS.items()
    if AcceleratorPoolSpec.model_validate(body["spec"]).accelerator.type != "cpu"
)


def _admits(node_pool: dict[str, Any], labels: dict[str, str]) -> bool:
    template = node_pool["spec"]["template"]
    fixed = template.get("metadata", {}).get("labels", {})
    requirements = {r["key"]: r for r in template["spec"]["requirements"]}
    for key, value in labels.items():
        if key in requirements:
            if requirements[key]["operator"] != "In" or value not in requirements[key]["values"]:
                return False
        elif fixed.get(key) != value:
            return False
    return True


def _tolerated(taint: dict[str, str], tolerations: list[dict[str, str]]) -> bool:
    return any(
        t["key"] == taint["key"]
        and t.get("effect") in (None, taint["effect"])
        and (t.get("operator") == "Exists" or t.get("value") == taint.get("value"))
        for t in tolerations
    )


def test_the_file_holds_two_node_pools_and_their_node_class() -> None:
    assert {d["kind"] for d in DOCS} == {"NodePool", "EC2NodeClass"}
    (node_class,) = [d for d in DOCS if d["kind"] == "EC2NodeClass"]
    for node_pool in NODE_POOLS:
        assert (
            node_pool["spec"]["template"]["spec"]["nodeClassRef"]["name"]
            == (node_class["metadata"]["name"])
        )
        # do-not-disrupt pods cannot hold a node forever.
        assert node_pool["spec"]["template"]["spec"]["terminationGracePeriod"]


@pytest.mark.parametrize("pool", ACCELERATED)
def test_every_accelerated_pool_lands_on_exactly_one_node_pool(pool: str) -> None:
    spec = POOLS[pool]["spec"]
    matching = [n for n in NODE_POOLS if _admits(n, spec["nodeSelector"])]
    assert len(matching) == 1, pool
    for taint in matching[0]["spec"]["template"]["spec"].get("taints", []):
        assert _tolerated(taint, spec.get("tolerations", [])), (pool, taint)


def test_a_pool_without_the_toleration_would_not_schedule() -> None:
    # The check can fail: the GPU taint is not tolerated by the Neuron toleration.
    (gpu,) = [n for n in NODE_POOLS if n["metadata"]["name"] == "nvidia-gpu"]
    (taint,) = gpu["spec"]["template"]["spec"]["taints"]
    assert not _tolerated(taint, POOLS["inf2-xlarge-spot"]["spec"]["tolerations"])
    assert not _admits(gpu, POOLS["inf2-xlarge-spot"]["spec"]["nodeSelector"])
