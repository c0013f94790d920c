"""The package layout promises of docs/architecture.md section 2."""

import importlib
import operator
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def test_operator_folder_is_not_a_package() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_import_operator_is_still_the_standard_library() -> None:
    assert operator.add(2, 3) == 5
    assert "site-packages" not in (operator.__file__ or "")
    assert Path(operator.__file__ or "").parent == Path(sys.modules["os"].__file__ or "").parent


@pytest.mark.parametrize(
    "package",
    [
        "infercost.api",
        "infercost.engine",
        "infercost.cli",
        "infercost.controller",
        "infercost.kubeclient",
    ],
)
def test_every_package_says_what_it_owns_and_must_not_import(package: str) -> None:
    doc = importlib.import_module(package).__doc__ or ""
    assert "Owns:" in doc
    assert (
        "Must not import" in doc or "must not import" in doc.lower() or package == "infercost.cli"
    )


def test_the_operator_layer_is_one_package_not_loose_modules() -> None:
    """service, handlers, picture, ... live in infercost.controller (one import-linter contract)."""
    loose = {"service", "handlers", "picture", "pricing", "pool_status", "rollout", "runner"}
    root = ROOT / "operator" / "infercost"
    assert not {p.stem for p in root.glob("*.py")} & (loose | {"telemetry", "reporting"})
    assert {p.stem for p in (root / "controller").glob("*.py")} >= loose
