"""The integration fixtures (sandbox API server over real HTTP, the embedded operator),
shared with the fault tests here, and the fuzz tally printed at the end of a run."""

from typing import Any

from tests.integration.conftest import api, start_operator

__all__ = ["api", "pytest_terminal_summary", "start_operator"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.reliability.test_fuzz_specs import TALLY

    if TALLY["tried"]:
        accepted = TALLY["tried"] - TALLY["refused"]
        terminalreporter.write_line(
            f"spec fuzz: {TALLY['tried']} objects checked by pydantic, the CRD schema and CEL; "
            f"{TALLY['refused']} refused by all three, {accepted} accepted by all three"
        )
