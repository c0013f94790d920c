"""The engine's inputs and outputs: plain frozen data, shared by the operator and the simulator.

This module is the contract between the engine and its callers. Callers build a
`DecisionInput`, call `planner.decide`, apply the `Plan`'s allocations and keep `plan.state`
for the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec


class Reason(StrEnum):
    """Why a decision was taken (status, Events, logs and the operator's metrics carry these)."""

    INITIAL_PLACEMENT = "InitialPlacement"
    STEADY = "Steady"
    DEMAND_ABOVE_CAPACITY = "DemandAboveCapacity"
    LATENCY_ABOVE_SLO = "LatencyAboveSLO"
    DEMAND_BELOW_CAPACITY = "DemandBelowCapacity"
    SCALE_DOWN_DELAYED = "ScaleDownDelayed"
    HELD_METRICS_UNAVAILABLE = "HeldMetricsUnavailable"
    MOVED_TO_CHEAPER_POOL = "MovedToCheaperPool"
    MIGRATION_WAITING_FOR_READY = "MigrationWaitingForReady"
    SAVINGS_BELOW_THRESHOLD = "SavingsBelowThreshold"
    MOVE_COOLDOWN = "MoveCooldown"  # a cheaper placement waits: the last move was recent
    # A cheaper placement waits for its own cause (each named where the move is refused):
    HELD_REPLICAS_STARTING = "HeldReplicasStarting"  # replicas are still starting
    MOVE_LOSES_AT_PEAK = "MoveLosesAtPeak"  # the pools moved to lose at the recent peak
    MOVE_UNSAFE = "MoveUnsafe"  # old replicas could not stay until the new ones are ready
    # A first placement on pools that cost less over the band (this demand and one headroom
    # higher) than the cheapest fleet for this demand (planner._first_fleet); its note has
    # both fleets' $/h, so the choice can be checked from the plan alone.
    CHEAPER_OVER_DEMAND_BAND = "CheaperOverDemandBand"
    BUDGET_LIMITED = "BudgetLimited"
    # The service's share of a BudgetPolicy's Cap (engine/team_budget.py), not its own
    # budget, stops more capacity (a WithinBudget condition's reason only).
    TEAM_BUDGET_LIMITED = "TeamBudgetLimited"
    OVER_BUDGET = "OverBudget"
    POOL_CAPACITY_LIMITED = "PoolCapacityLimited"
    AT_MIN_REPLICAS = "AtMinReplicas"
    AT_MAX_REPLICAS = "AtMaxReplicas"
    NO_FEASIBLE_OPTION = "NoFeasibleOption"
    BATCHING_TUNED = "BatchingTuned"
    BATCHING_REDUCED_FOR_LATENCY = "BatchingReducedForLatency"
    BATCHING_FIXED = "BatchingFixed"
    BATCHING_OFF = "BatchingOff"
    # Spikes of demand recurred at a steady period: capacity for the next starts ahead of it.
    RECURRING_SPIKE_EXPECTED = "RecurringSpikeExpected"
    # Replicas a pool could not schedule (Pods Unschedulable past the grace period: no
    # capacity left), or, on a Spot pool, replicas on nodes being reclaimed or lost with them.
    POOL_CAPACITY_EXHAUSTED = "PoolCapacityExhausted"
    SPOT_RECLAIMED = "SpotReclaimed"
    # Scale to zero (engine/idle.py): no demand for the idle time, so no replica runs; and
    # demand (or an expected spike) at zero, so replicas start (where they start soonest,
    # unless ScaleToZero.wake_on_fastest is False).
    SCALED_TO_ZERO = "ScaledToZero"
    WOKEN_FROM_ZERO = "WokenFromZero"


class ActionKind(StrEnum):
    SCALE_UP = "ScaleUp"
    SCALE_DOWN = "ScaleDown"
    MIGRATE = "Migrate"
    SET_BATCHING = "SetBatching"
    HOLD = "Hold"


@dataclass(frozen=True, kw_only=True)
class PoolView:
    """One AcceleratorPool as the engine sees it."""

    name: str
    labels: Mapping[str, str]
    spec: AcceleratorPoolSpec
    hourly_per_node: float  # price in effect (static or OpenCost)
    replicas_used_by_others: int = 0  # replicas of other services already on the pool


@dataclass(frozen=True, kw_only=True)
class BatchConfig:
    """Triton dynamic batching of one (variant, pool); max_batch_size 1 with delay 0 = off."""

    max_batch_size: int
    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...] = ()
    # Triton's default_queue_policy: a request still queued after this long is rejected
    # (timeout_action REJECT); 0 = requests wait as long as it takes.
    queue_timeout_us: int = 0


@dataclass(frozen=True, kw_only=True)
class DeploymentMetrics:
    """What Prometheus said about the replicas of one (variant, pool)."""

    inferences_per_second: float | None = None
    requests_per_second: float | None = None
    p99_latency_ms: float | None = None
    queue_ms: float | None = None
    average_batch: float | None = None
    busy_fraction: float | None = None  # mean over ready replicas, 0..1
    # Requests queued and not yet executing, summed over the replicas, at the scrape
    # (Triton's nv_inference_pending_request_count). Its growth between two observations is
    # the part of demand that completions cannot show once the replicas are saturated.
    pending_requests: float | None = None
    # Requests Triton rejected (queue timeout): demand the replicas did not serve.
    rejected_per_second: float | None = None


@dataclass(frozen=True, kw_only=True)
class Observation:
    """Metrics for one service at `time` (epoch seconds). None fields are missing metrics."""

    time: float
    demand_rps: float | None
    p99_latency_ms: float | None
    per_deployment: Mapping[tuple[str, str], DeploymentMetrics] = field(default_factory=dict)
    # Why demand is None, when the metrics source knows (e.g. PrometheusUnreachable,
    # MetricsStale, MetricsMissing); status reports it on MetricsAvailable=False.
    unavailable_reason: str | None = None
    unavailable_message: str = ""
    # Triton's response cache (engine/caching.py): requests/s answered from it and looked up
    # in it but missed. demand_rps counts both; None where the cache is off or not reported.
    cache_hits_per_second: float | None = None
    cache_misses_per_second: float | None = None


@dataclass(frozen=True, kw_only=True)
class CurrentDeployment:
    """What runs now for one (variant, pool)."""

    replicas: int
    ready_replicas: int
    batching: BatchConfig | None = None
    # Replicas the pool cannot hold: Pods Pending with PodScheduled=False, Unschedulable
    # for longer than the operator's grace period (the autoscaler found no node).
    unschedulable_replicas: int = 0
    # Replicas on nodes noticed for disruption (a Spot interruption or disruption taint,
    # cordoned) or lost with their nodes: capacity about to go or gone. Neither kind counts
    # as capacity, and the pool gives no more for `pool_full_backoff_seconds`.
    disrupted_replicas: int = 0

    @property
    def lost_replicas(self) -> int:
        """Replicas that count for nothing: unschedulable, or on nodes going away."""
        return min(self.replicas, self.unschedulable_replicas + self.disrupted_replicas)

    # Every pod of the Deployment (status.replicas), a rolling update's surge included; the
    # batching rollout admits the new ones (their readiness gate). None: not reported yet.
    pods: int | None = None


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """Operator-wide knobs of the engine; each has a documented default (docs/settings.md)."""

    control_interval_seconds: float = 15.0
    # One Kubernetes Service spreads requests in equal shares per replica, so a mixed fleet
    # serves N x its weakest replica (engine/routing.py); False behind a capacity-weighted
    # gateway, where capacities add up. Derived by the operator per service: False only for
    # a service whose spec.routing HTTPRoute the Gateway accepted (controller/routing.py).
    equal_share_routing: bool = True
    # Older observations count as missing. Derived by the operator (settings.for_engine):
    # two INFERCOST_PROMETHEUS_RATE_WINDOWs, 120 s at the default 1m.
    metrics_stale_seconds: float = 120.0
    learned_capacity_weight: float = 0.3  # blend of an observation into learned capacity
    # The learned factor on the profile stays within 1/this .. this: past it, re-benchmark.
    learned_capacity_bound: float = 10.0
    latency_margin: float = 0.8  # batching keeps queue delay + execution under margin x SLO
    scale_down_tolerance: float = 0.1  # a replica goes only if the rest has this much spare
    move_cooldown_seconds: float = 3600.0  # moves for savings at most this often (docs/settings.md)
    # A move for savings must also win at the highest demand held this long (docs/settings.md):
    # longer than the period of recurring spikes, which the demand history does not reach.
    move_peak_window_seconds: float = 10800.0
    slo_breach_capacity_cut: float = 0.9  # learned capacity x this once per SLO breach episode
    saturated_busy_fraction: float = 0.8  # replicas this busy are overloaded, not mis-batched
    # Rejections count as below capacity where the requests served waited less than this
    # share of the timeout on average (docs/settings.md: tritonserver 2.51 measured 0.35-0.48
    # at 40-80% load, 0.56 at 130%; misreading an overload costs a replica, the reverse the SLO).
    rejected_tail_queue_fraction: float = 0.6
    overload_max_scale_up: float = (
        1.0  # under overload, capacity grows by at most this per interval
    )
    # An SLO ceiling (learned from a breach at a per-replica rate) rises by this fraction per
    # healthy interval, so one misjudged breach does not cap capacity for the rest of the run.
    slo_ceiling_recovery: float = 0.01
    # Before any breach, an option's ceiling is the load at which the batcher's queueing model
    # (engine/queueing.py, Poisson arrivals) says the SLO breaks, where that binds; Auto
    # batching falls back to the model where the profile misses the margin at every batch.
    modelled_ceilings: bool = True
    # How long the metrics remember the old fleet: capacity is learned on a deployment, and
    # p99 acted on, only once its ready replica count has been unchanged this long (a window
    # that mixes counts mis-divides). Derived by the operator (settings.for_engine): the
    # longer of INFERCOST_PROMETHEUS_RATE_WINDOW and Triton's 60 s p99 summaries.
    metrics_window_seconds: float = 60.0
    # How much longer Triton's p99 summaries remember than the rate window: for this long after
    # an overload, p99 still holds its queueing though the rates say the queue is empty, so it
    # is withheld (signals.overload_lingers). Derived by the operator (settings.for_engine):
    # Triton's 60 s summary age minus INFERCOST_PROMETHEUS_RATE_WINDOW; 0 at the default 1m.
    summary_lag_seconds: float = 0.0
    # Capacity to have ready: this quantile of demand one start-up horizon ahead, read from
    # the growth of demand over that horizon in the last horizon_window_seconds of history
    # (engine/horizon.py, docs/horizon.md); 0: the spec's fixed headroom instead.
    horizon_quantile: float = 0.99
    horizon_window_seconds: float = 1800.0
    # Demand above spike_ratio x its slow baseline is a spike. Where the last spike_repeats
    # spikes started at a steady period (gaps within spike_period_tolerance_seconds of each
    # other, at least spike_min_gap_seconds), the next one's capacity starts ahead of it
    # (docs/settings.md). False: react to spikes only.
    recurring_spikes: bool = True
    spike_ratio: float = 2.0
    # Also the baseline's time constant (spikes left out): it moves no faster than the
    # shortest period predicted, so a train of spikes does not lift its own baseline.
    spike_min_gap_seconds: float = 1800.0
    spike_repeats: int = 3
    # A pool that left replicas Unschedulable, or a Spot pool that lost nodes, gives no more
    # replicas than it runs for this long after the last sign (docs/settings.md).
    pool_full_backoff_seconds: float = 600.0
    # The response cache's hit ratio cuts the capacity planned (engine/caching.py: the lower
    # confidence bound of the window's lookups at the SLO's percentile) by at most this.
    cache_max_hit_ratio: float = 0.9

    @property
    def spike_period_tolerance_seconds(self) -> float:
        """How far apart the gaps between spikes may be and still make a period, and how long
        after it is due the next spike is still expected: twice how late a spike's start can
        be seen (the rate's window, then the next decision), as either of two starts may be
        seen that late. 150 s at the defaults (60 s window, 15 s interval)."""
        return 2.0 * (self.metrics_window_seconds + self.control_interval_seconds)


@dataclass(frozen=True, kw_only=True)
class SpikeRecord:
    """Demand spikes as the engine remembers them (forecast.track_spikes)."""

    baseline: float | None = None  # slow moving average of demand outside spikes
    spikes: tuple[tuple[float, float], ...] = ()  # (start, peak rps) of recent spikes
    open: bool = False  # the last spike is still going on


@dataclass(frozen=True, kw_only=True)
class ServiceState:
    """What the engine remembers between decisions for one service (opaque to callers)."""

    # Factor on the profile's throughput learned from metrics per (variant, pool); 1.0 = as profiled.
    learned_capacity: Mapping[tuple[str, str], float] = field(default_factory=dict)
    demand_history: tuple[tuple[float, float], ...] = ()  # (time, rps)
    scale_down_candidate_since: float | None = None
    batching: Mapping[tuple[str, str], BatchConfig] = field(default_factory=dict)
    last_scale_time: float | None = None
    # Deployments kept only until their replacements are ready (not capacity to plan with).
    migrating_from: tuple[tuple[str, str], ...] = ()
    last_move_time: float | None = None  # last move to a cheaper placement (for the cooldown)
    slo_breach_since: float | None = None  # start of the current p99-above-SLO episode
    # First of the consecutive observations in which Triton rejected more than
    # the SLO's late share (1% at p99) of requests below capacity (signals.tail_rejections).
    tail_rejecting_since: float | None = None
    # Last observation in which the ready replicas were overloaded (learning.saturated): for
    # summary_lag_seconds after it, p99 still holds the overload's queueing (overload_lingers).
    saturated_at: float | None = None
    # Per (variant, pool): inferences/s per replica at which p99 last broke the SLO; the
    # learned capacity stays below it until a higher rate is seen inside the SLO.
    slo_ceiling: Mapping[tuple[str, str], float] = field(default_factory=dict)
    # Per (variant, pool): (time, pending requests) of the last observation that had them,
    # to turn queue growth into the arrivals that completions under-state.
    pending_seen: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    # Per (variant, pool): (since when, ready replicas) as last observed.
    ready_since: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    # Per (variant, pool): (since when, batching) as last seen running.
    batching_since: Mapping[tuple[str, str], tuple[float, BatchConfig]] = field(
        default_factory=dict
    )
    # (time, rps) of the highest demand within move_peak_window_seconds (held, not a history).
    demand_peak: tuple[float, float] | None = None
    spikes: SpikeRecord = field(default_factory=SpikeRecord)
    # Pool -> when it last left replicas Unschedulable or (Spot) lost nodes (signals.full_pools).
    full_pools: Mapping[str, float] = field(default_factory=dict)
    # Scale to zero (engine/idle.py): since when demand has been zero, and whether the
    # engine took the service to zero (and it has not woken since).
    idle_since: float | None = None
    at_zero: bool = False


@dataclass(frozen=True, kw_only=True)
class ScaleToZero:
    """Scale to zero for one service (engine/idle.py). Only for a caller with a component
    that holds requests while no replica runs and reports them as demand (the simulator's
    Workload `scaleToZero`; the operator's activator for minReplicas 0, controller/zero.py)."""

    idle_seconds: float  # demand must have been zero this long before the last replica goes
    # Wake on the options that start soonest (cheapest of them), or False: on the cheapest
    # placement, as a first placement would (a slower start, more requests held).
    wake_on_fastest: bool = True


@dataclass(frozen=True, kw_only=True)
class TeamCeiling:
    """This round's share of a BudgetPolicy's Cap for one service (engine/team_budget.py)."""

    policy: str  # the BudgetPolicy's name
    ceiling: float  # $/h this service may be planned at; the shares never sum above `cap`
    cap: float  # the policy's maxHourlyCost


@dataclass(frozen=True, kw_only=True)
class DecisionInput:
    """Everything one decision needs; `now` is epoch seconds passed in by the caller."""

    spec: InferenceServiceSpec
    pools: tuple[PoolView, ...]
    observation: Observation | None
    current: Mapping[tuple[str, str], CurrentDeployment]
    state: ServiceState
    now: float
    settings: EngineSettings = field(default_factory=EngineSettings)
    scale_to_zero: ScaleToZero | None = None  # None: spec.scaling.minReplicas always holds
    # A Cap BudgetPolicy's share for this round; both it and spec.budget hold (the tighter).
    team_budget: TeamCeiling | None = None


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """Desired replicas and batching of one variant on one pool."""

    variant: str
    pool: str
    replicas: int
    batching: BatchConfig
    hourly_cost: float  # $/h of all `replicas` of this allocation (not per replica)
    throughput_per_replica: float  # inferences/s at the SLO with this batching


@dataclass(frozen=True, kw_only=True)
class Action:
    """One change to apply, with the reason it was decided."""

    kind: ActionKind
    reason: Reason
    message: str
    variant: str | None = None
    pool: str | None = None
    from_replicas: int | None = None
    to_replicas: int | None = None


@dataclass(frozen=True, kw_only=True)
class ConditionVerdict:
    """A condition for status: type is Ready, Placed, MetricsAvailable or WithinBudget."""

    type: str
    ok: bool
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The decision: target allocations, the actions that lead there, and what to remember."""

    allocations: tuple[Allocation, ...]
    actions: tuple[Action, ...]
    conditions: tuple[ConditionVerdict, ...]
    demand_rps: float
    hourly_cost: float
    cost_per_million: float | None
    state: ServiceState
    # Every limit that stops more capacity when demand is not met, the headline first
    # (engine/limits.py); empty when demand is met.
    limits: tuple[Reason, ...] = ()
