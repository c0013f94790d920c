"""Invalid specs are refused by the CRD (schema or CEL) and by pydantic, naming the field;
edge cases that are valid pass both. The same verdict from `kubectl apply` and `infercost plan`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.support.crdcheck import api_server_errors, load_examples, pydantic_errors

from infercost.api.budget import MSG_SELECTOR_EMPTY, MSG_UNIQUE_NAMESPACES
from infercost.api.pod import MSG_UNIQUE_MOUNT_PATHS
from infercost.api.podparts import (
    MSG_ANNOTATION_RESERVED,
    MSG_ENV_VALUE_OR_FROM,
    MSG_LABEL_RESERVED,
    MSG_MIN_DOMAINS,
    MSG_MOUNT_RESERVED,
    MSG_MOUNT_UNDECLARED,
    MSG_ONE_SOURCE,
    MSG_UNIQUE_VOLUMES,
    MSG_VARIANT_MOUNT_UNDECLARED,
    MSG_VOLUME_RESERVED,
)
from infercost.api.pool import MSG_STATIC_PRICE
from infercost.api.service import (
    MSG_FIXED_SIZE,
    MSG_MIN_MAX,
    MSG_PROFILE_TYPE,
    MSG_UNIQUE_VARIANTS,
)

pytestmark = pytest.mark.unit

Body = dict[str, Any]
BASES = {e.name: e.body for e in load_examples()}
SERVICE, POOL, BUDGET = "bert-base", "g5-xlarge", "ml-team"


@dataclass(frozen=True)
class Case:
    """A change to a valid example and the field the refusal must name."""

    id: str
    base: str
    change: Callable[[Body], None]
    field: str
    message: str | None = None  # a CEL rule's message both sides must give

    def body(self) -> Body:
        body = copy.deepcopy(BASES[self.base])
        self.change(body)
        return body


def _set(path: str, value: Any) -> Callable[[Body], None]:
    """Set `value` at a dotted path; `variants.0.name` indexes lists."""

    def change(body: Body) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


_DELETE = object()


def _duplicate_variant(body: Body) -> None:
    body["spec"]["variants"].append(copy.deepcopy(body["spec"]["variants"][0]))


def _seventeen_variants(body: Body) -> None:
    template = body["spec"]["variants"][0]
    body["spec"]["variants"] = [{**copy.deepcopy(template), "name": f"v{i}"} for i in range(17)]


INVALID = [
    Case(
        "min-above-max", SERVICE, _set("spec.scaling.minReplicas", 60), "minReplicas", MSG_MIN_MAX
    ),
    Case(
        "min-above-defaulted-max",
        SERVICE,
        _set("spec.scaling", {"minReplicas": 11}),
        "minReplicas",
        MSG_MIN_MAX,
    ),
    Case("idle-seconds-zero", SERVICE, _set("spec.scaling.idleSeconds", 0), "idleSeconds"),
    Case("no-variants", SERVICE, _set("spec.variants", []), "variants"),
    Case("too-many-variants", SERVICE, _seventeen_variants, "variants"),
    Case("duplicate-variant-names", SERVICE, _duplicate_variant, "variants", MSG_UNIQUE_VARIANTS),
    Case(
        "profile-type-not-in-variant",
        SERVICE,
        _set("spec.variants.0.profile.0.acceleratorType", "nvidia-l4"),
        "acceleratorType",
        MSG_PROFILE_TYPE,
    ),
    Case("empty-profile", SERVICE, _set("spec.variants.0.profile", []), "profile"),
    Case(
        "no-accelerator-types",
        SERVICE,
        _set("spec.variants.1.acceleratorTypes", []),
        "acceleratorTypes",
    ),
    Case("zero-throughput", SERVICE, _set("spec.variants.0.profile.0.throughput", 0), "throughput"),
    Case(
        "negative-latency",
        SERVICE,
        _set("spec.variants.0.profile.1.p99LatencyMs", -1),
        "p99LatencyMs",
    ),
    Case("zero-batch", SERVICE, _set("spec.variants.0.profile.0.batchSize", 0), "batchSize"),
    Case("percentile-100", SERVICE, _set("spec.slo.percentile", 100), "percentile"),
    Case("percentile-0", SERVICE, _set("spec.slo.percentile", 0), "percentile"),
    Case("no-latency-objective", SERVICE, _set("spec.slo.latencyMs", _DELETE), "latencyMs"),
    Case(
        "fixed-batching-without-size",
        SERVICE,
        _set("spec.batching", {"mode": "Fixed"}),
        "maxBatchSize",
        MSG_FIXED_SIZE,
    ),
    Case(
        "fixed-batching-null-size",  # nullable keeps the null; CEL and pydantic see it absent
        SERVICE,
        _set("spec.batching", {"mode": "Fixed", "maxBatchSize": None}),
        "maxBatchSize",
        MSG_FIXED_SIZE,
    ),
    Case("unknown-batching-mode", SERVICE, _set("spec.batching.mode", "Dynamic"), "mode"),
    Case(
        "spot-fraction-above-one",
        SERVICE,
        _set("spec.placement.maxSpotFraction", 1.5),
        "maxSpotFraction",
    ),
    Case("negative-budget", SERVICE, _set("spec.budget.maxHourlyCost", -1), "maxHourlyCost"),
    Case("unknown-budget-action", SERVICE, _set("spec.budget.onExceeded", "Stop"), "onExceeded"),
    Case("variant-name-not-dns", SERVICE, _set("spec.variants.0.name", "Neuron_BF16"), "name"),
    Case(
        "zero-accelerators-per-replica",
        SERVICE,
        _set("spec.variants.0.acceleratorsPerReplica", 0),
        "acceleratorsPerReplica",
    ),
    Case("cpu-not-a-quantity", SERVICE, _set("spec.variants.0.resources.cpu", "two"), "cpu"),
    Case("replicas-not-a-number", SERVICE, _set("spec.scaling.maxReplicas", "ten"), "maxReplicas"),
    Case("misspelt-field", SERVICE, _set("spec.scaling.minReplica", 2), "minReplica"),
    Case(
        "selector-operator",
        SERVICE,
        _set(
            "spec.placement.poolSelector",
            {"matchExpressions": [{"key": "team", "operator": "Has"}]},
        ),
        "operator",
    ),
    Case("no-model", SERVICE, _set("spec.model", _DELETE), "model"),
    Case("negative-price", POOL, _set("spec.pricing.hourlyPerNode", -0.1), "hourlyPerNode"),
    Case(
        "budget-selector-empty",
        BUDGET,
        _set("spec.selector", {}),
        "selector",
        MSG_SELECTOR_EMPTY,
    ),
    Case(
        "budget-selector-both-empty",
        BUDGET,
        _set("spec.selector", {"namespaces": [], "matchLabels": {}}),
        "selector",
        MSG_SELECTOR_EMPTY,
    ),
    Case(
        "budget-namespace-repeated",
        BUDGET,
        _set("spec.selector.namespaces", ["ml", "ml"]),
        "namespaces",
        MSG_UNIQUE_NAMESPACES,
    ),
    Case("budget-zero", BUDGET, _set("spec.maxHourlyCost", 0), "maxHourlyCost"),
    Case("budget-negative", BUDGET, _set("spec.maxHourlyCost", -1.5), "maxHourlyCost"),
    Case("budget-no-limit", BUDGET, _set("spec.maxHourlyCost", _DELETE), "maxHourlyCost"),
    Case("budget-unknown-action", BUDGET, _set("spec.onExceeded", "Stop"), "onExceeded"),
    Case("budget-bad-namespace", BUDGET, _set("spec.selector.namespaces", ["ML"]), "namespaces"),
    Case("priority-not-integer", SERVICE, _set("spec.priority", 1.5), "priority"),
    Case("priority-too-high", SERVICE, _set("spec.priority", 10**7), "priority"),
    Case(
        "static-price-missing",
        POOL,
        _set("spec.pricing", {"source": "Static"}),
        "hourlyPerNode",
        MSG_STATIC_PRICE,
    ),
    Case("unknown-price-source", POOL, _set("spec.pricing.source", "AwsApi"), "source"),
    Case("currency-not-iso", POOL, _set("spec.pricing.currency", "usd"), "currency"),
    Case("unknown-capacity-type", POOL, _set("spec.capacityType", "Preemptible"), "capacityType"),
    Case(
        "accelerator-type-with-spaces", POOL, _set("spec.accelerator.type", "NVIDIA A10G"), "type"
    ),
    Case("zero-per-node", POOL, _set("spec.accelerator.perNode", 0), "perNode"),
    Case("negative-max-replicas", POOL, _set("spec.maxReplicas", -1), "maxReplicas"),
    Case("toleration-effect", POOL, _set("spec.tolerations.0.effect", "NoScheduleEver"), "effect"),
    Case("misspelt-pool-field", POOL, _set("spec.nodeSelectors", {}), "nodeSelectors"),
]

# Edge cases the rules must not refuse (each near a rule of INVALID).
VALID = [
    Case(
        "budget-labels-only",
        BUDGET,
        _set("spec.selector", {"matchLabels": {"team": "search"}}),
        "",
    ),
    Case("budget-warn", BUDGET, _set("spec.onExceeded", "Warn"), ""),
    Case("priority-negative", SERVICE, _set("spec.priority", -5), ""),
    Case(
        "min-one-the-fewest-allowed",
        SERVICE,
        _set("spec.scaling", {"minReplicas": 1, "maxReplicas": 1}),
        "",
    ),
    Case("min-equals-max", SERVICE, _set("spec.scaling", {"minReplicas": 5, "maxReplicas": 5}), ""),
    Case(
        "fixed-batching-with-size",
        SERVICE,
        _set("spec.batching", {"mode": "Fixed", "maxBatchSize": 8}),
        "",
    ),
    Case("batching-off", SERVICE, _set("spec.batching", {"mode": "Off"}), ""),
    Case("percentile-99.9", SERVICE, _set("spec.slo.percentile", 99.9), ""),
    Case("integer-spot-fraction", SERVICE, _set("spec.placement.maxSpotFraction", 1), ""),
    Case("no-budget", SERVICE, _set("spec.budget", _DELETE), ""),
    Case("null-budget", SERVICE, _set("spec.budget", None), ""),
    Case("integer-cpu", SERVICE, _set("spec.variants.0.resources.cpu", 2), ""),
    Case("opencost-without-static-price", POOL, _set("spec.pricing", {"source": "OpenCost"}), ""),
    Case("free-pool", POOL, _set("spec.pricing.hourlyPerNode", 0), ""),
]


def _all(*changes: Callable[[Body], None]) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        for one in changes:
            one(body)

    return change


PVC = {"name": "models", "persistentVolumeClaim": {"claimName": "models"}}
MOUNT = {"name": "models", "mountPath": "/models"}
# spec.pod and variants[].pod: every rule the operator relies on, refused by both sides.
INVALID += [
    Case(
        "mount-of-an-undeclared-volume",
        SERVICE,
        _set("spec.pod", {"volumeMounts": [MOUNT]}),
        "volumeMounts",
        MSG_MOUNT_UNDECLARED,
    ),
    Case(
        "variant-mount-of-an-undeclared-volume",
        SERVICE,
        _set("spec.variants.1.pod", {"volumeMounts": [MOUNT]}),
        "variants",
        MSG_VARIANT_MOUNT_UNDECLARED,
    ),
    Case(
        "operator-volume-name",
        SERVICE,
        _set("spec.pod", {"volumes": [{"name": "dshm", "emptyDir": {}}]}),
        "volumes",
        MSG_VOLUME_RESERVED,
    ),
    Case(
        "operator-mount-path",
        SERVICE,
        _set("spec.pod", {"volumes": [PVC], "volumeMounts": [{**MOUNT, "mountPath": "/tmp"}]}),
        "mountPath",
        MSG_MOUNT_RESERVED,
    ),
    Case(
        "operator-label",
        SERVICE,
        _set("spec.pod", {"labels": {"infercost.io/pool": "x"}}),
        "labels",
        MSG_LABEL_RESERVED,
    ),
    Case(
        "operator-recommended-label",
        SERVICE,
        _set("spec.pod", {"labels": {"app.kubernetes.io/name": "x"}}),
        "labels",
        MSG_LABEL_RESERVED,
    ),
    Case(
        "operator-annotation",
        SERVICE,
        _set("spec.pod", {"annotations": {"infercost.io/applied-hash": "x"}}),
        "annotations",
        MSG_ANNOTATION_RESERVED,
    ),
    Case(
        "env-value-and-value-from",
        SERVICE,
        _set(
            "spec.pod",
            {"env": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]},
        ),
        "env",
        MSG_ENV_VALUE_OR_FROM,
    ),
    Case(
        "env-value-from-two-sources",
        SERVICE,
        _set(
            "spec.pod",
            {
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "fieldRef": {"fieldPath": "metadata.name"},
                            "secretKeyRef": {"name": "s", "key": "k"},
                        },
                    }
                ]
            },
        ),
        "valueFrom",
        MSG_ONE_SOURCE,
    ),
    Case(
        "env-from-both-sources",
        SERVICE,
        _set(
            "spec.pod", {"envFrom": [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]}
        ),
        "envFrom",
        MSG_ONE_SOURCE,
    ),
    Case(
        "volume-declared-twice",
        SERVICE,
        _set("spec.pod", {"volumes": [PVC, PVC]}),
        "volumes",
        MSG_UNIQUE_VOLUMES,
    ),
    Case(
        "variant-volume-repeats-the-service-s",
        SERVICE,
        _all(
            _set("spec.pod", {"volumes": [PVC]}),
            _set("spec.variants.0.pod", {"volumes": [PVC]}),
        ),
        "variants",
        MSG_UNIQUE_VOLUMES,
    ),
    Case(
        "variant-mount-path-repeats-the-service-s",
        SERVICE,
        _all(
            _set("spec.pod", {"volumes": [PVC], "volumeMounts": [MOUNT]}),
            _set("spec.variants.0.pod", {"volumeMounts": [MOUNT]}),
        ),
        "variants",
        MSG_UNIQUE_MOUNT_PATHS,
    ),
    Case("version-not-a-number", SERVICE, _set("spec.model.version", "latest"), "version"),
    Case("version-zero", SERVICE, _set("spec.model.version", "0"), "version"),
    Case(
        "label-value-not-a-label",
        SERVICE,
        _set("spec.pod", {"labels": {"team": "not a label"}}),
        "labels",
    ),
    Case(
        "relative-mount-path",
        SERVICE,
        _set("spec.pod", {"volumes": [PVC], "volumeMounts": [{**MOUNT, "mountPath": "models"}]}),
        "mountPath",
    ),
    Case(
        "spread-hard-or-soft-only",
        SERVICE,
        _set(
            "spec.pod",
            {
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "Maybe"}
                ]
            },
        ),
        "whenUnsatisfiable",
    ),
    Case(
        "spread-min-domains-when-soft",
        SERVICE,
        _set(
            "spec.pod",
            {
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "minDomains": 3,
                    }
                ]
            },
        ),
        "minDomains",
        MSG_MIN_DOMAINS,
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_spec_is_refused_by_the_crd_naming_the_field(case: Case) -> None:
    errors = api_server_errors(case.body())
    assert errors, "the CRD accepted it"
    assert any(case.field in error for error in errors), errors
    if case.message:
        assert any(case.message in error for error in errors), errors


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_invalid_spec_is_refused_by_pydantic_naming_the_field(case: Case) -> None:
    errors = pydantic_errors(case.body())
    assert errors, "pydantic accepted it"
    assert any(case.field in error for error in errors), errors
    if case.message:
        assert any(case.message in error for error in errors), errors


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.id)
def test_edge_case_is_accepted_by_both(case: Case) -> None:
    body = case.body()
    assert api_server_errors(body) == []
    assert pydantic_errors(body) == []


def test_the_invalid_table_is_large_and_covers_both_kinds_and_all_cel_rules() -> None:
    assert len(INVALID) >= 15
    assert {case.base for case in INVALID} == {SERVICE, POOL, BUDGET}
    assert {case.message for case in INVALID} >= {
        MSG_MIN_MAX,
        MSG_UNIQUE_VARIANTS,
        MSG_PROFILE_TYPE,
        MSG_FIXED_SIZE,
        MSG_STATIC_PRICE,
        MSG_SELECTOR_EMPTY,
        MSG_UNIQUE_NAMESPACES,
    }


# The status of docs/architecture.md section 3, as the operator writes it.
STATUS = {
    "observedGeneration": 3,
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Placed",
            "message": "3/3 replicas ready",
            "lastTransitionTime": "2026-11-26T04:00:00Z",
        }
    ],
    "placement": [
        {"variant": "neuron-bf16", "pool": "inf2-xlarge-spot", "replicas": 3, "readyReplicas": 3}
    ],
    "pools": "inf2-xlarge-spot",
    "replicas": 3,
    "batching": {"maxBatchSize": 16, "maxQueueDelayMicroseconds": 2000},
    "cost": {"hourly": 0.57, "perMillionInferences": 0.061},
    "observed": {"demandRps": 2000.0, "p99LatencyMs": 12.5, "time": "2026-11-26T04:00:00Z"},
    "lastDecision": {
        "time": "2026-11-26T04:00:00Z",
        "action": "ScaleUp",
        "reason": "LatencyAboveSLO",
        "message": "p99 62 ms > 50 ms",
    },
}


def test_the_design_status_is_accepted_by_both() -> None:
    body = {**copy.deepcopy(BASES[SERVICE]), "status": copy.deepcopy(STATUS)}
    assert api_server_errors(body) == []
    assert pydantic_errors(body) == []


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("status.conditions.0.status", "Yes", "status"),
        ("status.conditions.0.lastTransitionTime", "yesterday", "lastTransitionTime"),
        ("status.cost.hourly", -1, "hourly"),
        ("status.placement.0.replicas", -1, "replicas"),
    ],
)
def test_a_bad_status_is_refused_by_both(path: str, value: Any, field: str) -> None:
    body = {**copy.deepcopy(BASES[SERVICE]), "status": copy.deepcopy(STATUS)}
    _set(path, value)(body)
    assert any(field in error for error in api_server_errors(body))
    assert any(field in error for error in pydantic_errors(body))


def test_min_replicas_zero_is_scale_to_zero_with_idle_seconds() -> None:
    """Issue 22: minReplicas 0 is accepted (wake-up works end to end:
    tests/e2e/test_sandbox_zero.py); idleSeconds defaults to 300."""
    from infercost.api.service import InferenceServiceSpec

    spec = copy.deepcopy(BASES[SERVICE]["spec"])
    spec["scaling"] = {"minReplicas": 0, "maxReplicas": 4, "idleSeconds": 120}
    admitted = InferenceServiceSpec.model_validate(spec)
    assert (admitted.scaling.min_replicas, admitted.scaling.idle_seconds) == (0, 120)
    assert InferenceServiceSpec.model_validate(BASES[SERVICE]["spec"]).scaling.idle_seconds == 300
    body = copy.deepcopy(BASES[SERVICE])
    _set("spec.scaling.minReplicas", 0)(body)
    assert api_server_errors(body) == []  # the CRD's rules too
