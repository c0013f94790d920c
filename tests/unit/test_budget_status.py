"""A BudgetPolicy's status as the operator writes it (controller/budgets.py): spend, the
services held, and the Exceeded condition, whose time moves only when it flips."""

from __future__ import annotations

import pytest

from infercost.api.budget import BudgetPolicyStatus
from infercost.api.service import BudgetAction
from infercost.controller.budgets import desired_status
from infercost.engine.model import TeamCeiling
from infercost.engine.team_budget import Share, Split

pytestmark = pytest.mark.unit

T0, T1 = 1_800_000_000.0, 1_800_000_060.0


def split(action: BudgetAction, *, wanted: tuple[float, float], limited: bool) -> Split:
    warn = action == BudgetAction.WARN
    ceiling = None if warn else TeamCeiling(policy="p", ceiling=1, cap=3)
    second = wanted[1] if warn else min(wanted[1], 3 - wanted[0])  # Warn plans what is wanted
    shares = (
        Share(name="ml/a", priority=1, wanted=wanted[0], planned=wanted[0], ceiling=ceiling,
              limited=False),
        Share(name="ml/b", priority=0, wanted=wanted[1], planned=second,
              ceiling=ceiling, limited=limited),
    )  # fmt: skip
    return Split(policy="p", cap=3.0, action=action, shares=shares)


def test_a_cap_that_binds_names_the_held_service_and_the_spend() -> None:
    status = desired_status(None, split(BudgetAction.CAP, wanted=(2.0, 2.0), limited=True), now=T0)
    BudgetPolicyStatus.model_validate(status)  # what the CRD's status schema accepts
    assert status["spendPerHour"] == pytest.approx(3.0)
    assert status["limitedServices"] == ["ml/b"]
    (exceeded,) = status["conditions"]
    assert (exceeded["status"], exceeded["reason"]) == ("True", "DemandOverLimit")
    assert "want $4.00/h of $3.00/h" in exceeded["message"]
    assert "1 held to their share" in exceeded["message"]


def test_warn_caps_nothing_and_says_so() -> None:
    status = desired_status(
        None, split(BudgetAction.WARN, wanted=(2.0, 2.0), limited=False), now=T0
    )
    assert status["spendPerHour"] == pytest.approx(4.0)
    assert status["limitedServices"] == []
    (exceeded,) = status["conditions"]
    assert exceeded["status"] == "True"
    assert "nothing capped (onExceeded: Warn)" in exceeded["message"]


def test_the_condition_time_moves_only_when_it_flips() -> None:
    over = desired_status(None, split(BudgetAction.CAP, wanted=(2.0, 2.0), limited=True), now=T0)
    still = desired_status(over, split(BudgetAction.CAP, wanted=(2.0, 1.5), limited=True), now=T1)
    assert (
        still["conditions"][0]["lastTransitionTime"] == over["conditions"][0]["lastTransitionTime"]
    )
    under = desired_status(still, split(BudgetAction.CAP, wanted=(1.0, 1.0), limited=False), now=T1)
    assert under["conditions"][0]["status"] == "False"
    assert (
        under["conditions"][0]["lastTransitionTime"] != over["conditions"][0]["lastTransitionTime"]
    )
