"""Child names from hostile but valid names: every child of an InferenceService gets a name
and labels Kubernetes accepts, whatever the service (a DNS subdomain up to 253 characters),
variant (a DNS label up to 63) and pool (a subdomain up to 253) are called; different
(variant, pool) pairs never collide.

Rules (Kubernetes API conventions, apimachinery validation): Service names are RFC 1035
labels (a letter first, no dots, at most 63); Deployment, ConfigMap, PDB, PodMonitor and
NetworkPolicy names are RFC 1123 subdomains, and docs/architecture.md keeps Deployments at most 63
(pod names derive from them); label values at most 63, alphanumeric at both ends.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig
from infercost.manifests import ManifestSettings, Owner, children
from tests.support.crdcheck import load_examples

pytestmark = pytest.mark.unit

LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
SUBDOMAIN = re.compile(rf"{LABEL}(\.{LABEL})*")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
label = st.from_regex(re.compile(rf"{LABEL}"), fullmatch=True).filter(lambda s: len(s) <= 63)
subdomain = st.lists(label, min_size=1, max_size=6).map(".".join).filter(lambda s: len(s) <= 253)
long_label = st.integers(1, 63).map(lambda n: "v" * n)

EXAMPLES = {e.name: e.body for e in load_examples()}
SPEC_BODY = EXAMPLES["bert-base"]["spec"]
POOL = AcceleratorPoolSpec.model_validate(EXAMPLES["g5-xlarge"]["spec"])


def render(service: str, variant: str, pools: list[str]) -> list[dict[str, Any]]:
    body = {**SPEC_BODY, "variants": [{**SPEC_BODY["variants"][1], "name": variant}]}
    spec = InferenceServiceSpec.model_validate(body)
    allocations = [
        Allocation(
            variant=variant,
            pool=pool,
            replicas=1,
            batching=BatchConfig(max_batch_size=8, max_queue_delay_us=0),
            hourly_cost=1.0,
            throughput_per_replica=100.0,
        )
        for pool in pools
    ]
    return children(
        owner=Owner(name=service, namespace="ml", uid="u"),
        spec=spec,
        pools=dict.fromkeys(pools, POOL),
        allocations=allocations,
        settings=ManifestSettings(network_policy=True),
        with_pod_monitor=True,
    )


def valid(text: str, pattern: re.Pattern[str], limit: int) -> bool:
    return len(text) <= limit and pattern.fullmatch(text) is not None


def check(obj: dict[str, Any]) -> None:
    name, kind = obj["metadata"]["name"], obj["kind"]
    if kind == "Service":
        assert valid(name, DNS1035, 63), f"Service name {name!r}"
    elif kind == "Deployment":  # a subdomain, kept to 63 (docs/architecture.md section 4)
        assert valid(name, SUBDOMAIN, 63), f"Deployment name {name!r}"
    else:
        assert valid(name, SUBDOMAIN, 253), f"{kind} name {name!r}"
    labels = dict(obj["metadata"]["labels"])
    if kind == "Deployment":
        labels |= obj["spec"]["template"]["metadata"]["labels"]
    for key, value in labels.items():
        assert valid(value, LABEL_VALUE, 63), f"label {key}={value!r}"


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    service=subdomain,
    variant=st.one_of(label, long_label),
    pools=st.lists(subdomain, min_size=2, max_size=3, unique=True),
)
def test_children_names_and_labels_are_valid_and_distinct(
    service: str, variant: str, pools: list[str]
) -> None:
    objects = render(service, variant, pools)
    for obj in objects:
        check(obj)
    deployments = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert len(set(deployments)) == len(pools), f"colliding Deployment names {deployments}"


@pytest.mark.parametrize("name", ["1bert", "bert.v2", "0", "a" * 63 + ".b"])
def test_service_names_that_are_no_rfc1035_label_are_mapped_uniquely(name: str) -> None:
    (svc,) = [o for o in render(name, "v", ["p"]) if o["kind"] == "Service"]
    check(svc)
    (other,) = [o for o in render(name + "x", "v", ["p"]) if o["kind"] == "Service"]
    assert other["metadata"]["name"] != svc["metadata"]["name"]


def test_the_longest_names_are_shortened_and_hashed() -> None:
    service, variant, pool = "s" * 253, "v" * 63, "p" * 253
    (deployment,) = [o for o in render(service, variant, [pool]) if o["kind"] == "Deployment"]
    name = deployment["metadata"]["name"]
    assert len(name) == 63
    assert re.fullmatch(r"s+-[0-9a-f]{8}", name)
