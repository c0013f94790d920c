"""Plots (matplotlib, Agg) and the markdown report of a simulate or bench run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from infercost.sim.run import Result


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hours(result: Result) -> np.ndarray:
    return np.asarray(result.timeline.time, dtype=np.float64) / 3600.0


def plot_run(result: Result, out: Path) -> None:
    """One policy: demand, replicas by pool, p99 vs SLO and cumulative cost, stacked."""
    plt = _pyplot()
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    hours = _hours(result)
    axes[0].plot(hours, result.timeline.demand, lw=0.8)
    axes[0].set_ylabel("demand (req/s)")
    for pool, series in result.timeline.replicas_by_pool.items():
        if any(series):
            axes[1].step(hours, series, where="post", lw=0.9, label=pool)
    axes[1].set_ylabel("replicas")
    axes[1].legend(loc="upper right", fontsize=8)
    p99 = np.vstack(result.timeline.p99_ms)
    for s, slo in enumerate(result.slo_ms):
        line = axes[2].plot(hours, p99[:, s], lw=0.7)
        axes[2].axhline(slo, color=line[0].get_color(), ls="--", lw=0.8)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("p99 (ms) vs SLO")
    axes[3].plot(hours, result.timeline.cost)
    axes[3].set_ylabel("cumulative cost ($)")
    axes[3].set_xlabel("hours")
    fig.suptitle(f"policy {result.policy}")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_bench(results: Mapping[str, Result], out_dir: Path) -> list[Path]:
    """The four comparison plots of a bench run; returns the files written."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    first = next(iter(results.values()))
    files = []

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files.append(path)

    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(_hours(first), first.timeline.demand, lw=0.8)
    ax.set(xlabel="hours", ylabel="req/s", title="demand (all services)")
    save(fig, "demand.png")

    fig, axes = plt.subplots(len(results), 1, figsize=(10, 2.2 * len(results)), sharex=True)
    for ax, (name, result) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for pool, series in result.timeline.replicas_by_pool.items():
            if any(series):
                ax.step(_hours(result), series, where="post", lw=0.9, label=pool)
        ax.set_ylabel(name, fontsize=8)
        ax.legend(loc="upper right", fontsize=7)
    fig.suptitle("replicas by pool")
    save(fig, "replicas.png")

    fig, ax = plt.subplots(figsize=(10, 4))
    for name, result in results.items():
        p99 = np.fmax.reduce(np.vstack(result.timeline.p99_ms), axis=1)  # NaN-quiet max
        ax.plot(_hours(result), p99, lw=0.7, label=name)
    for slo in sorted(set(first.slo_ms)):
        ax.axhline(slo, color="k", ls="--", lw=0.8)
    ax.set(xlabel="hours", ylabel="p99 ms (worst service)", yscale="log", title="p99 vs SLO")
    ax.legend(fontsize=8)
    save(fig, "p99.png")

    fig, ax = plt.subplots(figsize=(10, 4))
    for name, result in results.items():
        ax.plot(_hours(result), result.timeline.cost, label=name)
    ax.set(xlabel="hours", ylabel="$", title="cumulative cost")
    ax.legend(fontsize=8)
    save(fig, "cost.png")
    return files


def markdown(scenario: str, results: Mapping[str, Result], plots: list[Path]) -> str:
    lines = [
        f"# Benchmark: {scenario}",
        "",
        "| policy | requests | SLO attainment | cost $ | $/1M good | accel-h | over-prov accel-h | budget viol. s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        c = result.contract()
        lines.append(
            f"| {name} | {c['requests']:,} | {c['slo_attainment']:.4f} | {c['cost_usd']:.2f} | "
            f"{c['cost_per_million_good']} | {c['accelerator_hours']:.1f} | "
            f"{c['overprovisioned_accelerator_hours']:.1f} | {c['budget_violation_seconds']} |"
        )
    if "infercost" in results:
        lines += ["", "## infercost against the goals", ""]
        lines += _goals(results)
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def _goals(results: Mapping[str, Result]) -> list[str]:
    ours = results["infercost"]
    out = [f"- infercost SLO attainment {ours.slo_attainment:.4f} (goal >= 0.99)"]
    for other, limit in (("oracle", 1.15), ("hpa", 0.5), ("single-pool", 0.8)):
        if other in results and np.isfinite(results[other].cost_per_million_good):
            ratio = ours.cost_per_million_good / results[other].cost_per_million_good
            out.append(f"- $/1M good vs {other}: {ratio:.3f}x (goal <= {limit}x)")
    if "hpa" in results:
        bad_ours = ours.requests - ours.good_requests
        bad_hpa = results["hpa"].requests - results["hpa"].good_requests
        share = bad_ours / bad_hpa if bad_hpa else float("inf") if bad_ours else 0.0
        out.append(f"- SLO violations vs hpa: {share:.3f}x (goal <= 0.25x)")
    out.append(
        f"- budget violation seconds: {ours.budget_violation_seconds:.0f} (goal 0 under Cap)"
    )
    return out
