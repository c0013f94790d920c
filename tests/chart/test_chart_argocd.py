"""The Argo CD health check (Lua) on InferenceService status samples, run with lupa in Lua 5.1
(the language of gopher-lua, which Argo CD embeds), without the libraries Argo CD withholds;
and the GitOps examples: Applications point at folders that exist and hold what they claim."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import lupa.lua51 as lua
import pytest
import yaml
from chartkit import ROOT, render
from test_chart_validate import validate_custom_object

pytestmark = pytest.mark.chart

ARGOCD = ROOT / "docs" / "argocd"
SCRIPT = (ARGOCD / "inferenceservice-health.lua").read_text()
HEALTH_KEY = "resource.customizations.health.infercost.io_InferenceService"
EXAMPLES = ROOT / "examples" / "argocd"


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> tuple[str, str]:
    runtime = lua.LuaRuntime(register_eval=False, register_builtins=False)
    g = runtime.globals()
    # Argo CD's sandbox has no os, io, require or file loading: the script must not need them.
    for name in ("os", "io", "require", "dofile", "loadfile", "package", "debug"):
        g[name] = None
    g.obj = _to_lua(runtime, obj)
    result = runtime.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


def _service(generation: int = 3, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "bert", "namespace": "ml", "generation": generation},
        "spec": {},
        "status": status,
    }


def _cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-26T04:00:00Z",
        "observedGeneration": 3,
    }


READY = _cond("Ready", "True", "Serving", "3 replicas on inf2-xlarge-spot")
IN_BUDGET = _cond("WithinBudget", "True", "WithinBudget")

SAMPLES = [
    (
        "healthy",
        _service(observedGeneration=3, conditions=[READY, IN_BUDGET], replicas=3, readyReplicas=3),
        "Healthy",
        "3 replicas ready",
    ),
    ("no-status-yet", {**_service(), "status": None}, "Progressing", "observe the service"),
    (
        "generation-not-observed",
        _service(
            generation=4,
            observedGeneration=3,
            conditions=[READY, IN_BUDGET],
            replicas=3,
            readyReplicas=3,
        ),
        "Progressing",
        "observe generation 4",
    ),
    (
        "replicas-starting",
        _service(
            observedGeneration=3,
            conditions=[_cond("Ready", "True", "Serving"), IN_BUDGET],
            replicas=5,
            readyReplicas=2,
        ),
        "Progressing",
        "2 of 5 replicas ready",
    ),
    (
        "invalid-spec",
        _service(
            observedGeneration=3,
            conditions=[
                _cond(
                    "Ready",
                    "False",
                    "InvalidSpec",
                    "spec.variants[0].profile: no point for acceleratorType nvidia-l4",
                )
            ],
            replicas=0,
            readyReplicas=0,
        ),
        "Degraded",
        "InvalidSpec: spec.variants[0].profile: no point for acceleratorType nvidia-l4",
    ),
    (
        "budget-exceeded",
        _service(
            observedGeneration=3,
            conditions=[
                READY,
                _cond("WithinBudget", "False", "BudgetExceeded", "14.20/h above maxHourlyCost 12"),
            ],
            replicas=4,
            readyReplicas=4,
        ),
        "Degraded",
        "Over budget: BudgetExceeded: 14.20/h above maxHourlyCost 12",
    ),
    (
        "budget-exceeded-while-starting",
        _service(
            observedGeneration=3,
            conditions=[READY, _cond("WithinBudget", "False", "BudgetExceeded")],
            replicas=4,
            readyReplicas=1,
        ),
        "Degraded",
        "Over budget: BudgetExceeded",
    ),
    (
        "not-ready-other-reason",
        _service(
            observedGeneration=3,
            conditions=[_cond("Ready", "False", "NoPoolFits", "no AcceleratorPool matches")],
        ),
        "Degraded",
        "NoPoolFits: no AcceleratorPool matches",
    ),
    (
        "ready-unknown",
        _service(observedGeneration=3, conditions=[_cond("Ready", "Unknown", "Reconciling")]),
        "Progressing",
        "Waiting for the Ready condition",
    ),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"), [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES]
)
def test_health_of_status_samples(obj: dict[str, Any], status: str, message: str) -> None:
    got_status, got_message = health(obj)
    assert got_status == status
    assert message in got_message


def test_status_samples_are_valid_inference_service_status() -> None:
    # The samples are shaped like what the operator writes: check them against the CRD's
    # status schema, so a renamed field in the API fails here rather than in Argo CD.
    for name, obj, _, _ in SAMPLES:
        if obj["status"] is None:
            continue
        doc = copy.deepcopy(obj)
        doc["spec"] = _minimal_spec()
        try:
            validate_custom_object(doc)
        except Exception as e:  # pragma: no cover - the message is the point
            pytest.fail(f"sample {name}: {e}")


def _minimal_spec() -> dict[str, Any]:
    services = sorted((ROOT / "examples" / "services").glob("*.yaml"))
    if services:
        for doc in yaml.safe_load_all(services[0].read_text()):
            if doc and doc.get("kind") == "InferenceService":
                spec: dict[str, Any] = doc["spec"]
                return spec
    return {
        "model": {"name": "bert_base"},
        "variants": [
            {
                "name": "gpu-fp16",
                "acceleratorTypes": ["nvidia-l4"],
                "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                "modelRepository": "s3://models/bert",
                "profile": [
                    {
                        "acceleratorType": "nvidia-l4",
                        "batchSize": 1,
                        "throughput": 500,
                        "p99LatencyMs": 4,
                    }
                ],
            }
        ],
        "slo": {"latencyMs": 50},
    }


def test_argocd_cm_snippet_carries_the_same_script() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert cm["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    assert cm["data"] == {HEALTH_KEY: SCRIPT}
    for version in ("1.30", "1.33"):
        kubernetes_validate.validate(cm, version, strict=True)


def _applications() -> dict[str, dict[str, Any]]:
    apps = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["apiVersion"] == "argoproj.io/v1alpha1"
                assert doc["kind"] == "Application"
                apps[doc["metadata"]["name"]] = doc
    return apps


def test_application_for_the_chart_points_at_the_chart(tmp_path: Path) -> None:
    app = _applications()["infercost"]
    source = app["spec"]["source"]
    assert (ROOT / source["path"] / "Chart.yaml").is_file()
    # Argo CD applies the chart's crds/ on every sync; server-side, as docs/install.md says.
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    # The Application's values are values the chart accepts, and they switch monitoring on.
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    r = render("--values", values_file)
    assert r.one("ServiceMonitor")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert r.one("PrometheusRule")
    assert app["spec"]["destination"]["namespace"] == "infercost-system"


def test_application_for_services_points_at_valid_inference_services() -> None:
    app = _applications()["inference-services"]
    folder: Path = ROOT / app["spec"]["source"]["path"]
    docs = [
        d for f in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]
    assert docs, f"{folder} holds no manifests"
    for doc in docs:
        assert doc["kind"] == "InferenceService", f"{doc['kind']} in {folder}"
        validate_custom_object(doc)
    # The operator never writes spec, so Argo CD needs no ignoreDifferences for it.
    assert "ignoreDifferences" not in app["spec"]
