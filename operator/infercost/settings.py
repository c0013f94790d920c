"""Operator settings: environment variables with the prefix `INFERCOST_` (docs/settings.md).

Every knob that changes what the operator does lives here with a documented default; the
engine's own knobs pass through unchanged to `EngineSettings` (INFERCOST_ENGINE__<FIELD>).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infercost.adapters.promql import window_seconds
from infercost.engine.model import EngineSettings
from infercost.manifests import ManifestSettings

# Triton's p99 (nv_inference_request_summary_us) is a prometheus-cpp Summary with the default
# sliding window: observations age out after 60 s of real time, whatever Prometheus' rate window.
TRITON_SUMMARY_SECONDS = 60.0


class Settings(BaseSettings):
    """What `infercost run` reads from its environment (and its command-line flags)."""

    model_config = SettingsConfigDict(
        env_prefix="INFERCOST_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    control_interval_seconds: float = Field(
        default=15.0, gt=0, le=3600, description="Seconds between two decisions of one service."
    )
    dry_run: bool = Field(
        default=False, description="Decide and report (status, Events, logs); touch no children."
    )
    namespace: str | None = Field(
        default=None, description="Namespace to watch; empty with all_namespaces watches all."
    )
    all_namespaces: bool = Field(default=True, description="Watch every namespace.")
    metrics_port: int = Field(
        default=9090, ge=0, le=65535, description="Port of the operator's own /metrics; 0: off."
    )
    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus the metrics adapter queries (Triton and OpenCost metrics).",
    )
    prometheus_token_file: str | None = Field(
        default=None, description="Bearer token file for Prometheus; empty: no authentication."
    )
    # Prometheus access (adapters/prometheus.py). Secrets come from files (mounted Secrets) or
    # the environment; they never appear in logs or in this object's repr.
    prometheus_username: str | None = Field(
        default=None, description="Basic-auth user for Prometheus; empty: no basic auth."
    )
    prometheus_password: SecretStr | None = Field(
        default=None, description="Basic-auth password (prefer prometheus_password_file)."
    )
    prometheus_password_file: str | None = Field(
        default=None, description="File holding the basic-auth password (a mounted Secret)."
    )
    prometheus_ca_file: str | None = Field(
        default=None, description="CA bundle that signs Prometheus's TLS certificate."
    )
    prometheus_insecure_skip_verify: bool = Field(
        default=False,
        description="Do not verify Prometheus's TLS certificate (not for production).",
    )
    prometheus_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Timeout of one PromQL query."
    )
    prometheus_rate_window: str = Field(
        default="1m",
        pattern=r"^[0-9]+[smh]$",
        description="Range of rate() in the queries; at least 4 scrape intervals.",
    )
    prometheus_queries: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Overrides of the PromQL templates by name (demand, requests, p99, queue, execs, "
            "busy, age, node_cost, node_labels); `$by` and `$window` are substituted."
        ),
    )
    demand_recall_seconds: float = Field(
        default=21600.0,
        ge=0,
        le=7 * 86400,
        description=(
            "After a start, the engine's memory of demand is rebuilt from this many seconds "
            "of Prometheus history (one query for all services); 0: start with none."
        ),
    )
    # Triton (adapters/triton.py).
    triton_port_annotation: str = Field(
        default="infercost.io/triton-http-port",
        description="Pod annotation naming Triton's HTTP port when it is not 8000 (sandbox).",
    )
    triton_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Timeout of one Triton call (a reload included)."
    )
    triton_ready_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Wait for a pod's model to be ready after a reload.",
    )
    api_retry_attempts: int = Field(
        default=5, ge=1, le=50, description="Tries of one API request on 409 Conflict, 429 or 5xx."
    )
    api_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Timeout of one API request; a timeout is retried."
    )
    api_retry_backoff_seconds: float = Field(
        default=0.2, ge=0, le=60, description="First wait between tries; doubles each try."
    )
    api_retry_after_max_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description=(
            "Longest wait honoured from a Retry-After header (429 Too Many Requests from API "
            "Priority and Fairness, 503); the tries are still bounded by api_retry_attempts."
        ),
    )
    api_credentials_recheck_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description=(
            "How often a kubeconfig's credentials are checked for expiry (an exec plugin runs "
            "again when its token nears expiry); in a pod the token file is re-read on change."
        ),
    )
    # Leader election (controller/leader.py): one active operator among replicas.
    leader_election: bool = Field(
        default=False,
        description="Run only while holding a coordination.k8s.io Lease (replicas > 1).",
    )
    leader_election_namespace: str = Field(
        default="default", description="Namespace of the Lease (the chart: the release's)."
    )
    leader_election_lease_name: str = Field(
        default="infercost", description="Name of the Lease the replicas compete for."
    )
    leader_election_lease_duration_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="A standby takes the Lease this long after the holder's last renewal.",
    )
    leader_election_renew_deadline_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="The leader stops if it could not renew for this long (< lease duration).",
    )
    leader_election_retry_period_seconds: float = Field(
        default=2.0, gt=0, le=600, description="Between two tries to acquire or renew."
    )
    # Sharding (controller/shards.py): replicas share the services, one Lease per shard; the
    # Leases' namespace, name prefix and timings are leader election's settings above.
    sharding_shards: int = Field(
        default=0,
        ge=0,
        le=256,
        description=(
            "Shards the services are split into (0: off). With N replicas each holds about "
            "shards / N; more shards than replicas lets the share follow the replica count."
        ),
    )
    # The operator's heap is mostly long-lived (every watched body, per-service memory); see
    # controller/heap.py for why the collector is kept off it between periodic full runs.
    gc_freeze_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "Every this many seconds one full garbage collection, then everything alive is "
            "frozen out of the collector's automatic runs (0: off, Python's own schedule)."
        ),
    )
    # Children's shape: exposed because they change how replicas are scheduled and disrupted.
    pdb_max_unavailable: int = Field(
        default=1,
        ge=1,
        description=(
            "PodDisruptionBudget maxUnavailable of a service's pods; at least 1 (0 would block "
            "every node drain forever)."
        ),
    )
    rollout_max_surge: str = Field(
        default="25%", description="Deployment rolling update maxSurge (new pods before old go)."
    )
    run_as_user: int = Field(
        default=1000, ge=1, description="UID the Triton container runs as (NGC images: 1000)."
    )
    network_policy: bool = Field(
        default=False,
        description=(
            "Give each service a NetworkPolicy admitting only Triton's HTTP/gRPC ports and "
            "Prometheus scrapes of its metrics port."
        ),
    )
    network_policy_prometheus_namespace: str = Field(
        default="monitoring", description="Namespace of the Prometheus allowed to scrape."
    )
    network_policy_prometheus_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "prometheus"},
        description="Pod labels of the Prometheus allowed to scrape.",
    )
    # The Triton pod's lifecycle and disruption stance (manifests/pod.py).
    startup_probe_period_seconds: int = Field(
        default=10, ge=1, le=300, description="periodSeconds of the Triton startupProbe."
    )
    startup_margin: float = Field(
        default=2.0,
        ge=1,
        le=10,
        description=(
            "The startupProbe allows startupSeconds x this before restarting a loading Triton "
            "(startupSeconds is an estimate); also sizes progressDeadlineSeconds."
        ),
    )
    prestop_sleep_seconds: int = Field(
        default=10,
        ge=0,
        le=300,
        description="preStop sleep: a terminating pod keeps serving while endpoints drop it.",
    )
    triton_exit_timeout_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="Triton --exit-timeout-secs: how long it drains in-flight requests.",
    )
    termination_slack_seconds: int = Field(
        default=5,
        ge=0,
        le=300,
        description="Added to preStop sleep + exit timeout for terminationGracePeriodSeconds.",
    )
    progress_deadline_slack_seconds: int = Field(
        default=600,
        ge=0,
        le=7200,
        description=(
            "Added to provisioningSeconds + startupSeconds x startup_margin for a Deployment's "
            "progressDeadlineSeconds (scheduling, the image pull)."
        ),
    )
    zone_spread: bool = Field(
        default=True,
        description=(
            "Spread the pods of a service with scaling.maxReplicas > 1 over "
            "topology.kubernetes.io/zone (ScheduleAnyway) unless spec.pod sets constraints."
        ),
    )
    karpenter_do_not_disrupt: Literal["SingleReplica", "Always", "Never"] = Field(
        default="SingleReplica",
        description=(
            "When Triton pods carry karpenter.sh/do-not-disrupt: SingleReplica (services whose "
            "scaling.minReplicas is 0 or 1), Always or Never; spec.pod.annotations overrides."
        ),
    )
    # Pool capacity from Pods and Nodes (controller/capacity.py).
    unschedulable_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description=(
            "A Pod Unschedulable this long past its pool's provisioningSeconds counts its "
            "pool as full (the autoscaler found no node)."
        ),
    )
    disruption_taints: list[str] = Field(
        default_factory=lambda: [
            "karpenter.sh/disrupted",
            "karpenter.sh/disruption",
            "aws-node-termination-handler/spot-itn",
            "aws-node-termination-handler/rebalance-recommendation",
            "aws-node-termination-handler/scheduled-maintenance",
            "aws-node-termination-handler/asg-lifecycle-termination",
            "ToBeDeletedByClusterAutoscaler",
            "cloud.google.com/impending-node-termination",
        ],
        description="Node taint keys that announce the node is going away (with cordoning).",
    )
    # What the node autoscalers say about our pending Pods (controller/verdicts.py).
    autoscaler_events: bool = Field(
        default=True,
        description=(
            "Watch Pod Events for the node autoscaler's verdicts: a Pod it will add no node "
            "for counts as unschedulable at once, without waiting provisioningSeconds + grace."
        ),
    )
    autoscaler_events_field_selector: str = Field(
        default="involvedObject.kind=Pod,source!=kubelet,reportingComponent!=default-scheduler",
        description=(
            "Server-side field selector of the Events watch (the kubelet's and the "
            "kube-scheduler's Pod events, the bulk of them, are left out)."
        ),
    )
    autoscaler_refusal_events: list[str] = Field(
        default_factory=lambda: [
            "cluster-autoscaler/NotTriggerScaleUp",
            "karpenter/FailedScheduling",
        ],
        description="<component>/<reason> of Pod Events saying no node will be added for it.",
    )
    autoscaler_scale_up_events: list[str] = Field(
        default_factory=lambda: ["cluster-autoscaler/TriggeredScaleUp", "karpenter/Nominated"],
        description="<component>/<reason> of Pod Events saying a node is coming for it.",
    )
    autoscaler_verdict_seconds: float = Field(
        default=360.0,
        ge=0,
        le=3600,
        description=(
            "A refusal counts for this long after it was last said (both autoscalers repeat "
            "a standing one every 5 minutes at most)."
        ),
    )
    # The activator (`infercost activator`, activator/): holds requests while a service is at
    # zero replicas and wakes it.
    activator_wake_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description=(
            "Longest a request is held at zero; then 503 WakeTimeout. Keep it below the "
            "clients' own timeout, so they get the reason, not a timeout."
        ),
    )
    activator_ready_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="First wait between two readiness probes."
    )
    activator_ready_poll_max_seconds: float = Field(
        default=5.0, gt=0, le=300, description="The probe's wait doubles up to this."
    )
    activator_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="Timeout of one connection to a replica."
    )
    activator_max_request_bytes: int = Field(
        default=256 * 2**20, ge=1024, description="Largest HTTP request body held and forwarded."
    )
    # The activator as the operator runs it for a scale-to-zero service (controller/zero.py).
    activator_image: str = Field(
        default="ghcr.io/infercost/infercost:latest",
        min_length=1,
        description="Image of the activator pods: the operator's own (the chart sets it).",
    )
    activator_cpu: str = Field(default="100m", description="The activator pod's CPU request.")
    activator_memory: str = Field(
        default="256Mi", description="The activator pod's memory request and limit."
    )
    activator_cluster_role: str = Field(
        default="infercost-activator",
        description="ClusterRole the activators are bound to (get, patch inferenceservices).",
    )
    activator_linger_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description=(
            "After a wake, the activator stays this long once replicas are ready, so the "
            "requests it holds are forwarded before it stops."
        ),
    )
    engine: EngineSettings = Field(
        default_factory=EngineSettings,
        description=(
            "The engine's knobs (engine/model.py EngineSettings), e.g. "
            "INFERCOST_ENGINE__MOVE_COOLDOWN_SECONDS=1800; its control interval is the one above."
        ),
    )

    @model_validator(mode="after")
    def _leases_are_consistent(self) -> Settings:
        if self.leader_election_renew_deadline_seconds >= (
            self.leader_election_lease_duration_seconds
        ):
            raise ValueError(
                "INFERCOST_LEADER_ELECTION_RENEW_DEADLINE_SECONDS must be less than "
                "INFERCOST_LEADER_ELECTION_LEASE_DURATION_SECONDS, or two leaders could overlap"
            )
        if self.leader_election and self.sharding_shards:
            raise ValueError(
                "INFERCOST_LEADER_ELECTION and INFERCOST_SHARDING_SHARDS exclude each other: "
                "sharded replicas are all active; set one of them"
            )
        return self

    @model_validator(mode="after")
    def _horizon_quantile_is_a_probability(self) -> Settings:
        if not 0.0 <= self.engine.horizon_quantile < 1.0:
            raise ValueError(
                "INFERCOST_ENGINE__HORIZON_QUANTILE must be at least 0 (off) and below 1, "
                f"got {self.engine.horizon_quantile} (e.g. 0.99)"
            )
        return self

    def for_engine(self) -> EngineSettings:
        """The engine's knobs, with this operator's control interval, how long its metrics
        remember (the rate window, at least Triton's p99 summaries' 60 s) and how much longer
        those summaries remember than the rate window."""
        return _engine_settings(
            self.engine, self.control_interval_seconds, self.prometheus_rate_window
        )

    def manifests(self) -> ManifestSettings:
        """The children's shape knobs."""
        return ManifestSettings(
            pdb_max_unavailable=self.pdb_max_unavailable,
            rollout_max_surge=self.rollout_max_surge,
            run_as_user=self.run_as_user,
            network_policy=self.network_policy,
            prometheus_namespace=self.network_policy_prometheus_namespace,
            prometheus_pod_labels=tuple(sorted(self.network_policy_prometheus_labels.items())),
            startup_probe_period_seconds=self.startup_probe_period_seconds,
            startup_margin=self.startup_margin,
            prestop_sleep_seconds=self.prestop_sleep_seconds,
            triton_exit_timeout_seconds=self.triton_exit_timeout_seconds,
            termination_slack_seconds=self.termination_slack_seconds,
            progress_deadline_slack_seconds=self.progress_deadline_slack_seconds,
            zone_spread=self.zone_spread,
            karpenter_do_not_disrupt=self.karpenter_do_not_disrupt,
            activator_image=self.activator_image,
            activator_cpu=self.activator_cpu,
            activator_memory=self.activator_memory,
            activator_cluster_role=self.activator_cluster_role,
        )


@functools.lru_cache(maxsize=16)
def _engine_settings(
    engine: EngineSettings, control_interval_seconds: float, rate_window: str
) -> EngineSettings:
    """One object for equal settings: the engine remembers answers per settings object, and
    each reconcile asks for them."""
    rate_seconds = window_seconds(rate_window)
    return replace(
        engine,
        control_interval_seconds=control_interval_seconds,
        metrics_window_seconds=max(TRITON_SUMMARY_SECONDS, rate_seconds),
        summary_lag_seconds=max(0.0, TRITON_SUMMARY_SECONDS - rate_seconds),
        # A series missing two rate windows of scrapes has stopped (a rate window spans
        # several scrapes), whatever the scrape interval: 120 s at the default 1m.
        metrics_stale_seconds=2.0 * rate_seconds,
        # Without spec.routing the one Service shares requests equally per replica; a service
        # with spec.routing is planned for its route's state (controller/routing.py).
        equal_share_routing=True,
    )
