"""`make bench`: engine, operator and simulator figures in one table, each beside its goal.

Prints the table and writes it, with the date and the machine (cores, CPU model), between
the markers of docs/performance.md, so a regression shows the day it happens. Figures are
measured, never asserted. The operator's figures come from benchmarks/bench_operator.py (its
last line is JSON); its goals: no API writes in a steady round, and a steady round's CPU
within the 15 s control interval (one process keeps up).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

from infercost import bench_engine, bench_figures
from infercost.bench_figures import TABLE_HEAD, Figure
from infercost.sim import bench as bench_sim

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
INTERVAL_S = 15.0


def operator_figures(services: int) -> list[Figure]:
    """Run bench_operator.py in its own process and read its JSON line."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_operator.py"),
            "--services",
            str(services),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print(out, end="")
    # Its JSON line is the last one it prints to stdout (a log line may follow in a shutdown).
    result = json.loads(next(x for x in reversed(out.splitlines()) if x.startswith("{")))
    return bench_figures.operator_figures(result, interval=INTERVAL_S)


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if found:
            model = found.group(1).strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} core(s) (nproc), {model}, Python {platform.python_version()}, "
        f"load average {load:.1f} at the end (wall figures carry it)"
    )


def write_doc(figures: list[Figure], *, command: str) -> None:
    """Replace the generated section of docs/performance.md (the notes around it are kept)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(
        [
            START,
            f"Last run: {now} on {machine()}; `{command}`.",
            "",
            TABLE_HEAD,
            *(figure.row() for figure in figures),
            END,
        ]
    )
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = f"{text.rstrip()}\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + body + tail)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operator-services", type=int, default=1000)
    parser.add_argument("--sim-args", default="", help="passed to infercost.sim.bench")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    figures = bench_engine.figures()
    figures += operator_figures(args.operator_services)
    figures += bench_sim.run(shlex.split(args.sim_args))
    print()
    print(TABLE_HEAD)
    for figure in figures:
        print(figure.row())
    if not args.no_write:
        command = "make bench" + (f' BENCH_SIM_ARGS="{args.sim_args}"' if args.sim_args else "")
        write_doc(figures, command=command)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
