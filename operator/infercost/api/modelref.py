"""ModelRef: which Triton model (and, optionally, which version of it) a service serves."""

from __future__ import annotations

from pydantic import Field

from infercost.api.common import Model


class ModelRef(Model):
    """The Triton model to load."""

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="Model name inside the model repository (Triton --load-model).",
    )
    version: str | None = Field(
        default=None,
        max_length=19,
        pattern=r"^[1-9][0-9]*$",
        description=(
            "Model version to serve (a numbered folder of the model in the repository); the "
            "model config then carries version_policy {specific {versions: [N]}}. Empty: "
            "Triton's policy (the model's own, by default the latest version)."
        ),
    )
