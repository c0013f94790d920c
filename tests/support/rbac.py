"""The chart's ClusterRole rules as (apiGroup, resource, verb) grants, for the RBAC checks."""

from __future__ import annotations

from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[2] / "charts/infercost/files/clusterrole-rules.yaml"
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def granted() -> set[Grant]:
    """Every (apiGroup, resource, verb) the rules allow (the chart renders them unchanged)."""
    rules = yaml.safe_load(RULES.read_text())
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
