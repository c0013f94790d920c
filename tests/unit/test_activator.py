"""The activator's pure parts: what counts as the service refusing a wake, which headers
pass through, and the command line's answers to bad input."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict
from typer.testing import CliRunner

from infercost.activator.proxy import forwardable
from infercost.activator.waker import refusal_of
from infercost.cli import app

pytestmark = pytest.mark.unit


def condition(kind: str, status: str, reason: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": f"{reason} here"}


def test_placed_false_is_a_refusal_naming_its_reason() -> None:
    service = {
        "status": {
            "conditions": [
                condition("Ready", "False", "Starting"),
                condition("Placed", "False", "OverBudget"),
            ]
        }
    }
    refused = refusal_of(service)
    assert refused is not None
    assert (refused.reason, refused.message) == ("OverBudget", "OverBudget here")


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"conditions": []},
        {"conditions": [condition("Placed", "True", "ScaledToZero")]},
        {"conditions": [condition("Ready", "False", "ReplicasStarting")]},
    ],
)
def test_anything_else_is_no_refusal(status: dict[str, object]) -> None:
    assert refusal_of({"status": status}) is None


def test_hop_by_hop_headers_stay_behind() -> None:
    headers = {
        "Host": "activator:8000",
        "Connection": "keep-alive",
        "Transfer-Encoding": "chunked",
        "Content-Length": "12",
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": "180",
        "Authorization": "Bearer t",
    }
    assert dict(forwardable(headers)) == {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": "180",
        "Authorization": "Bearer t",
    }


def test_repeated_headers_are_all_forwarded() -> None:
    headers = CIMultiDict([("Accept", "application/json"), ("Accept", "text/plain")])
    assert forwardable(headers).getall("Accept") == ["application/json", "text/plain"]


def test_a_bad_setting_stops_the_activator_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INFERCOST_ACTIVATOR_WAKE_TIMEOUT_SECONDS", "-1")
    args = ["activator", "--service", "bert", "--namespace", "ml", "--backend", "bert-replicas"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "INFERCOST_ACTIVATOR_WAKE_TIMEOUT_SECONDS" in result.output
    assert "Traceback" not in result.output


def test_the_activator_needs_its_service_and_backend() -> None:
    result = CliRunner().invoke(app, ["activator", "--namespace", "ml"])
    assert result.exit_code == 2
    assert "--service" in result.output
