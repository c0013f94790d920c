"""The CRD generator rewrites pydantic's JSON schema into a structural OpenAPI 3.0 schema."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import Field

from infercost.api.common import Model, cel, cel_rules
from infercost.api.crdgen import crd_for

pytestmark = pytest.mark.unit


class _Inner(Model):
    """A nested object."""

    model_config = cel_rules(cel("self.low <= self.high", "inner.low must not exceed inner.high"))

    low: int = Field(default=0, description="Lower end.")
    high: int = Field(default=1, description="Upper end.")


class _Spec(Model):
    """A toy spec."""

    ratio: float = Field(gt=0, lt=1, description="Strictly between 0 and 1.")
    limit: float | None = Field(default=None, ge=0, description="Optional, not negative.")
    inner: _Inner | None = Field(default=None, description="An optional nested object.")
    items: list[_Inner] = Field(default_factory=list, max_length=4, description="Nested list.")
    labels: dict[str, str] = Field(default_factory=dict, description="A string map.")


class _Toy(Model):
    """A toy kind."""

    kind_name: ClassVar[str] = "Toy"
    plural: ClassVar[str] = "toys"
    singular: ClassVar[str] = "toy"
    short_names: ClassVar[tuple[str, ...]] = ()
    namespaced: ClassVar[bool] = True
    printer_columns: ClassVar[tuple[dict[str, str], ...]] = ()

    spec: _Spec
    status: _Inner | None = None


def _spec_schema(kind: type[Model]) -> dict[str, Any]:
    (version,) = crd_for(kind)["spec"]["versions"]
    spec: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


def test_exclusive_bounds_become_minimum_and_maximum_with_boolean_flags() -> None:
    ratio = _spec_schema(_Toy)["properties"]["ratio"]
    assert ratio["minimum"] == 0
    assert ratio["exclusiveMinimum"] is True
    assert ratio["maximum"] == 1
    assert ratio["exclusiveMaximum"] is True


def test_optional_fields_are_nullable_not_unions() -> None:
    limit = _spec_schema(_Toy)["properties"]["limit"]
    assert limit == {
        "minimum": 0,
        "type": "number",
        "description": "Optional, not negative.",
        "nullable": True,
    }


def test_nested_models_are_inlined_with_their_cel_rules() -> None:
    properties = _spec_schema(_Toy)["properties"]
    for inner in (properties["inner"], properties["items"]["items"]):
        assert "$ref" not in inner
        assert inner["type"] == "object"
        assert inner["properties"]["low"]["default"] == 0
        assert inner["x-kubernetes-validations"] == [
            {"rule": "self.low <= self.high", "message": "inner.low must not exceed inner.high"}
        ]


def test_closed_objects_drop_additional_properties_false_and_maps_keep_their_values() -> None:
    spec = _spec_schema(_Toy)
    assert "additionalProperties" not in spec
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_status_is_not_nullable_at_the_root() -> None:
    (version,) = crd_for(_Toy)["spec"]["versions"]
    assert "nullable" not in version["schema"]["openAPIV3Schema"]["properties"]["status"]


class _UnionSpec(Model):
    """A spec with a union Kubernetes cannot express."""

    value: int | str = Field(description="Either.")


class _UnionKind(_Toy):
    """A kind with a union."""

    spec: _UnionSpec  # type: ignore[assignment]


def test_a_union_of_two_types_is_refused_with_the_offending_node() -> None:
    with pytest.raises(ValueError, match="union of 2 types"):
        crd_for(_UnionKind)
