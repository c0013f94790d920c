"""`helm lint` and `helm template`: what the chart renders, with default values and all parts on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import (
    ALL_ON,
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    Render,
    helm_template,
    render,
    run,
    tool,
)

from infercost.settings import Settings

pytestmark = pytest.mark.chart

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _deployment_pod(r: Render) -> dict[str, Any]:
    spec: dict[str, Any] = r.one("Deployment")["spec"]["template"]["spec"]
    return spec


def _container(r: Render) -> dict[str, Any]:
    containers = _deployment_pod(r)["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _env(r: Render) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(r)["env"]}


@pytest.mark.parametrize("values", [[], ["--values", ALL_ON]], ids=["default", "all-on"])
def test_helm_lint_passes_strict(values: list[str]) -> None:
    done = run([tool("helm"), "lint", "--strict", CHART, *values])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_default_render_has_exactly_the_core_objects(default_render: Render) -> None:
    kinds = sorted(d["kind"] for d in default_render.docs)
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",  # the activators' (scale to zero), bound per service by the operator
            "ClusterRoleBinding",
            "Service",
            "Deployment",
            "NetworkPolicy",
        ]
    )


def test_all_on_render_adds_every_optional_part(all_on_render: Render) -> None:
    kinds = {d["kind"] for d in all_on_render.docs}
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap", "AcceleratorPool"} <= kinds
    assert len(all_on_render.of_kind("AcceleratorPool")) == 2


@pytest.mark.parametrize("which", ["default", "all-on"])
def test_pod_meets_the_restricted_pod_security_standard(
    renders: dict[str, Render], which: str
) -> None:
    pod = _deployment_pod(renders[which])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork")
    assert not pod.get("hostPID")
    assert not pod.get("hostIPC")
    container = _container(renders[which])
    for key, want in RESTRICTED_CONTAINER.items():
        assert container["securityContext"][key] == want, key
    for volume in pod["volumes"]:
        assert set(volume) & {"projected", "emptyDir", "secret"}, f"{volume['name']}: kind"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


@pytest.mark.parametrize("which", ["default", "all-on"])
def test_api_token_is_mounted_explicitly_and_nowhere_else(
    renders: dict[str, Render], which: str
) -> None:
    r = renders[which]
    pod = _deployment_pod(r)
    assert pod["automountServiceAccountToken"] is False
    mount = next(m for m in _container(r)["volumeMounts"] if m["name"] == "kube-api-access")
    # The path in-cluster clients (kubernetes, kopf) read the token, CA and namespace from.
    assert mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == "kube-api-access")
    paths = set()
    for source in volume["projected"]["sources"]:
        for item in source.get("configMap", source.get("downwardAPI", {})).get("items", []):
            paths.add(item["path"])
        if "serviceAccountToken" in source:
            paths.add(source["serviceAccountToken"]["path"])
    assert paths == {"token", "ca.crt", "namespace"}


def test_liveness_and_readiness_probe_the_kopf_liveness_endpoint(default_render: Render) -> None:
    container = _container(default_render)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--liveness=http://0.0.0.0:{ports['healthz']}/healthz" in container["args"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}


def test_default_args_watch_all_namespaces(default_render: Render) -> None:
    args = _container(default_render)["args"]
    assert args[0] == "run"
    assert "--all-namespaces" in args
    assert not [a for a in args if a.startswith(("--namespace", "--peering", "--dry-run"))]
    strategy = default_render.one("Deployment")["spec"]["strategy"]["type"]
    assert strategy == "Recreate", "without peering two operators must never overlap"
    assert default_render.one("Deployment")["spec"]["replicas"] == 1
    assert "INFERCOST_LEADER_ELECTION" not in _env(default_render)
    assert default_render.of_kind("Role") == []


def test_replicas_elect_a_leader_on_a_lease_with_least_privilege(all_on_render: Render) -> None:
    deployment = all_on_render.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    role = all_on_render.one("Role")
    assert role["metadata"]["namespace"] == "infercost-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "list", "create", "patch", "delete"],
        }
    ]
    binding = all_on_render.one("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "infercost-operator"
    assert _env(all_on_render)["INFERCOST_LEADER_ELECTION_LEASE_NAME"] == "infercost"
    assert "INFERCOST_SHARDING_SHARDS" not in _env(all_on_render)


def test_sharding_with_kopf_peering_is_refused_by_name() -> None:
    done = helm_template(
        "--set", "replicas=2", "--set", "sharding.shards=4", "--set", "operator.peering=x"
    )
    assert done.returncode != 0
    assert "operator.peering and sharding.shards exclude each other" in done.stderr


def test_sharded_replicas_are_all_active_on_their_shards_leases() -> None:
    sharded = render("--set", "replicas=3", "--set", "sharding.shards=6")
    env = _env(sharded)
    assert env["INFERCOST_SHARDING_SHARDS"] == "6"
    assert "INFERCOST_LEADER_ELECTION" not in env  # the two exclude each other (settings.py)
    assert env["INFERCOST_LEADER_ELECTION_NAMESPACE"] == "infercost-system"
    assert sharded.one("Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    assert sharded.one("Role")["rules"][0]["resources"] == ["leases"]


def test_all_on_args_and_settings(all_on_render: Render) -> None:
    args = _container(all_on_render)["args"]
    assert args[:2] == ["run", "--namespace=ml"]
    assert "--all-namespaces" not in args
    assert {"--peering=infercost", "--dry-run", "--verbose"} <= set(args)
    env = _env(all_on_render)
    assert env["INFERCOST_CONTROL_INTERVAL_SECONDS"] == "30"
    assert env["INFERCOST_METRICS_PORT"] == "9090"
    assert env["INFERCOST_PROMETHEUS_URL"] == "https://prometheus.monitoring.svc:9091"
    auth = "/var/run/secrets/infercost/prometheus-auth"
    assert env["INFERCOST_PROMETHEUS_USERNAME"] == "infercost"
    assert env["INFERCOST_PROMETHEUS_PASSWORD_FILE"] == f"{auth}/password"
    assert env["INFERCOST_PROMETHEUS_CA_FILE"] == "/var/run/secrets/infercost/prometheus-ca/ca.crt"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["INFERCOST_LEADER_ELECTION"] == "true"
    assert env["INFERCOST_LEADER_ELECTION_NAMESPACE"] == "infercost-system"
    image = _container(all_on_render)["image"]
    assert image.endswith(
        "@sha256:" + "4a5e0c8f1b0f9d3e2c7a6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"
    )


def test_child_network_policy_values_reach_the_operator_settings(
    default_render: Render, all_on_render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "INFERCOST_NETWORK_POLICY" not in _env(default_render)
    env = {k: v for k, v in _env(all_on_render).items() if k.startswith("INFERCOST_NETWORK")}
    # The operator's own settings class must read what the chart writes (labels as JSON).
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.network_policy is True
    assert settings.network_policy_prometheus_namespace == "observability"
    assert settings.network_policy_prometheus_labels == {
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/instance": "k8s",
    }


def test_credentials_are_files_from_the_secret_never_env_values(all_on_render: Render) -> None:
    pod = _deployment_pod(all_on_render)
    secrets = {v["secret"]["secretName"]: v for v in pod["volumes"] if "secret" in v}
    assert set(secrets) == {"prometheus-basic-auth", "prometheus-ca"}
    keys = [i["key"] for i in secrets["prometheus-basic-auth"]["secret"]["items"]]
    assert keys == ["password"]
    for e in _container(all_on_render)["env"]:
        assert "secretKeyRef" not in e.get("valueFrom", {}), e["name"]


def test_bearer_token_mounts_only_the_token() -> None:
    r = render(
        "--set",
        "operator.prometheus.auth.type=BearerToken",
        "--set",
        "operator.prometheus.auth.existingSecret=prom-token",
    )
    env = _env(r)
    assert env["INFERCOST_PROMETHEUS_TOKEN_FILE"] == (
        "/var/run/secrets/infercost/prometheus-auth/token"
    )
    assert "INFERCOST_PROMETHEUS_PASSWORD_FILE" not in env
    volume = next(v for v in _deployment_pod(r)["volumes"] if v["name"] == "prometheus-auth")
    assert volume["secret"]["items"] == [{"key": "token", "path": "token"}]


@pytest.mark.parametrize("which", ["default", "all-on"])
def test_clusterrole_rules_are_exactly_the_rules_file(
    renders: dict[str, Render], which: str
) -> None:
    rules = yaml.safe_load((CHART / "files" / "clusterrole-rules.yaml").read_text())
    r = renders[which]
    roles = {d["metadata"]["name"]: d for d in r.of_kind("ClusterRole")}
    binding = r.one("ClusterRoleBinding")
    operator_role = binding["roleRef"]["name"]
    # Plus `bind` on the activators' ClusterRole alone (scale to zero, manifests/activator.py),
    # which the operator names in the RoleBindings it writes.
    activator = f"{operator_role}-activator"
    assert set(roles) == {operator_role, activator}
    bind = {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": [activator],
    }
    assert roles[operator_role]["rules"] == [*rules, bind]
    assert roles[activator]["rules"] == [
        {
            "apiGroups": ["infercost.io"],
            "resources": ["inferenceservices"],
            "verbs": ["get", "patch"],
        }
    ]
    assert _env(r)["INFERCOST_ACTIVATOR_CLUSTER_ROLE"] == activator
    subject = binding["subjects"][0]
    assert subject["name"] == _deployment_pod(r)["serviceAccountName"]
    assert subject["namespace"] == NAMESPACE


def test_existing_service_account_is_used_not_created() -> None:
    r = render("--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-sa")
    assert not r.of_kind("ServiceAccount")
    assert _deployment_pod(r)["serviceAccountName"] == "platform-sa"
    assert r.one("ClusterRoleBinding")["subjects"][0]["name"] == "platform-sa"


def test_servicemonitor_selects_the_metrics_service_and_keeps_its_labels(
    all_on_render: Render,
) -> None:
    service = all_on_render.one("Service")
    monitor = all_on_render.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The operator's metrics name the InferenceService in `namespace` and `service` labels.
    assert endpoint["honorLabels"] is True
    # The Service's selector reaches the operator pod, on the container's metrics port.
    pod_labels = all_on_render.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in _container(all_on_render)["ports"]
    }


def test_networkpolicy_selects_the_operator_and_opens_only_its_ports(all_on_render: Render) -> None:
    policy = all_on_render.one("NetworkPolicy")["spec"]
    pod_labels = all_on_render.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ports == {"metrics", "healthz"}
    metrics_rule = next(r for r in policy["ingress"] if r["ports"][0]["port"] == "metrics")
    assert metrics_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def test_prometheusrule_spec_is_the_rules_file(all_on_render: Render) -> None:
    rule = all_on_render.one("PrometheusRule")
    on_disk = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == on_disk
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # Prometheus' own templates survive Helm's: no `{{ $labels }}` was eaten.
    assert "{{ $labels.service }}" in all_on_render.text


def test_dashboard_configmap_holds_the_dashboard_for_the_sidecar(all_on_render: Render) -> None:
    cm = all_on_render.one("ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Inference"}
    on_disk = json.loads((CHART / "files" / "grafana-dashboard.json").read_text())
    assert json.loads(cm["data"]["infercost.json"]) == on_disk


def test_accelerator_pools_come_from_values(all_on_render: Render) -> None:
    pools = {p["metadata"]["name"]: p for p in all_on_render.of_kind("AcceleratorPool")}
    values = yaml.safe_load(ALL_ON.read_text())["acceleratorPools"]
    assert set(pools) == {v["name"] for v in values}
    for v in values:
        assert pools[v["name"]]["spec"] == v["spec"]
        assert "namespace" not in pools[v["name"]]["metadata"], "pools are cluster-scoped"
    assert pools["g5-xlarge-ondemand"]["metadata"]["labels"]["team"] == "ml"


def test_notes_name_the_release_and_the_crd_upgrade_step() -> None:
    done = run(
        [
            tool("helm"),
            "install",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
            "--values",
            ALL_ON,
        ]
    )
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert f"deployment/{RELEASE}" in notes
    assert "namespace ml in DRY-RUN mode" in notes
    assert "g5-xlarge-ondemand" in notes
    assert "kubectl apply --server-side -f charts/infercost/crds/" in notes


def test_example_pools_install_through_chart_values(tmp_path: Path) -> None:
    # Every pool in examples/pools can be created by the chart instead, unchanged.
    pools = [
        d
        for f in sorted((ROOT / "examples" / "pools").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d and d["kind"] == "AcceleratorPool"
    ]
    assert pools
    values = tmp_path / "pools.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "acceleratorPools": [
                    {"name": p["metadata"]["name"], "spec": p["spec"]} for p in pools
                ]
            }
        )
    )
    rendered = {
        p["metadata"]["name"]: p for p in render("--values", values).of_kind("AcceleratorPool")
    }
    assert {n: p["spec"] for n, p in rendered.items()} == {
        p["metadata"]["name"]: p["spec"] for p in pools
    }


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0"])
def test_renders_for_the_supported_kubernetes_versions(version: str) -> None:
    r = render("--kube-version", version, "--values", ALL_ON)
    assert r.one("Deployment")


def test_refuses_kubernetes_older_than_1_30() -> None:
    done = helm_template("--kube-version", "1.29.9")
    assert done.returncode != 0
    assert "incompatible with Kubernetes v1.29.9" in done.stderr, done.stderr


def test_settings_table_in_install_doc_lists_every_variable_the_chart_sets(
    default_render: Render, all_on_render: Render
) -> None:
    token = render(
        "--set",
        "operator.prometheus.auth.type=BearerToken",
        "--set",
        "operator.prometheus.auth.existingSecret=t",
    )
    sharded = render("--set", "replicas=2", "--set", "sharding.shards=4")
    set_by_chart = {
        name
        for r in (default_render, all_on_render, token, sharded)
        for name in _env(r)
        if name.startswith("INFERCOST_")
    } - {"INFERCOST_LOG_FORMAT"}  # from values-all-on.yaml's extraEnv, not the chart
    doc = (ROOT / "docs" / "install.md").read_text()
    table = doc.split("### Settings the chart passes to the operator", 1)[1].split("\n#", 1)[0]
    documented = set(re.findall(r"`(INFERCOST_[A-Z_]+)`", table))
    assert documented == set_by_chart
