"""The real kubectl against the sandbox API server, with the README's command lines as written.

`kubectl get ics,deploy,pods -A` needs discovery with short names (ics, deploy, po) and
prints the CRD's printer columns from the server's Table; `kubectl apply -f` (default
`--validate=strict`) needs the OpenAPI v3 documents that say the server validates fields.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import kmock
import pytest
import yaml

from infercost.api.crdgen import all_crds
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.cluster import kubeconfig
from tests.integration.test_apiserver import call

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".tools/bin/kubectl"


async def kubectl(config: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        "--kubeconfig",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def test_readme_kubectl_lines_work(tmp_path: Path) -> None:
    assert KUBECTL.exists(), "run `make tools` first: .tools/bin/kubectl"
    async with ApiServer() as api, kmock.Server(api):
        config = tmp_path / "kubeconfig"
        config.write_text(yaml.safe_dump(kubeconfig(str(api.url).rstrip("/"))))
        for crd in all_crds().values():
            await call(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        code, out = await kubectl(
            config, "apply", "-f", "examples/pools", "-f", "examples/services"
        )
        assert code == 0, out
        assert "inferenceservice.infercost.io/bert-base created" in out
        await call(
            api,
            "PATCH",
            "/apis/infercost.io/v1alpha1/namespaces/ml/inferenceservices/bert-base/status",
            {"status": {"replicas": 3, "pools": "g5-xlarge"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        deployment = {
            "metadata": {"name": "bert-base-g5"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "b"}},
                "template": {
                    "metadata": {"labels": {"app": "b"}},
                    "spec": {"containers": [{"name": "triton", "image": "triton"}]},
                },
            },
        }
        await call(api, "POST", "/apis/apps/v1/namespaces/ml/deployments", deployment)
        code, out = await kubectl(config, "get", "ics,deploy,pods", "-A")
        assert code == 0, out
        lines = out.splitlines()
        assert lines[0].split()[:5] == ["NAMESPACE", "NAME", "POOLS", "REPLICAS", "P99-MS"]
        row = next(line for line in lines if "inferenceservice.infercost.io/bert-base" in line)
        assert row.split()[:4] == [
            "ml",
            "inferenceservice.infercost.io/bert-base",
            "g5-xlarge",
            "3",
        ]
        header = next(line for line in lines if "UP-TO-DATE" in line)
        assert header.split() == ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert any("deployment.apps/bert-base-g5" in line and "0/3" in line for line in lines)
        # Strict validation by the server: a misspelt field is refused, naming it.
        bad = tmp_path / "bad.yaml"
        body = yaml.safe_load((ROOT / "examples/services/bert-base.yaml").read_text())
        body["spec"]["scaling"]["maxReplicaz"] = 5
        bad.write_text(yaml.safe_dump(body))
        code, out = await kubectl(config, "apply", "-f", str(bad))
        assert code != 0
        assert 'unknown field "spec.scaling.maxReplicaz"' in out


async def test_kubectl_apply_updates_a_built_in_with_a_strategic_merge_patch(
    tmp_path: Path,
) -> None:
    """Client-side `kubectl apply` of a changed Deployment sends a strategic merge patch:
    containers and env merge by name, an item no longer applied is deleted (`$patch`)."""
    async with ApiServer() as api, kmock.Server(api):
        config = tmp_path / "kubeconfig"
        config.write_text(yaml.safe_dump(kubeconfig(str(api.url).rstrip("/"))))
        container = {"name": "main", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ml"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [container]},
                },
            },
        }
        manifest = tmp_path / "web.yaml"
        manifest.write_text(yaml.safe_dump(deployment))
        code, out = await kubectl(config, "apply", "-f", str(manifest))
        assert (code, out.strip()) == (0, "deployment.apps/web created")
        container.update(image="nginx:2", env=[{"name": "B", "value": "2"}])
        manifest.write_text(yaml.safe_dump(deployment))
        code, out = await kubectl(config, "apply", "-f", str(manifest))
        assert (code, out.strip()) == (0, "deployment.apps/web configured")
        stored = await call(api, "GET", "/apis/apps/v1/namespaces/ml/deployments/web")
        assert stored["spec"]["template"]["spec"]["containers"] == [
            {"name": "main", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}
        ]
