"""`infercost plan` with BudgetPolicy documents: each team Cap split across its services.

Two passes, as the operator's round would run them: the services are planned without the
team limits first (each sees what earlier services took on shared pools), the split asks
each of them what it would plan with the money left (engine/team_budget.py), then every
service is planned again under its share. The shares never sum above the Cap, so neither do
the final plans, whatever the pools' room does between the passes (engine/team_round.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from infercost.engine.model import Plan
from infercost.engine.team_budget import Split


def budgets_json(splits: Sequence[Split], planned: Mapping[str, Plan]) -> list[dict[str, Any]]:
    """The `plan --json` "budgets" list: each policy's split and the plans made under it."""
    return [
        {
            "name": split.policy,
            "max_hourly_cost": split.cap,
            "on_exceeded": split.action.value,
            "wanted_hourly": round(split.wanted, 6),
            "spend_hourly": round(_spend(split, planned), 6),
            "exceeded": split.exceeded,
            "limited_services": list(split.limited),
            "services": [
                {
                    "name": share.name,
                    "priority": share.priority,
                    "wanted_hourly": round(share.wanted, 6),
                    "share_hourly": None
                    if share.ceiling is None
                    else round(share.ceiling.ceiling, 6),
                    "planned_hourly": round(planned[share.name].hourly_cost, 6),
                    "limited": share.limited,
                }
                for share in split.shares
            ],
        }
        for split in splits
    ]


def render_budgets(
    console: Console, *, splits: Sequence[Split], planned: Mapping[str, Plan]
) -> None:
    """One table per BudgetPolicy: the services in the order served and what each got."""
    for split in splits:
        spend = _spend(split, planned)
        verdict = "exceeded" if split.exceeded else "within"
        title = (
            f"BudgetPolicy {split.policy} ({split.action.value} ${split.cap:.2f}/h): services "
            f"want ${split.wanted:.2f}/h, planned ${spend:.2f}/h, {verdict}"
        )
        table = Table(title=title, title_justify="left")
        for header in ("service", "priority", "wants $/h", "share $/h", "planned $/h", "limited"):
            table.add_column(header, justify="left" if header == "service" else "right")
        for share in split.shares:
            table.add_row(
                share.name,
                str(share.priority),
                f"{share.wanted:.4f}",
                "-" if share.ceiling is None else f"{share.ceiling.ceiling:.4f}",
                f"{planned[share.name].hourly_cost:.4f}",
                "yes" if share.limited else "no",
            )
        if not split.shares:
            console.print(f"BudgetPolicy {split.policy}: selects no service of these manifests")
            continue
        console.print(table)
        console.print()


def _spend(split: Split, planned: Mapping[str, Plan]) -> float:
    return sum(planned[share.name].hourly_cost for share in split.shares)
