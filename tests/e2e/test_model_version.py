"""spec.model.version against a REAL tritonserver (nvidia-pytriton's 2.51 binary).

A repository holds versions 1 and 2 of the synthetic python-backend model. Without a policy
Triton serves the latest (2); with the policy the operator produces for version 1 — in the
config.pbtxt text of the ConfigMap and in the JSON config of a live load — it serves 1 only.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
import tritonclient.http as triton_http

from infercost.engine.model import BatchConfig
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.manifests import model_config_text
from infercost.manifests.version import version_policy_lines, with_version_policy

pytestmark = pytest.mark.e2e
MODEL = SyntheticModel(base_ms=1, per_item_ms=0, max_batch_size=4)


@pytest.fixture(scope="module")
def server() -> Iterator[TritonServer]:
    with TritonServer([MODEL]) as running:
        assert running.workdir is not None
        folder = running.workdir / "models" / MODEL.name
        shutil.copytree(folder / "1", folder / "2")
        yield running


def _ready_versions(client: triton_http.InferenceServerClient) -> set[str]:
    return {v for v in ("1", "2") if client.is_model_ready(MODEL.name, v)}


def test_without_a_version_triton_serves_the_latest(server: TritonServer) -> None:
    client = triton_http.InferenceServerClient(server.url)
    config = client.get_model_config(MODEL.name)
    config.pop("version_policy", None)
    client.load_model(MODEL.name, config=json.dumps(with_version_policy(config, None)))
    assert _ready_versions(client) == {"2"}


def test_the_json_policy_of_a_live_load_pins_the_version(server: TritonServer) -> None:
    client = triton_http.InferenceServerClient(server.url)
    config = client.get_model_config(MODEL.name)
    client.load_model(MODEL.name, config=json.dumps(with_version_policy(config, "1")))
    assert _ready_versions(client) == {"1"}
    assert client.get_model_config(MODEL.name)["version_policy"] == {"specific": {"versions": [1]}}


def test_the_config_pbtxt_policy_pins_the_version(server: TritonServer) -> None:
    assert server.workdir is not None
    path = server.workdir / "models" / MODEL.name / "config.pbtxt"
    override = model_config_text(
        model=MODEL.name, batching=BatchConfig(max_batch_size=4, max_queue_delay_us=0), version="1"
    )
    assert version_policy_lines("1")[0] in override.splitlines()
    # The model's own config with the operator's policy line, read by Triton from disk.
    path.write_text(MODEL.config() + "\n".join(version_policy_lines("1")) + "\n")
    client = triton_http.InferenceServerClient(server.url)
    client.load_model(MODEL.name)
    assert _ready_versions(client) == {"1"}
    path.write_text(MODEL.config())
    client.load_model(MODEL.name)
    assert _ready_versions(client) == {"2"}
