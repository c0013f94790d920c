"""Helpers of the chart tests: the real tools (installed by `make tools`) and `helm template`.

Every test here runs a real binary (helm 4, promtool, checkov, hadolint) or a real library
(kubernetes-validate, openapi-schema-validator, cel-python, lupa) on the files we ship.
A missing tool is a failure with the command that installs it, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "infercost"
HERE = Path(__file__).resolve().parent
TOOLS_BIN = ROOT / ".tools" / "bin"
VENV_BIN = ROOT / ".venv" / "bin"
ALL_ON = HERE / "values-all-on.yaml"
RELEASE = "infercost"
NAMESPACE = "infercost-system"
# Generous: the machine is shared with other helpers and has 2 cores.
TIMEOUT_S = 600


def tool(name: str) -> Path:
    """Path of a tool from `make tools`; a clear failure when it is missing."""
    for folder in (TOOLS_BIN, VENV_BIN, ROOT / ".tools" / "checkov-venv" / "bin"):
        path = folder / name
        if path.exists():
            return path
    found = shutil.which(name)
    if found:
        return Path(found)
    pytest.fail(f"{name} is not installed: run `make tools` (it installs helm, promtool, checkov)")


def run(args: list[str | Path], *, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@dataclass(frozen=True)
class Render:
    """One `helm template` output: the YAML text and its documents."""

    text: str
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
        return found[0]


def helm_template(*extra: str | Path) -> subprocess.CompletedProcess[str]:
    return run([tool("helm"), "template", RELEASE, CHART, "--namespace", NAMESPACE, *extra])


def render(*extra: str | Path) -> Render:
    done = helm_template(*extra)
    assert done.returncode == 0, f"helm template failed:\n{done.stderr}"
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return Render(text=done.stdout, docs=docs)
