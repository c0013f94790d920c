"""A BudgetPolicy's Cap split across services (engine/team_budget.py), through the real planner.

Every plan here comes from `planner.decide`: the split asks each service what it would plan
with the money left, and the final plans are decided again with the shares the split gave.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, L4, decision, pool, service, variant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infercost.api.service import BudgetAction
from infercost.engine.model import DecisionInput, Plan, Reason, TeamCeiling
from infercost.engine.planner import decide
from infercost.engine.team_budget import Member, Split, split_budget, tightest

pytestmark = pytest.mark.unit

PROPERTY = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Half the throughput per replica of GPU on the same L4: a worse buy per dollar.
SLOW = variant("slow", accelerators={"nvidia-l4": [(1, 50.0, 5.0), (8, 200.0, 20.0)]})


def members(inputs: dict[str, tuple[int, DecisionInput]]) -> list[Member]:
    def plan_at(inp: DecisionInput) -> object:
        return lambda share: decide(replace(inp, team_budget=share))

    return [
        Member(name=name, priority=priority, plan_at=plan_at(inp))  # type: ignore[arg-type]
        for name, (priority, inp) in inputs.items()
    ]


def final_plans(split: Split, inputs: dict[str, tuple[int, DecisionInput]]) -> dict[str, Plan]:
    shares = tightest([split])
    return {
        name: decide(replace(inp, team_budget=shares.get(name)))
        for name, (_, inp) in inputs.items()
    }


def capacity(plan: Plan) -> float:
    return sum(a.replicas * a.throughput_per_replica for a in plan.allocations)


def condition(plan: Plan, kind: str) -> tuple[bool, str, str]:
    (found,) = [c for c in plan.conditions if c.type == kind]
    return found.ok, found.reason, found.message


def test_under_the_cap_nothing_is_limited_and_plans_are_unchanged() -> None:
    pools = [pool("l4", price=1.0)]
    inputs = {
        "ml/a": (0, decision(service([GPU]), pools, demand=500.0)),
        "ml/b": (5, decision(service([GPU]), pools, demand=300.0)),
    }
    split = split_budget(policy="team", cap=100.0, action=BudgetAction.CAP, members=members(inputs))
    assert split.limited == ()
    assert not split.exceeded
    assert sum(s.ceiling.ceiling for s in split.shares if s.ceiling) == pytest.approx(100.0)
    for name, plan in final_plans(split, inputs).items():
        alone = decide(inputs[name][1])
        assert plan.allocations == alone.allocations
        assert condition(plan, "WithinBudget")[:2] == (True, "WithinBudget")


def test_over_the_cap_the_higher_priority_is_served_first() -> None:
    pools = [pool("l4", price=1.0)]
    # Each wants 3 replicas ($3/h: 1000/s x 1.2 headroom over 400/s); the Cap buys 4.
    inputs = {
        "ml/low": (0, decision(service([GPU]), pools, demand=1000.0)),
        "ml/high": (10, decision(service([GPU]), pools, demand=1000.0)),
    }
    split = split_budget(policy="team", cap=4.0, action=BudgetAction.CAP, members=members(inputs))
    assert [s.name for s in split.shares] == ["ml/high", "ml/low"]
    assert split.limited == ("ml/low",)
    assert split.exceeded
    plans = final_plans(split, inputs)
    assert plans["ml/high"].hourly_cost == pytest.approx(3.0)
    assert plans["ml/low"].hourly_cost == pytest.approx(1.0)
    ok, reason, message = condition(plans["ml/low"], "WithinBudget")
    assert (ok, reason) == (True, Reason.TEAM_BUDGET_LIMITED.value)
    assert "BudgetPolicy team" in message
    assert "$4.00/h" in message
    assert condition(plans["ml/high"], "WithinBudget")[1] == "WithinBudget"


def test_equal_priority_goes_to_the_most_throughput_per_dollar_first() -> None:
    pools = [pool("l4", price=1.0)]
    inputs = {
        "ml/fast": (0, decision(service([GPU]), pools, demand=1000.0)),
        "ml/slow": (0, decision(service([SLOW]), pools, demand=500.0)),
    }
    split = split_budget(policy="team", cap=4.0, action=BudgetAction.CAP, members=members(inputs))
    assert [s.name for s in split.shares] == ["ml/fast", "ml/slow"]
    assert split.limited == ("ml/slow",)


def test_the_service_own_budget_holds_when_it_is_the_tighter() -> None:
    pools = [pool("l4", price=1.0)]
    own = service([GPU], budget={"maxHourlyCost": 1.0, "onExceeded": "Cap"})
    inputs = {
        "ml/own": (10, decision(own, pools, demand=1000.0)),
        "ml/other": (0, decision(service([GPU]), pools, demand=1000.0)),
    }
    split = split_budget(policy="team", cap=5.0, action=BudgetAction.CAP, members=members(inputs))
    plans = final_plans(split, inputs)
    assert plans["ml/own"].hourly_cost == pytest.approx(1.0)
    # The own Cap left $4/h of the team's five: the other service gets its three replicas.
    assert plans["ml/other"].hourly_cost == pytest.approx(3.0)
    assert condition(plans["ml/own"], "WithinBudget")[1] == Reason.BUDGET_LIMITED.value


def test_warn_caps_nothing_and_says_exceeded() -> None:
    pools = [pool("l4", price=1.0)]
    inputs = {name: (0, decision(service([GPU]), pools, demand=1000.0)) for name in ("a", "b")}
    split = split_budget(policy="team", cap=4.0, action=BudgetAction.WARN, members=members(inputs))
    assert split.exceeded
    assert split.spend == pytest.approx(6.0)
    assert all(share.ceiling is None for share in split.shares)
    assert tightest([split]) == {}


def test_a_service_under_two_policies_keeps_under_the_smaller_share() -> None:
    pools = [pool("l4", price=1.0)]
    inputs = {name: (0, decision(service([GPU]), pools, demand=1000.0)) for name in ("a", "b")}
    wide = split_budget(policy="wide", cap=6.0, action=BudgetAction.CAP, members=members(inputs))
    narrow_in = {"a": inputs["a"]}
    narrow = split_budget(
        policy="narrow", cap=2.0, action=BudgetAction.CAP, members=members(narrow_in)
    )
    shares = tightest([wide, narrow])
    assert shares["a"].policy == "narrow"
    assert shares["a"].ceiling == pytest.approx(2.0)
    assert shares["b"].policy == "wide"


def test_a_held_fleet_is_trimmed_to_its_share_when_prices_rise() -> None:
    """Metrics missing: the planner keeps what runs, but a team share, like a Cap, is money."""
    from engine_factories import running

    dear = [pool("l4", price=2.0)]
    held = decision(service([GPU]), dear, current={("gpu", "l4"): running(3)})
    share = TeamCeiling(policy="team", ceiling=4.0, cap=4.0)
    plan = decide(replace(held, team_budget=share))
    assert plan.hourly_cost <= 4.0 + 1e-9
    assert any(a.reason == Reason.BUDGET_LIMITED for a in plan.actions)


@st.composite
def teams(draw: st.DrawFn) -> tuple[float, dict[str, tuple[int, DecisionInput]]]:
    price_l4 = draw(st.floats(0.2, 3.0))
    price_spot = draw(st.floats(0.05, 1.5))
    pools = [pool("l4", price=price_l4), pool("l4-spot", price=price_spot, spot=True)]
    inputs = {}
    for index in range(draw(st.integers(1, 4))):
        chosen = draw(st.sampled_from([GPU, SLOW, variant("both", accelerators=L4)]))
        extra = {}
        if draw(st.booleans()):
            extra["budget"] = {"maxHourlyCost": draw(st.floats(0.5, 6.0)), "onExceeded": "Cap"}
        spec = service([chosen], scaling={"maxReplicas": 12}, **extra)
        demand = draw(st.floats(0.0, 4000.0))
        inputs[f"ns/s{index}"] = (draw(st.integers(0, 2)), decision(spec, pools, demand=demand))
    return draw(st.floats(0.3, 6.0)), inputs


@PROPERTY
@given(teams())
def test_property_the_cap_holds_and_priority_is_respected(
    team: tuple[float, dict[str, tuple[int, DecisionInput]]],
) -> None:
    cap, inputs = team
    split = split_budget(policy="team", cap=cap, action=BudgetAction.CAP, members=members(inputs))
    plans = final_plans(split, inputs)
    assert sum(plan.hourly_cost for plan in plans.values()) <= cap + 1e-6
    assert sum(s.ceiling.ceiling for s in split.shares if s.ceiling) <= cap + 1e-6
    for share in split.shares:
        if not share.limited:
            assert plans[share.name].hourly_cost == pytest.approx(share.wanted, abs=1e-6)
            continue
        priority, inp = inputs[share.name]
        lower = [n for n in inputs if inputs[n][0] < priority]
        # All the money the lower-priority services hold, given to this one, buys it nothing.
        given_up = sum(plans[n].hourly_cost for n in lower)
        richer = decide(
            replace(
                inp,
                team_budget=TeamCeiling(
                    policy="team", ceiling=plans[share.name].hourly_cost + given_up, cap=cap
                ),
            )
        )
        assert capacity(richer) <= capacity(plans[share.name]) * (1 + 1e-6) + 1e-9
