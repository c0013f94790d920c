"""The user-facing API: pydantic models of the custom resources, the single source of the CRDs.

Owns: the `infercost.io/v1alpha1` kinds (spec and status) and their generation into
`apiextensions.k8s.io/v1` CustomResourceDefinitions.

Must not import: the engine, manifests, adapters, kopf, kubernetes clients, asyncio or the
clock. These are plain data types that every other layer may depend on.
"""

from infercost.api.v1alpha1 import (
    GROUP,
    VERSION,
    AcceleratorPool,
    InferenceService,
)

__all__ = ["GROUP", "VERSION", "AcceleratorPool", "InferenceService"]
