"""Variant: one way to serve a model (an artefact for some accelerator kinds) and its profile."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from infercost.api.common import AcceleratorType, DnsLabel, Model, cel, cel_rules
from infercost.api.pod import VariantPod

INT_OR_STRING: dict[str, Any] = {"x-kubernetes-int-or-string": True}
MSG_PROFILE_TYPE = (
    "variants[].profile[].acceleratorType must be one of the variant's acceleratorTypes"
)
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9.]+[a-zA-Z]*$", max_length=32)]


class ProfilePoint(Model):
    """One benchmark measurement of a replica (perf_analyzer or Model Analyzer)."""

    accelerator_type: AcceleratorType = Field(
        description="Accelerator the point was measured on; one of the variant's acceleratorTypes."
    )
    batch_size: int = Field(
        strict=True, ge=1, le=4096, description="Batch size the point was measured at."
    )
    throughput: float = Field(
        strict=True,
        allow_inf_nan=False,
        gt=0,
        le=1e7,
        description="Sustained inferences per second of one replica at that batch size.",
    )
    p99_latency_ms: float = Field(
        strict=True,
        allow_inf_nan=False,
        gt=0,
        le=600000,
        description="p99 end-to-end latency, in milliseconds, at that throughput.",
    )


class Resources(Model):
    """CPU and memory requested by each Triton container, besides the accelerator."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    cpu: Quantity = Field(
        default="1",
        description="CPU request, a Kubernetes quantity such as 2 or 500m.",
        json_schema_extra=INT_OR_STRING,
    )
    memory: Quantity = Field(
        default="2Gi",
        description="Memory request and limit, a Kubernetes quantity such as 4Gi.",
        json_schema_extra=INT_OR_STRING,
    )


class Variant(Model):
    """One way to serve the model (a compiled artefact for some accelerator kinds)."""

    model_config = cel_rules(
        cel(
            "self.profile.all(p, p.acceleratorType in self.acceleratorTypes)",
            MSG_PROFILE_TYPE,
            ".profile",
        )
    )

    name: DnsLabel = Field(description="Variant name, a DNS label, unique within the service.")
    accelerator_types: list[AcceleratorType] = Field(
        min_length=1,
        max_length=16,
        description="Accelerator kinds this variant runs on, matched against pools' accelerator.type.",
    )
    image: str = Field(min_length=1, max_length=512, description="Triton server container image.")
    model_repository: str = Field(
        min_length=1,
        max_length=1024,
        description="Triton --model-repository of this variant, e.g. s3://models/bert-trt.",
    )
    accelerators_per_replica: int = Field(
        strict=True,
        default=1,
        ge=1,
        le=64,
        description="Accelerator resources each replica requests.",
    )
    startup_seconds: int = Field(
        strict=True,
        default=60,
        ge=0,
        le=3600,
        description="Seconds a replica takes to load the model.",
    )
    accuracy: float | None = Field(
        strict=True,
        allow_inf_nan=False,
        default=None,
        ge=0,
        le=1,
        description="Quality of this variant (0-1) compared against placement.minAccuracy.",
    )
    resources: Resources = Field(
        default_factory=Resources, description="CPU and memory each replica requests."
    )
    pod: VariantPod = Field(
        default_factory=VariantPod,
        description="Env, volumes and mounts this variant adds to spec.pod (e.g. its model volume).",
    )
    profile: list[ProfilePoint] = Field(
        min_length=1,
        max_length=64,
        description="Measured throughput and latency per accelerator type and batch size.",
    )

    @model_validator(mode="after")
    def _profile_matches_types(self) -> Variant:
        for index, point in enumerate(self.profile):
            if point.accelerator_type not in self.accelerator_types:
                raise ValueError(
                    f"{MSG_PROFILE_TYPE}: profile[{index}].acceleratorType "
                    f"{point.accelerator_type!r} is not in {self.accelerator_types}"
                )
        return self
