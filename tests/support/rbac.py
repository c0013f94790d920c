"""The chart's RBAC rules as (apiGroup, resource, verb) grants, for the RBAC checks: the
ClusterRole's, and the leader-election Role's (bound in the operator's own namespace)."""

from __future__ import annotations

from pathlib import Path

import yaml

FILES = Path(__file__).resolve().parents[2] / "charts/infercost/files"
RULES = (FILES / "clusterrole-rules.yaml", FILES / "leader-election-rules.yaml")
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def granted() -> set[Grant]:
    """Every (apiGroup, resource, verb) the rules allow (the chart renders them unchanged)."""
    rules = [rule for path in RULES for rule in yaml.safe_load(path.read_text())]
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
