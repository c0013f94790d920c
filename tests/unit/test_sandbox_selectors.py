"""sandbox/semantics.py: field selectors as the API server applies them to Events."""

from __future__ import annotations

import pytest

from infercost.sandbox.semantics import fields_match

pytestmark = pytest.mark.unit

CA_EVENT = {
    "metadata": {"name": "bert-0.1", "namespace": "ml"},
    "involvedObject": {"kind": "Pod", "name": "bert-0", "namespace": "ml"},
    "reason": "NotTriggerScaleUp",
    "type": "Normal",
    "source": {"component": "cluster-autoscaler"},
    "reportingComponent": "cluster-autoscaler",
}
KUBELET_EVENT = CA_EVENT | {"reason": "Pulled", "source": {"component": "kubelet"}}
SCHEDULER_EVENT = {  # written through events.k8s.io/v1: no source in the core/v1 view
    key: value for key, value in CA_EVENT.items() if key != "source"
} | {"reason": "FailedScheduling", "reportingComponent": "default-scheduler"}
OPERATOR = "involvedObject.kind=Pod,source!=kubelet,reportingComponent!=default-scheduler"


def test_the_operator_s_selector_keeps_the_autoscaler_s_pod_events_only() -> None:
    assert fields_match(OPERATOR, CA_EVENT)
    assert not fields_match(OPERATOR, KUBELET_EVENT)
    assert not fields_match(OPERATOR, SCHEDULER_EVENT)
    on_a_deployment = CA_EVENT | {"involvedObject": {"kind": "Deployment", "name": "bert"}}
    assert not fields_match(OPERATOR, on_a_deployment)


def test_equality_inequality_and_metadata_fields() -> None:
    assert fields_match("reason=NotTriggerScaleUp", CA_EVENT)
    assert fields_match("reason==NotTriggerScaleUp,type=Normal", CA_EVENT)
    assert not fields_match("reason!=NotTriggerScaleUp", CA_EVENT)
    assert fields_match("source=cluster-autoscaler", CA_EVENT)  # source is source.component
    assert fields_match("metadata.name=bert-0.1,metadata.namespace=ml", CA_EVENT)
    assert not fields_match("metadata.namespace=other", CA_EVENT)
    assert fields_match("source=", SCHEDULER_EVENT)  # an absent field is ""
