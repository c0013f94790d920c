"""Bad input, fuzzed: pydantic, the CRD schema and its CEL rules give the same verdict.

Every generated object (a valid example with 0-3 hostile mutations) goes through the three
checks a manifest meets: `infercost plan`'s pydantic models, the API server's structural
schema (strict field validation) and the CRD's CEL rules. They must agree on accept/refuse,
refusals must name a field, and nothing may raise anything but a validation error.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.reliability.mutations import BASES, specs
from tests.support.crdcheck import api_server_errors, pydantic_errors

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TALLY: dict[str, int] = {"tried": 0, "refused": 0}

# cel-python raises the recursion limit the first time it compiles; do that before hypothesis
# records the limit, or hypothesis warns (an error under -W error) that it changed mid-test.
for _kind, _bodies in BASES.items():
    api_server_errors(_bodies[0])


def verdicts(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(pydantic's errors, the API server's errors); an exception here is a crash."""
    return pydantic_errors(body), api_server_errors(body)


def check_same_verdict(body: dict[str, Any]) -> None:
    model, server = verdicts(body)
    note(f"pydantic: {model[:3]}\napi server: {server[:3]}")
    TALLY["tried"] += 1
    TALLY["refused"] += bool(model)
    assert bool(model) == bool(server), (model[:3], server[:3])
    for error in model:
        field, _, message = error.partition(": ")
        assert field, f"a refusal must name a field: {error!r}"
        assert message, f"a refusal must say what is wrong: {error!r}"


@FUZZ
@given(specs("InferenceService"))
def test_inference_service_verdicts_agree(body: dict[str, Any]) -> None:
    check_same_verdict(body)


@FUZZ
@given(specs("AcceleratorPool"))
def test_accelerator_pool_verdicts_agree(body: dict[str, Any]) -> None:
    check_same_verdict(body)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    st.sampled_from(BASES["InferenceService"]).map(copy.deepcopy),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.sampled_from(
        [
            ("slo", "latencyMs"),
            ("scaling", "headroom"),
            ("placement", "maxSpotFraction"),
            ("variants", 0, "profile", 0, "throughput"),
        ]
    ),
)
def test_non_finite_numbers_refused_by_the_models(
    body: dict[str, Any], value: float, path: tuple[str | int, ...]
) -> None:
    """YAML can carry .nan and .inf (JSON cannot reach the API server with them): plan refuses."""
    node: Any = body["spec"]
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[path[-1]] = value
    errors = pydantic_errors(body)
    field = "spec." + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)[1:]
    assert f"{field}: Input should be a finite number" in errors, errors
