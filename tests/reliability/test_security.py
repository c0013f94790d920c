"""Security: least-privilege RBAC, a restricted operator pod, restricted Triton children,
credentials only from Secrets/files and never printed, TLS verified by default.

The RBAC rules' match with the requests really made is `tests/integration/test_rbac.py`
(every request of the integration suite recorded, compared both ways); here the rules file
itself is checked for what must never be in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infercost.adapters.kubernetes import Credentials, _ssl_context
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig
from infercost.manifests import ManifestSettings, Owner, children
from infercost.settings import Settings
from tests.chart.chartkit import ALL_ON, render
from tests.support.crdcheck import ROOT, load_examples

pytestmark = pytest.mark.unit

RULES = ROOT / "charts/infercost/files/clusterrole-rules.yaml"
DANGEROUS_VERBS = {"*", "escalate", "bind", "impersonate", "deletecollection"}
NEVER_READ = {"secrets", "*", "nodes/proxy", "pods/exec", "pods/attach", "serviceaccounts/token"}


def test_rbac_rules_have_no_wildcards_and_no_dangerous_grants() -> None:
    for rule in yaml.safe_load(RULES.read_text()):
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], f"wildcard in {key}: {rule}"
        assert not DANGEROUS_VERBS & set(rule["verbs"]), rule
        if rule["resources"] == ["secrets"]:
            # Only the Triton repository keys the operator creates: fetched one by one by
            # name, never listed or watched (which would hand it every Secret in bulk).
            assert set(rule["verbs"]) == {"get", "create"}, rule
            continue
        assert not NEVER_READ & set(rule["resources"]), rule
        assert "nonResourceURLs" not in rule
        assert "resourceNames" not in rule


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The Pod Security Standard `restricted` profile (v1.30), checked field by field."""
    found = []
    pod_ctx = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            found.append(flag)
    if any("hostPath" in v for v in pod_spec.get("volumes") or []):
        found.append("hostPath volume")
    allowed_volumes = {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= allowed_volumes:
            found.append(f"volume type {kinds}")
    for container in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        ctx = container.get("securityContext") or {}
        name = container["name"]
        if ctx.get("privileged"):
            found.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation not false")
        if ctx.get("capabilities", {}).get("drop") != ["ALL"]:
            found.append(f"{name}: capabilities not dropping ALL")
        if set(ctx.get("capabilities", {}).get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities")
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot not set")
        if (ctx.get("runAsUser", pod_ctx.get("runAsUser")) or 1) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile {seccomp}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{name}: hostPort")
    return found


@pytest.mark.parametrize("values", [None, ALL_ON], ids=["defaults", "all-on"])
def test_operator_pod_meets_the_restricted_pod_security_standard(values: Path | None) -> None:
    rendered = render(*(["--values", values] if values else []))
    deployment = rendered.one("Deployment")
    assert restricted_violations(deployment["spec"]["template"]["spec"]) == []
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_credentials_come_from_secrets_mounted_as_files() -> None:
    rendered = render("--values", ALL_ON)
    deployment = rendered.one("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container.get("env") or []}
    assert "INFERCOST_PROMETHEUS_PASSWORD" not in env, "a password in the environment"
    assert env["INFERCOST_PROMETHEUS_PASSWORD_FILE"]["value"].startswith("/")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    secrets = {v["secret"]["secretName"] for v in volumes.values() if "secret" in v}
    assert "prometheus-basic-auth" in secrets
    assert "prometheus-basic-auth" not in rendered.text.replace(
        "secretName: prometheus-basic-auth", ""
    )


def test_settings_never_print_a_password(tmp_path: Path) -> None:
    secret = "hunter2-Do-Not-Print"
    settings = Settings(prometheus_username="u", prometheus_password=secret)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert secret not in text


def test_tls_is_verified_by_default() -> None:
    assert Settings().prometheus_insecure_skip_verify is False
    context = _ssl_context(Credentials(server="https://kubernetes.default.svc"))
    assert context is not False, "API server TLS verification off by default"


OWNER = Owner(name="bert-base", namespace="ml", uid="0b8d9a7e-0000-4000-8000-000000000001")


def triton_children(settings: ManifestSettings) -> list[dict[str, Any]]:
    examples = {e.name: e.body for e in load_examples()}
    spec = InferenceServiceSpec.model_validate(examples["bert-base"]["spec"])
    pool = AcceleratorPoolSpec.model_validate(examples["g5-xlarge"]["spec"])
    allocation = Allocation(
        variant="gpu-trt-int8",
        pool="g5-xlarge",
        replicas=2,
        batching=BatchConfig(max_batch_size=8, max_queue_delay_us=1000),
        hourly_cost=2.0,
        throughput_per_replica=1000.0,
    )
    return children(
        owner=OWNER,
        spec=spec,
        pools={"g5-xlarge": pool},
        allocations=[allocation],
        settings=settings,
        with_pod_monitor=True,
    )


def test_triton_children_run_restricted_and_non_root() -> None:
    (deployment,) = [c for c in triton_children(ManifestSettings()) if c["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["securityContext"]["runAsUser"] == 1000  # NGC Triton images' non-root user


def test_network_policy_is_optional_and_admits_only_service_ports_and_prometheus() -> None:
    assert not [c for c in triton_children(ManifestSettings()) if c["kind"] == "NetworkPolicy"]
    objects = triton_children(ManifestSettings(network_policy=True))
    (policy,) = [c for c in objects if c["kind"] == "NetworkPolicy"]
    (deployment,) = [c for c in objects if c["kind"] == "Deployment"]
    (service,) = [c for c in objects if c["kind"] == "Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod_labels.items(), "the policy must select the Triton pods"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    open_rule, scrape_rule = policy["spec"]["ingress"]
    service_ports = {p["port"] for p in service["spec"]["ports"] if p["name"] != "metrics"}
    assert "from" not in open_rule
    assert {p["port"] for p in open_rule["ports"]} == service_ports
    assert [p["port"] for p in scrape_rule["ports"]] == [8002]
    (peer,) = scrape_rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert policy["metadata"]["ownerReferences"][0]["uid"] == OWNER.uid
