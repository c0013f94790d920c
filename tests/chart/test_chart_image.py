"""The Dockerfile: hadolint clean, pinned, multi-stage, non-root, the contract entrypoint; and
its build context (.dockerignore) holds what the build stage needs to make the wheel.

No image is built: these machines have no Docker engine (docs/architecture.md section 10). The build stage's
wheel step is run here on a copy of exactly the files the context lets through."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from chartkit import ROOT, run, tool

pytestmark = pytest.mark.chart

DOCKERFILE = ROOT / "Dockerfile"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
OCI_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
}


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(DOCKERFILE.read_text()):
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _hadolint(path: Path) -> list[dict[str, str]]:
    done = run([tool("hadolint"), "--format", "json", "--failure-threshold", "style", path])
    findings: list[dict[str, str]] = json.loads(done.stdout or "[]")
    assert (done.returncode == 0) == (not findings), done.stderr
    return findings


def test_hadolint_finds_nothing() -> None:
    assert _hadolint(DOCKERFILE) == []


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n"
        "RUN pip install kopf\nUSER root\nCMD infercost run\n"
    )
    codes = {f["code"] for f in _hadolint(bad)}
    assert {"DL3007", "DL3008", "DL3013", "DL3002", "DL3025"} <= codes


def test_base_image_is_pinned_by_digest_everywhere() -> None:
    args = dict(
        a.split("=", 1) for w, a in _instructions(DOCKERFILE.read_text()) if w == "ARG" and "=" in a
    )
    base = args["PYTHON_IMAGE"]
    assert base.startswith("python:3.11.")
    assert "-slim-bookworm@" in base
    assert DIGEST.search(base)
    for stage in _stages():
        image = stage[0][1].split()[0]
        assert image == "${PYTHON_IMAGE}", f"FROM {image} is not the pinned base"


def test_multi_stage_and_the_final_stage_has_no_build_tools() -> None:
    stages = _stages()
    assert len(stages) >= 2
    assert "AS build" in stages[0][0][1]
    final = stages[-1]
    assert not [a for w, a in final if w == "RUN"], "the final stage runs nothing: copy only"
    copies = [a for w, a in final if w == "COPY"]
    assert copies == ["--from=build /opt/infercost /opt/infercost"]
    text = " ".join(a for _, a in final)
    for tool_name in ("gcc", "build-essential", "apt-get", "pip install"):
        assert tool_name not in text


def test_runs_as_a_numeric_non_root_user_with_the_contract_entrypoint() -> None:
    final = _stages()[-1]
    users = [a for w, a in final if w == "USER"]
    assert users == ["65532:65532"]
    entrypoint = [a for w, a in final if w == "ENTRYPOINT"]
    cmd = [a for w, a in final if w == "CMD"]
    assert [json.loads(e) for e in entrypoint] == [["infercost"]]
    assert [json.loads(c) for c in cmd] == [["run", "--all-namespaces"]]


def test_oci_labels() -> None:
    labels = " ".join(a for w, a in _stages()[-1] if w == "LABEL")
    found = set(re.findall(r"(org\.opencontainers\.image\.[a-z.]+)=", labels))
    assert found >= OCI_LABELS


def _context_files() -> list[Path]:
    """The files `docker build .` sends, per .dockerignore (its `*` then `!` allowlist form)."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the context is an allowlist"
    allowed = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
    denied = [r for r in rules[1:] if not r.startswith("!")]
    files = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if not path.is_file():
            continue
        if not any(rel == a or rel.startswith(a + "/") for a in allowed):
            continue
        # `**/NAME`: NAME at any depth, and a matching folder takes its contents along.
        parts = path.relative_to(ROOT).parts
        if any(fnmatch.fnmatch(part, d.removeprefix("**/")) for d in denied for part in parts):
            continue
        files.append(path)
    return files


def test_build_context_leaves_out_local_state() -> None:
    files = _context_files()
    assert {p.relative_to(ROOT).parts[0] for p in files} == {
        "pyproject.toml",
        "README.md",
        "operator",
    }
    for path in files:
        assert "__pycache__" not in path.parts, path
        assert not any(part.endswith(".egg-info") for part in path.parts), path


def test_build_stage_makes_the_wheel_from_the_context_alone(tmp_path: Path) -> None:
    # What the build stage's `pip wheel --no-deps .` does, on a copy of only the context files.
    for path in _context_files():
        target = tmp_path / "ctx" / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    done = run(
        [
            ROOT / ".venv" / "bin" / "python",
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--wheel-dir",
            tmp_path / "wheels",
            ".",
        ],
        cwd=tmp_path / "ctx",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "wheels").glob("infercost-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
        metadata = next(z.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "infercost = infercost.cli:app" in entry_points
    assert {"infercost/cli/__init__.py", "infercost/api/v1alpha1.py", "infercost/py.typed"} <= names
    assert "Requires-Dist: kopf" in metadata
