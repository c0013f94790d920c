"""Least privilege: the ClusterRole allows exactly what the operator did during this suite.

conftest.py collects every request the operator made (kopf's and ours, by User-Agent) in
every integration test; this test runs last and compares them with the chart's single
source of RBAC rules, both ways.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import OPERATOR_REQUESTS

pytestmark = pytest.mark.integration

FILES = Path(__file__).resolve().parents[2] / "charts/infercost/files"
# The ClusterRole, and the Role of leader election (the chart with replicas > 1).
RULES = (FILES / "clusterrole-rules.yaml", FILES / "leader-election-rules.yaml")
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def granted() -> set[Grant]:
    rules = [rule for path in RULES for rule in yaml.safe_load(path.read_text())]
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_rules_allow_every_request_and_grant_nothing_unused() -> None:
    used = {(group, resource, verb) for verb, group, resource, _ in OPERATOR_REQUESTS}
    assert ("apps", "deployments", "patch") in used, (
        "no operator requests were recorded: run this test with the whole integration suite"
    )
    grants = granted()
    assert sorted(used - grants) == [], "requests the ClusterRole does not allow"
    assert sorted(grants - used) == [], f"grants never used: remove them; used: {sorted(used)}"
