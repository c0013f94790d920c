"""The resources the sandbox API server serves: ours, the built-ins our children use, and others'.

KServe's `serving.kserve.io` InferenceService is registered on request so tests can show the
operator leaves a same-named kind of another group alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kmock

ALL = {"get", "list", "watch", "create", "patch", "update", "delete"}
_ResourceRow = tuple[str, str, bool, set[str]]

CORE: tuple[_ResourceRow, ...] = (
    ("infercost.io/v1alpha1/inferenceservices", "InferenceService", True, {"status"}),
    ("infercost.io/v1alpha1/acceleratorpools", "AcceleratorPool", False, {"status"}),
    ("infercost.io/v1alpha1/budgetpolicies", "BudgetPolicy", False, {"status"}),
    ("apps/v1/deployments", "Deployment", True, {"status", "scale"}),
    ("v1/services", "Service", True, {"status"}),
    ("v1/configmaps", "ConfigMap", True, set()),
    ("v1/secrets", "Secret", True, set()),
    ("v1/serviceaccounts", "ServiceAccount", True, set()),
    ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding", True, set()),
    ("v1/events", "Event", True, set()),
    ("v1/pods", "Pod", True, {"status"}),
    ("v1/nodes", "Node", False, {"status"}),
    ("v1/namespaces", "Namespace", False, {"status"}),
    ("policy/v1/poddisruptionbudgets", "PodDisruptionBudget", True, {"status"}),
    ("networking.k8s.io/v1/networkpolicies", "NetworkPolicy", True, set()),
    ("events.k8s.io/v1/events", "Event", True, set()),
    ("apiextensions.k8s.io/v1/customresourcedefinitions", "CustomResourceDefinition", False, set()),
    ("kopf.dev/v1/clusterkopfpeerings", "ClusterKopfPeering", False, set()),
    ("kopf.dev/v1/kopfpeerings", "KopfPeering", True, set()),
    ("coordination.k8s.io/v1/leases", "Lease", True, set()),
)
PROMETHEUS_OPERATOR: tuple[_ResourceRow, ...] = (
    ("monitoring.coreos.com/v1/podmonitors", "PodMonitor", True, set()),
)
# Gateway API (spec.routing): served where `gateway_api`, validated with its real CRD.
GATEWAY_API: tuple[_ResourceRow, ...] = (
    ("gateway.networking.k8s.io/v1/httproutes", "HTTPRoute", True, {"status"}),
)
GATEWAY_API_CRD = Path(__file__).with_name("gateway_httproutes.yaml")
KSERVE: tuple[_ResourceRow, ...] = (
    ("serving.kserve.io/v1beta1/inferenceservices", "InferenceService", True, {"status"}),
)


# Our short names and categories in discovery, as the CRDs declare them (`kubectl get ics`).
# Built-ins get none: kmock repeats a resource's short names on its subresources, which makes
# kubectl's own expansions (po, deploy) ambiguous; their full names work.


def _names(path: str) -> tuple[list[str], list[str]]:
    """(shortNames, categories) of one of our resources, from the generated CRDs."""
    from infercost.api.crdgen import all_crds  # the CRDs are the single source of our names

    plural = path.rsplit("/", 1)[1]
    if path.startswith("infercost.io/"):
        for crd in all_crds().values():
            names = crd["spec"]["names"]
            if names["plural"] == plural:
                return list(names.get("shortNames", [])), list(names.get("categories", []))
    return [], []


def register(
    resources: Any, *, prometheus_operator: bool, kserve: bool, gateway_api: bool = False
) -> None:
    """Declare the served resources (discovery, list, watch) in a kmock resources array."""
    rows = CORE + (PROMETHEUS_OPERATOR if prometheus_operator else ()) + (KSERVE if kserve else ())
    rows += GATEWAY_API if gateway_api else ()
    for path, kind, namespaced, subresources in rows:
        short, categories = _names(path) if not path.startswith("serving.kserve.io/") else ([], [])
        resources[path] = kmock.ResourceInfo(
            kind=kind,
            singular=kind.lower(),
            namespaced=namespaced,
            verbs=ALL,
            shortnames=set(short),
            categories=set(categories),
            subresources=subresources,
        )
