"""`infercost crds --check` passes on the checked-in CRDs and names a file that drifted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.support.crdcheck import CRD_DIR, ROOT
from typer.testing import CliRunner

from infercost.cli import app

pytestmark = pytest.mark.unit

RUNNER = CliRunner()


def test_checked_in_crds_match_the_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = RUNNER.invoke(app, ["crds", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_a_modified_copy_is_detected_and_named(tmp_path: Path) -> None:
    copy = tmp_path / "crds"
    shutil.copytree(CRD_DIR, copy)
    assert RUNNER.invoke(app, ["crds", "--out", str(copy), "--check"]).exit_code == 0

    edited = copy / "infercost.io_inferenceservices.yaml"
    edited.write_text(edited.read_text().replace("maxItems: 16", "maxItems: 17", 1))
    result = RUNNER.invoke(app, ["crds", "--out", str(copy), "--check"])

    assert result.exit_code == 1
    assert str(edited) in result.output
    assert "infercost.io_acceleratorpools.yaml" not in result.output


def test_a_missing_file_is_detected_and_named(tmp_path: Path) -> None:
    copy = tmp_path / "crds"
    shutil.copytree(CRD_DIR, copy)
    (copy / "infercost.io_acceleratorpools.yaml").unlink()
    result = RUNNER.invoke(app, ["crds", "--out", str(copy), "--check"])
    assert result.exit_code == 1
    assert "infercost.io_acceleratorpools.yaml" in result.output


def test_writing_then_checking_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    assert RUNNER.invoke(app, ["crds", "--out", str(out)]).exit_code == 0
    for path in CRD_DIR.glob("*.yaml"):
        assert (out / path.name).read_text() == path.read_text()
    assert RUNNER.invoke(app, ["crds", "--out", str(out), "--check"]).exit_code == 0
