"""Hostile values, one by one: refused by pydantic and by the CRD, naming the field, and
`infercost plan` exits 2 with one clear line and no traceback."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.mutations import BASES
from tests.support.crdcheck import ROOT, api_server_errors, pydantic_errors

pytestmark = pytest.mark.unit

Body = dict[str, Any]
SERVICE = next(b for b in BASES["InferenceService"] if b["metadata"]["name"] == "bert-base")
POOL = next(b for b in BASES["AcceleratorPool"] if b["metadata"]["name"] == "g5-xlarge")


@dataclass(frozen=True)
class Hostile:
    id: str
    base: Body
    change: Callable[[Body], None]
    field: str  # the field the refusal must name (pydantic's and plan's spelling)
    api_server: bool = True  # the CRD refuses it too (False: metadata, checked by Kubernetes)

    def body(self) -> Body:
        body = copy.deepcopy(self.base)
        self.change(body)
        return body


def put(path: str, value: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        node: Any = body
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return change


def many_variants(count: int) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        first = body["spec"]["variants"][0]
        body["spec"]["variants"] = [{**first, "name": f"v{i}"} for i in range(count)]

    return change


def many_points(body: Body) -> None:
    body["spec"]["variants"][0]["profile"] *= 5000


CASES = [
    Hostile(
        "huge-int", SERVICE, put("spec.scaling.maxReplicas", 10**30), "spec.scaling.maxReplicas"
    ),
    Hostile(
        "int64-overflow",
        POOL,
        put("spec.tolerations", [{"key": "k", "tolerationSeconds": 2**70}]),
        "spec.tolerations[0].tolerationSeconds",
    ),
    Hostile(
        "huge-float", SERVICE, put("spec.budget.maxHourlyCost", 1e308), "spec.budget.maxHourlyCost"
    ),
    Hostile(
        "huge-price", POOL, put("spec.pricing.hourlyPerNode", 1e9), "spec.pricing.hourlyPerNode"
    ),
    Hostile(
        "negative-price",
        POOL,
        put("spec.pricing.hourlyPerNode", -0.01),
        "spec.pricing.hourlyPerNode",
    ),
    Hostile(
        "negative-budget",
        SERVICE,
        put("spec.budget.maxHourlyCost", -5),
        "spec.budget.maxHourlyCost",
    ),
    Hostile(
        "negative-replicas",
        SERVICE,
        put("spec.scaling.minReplicas", -1),
        "spec.scaling.minReplicas",
    ),
    Hostile(
        "zero-throughput",
        SERVICE,
        put("spec.variants.0.profile.0.throughput", 0),
        "spec.variants[0].profile[0].throughput",
    ),
    Hostile("percentile-100", SERVICE, put("spec.slo.percentile", 100), "spec.slo.percentile"),
    Hostile(
        "spot-fraction-2",
        SERVICE,
        put("spec.placement.maxSpotFraction", 2),
        "spec.placement.maxSpotFraction",
    ),
    Hostile("1000-variants", SERVICE, many_variants(1000), "spec.variants"),
    Hostile("10000-profile-points", SERVICE, many_points, "spec.variants[0].profile"),
    Hostile(
        "unicode-variant-name",
        SERVICE,
        put("spec.variants.0.name", "モデル-β"),
        "spec.variants[0].name",
    ),
    Hostile(
        "variant-name-64", SERVICE, put("spec.variants.0.name", "v" * 64), "spec.variants[0].name"
    ),
    Hostile(
        "huge-image", SERVICE, put("spec.variants.0.image", "x" * 100_000), "spec.variants[0].image"
    ),
    Hostile(
        "unicode-accelerator",
        POOL,
        put("spec.accelerator.type", "nvidia-ä100"),
        "spec.accelerator.type",
    ),
    Hostile(
        "string-for-int", SERVICE, put("spec.scaling.maxReplicas", "10"), "spec.scaling.maxReplicas"
    ),
    Hostile(
        "bool-for-int",
        SERVICE,
        put("spec.variants.0.startupSeconds", True),
        "spec.variants[0].startupSeconds",
    ),
    Hostile(
        "string-for-float",
        POOL,
        put("spec.pricing.hourlyPerNode", "1.0"),
        "spec.pricing.hourlyPerNode",
    ),
    Hostile(
        "float-for-int", SERVICE, put("spec.scaling.minReplicas", 1.5), "spec.scaling.minReplicas"
    ),
    Hostile("unknown-field", SERVICE, put("spec.scaling.maxReplica", 5), "spec.scaling.maxReplica"),
    Hostile("missing-slo", SERVICE, lambda b: b["spec"].pop("slo"), "spec.slo"),
    Hostile("min-above-max", SERVICE, put("spec.scaling.minReplicas", 60), "spec.scaling"),
    Hostile(
        "unicode-service-name",
        SERVICE,
        put("metadata.name", "bért"),
        "metadata.name",
        api_server=False,
    ),
    Hostile(
        "service-name-254",
        SERVICE,
        put("metadata.name", "a" * 254),
        "metadata.name",
        api_server=False,
    ),
    Hostile(
        "namespace-64",
        SERVICE,
        put("metadata.namespace", "n" * 64),
        "metadata.namespace",
        api_server=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_refused_by_models_and_crd_naming_the_field(case: Hostile) -> None:
    body = case.body()
    errors = pydantic_errors(body)
    assert any(error.startswith(f"{case.field}: ") for error in errors), errors
    if case.api_server:
        assert api_server_errors(body), "the CRD accepts what the models refuse"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_plan_refuses_with_exit_2(case: Hostile, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from infercost.cli import app

    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(case.body()))
    others = ROOT / "examples" / ("pools" if case.base is SERVICE else "services")
    result = CliRunner().invoke(app, ["plan", str(path), str(others)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"{case.field}:" in result.output
    assert len(result.output) < 2000, "one line, not a dump of the input"


NON_FINITE = [
    ("nan-price", POOL, "spec.pricing.hourlyPerNode", ".nan"),
    ("inf-budget", SERVICE, "spec.budget.maxHourlyCost", ".inf"),
    ("minus-inf-latency", SERVICE, "spec.slo.latencyMs", "-.inf"),
]


@pytest.mark.parametrize(
    ("name", "base", "field", "token"), NON_FINITE, ids=[c[0] for c in NON_FINITE]
)
def test_plan_process_refuses_non_finite_yaml_numbers(
    name: str, base: Body, field: str, token: str, tmp_path: Path
) -> None:
    """A real `infercost plan` process: .nan/.inf in YAML (no JSON client can send them)."""
    body = copy.deepcopy(base)
    put(field, math.pi)(body)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body).replace(str(math.pi), token))
    others = ROOT / "examples" / ("pools" if base is SERVICE else "services")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("infercost")), "plan", str(path), str(others)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{field}: Input should be a finite number" in done.stderr


@pytest.mark.parametrize(
    "text",
    [
        "a: [unclosed",
        "- just\n- a list",
        "apiVersion: infercost.io/v2\nkind: InferenceService\nmetadata: {name: x}\n",
        "apiVersion: infercost.io/v1alpha1\nkind: Gadget\nmetadata: {name: x}\n",
        "apiVersion: infercost.io/v1alpha1\nkind: InferenceService\nmetadata: {name: x}\nspec: 7\n",
        "\udcff",
    ],
    ids=["bad-yaml", "not-a-mapping", "bad-version", "bad-kind", "spec-not-object", "bad-utf8"],
)
def test_plan_refuses_malformed_files(text: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from infercost.cli import app

    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = CliRunner().invoke(app, ["plan", str(path), str(ROOT / "examples")])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "bad.yaml" in result.output
