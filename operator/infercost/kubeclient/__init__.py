"""The one Kubernetes HTTP client of the project: credentials and requests, nothing else.

`credentials` finds and refreshes how to reach the API server (in-cluster service account,
kubeconfig with exec plugins and client certificates: the `kubernetes` package's loaders);
`transport` sends requests over one aiohttp session with the Kubernetes retry rules
(Retry-After on 429/503, backoff on 5xx, a fresh login on 401). The operator's KubeApi
(adapters/kubernetes.py) and the sandbox's tools (sandbox/client.py) are built on it; it
imports no other infercost module.
"""

from infercost.kubeclient.credentials import (
    Credentials,
    CredentialsError,
    CredentialSource,
    FixedCredentials,
    InClusterCredentials,
    KubeconfigCredentials,
    discover,
    ssl_context,
)
from infercost.kubeclient.transport import ApiError, RetryPolicy, Transport

__all__ = [
    "ApiError",
    "CredentialSource",
    "Credentials",
    "CredentialsError",
    "FixedCredentials",
    "InClusterCredentials",
    "KubeconfigCredentials",
    "RetryPolicy",
    "Transport",
    "discover",
    "ssl_context",
]
