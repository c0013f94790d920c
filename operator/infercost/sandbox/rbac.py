"""RBAC authorization of one bearer token from ClusterRole rules, as the real server enforces it.

The sandbox API server restricts the requests that carry `OPERATOR_TOKEN` (the operator's
service-account token, from its kubeconfig or kopf login) to the chart's ClusterRole rules
(`charts/infercost/files/clusterrole-rules.yaml`); every other caller (tests, kubectl with
the admin kubeconfig) is unrestricted, like a cluster admin. A request outside the rules is
403 Forbidden, worded as the real server words it. The verb is the RBAC verb of the request
(get, list, watch, create, update, patch, delete); a server-side apply that creates the
object needs `create` as well as `patch`, as Kubernetes authorizes it. Discovery and other
non-resource URLs are allowed (system:discovery grants them to every authenticated user).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infercost.sandbox import status

OPERATOR_TOKEN = "sandbox-operator-token"
# The operator's own namespace (its service account's): the chart's namespaced Role (leader
# election's Lease, `charts/infercost/files/leader-election-rules.yaml`) is bound there only.
OPERATOR_NAMESPACE = "infercost"
OPERATOR_USER = "system:serviceaccount:infercost:infercost"


@dataclass(frozen=True)
class Rule:
    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]

    def allows(self, *, group: str, resource: str, verb: str) -> bool:
        return (
            (group in self.groups or "*" in self.groups)
            and (resource in self.resources or "*" in self.resources)
            and (verb in self.verbs or "*" in self.verbs)
        )


@dataclass(frozen=True)
class Authorizer:
    """The rules bound to the operator's token."""

    rules: tuple[Rule, ...]
    role_rules: tuple[Rule, ...] = ()  # granted in `role_namespace` only (a RoleBinding)
    role_namespace: str = OPERATOR_NAMESPACE
    token: str = OPERATOR_TOKEN
    user: str = OPERATOR_USER

    @classmethod
    def from_rules(
        cls, rules: Iterable[dict[str, Any]], role_rules: Iterable[dict[str, Any]] = ()
    ) -> Authorizer:
        return cls(rules=_parsed(rules), role_rules=_parsed(role_rules))

    @classmethod
    def from_files(cls, cluster: Path, role: Path | None = None) -> Authorizer:
        """A ClusterRole's rules, and a Role's bound in the operator's namespace."""
        return cls.from_rules(
            yaml.safe_load(cluster.read_text()),
            yaml.safe_load(role.read_text()) if role is not None else (),
        )

    def restricts(self, authorization: str | None) -> bool:
        return authorization == f"Bearer {self.token}"

    def allows(self, *, group: str, resource: str, verb: str, namespace: str | None = None) -> bool:
        rules = self.rules + (self.role_rules if namespace == self.role_namespace else ())
        return any(rule.allows(group=group, resource=resource, verb=verb) for rule in rules)

    def check(
        self, *, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> None:
        """Raise 403 Forbidden unless a rule grants `verb` on `resource` (`plural/sub`)."""
        if self.allows(group=group, resource=resource, verb=verb, namespace=namespace):
            return
        raise forbidden(
            user=self.user,
            verb=verb,
            group=group,
            resource=resource,
            namespace=namespace,
            name=name,
        )


def forbidden(
    *, user: str, verb: str, group: str, resource: str, namespace: str | None, name: str | None
) -> status.ApiError:
    plural = resource.partition("/")[0]
    target = status.qualified(plural, group) + (f' "{name}"' if name else "")
    what = f'resource "{resource}"'
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return status.ApiError(
        code=403,
        reason="Forbidden",
        message=f'{target} is forbidden: User "{user}" cannot {verb} {what} '
        f'in API group "{group}" {where}',
        details={"name": name or "", "group": group, "kind": plural},
    )


def _parsed(rules: Iterable[dict[str, Any]]) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            groups=frozenset(rule.get("apiGroups", [])),
            resources=frozenset(rule.get("resources", [])),
            verbs=frozenset(rule.get("verbs", [])),
        )
        for rule in rules
    )
