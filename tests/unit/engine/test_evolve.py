"""`evolve` gives what `dataclasses.replace` gives for every engine dataclass it is used on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from infercost.engine.evolve import evolve
from infercost.engine.model import ServiceState, SpikeRecord
from infercost.engine.options import Option
from infercost.engine.placement import Problem, Solution


def _option(pool: str = "l4") -> Option:
    return Option(
        variant="v",
        pool=pool,
        accelerator_type="nvidia-l4",
        hourly_cost=0.8,
        throughput=400.0,
        batching=None,
        spot=False,
        free_replicas=12,
        startup_seconds=150.0,
    )


CASES = [
    (_option(), {"throughput": 250.0}),
    (_option(), {"free_replicas": 3}),
    (
        Problem(options=(_option(), _option("t4")), required=900.0, min_total=1, max_total=9),
        {"required": 1200.0, "max_total": 20},
    ),
    (
        Problem(options=(_option(),), required=900.0, min_total=1, max_total=9),
        {"options": (_option("a10g"),), "min_total": 0},
    ),
    (Solution(replicas={("v", "l4"): 3}, hourly_cost=2.4, capacity=1200.0, met=True), {}),
    (
        Solution(replicas={("v", "l4"): 3}, hourly_cost=2.4, capacity=1200.0, met=True),
        {"capacity": 900.0},
    ),
    (ServiceState(), {"batching_since": {("v", "l4"): (5.0, 1)}}),
    (SpikeRecord(), {"baseline": 12.5, "open": True}),
]


@pytest.mark.parametrize(("obj", "changes"), CASES)
def test_evolve_equals_replace(obj: object, changes: dict[str, object]) -> None:
    evolved = evolve(obj, **changes)
    expected = replace(obj, **changes)  # type: ignore[type-var]
    assert evolved == expected
    assert type(evolved) is type(expected)
    assert evolved is not obj
    for name, value in changes.items():
        assert getattr(evolved, name) is value


def test_evolve_leaves_the_original_unchanged() -> None:
    option = _option()
    evolve(option, throughput=1.0)
    assert option.throughput == 400.0


def test_evolve_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field 'througput'"):
        evolve(_option(), througput=1.0)


def test_evolve_refuses_a_class_with_post_init() -> None:
    @dataclass(frozen=True)
    class Normalised:
        value: float

        def __post_init__(self) -> None:
            object.__setattr__(self, "value", abs(self.value))

    with pytest.raises(TypeError, match="__post_init__"):
        evolve(Normalised(-1.0), value=-2.0)
