"""Scenario files: AcceleratorPools, InferenceServices and BudgetPolicies as users write them,
plus a Workload. (ScaleToZero, a Workload's part, lives in sim/scale_to_zero.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from infercost.api.budget import BudgetPolicy
from infercost.api.common import Model, ObjectMeta
from infercost.api.pool import AcceleratorPool
from infercost.api.service import InferenceService
from infercost.sim.budgets import PriceChange, price_change_errors
from infercost.sim.scale_to_zero import ScaleToZero


class ScenarioError(ValueError):
    """A scenario file is wrong; the message names the document, the field and the fix."""


class TraceFormat(StrEnum):
    REQUESTS_CSV = "requests-csv"  # one row per request, arrival time in timeColumn
    RATE_CSV = "rate-csv"  # rows of (time, rate per second); equal times are summed
    RATE_SERIES = "rate-series"  # whitespace-separated rates, one per sampleSeconds


class Trace(Model):
    """Where a service's requests come from."""

    path: str = Field(min_length=1, description="Trace file, relative to the scenario file.")
    format: TraceFormat = Field(description="requests-csv, rate-csv or rate-series.")
    time_column: str | None = Field(
        default=None, description="Column of arrival times (requests-csv) or sample times."
    )
    rate_column: str | None = Field(default=None, description="Column of rates (rate-csv).")
    sample_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "rate-series: seconds per value (default 1). rate-csv: how long one sample holds; "
            "empty: until the next sample."
        ),
    )
    smooth_seconds: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Moving-average window (trace seconds) applied before rescaling. Default: none for "
            "rates; for requests-csv the window that holds 100 requests on average, so "
            "rescaling a sparse trace to a high peakRps does not multiply its sampling noise."
        ),
    )
    member: str | None = Field(
        default=None, description="File inside a tar archive; empty: its only file."
    )

    @model_validator(mode="after")
    def _columns(self) -> Trace:
        if self.format != TraceFormat.RATE_SERIES and not self.time_column:
            raise ValueError(f"trace.timeColumn is required for format {self.format.value}")
        if self.format == TraceFormat.RATE_CSV and not self.rate_column:
            raise ValueError("trace.rateColumn is required for format rate-csv")
        return self


class WorkloadService(Model):
    """One InferenceService of the scenario and the traffic it receives."""

    name: str = Field(min_length=1, description="metadata.name of an InferenceService.")
    namespace: str = Field(default="default", description="Its namespace.")
    trace: Trace
    peak_rps: float | None = Field(
        default=None, gt=0, description="Rescale so the peak 1-minute mean rate equals this."
    )
    time_scale: float = Field(default=1.0, gt=0, description=">1 compresses the trace's time.")
    offset_seconds: float = Field(
        default=0.0, ge=0, description="Start this many trace seconds into the trace."
    )
    cache_hit_ratio: float = Field(
        default=0.0,
        ge=0,
        le=0.99,
        description=(
            "Share of the requests Triton's response cache answers (a service with "
            "spec.caching.enabled whose clients repeat inputs): they are good answers that "
            "take no replica time; the replicas compute the rest. 0: no cache."
        ),
    )
    scale_to_zero: ScaleToZero | None = Field(
        default=None,
        description="Scale to zero with wake-up (sim/coldstart.py); empty: minReplicas holds.",
    )
    execution_time_factor: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description=(
            "The simulated servers execute a batch in this times what the variant's profile "
            "says (a profile measured on another machine, Triton version or input shape): "
            "the engine plans from the profile as written and learns the rest from the "
            "metrics, the oracle and hpa run at the real times. 1: the profile is right."
        ),
    )


class WorkloadSpec(Model):
    duration: int = Field(gt=0, le=90 * 86400, description="Simulated seconds.")
    step: int = Field(default=1, ge=1, le=60, description="Seconds per simulation step.")
    control_interval: int = Field(
        default=15, ge=1, le=3600, description="Seconds between decisions; a multiple of step."
    )
    baseline_pool: str = Field(
        min_length=1, description="Pool the hpa, keda-queue and static-peak baselines use."
    )
    routing: Literal["PerReplica", "CapacityWeighted"] = Field(
        default="PerReplica",
        description=(
            "How requests spread over a service's ready replicas. PerReplica: equal shares, as "
            "one Kubernetes Service over all the Deployments gives. CapacityWeighted: in "
            "proportion to each replica's capacity (a weighted gateway); the oracle always is."
        ),
    )
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Clients give up on requests queued longer than this."
    )
    services: list[WorkloadService] = Field(min_length=1, description="Traffic per service.")
    price_changes: list[PriceChange] = Field(
        default_factory=list,
        max_length=10000,
        description="Node prices that change during the run (sim/budgets.py); empty: none.",
    )
    include: list[str] = Field(
        default_factory=list,
        description=(
            "More AcceleratorPool/InferenceService files or folders of them, relative to the "
            "scenario file (so scenarios can reuse examples/pools and examples/services)."
        ),
    )

    @model_validator(mode="after")
    def _interval_multiple_of_step(self) -> WorkloadSpec:
        if self.control_interval % self.step:
            raise ValueError("spec.controlInterval must be a multiple of spec.step")
        return self


class Workload(Model):
    api_version: Literal["sim.infercost.io/v1alpha1"] = "sim.infercost.io/v1alpha1"
    kind: Literal["Workload"] = "Workload"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkloadSpec


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario; `base_dir` resolves trace paths."""

    name: str
    pools: tuple[AcceleratorPool, ...]
    services: tuple[InferenceService, ...]
    workload: Workload
    base_dir: Path
    budgets: tuple[BudgetPolicy, ...] = ()  # applied by the infercost policy each interval

    def service(self, namespace: str, name: str) -> InferenceService:
        for svc in self.services:
            if svc.metadata.name == name and (svc.metadata.namespace or "default") == namespace:
                return svc
        raise ScenarioError(f"no InferenceService {namespace}/{name}")


_KINDS: dict[str, type[Model]] = {
    "AcceleratorPool": AcceleratorPool,
    "InferenceService": InferenceService,
    "BudgetPolicy": BudgetPolicy,
    "Workload": Workload,
}


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(document)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def _parse_document(index: int, doc: Any) -> Model:
    if not isinstance(doc, dict):
        raise ScenarioError(f"document {index}: expected a mapping with apiVersion and kind")
    kind = doc.get("kind")
    model = _KINDS.get(str(kind))
    if model is None:
        raise ScenarioError(
            f"document {index}: kind {kind!r} is not one of {', '.join(_KINDS)}; fix its `kind`"
        )
    try:
        return model.model_validate(doc)
    except ValidationError as error:
        name = (doc.get("metadata") or {}).get("name", "?")
        raise ScenarioError(
            f"document {index} ({kind} {name}) is invalid:\n{_describe(error)}"
        ) from None


def load_scenario(path: str | Path) -> Scenario:
    """Parse and cross-check a scenario file; raises ScenarioError with a readable message."""
    file = Path(path)
    try:
        docs = [doc for doc in yaml.safe_load_all(file.read_text()) if doc is not None]
    except OSError as error:
        raise ScenarioError(f"cannot read scenario {file}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ScenarioError(f"{file} is not valid YAML: {error}") from None
    parsed = [_parse_document(index + 1, doc) for index, doc in enumerate(docs)]
    workloads = [doc for doc in parsed if isinstance(doc, Workload)]
    if len(workloads) != 1:
        raise ScenarioError(f"{file}: needs exactly one Workload document, found {len(workloads)}")
    for entry in workloads[0].spec.include:
        parsed.extend(_included(file.resolve().parent / entry, entry))
    pools = tuple(doc for doc in parsed if isinstance(doc, AcceleratorPool))
    services = tuple(doc for doc in parsed if isinstance(doc, InferenceService))
    scenario = Scenario(
        name=workloads[0].metadata.name or file.stem,
        pools=pools,
        services=services,
        workload=workloads[0],
        base_dir=file.resolve().parent,
        budgets=tuple(doc for doc in parsed if isinstance(doc, BudgetPolicy)),
    )
    _cross_check(scenario)
    return scenario


def _included(path: Path, entry: str) -> list[Model]:
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not path.exists():
        raise ScenarioError(f"Workload spec.include: {entry!r} does not exist next to the scenario")
    out: list[Model] = []
    for item in files:
        try:
            docs = [doc for doc in yaml.safe_load_all(item.read_text()) if doc is not None]
        except yaml.YAMLError as error:
            raise ScenarioError(f"{item} is not valid YAML: {error}") from None
        for index, doc in enumerate(docs):
            try:
                model = _parse_document(index + 1, doc)
            except ScenarioError as error:
                raise ScenarioError(f"{item}: {error}") from None
            if isinstance(model, Workload):
                raise ScenarioError(f"{item}: an included file may not hold a Workload")
            out.append(model)
    return out


def _cross_check(scenario: Scenario) -> None:
    names = [(s.metadata.namespace or "default", s.metadata.name) for s in scenario.services]
    names += [("", p.metadata.name) for p in scenario.pools]
    duplicates = sorted({"/".join(n).strip("/") for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"defined more than once in the scenario: {', '.join(duplicates)}")
    spec = scenario.workload.spec
    pool_names = {pool.metadata.name for pool in scenario.pools}
    if not pool_names:
        raise ScenarioError("the scenario has no AcceleratorPool documents; add at least one")
    errors = price_change_errors(spec.price_changes, pool_names)
    if errors:
        raise ScenarioError("; ".join(errors))
    if spec.baseline_pool not in pool_names:
        raise ScenarioError(
            f"Workload spec.baselinePool {spec.baseline_pool!r} is not a pool of the scenario "
            f"({', '.join(sorted(pool_names))})"
        )
    baseline_type = next(
        p.spec.accelerator.type for p in scenario.pools if p.metadata.name == spec.baseline_pool
    )
    for index, entry in enumerate(spec.services):
        where = f"Workload spec.services[{index}]"
        try:
            svc = scenario.service(entry.namespace, entry.name)
        except ScenarioError:
            raise ScenarioError(
                f"{where}: no InferenceService {entry.namespace}/{entry.name} in the scenario"
            ) from None
        if not any(baseline_type in v.accelerator_types for v in svc.spec.variants):
            raise ScenarioError(
                f"{where}: no variant of {entry.name} runs on the baseline pool's accelerator "
                f"{baseline_type!r}; change spec.baselinePool"
            )
