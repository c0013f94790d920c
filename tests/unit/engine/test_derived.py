"""What the engine derives from a spec is kept while the spec lives, for any number of specs,
and found again by every decision of the spec's service.

A global table capped at a few thousand entries and emptied when full evicted, past ~1,500
services, exactly what the next round over the services needed: at 10,000 services every
decision built its curves, option facts and batching model again (issue 23).
"""

from __future__ import annotations

import gc

import pytest

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import Batching, InferenceServiceSpec
from infercost.engine import cost, options, routing
from infercost.engine.derived import Derived
from infercost.engine.model import PoolView
from infercost.engine.options import Option
from infercost.engine.placement import Problem, Solution

pytestmark = pytest.mark.unit


def _spec(index: int) -> InferenceServiceSpec:
    return InferenceServiceSpec.model_validate(
        {
            "model": {"name": "bert"},
            "slo": {"latencyMs": 50},
            "variants": [
                {
                    "name": "gpu",
                    "acceleratorTypes": ["nvidia-l4"],
                    "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                    "modelRepository": f"s3://models/bert-{index}",
                    "profile": [
                        {
                            "acceleratorType": "nvidia-l4",
                            "batchSize": 1,
                            "throughput": 800 + index % 7,
                            "p99LatencyMs": 2.0,
                        }
                    ],
                }
            ],
        }
    )


def test_every_service_keeps_its_curves_over_a_round_of_many_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    specs = [_spec(index) for index in range(6_000)]  # more than the old table's 4,096
    built = 0
    original = cost._profile_curve

    def counting(*args: object, **kwargs: object) -> cost.ProfileCurve | None:
        nonlocal built
        built += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cost, "_profile_curve", counting)
    for spec in specs:
        assert cost.profile_curve(spec.variants[0], "nvidia-l4") is not None
        assert cost.profile_curve(spec.variants[0], "nvidia-t4") is None
    assert built == 2 * len(specs)
    for spec in specs:  # the next round: every answer from memory, None ones too
        cost.profile_curve(spec.variants[0], "nvidia-l4")
        cost.profile_curve(spec.variants[0], "nvidia-t4")
    assert built == 2 * len(specs)


def test_every_service_keeps_its_solved_placements_over_a_round_of_many_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 3,000 services posing 3 problems each: more than the old global table's 8,192.
    owners = [Batching() for _ in range(3_000)]
    option = Option(
        variant="gpu",
        pool="l4",
        accelerator_type="nvidia-l4",
        hourly_cost=0.8,
        throughput=800.0,
        batching=None,
        spot=False,
        free_replicas=None,
        startup_seconds=120.0,
    )
    solved = 0
    original = routing._solve_routed

    def counting(problem: Problem, *, equal_share: bool, name_limits: bool) -> Solution:
        nonlocal solved
        solved += 1
        return original(problem, equal_share=equal_share, name_limits=name_limits)

    monkeypatch.setattr(routing, "_solve_routed", counting)

    def one_round() -> None:
        for index, owner in enumerate(owners):
            for what_if in range(3):  # now, at the held peak, one headroom higher
                problem = Problem(
                    options=(option,), required=index + what_if * 0.5, min_total=1, max_total=50
                )
                assert routing.solve_routed(problem, owner=owner, equal_share=True).met

    one_round()
    assert solved == 3 * len(owners)
    one_round()  # the next round: every problem from memory
    assert solved == 3 * len(owners)


def test_an_owners_table_goes_with_the_owner() -> None:
    derived: Derived[int] = Derived()
    owners = [Batching(), Batching()]
    for number, owner in enumerate(owners):
        derived.put(owner, "key", number)
    assert len(derived) == 2
    assert [derived.get(owner, "key") for owner in owners] == [0, 1]
    del owners[0]
    gc.collect()
    assert len(derived) == 1
    assert derived.get(owners[0], "key") == 1


def test_an_owners_table_is_bounded_by_the_keys_that_vary_apart_from_it() -> None:
    derived: Derived[int] = Derived(per_owner=3)
    owner = Batching()
    for key in range(3):
        derived.put(owner, key, key)
    derived.put(owner, 3, 3)  # full: emptied, then this one kept
    assert [derived.get(owner, key) for key in range(4)] == [None, None, None, 3]


def test_a_pools_labels_built_anew_for_each_decision_still_find_its_option_facts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _spec(0)
    pool_spec = AcceleratorPoolSpec.model_validate(
        {
            "accelerator": {"type": "nvidia-l4", "resourceName": "nvidia.com/gpu", "perNode": 1},
            "pricing": {"hourlyPerNode": 0.8},
        }
    )
    checked = 0
    original = options._static_why_not

    def counting(**kwargs: object) -> str | None:
        nonlocal checked
        checked += 1
        return original(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(options, "_static_why_not", counting)
    for _ in range(3):  # a caller (the operator's picture) may build `{}` anew each time
        labels: dict[str, str] = {}
        pool = PoolView(name="l4", labels=labels, spec=pool_spec, hourly_per_node=0.8)
        options._static(spec, spec.variants[0], pool)
    assert checked == 1
