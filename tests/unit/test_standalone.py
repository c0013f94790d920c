"""The repository stands alone: no file of it refers to a path outside it.

A clone must run its examples, scenarios, sandbox, benchmarks and tests with nothing beside it,
so the files git knows (tracked, plus new files git does not ignore) may not name:
* a relative path that climbs out of the repository from the file's own folder (`../x` in
  `README.md`; scenario loaders resolve trace paths that way, and a reader does too);
* the checkout that once sat beside it (`shared/data`, `shared/docs`, a Python path join
  through `".."`);
* an absolute path of a development machine (`/work/...`, `/home/...`, `/root/...`, ...);
* a document that lives outside (`DESIGN.md`, `ENVIRONMENT.md`, `HELPERS.md`).
What the project uses from outside is copied into `data/` (see data/README.md), and the design
is `docs/architecture.md`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml

UP = "../"  # one level up, joined at use
ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

# `../` chains at the start of a path-like token (not inside a longer word or URL path).
CLIMB = re.compile(r"(?<![\w./-])((?:\.\./)+)([\w.-]+(?:/[\w.-]+)*)?")
OUTSIDE = [
    (re.compile(r"\bshared[\"']?\s*/\s*[\"']?(?:data|docs)\b"), "the sibling checkout `shared/`"),
    (re.compile(r"/\s*[\"']\.\.[\"']"), "a path join that climbs with '..'"),
    (re.compile(r"(?<![\w.])/(?:work|home|root|Users|mnt)/\w"), "an absolute path of a machine"),
    (re.compile(r"\b(?:DESIGN|ENVIRONMENT|HELPERS)\.md\b"), "a document outside the repository"),
]


def repository_files() -> list[str]:
    """Tracked files and new ones git does not ignore (a file added but not yet committed)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def text_of(name: str) -> str | None:
    """The file's text, or None for binary files (compressed traces, images)."""
    data = (ROOT / name).read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def outside_references(name: str, text: str) -> Iterator[str]:
    """`line: what` for each reference of the file `name` to a path outside the repository."""
    folder = (ROOT / name).parent
    for number, line in enumerate(text.splitlines(), start=1):
        for match in CLIMB.finditer(line):
            target = (folder / match.group(0)).resolve()
            if not target.is_relative_to(ROOT):
                yield f"{name}:{number}: {match.group(0)!r} climbs out of the repository"
        for pattern, what in OUTSIDE:
            for match in pattern.finditer(line):
                yield f"{name}:{number}: {match.group(0)!r} is {what}"


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    files = [name for name in repository_files() if name != THIS]
    assert len(files) > 100, "git ls-files listed too few files: is this the repository?"
    found = [
        where
        for name in files
        if (text := text_of(name)) is not None
        for where in outside_references(name, text)
    ]
    assert not found, "files refer to paths outside the repository:\n" + "\n".join(found)


def test_the_check_catches_each_kind_of_outside_reference() -> None:
    """The patterns above find what they are meant to (and leave paths inside alone)."""
    outside = {
        # Built from parts so that this file itself names no path outside the repository.
        "README.md": "prices from `" + UP + "shared/data/prices.yaml`",
        "examples/scenarios/x.yaml": "path: ../../" + UP + "shared/data/traces/a.csv",
        "tests/sim/t.py": 'trace = ROOT.parent / "shared" / "data" / "traces"',
        "operator/infercost/sim/b.py": 'TRACES = Path(__file__).parents[3] / ".." / "x"',
        "docs/x.md": "see /work/shared/docs/ for more",
        "operator/infercost/x.py": "# the design (DESIGN.md section 5)",
    }
    for name, line in outside.items():
        assert list(outside_references(name, line)), f"not caught: {name}: {line}"
    inside = {
        "examples/scenarios/x.yaml": "path: ../../data/traces/a.csv  # include: [../pools]",
        "tests/chart/rules.test.yaml": "- ../../charts/infercost/files/prometheus-rules.yaml",
        "README.md": "see docs/architecture.md and data/README.md; /usr/bin/python3",
    }
    for name, line in inside.items():
        assert not list(outside_references(name, line)), f"wrongly caught: {name}: {line}"


def test_every_trace_the_scenarios_name_is_in_the_repository() -> None:
    """Each example Workload's trace path resolves, from the scenario's folder, to a file of the
    repository (the real traces in data/traces, a small synthetic series beside the scenario)."""
    named = 0
    for scenario in sorted((ROOT / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(scenario.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "Workload":
                continue
            for service in doc["spec"]["services"]:
                path = service["trace"]["path"]
                target = (scenario.parent / path).resolve()
                assert target.is_relative_to(ROOT), f"{scenario}: {path} is outside the repository"
                assert target.is_file(), f"{scenario}: trace {path} is missing"
                named += 1
    assert named >= 8  # five simulator scenarios and three sandbox scenarios name a trace
