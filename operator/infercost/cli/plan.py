"""`infercost plan`: what the engine would place for some manifests, and why; no cluster needed.

Services are planned in file order on the pools given; each one sees the replicas earlier
services took on shared pools, as the operator would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from infercost.api.advise import ServiceMode
from infercost.api.service import InferenceService
from infercost.cli import app
from infercost.cli.plan_budget import budgets_json, render_budgets
from infercost.cli.plan_explain import (
    MixCapacity,
    binding_limits,
    mix_capacity,
    mix_lines,
    routing_note,
)
from infercost.cli.plan_json import to_json
from infercost.engine.model import (
    DecisionInput,
    EngineSettings,
    Observation,
    Plan,
    PoolView,
    ServiceState,
    TeamCeiling,
)
from infercost.engine.options import pool_view
from infercost.engine.planner import OptionVerdict, decide, explain
from infercost.engine.team_round import service_key, team_shares
from infercost.manifests_io import ManifestError, Manifests, load

EXIT_BAD_INPUT = 2


@dataclass(frozen=True, kw_only=True)
class ServicePlan:
    service: InferenceService
    demand: float
    plan: Plan
    verdicts: list[OptionVerdict]
    inp: DecisionInput  # what the engine was given (the team split asks it again)
    equal_share: bool = True  # the routing model the engine planned for

    @property
    def mix(self) -> MixCapacity:
        needed = self.demand * (1.0 + self.service.spec.scaling.headroom)
        return mix_capacity(self.plan.allocations, equal_share=self.equal_share, needed=needed)


@app.command()
def plan(
    files: list[Path] = typer.Argument(
        ...,
        metavar="FILE",
        help=(
            "AcceleratorPool, InferenceService and BudgetPolicy manifests: files or folders "
            "of YAML."
        ),
    ),
    rate: float | None = typer.Option(
        None,
        "--rate",
        min=0,
        metavar="RPS",
        help="Demand in inferences/s for every service. Default: what minReplicas serve.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (a contract)."),
) -> None:
    """Show every (variant, pool) option, its cost per million, and the chosen placement."""
    try:
        manifests = load(files)
        pools = _pool_views(manifests)
    except (ManifestError, ValueError) as error:
        _fail(str(error))
    if not manifests.services:
        _fail(f"no InferenceService found in {', '.join(map(str, files))}")
    if not pools:
        _fail(f"no AcceleratorPool found in {', '.join(map(str, files))}")
    planned = plan_all(manifests.services, pools, rate=rate)
    splits, shares = team_shares(manifests.budgets, [(p.service, p.inp) for p in planned])
    if shares:  # planned again, each service under its share of a Cap
        planned = plan_all(manifests.services, pools, rate=rate, team=shares)
    by_name = {service_key(p.service): p.plan for p in planned}
    if as_json:
        out: dict[str, Any] = {"services": [to_json(p) for p in planned]}
        if manifests.budgets:
            out["budgets"] = budgets_json(splits, by_name)
        typer.echo(json.dumps(out, indent=2))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    for service_plan in planned:
        _render(console, service_plan)
    render_budgets(console, splits=splits, planned=by_name)


def _fail(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _pool_views(manifests: Manifests) -> list[PoolView]:
    return [
        pool_view(pool.metadata.name, labels=pool.metadata.labels, spec=pool.spec)
        for pool in manifests.pools
    ]


def plan_all(
    services: list[InferenceService],
    pools: list[PoolView],
    *,
    rate: float | None,
    team: Mapping[str, TeamCeiling] | None = None,
) -> list[ServicePlan]:
    """Plan each service in turn, charging shared pools with what earlier services took;
    `team`: each service's share of a Cap BudgetPolicy (cli/plan_budget.py)."""
    used: dict[str, int] = {}
    results = []
    for service in services:
        views = tuple(
            PoolView(
                name=p.name,
                labels=p.labels,
                spec=p.spec,
                hourly_per_node=p.hourly_per_node,
                replicas_used_by_others=used.get(p.name, 0),
            )
            for p in pools
        )
        demand = rate if rate is not None else _nominal_demand(service, views)
        inp = DecisionInput(
            spec=service.spec,
            pools=views,
            observation=Observation(time=0.0, demand_rps=demand, p99_latency_ms=None),
            current={},
            state=ServiceState(),
            now=0.0,
            team_budget=(team or {}).get(service_key(service)),
            # spec.routing: planned as the operator plans once the Gateway accepted the route.
            settings=EngineSettings(equal_share_routing=service.spec.routing is None),
        )
        result = decide(inp)
        for allocation in result.allocations:
            used[allocation.pool] = used.get(allocation.pool, 0) + allocation.replicas
        results.append(
            ServicePlan(
                service=service,
                demand=demand,
                plan=result,
                verdicts=explain(inp),
                inp=inp,
                equal_share=inp.settings.equal_share_routing,
            )
        )
    return results


def _nominal_demand(service: InferenceService, pools: tuple[PoolView, ...]) -> float:
    """The demand minReplicas of the best option serve, headroom kept (no --rate given)."""
    probe = DecisionInput(
        spec=service.spec,
        pools=pools,
        observation=Observation(time=0.0, demand_rps=0.0, p99_latency_ms=None),
        current={},
        state=ServiceState(),
        now=0.0,
    )
    # Options that can serve alone: "minReplicas of it" must be a placement that exists.
    feasible = [v.option for v in explain(probe) if v.why_not is None and v.option.throughput > 0]
    if not feasible:
        return 0.0
    best = min(feasible, key=lambda o: (o.cost_per_million or float("inf"), o.key))
    scaling = service.spec.scaling
    return scaling.min_replicas * best.throughput / (1.0 + scaling.headroom)


def _render(console: Console, service_plan: ServicePlan) -> None:
    service, result = service_plan.service, service_plan.plan
    spec = service.spec
    title = (
        f"{service.metadata.namespace or 'default'}/{service.metadata.name}: "
        f"demand {service_plan.demand:,.1f}/s, SLO p{spec.slo.percentile:g} "
        f"{spec.slo.latency_ms:g} ms"
    )
    options = Table(title=title, title_justify="left")
    for header in ("variant", "pool", "accelerator", "$/replica-h", "thr/replica @SLO"):
        options.add_column(header, justify="right" if "/" in header else "left")
    for header in ("batch", "$/1M", "replicas needed", "feasible / why not"):
        options.add_column(header, justify="left" if "why" in header else "right")
    chosen = {(a.variant, a.pool) for a in result.allocations}
    for verdict in service_plan.verdicts:
        o = verdict.option
        config = o.batching.config if o.batching else None
        mark = "[bold green]chosen[/]" if o.key in chosen else "yes"
        options.add_row(
            o.variant,
            o.pool,
            o.accelerator_type,
            f"{o.hourly_cost:.4f}",
            f"{o.throughput:,.1f}",
            f"{config.max_batch_size}/{config.max_queue_delay_us}us" if config else "-",
            f"{o.cost_per_million:.4f}" if o.cost_per_million is not None else "-",
            str(verdict.replicas_needed) if o.feasible else "-",
            mark if verdict.why_not is None else f"no: {verdict.why_not}",
        )
    console.print(options)
    console.print(routing_note(service_plan.equal_share))
    if spec.advise is not None and spec.mode == ServiceMode.ADVISE:  # docs/advise.md
        console.print(
            f"mode Advise: advice on Deployment {spec.advise.target_ref.name} "
            "(status.advice); nothing is applied"
        )
    _render_allocation(console, service_plan)


def _render_allocation(console: Console, service_plan: ServicePlan) -> None:
    result = service_plan.plan
    table = Table(title="chosen allocation", title_justify="left")
    for header in ("variant", "pool", "replicas", "$/h", "thr/replica", "batch"):
        table.add_column(header)
    for a in result.allocations:
        table.add_row(
            a.variant,
            a.pool,
            str(a.replicas),
            f"{a.hourly_cost:.4f}",
            f"{a.throughput_per_replica:,.1f}",
            f"{a.batching.max_batch_size}/{a.batching.max_queue_delay_us}us",
        )
    console.print(table)
    per_million = f"{result.cost_per_million:.4f}" if result.cost_per_million is not None else "-"
    console.print(f"total: ${result.hourly_cost:.4f}/h, ${per_million} per 1M inferences")
    for line in mix_lines(service_plan.mix):
        console.print(line)
    if result.limits:
        console.print("binding limits: " + ", ".join(binding_limits(result)))
    for action in result.actions:
        where = f" {action.variant}/{action.pool}" if action.variant else ""
        console.print(f"  {action.kind.value}{where}: {action.reason.value} - {action.message}")
    for condition in result.conditions:
        state = "True" if condition.ok else "False"
        detail = f": {condition.message}" if condition.message else ""
        console.print(f"  condition {condition.type}={state} ({condition.reason}){detail}")
    console.print()
