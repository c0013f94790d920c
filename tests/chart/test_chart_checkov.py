"""checkov (its own venv, offline) on the rendered chart: no failed check.

The default render runs with tests/chart/checkov.yaml, whose only skips carry a written
reason; the all-on render runs with no skip at all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import ALL_ON, CHART, HERE, NAMESPACE, RELEASE, ROOT, TIMEOUT_S, tool

pytestmark = pytest.mark.chart

CONFIG = HERE / "checkov.yaml"
# Offline: no policy download from the vendor's platform, no update check on PyPI.
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}


def _render_to(folder: Path, *values: str | Path) -> None:
    done = subprocess.run(
        [
            str(tool("helm")),
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--include-crds",
            "--output-dir",
            str(folder),
            *map(str, values),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _checkov(folder: Path, *config: str | Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(tool("checkov")),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            *map(str, config),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=ROOT,
        env={**os.environ, **OFFLINE_ENV},
    )
    assert done.stdout.strip(), f"checkov printed nothing:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    result: dict[str, Any] = report[0] if isinstance(report, list) else report
    assert result["check_type"] == "kubernetes"
    return result


def _failures(result: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for c in result["results"]["failed_checks"]
    ]


def _configured_skips() -> dict[str, str]:
    """Check id -> the reason written above it in checkov.yaml."""
    skips = yaml.safe_load(CONFIG.read_text())["skip-check"]
    text = CONFIG.read_text()
    reasons = {}
    for check in skips:
        block = re.search(rf"((?:\s*#.*\n)+)\s*- {re.escape(check)}\n", text)
        assert block, f"{check} is skipped without a reason in {CONFIG.name}"
        reasons[check] = " ".join(line.strip(" #") for line in block.group(1).splitlines())
    return reasons


def test_every_skip_has_a_written_reason() -> None:
    reasons = _configured_skips()
    assert reasons
    for check, reason in reasons.items():
        assert check in reason, check
        assert len(reason) > 80, check


def test_default_render_passes_checkov(tmp_path: Path) -> None:
    _render_to(tmp_path)
    result = _checkov(tmp_path, "--config-file", CONFIG)
    summary = result["summary"]
    assert _failures(result) == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 90, summary
    # A check skipped by configuration is not run at all (checkov lists only inline
    # suppressions as skipped): the configured skips, and only they, are missing.
    ran = {
        c["check_id"]
        for kind in ("passed_checks", "failed_checks")
        for c in result["results"][kind]
    }
    assert ran.isdisjoint(_configured_skips())
    # And each skip is still needed: without the file exactly those checks fail.
    unskipped = {c["check_id"] for c in _checkov(tmp_path)["results"]["failed_checks"]}
    assert unskipped == set(_configured_skips())
    print(f"checkov default render: {summary}, skipped by config: {sorted(_configured_skips())}")


def test_all_on_render_passes_checkov_without_any_skip(tmp_path: Path) -> None:
    _render_to(tmp_path, "--values", ALL_ON)
    result = _checkov(tmp_path)
    summary = result["summary"]
    assert _failures(result) == []
    assert summary["skipped"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 90, summary
    passed = {c["check_id"] for c in result["results"]["passed_checks"]}
    # The restricted-pod checks really ran on the operator Deployment.
    assert {
        "CKV_K8S_20",
        "CKV_K8S_22",
        "CKV_K8S_23",
        "CKV_K8S_28",
        "CKV_K8S_31",
        "CKV_K8S_37",
        "CKV_K8S_38",
        "CKV_K8S_43",
        "CKV2_K8S_6",
    } <= passed
    print(f"checkov all-on render: {summary}")


def test_checkov_fails_a_privileged_render(tmp_path: Path) -> None:
    # The gate can fail: the same chart with a root, privileged container is refused.
    _render_to(tmp_path, "--values", ALL_ON)
    deployment = next(tmp_path.rglob("deployment.yaml"))
    doc = yaml.safe_load(deployment.read_text())
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True, "runAsUser": 0}
    deployment.write_text(yaml.safe_dump(doc))
    failed = {c["check_id"] for c in _checkov(tmp_path)["results"]["failed_checks"]}
    assert {"CKV_K8S_16", "CKV_K8S_20"} <= failed
