"""The one Kubernetes HTTP client of the project: credentials and requests, nothing else.

Owns: how to reach the API server and keep reaching it (`credentials`: in-cluster service
account with the token file re-read on rotation, kubeconfig with `exec` credential plugins and
client certificates, via the `kubernetes` package's loaders; a fresh load after a 401) and
sending requests (`transport`: one aiohttp session, Retry-After on 429/503, backoff on 5xx).
The operator's KubeApi (adapters/kubernetes.py) and the sandbox's tools (sandbox/client.py)
are built on it, and kopf's login handler (controller/runner.py) asks the same source.

Must not import: any other infercost module, nor kopf (import-linter contract): the sandbox,
which must not import the operator, uses it too.
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
