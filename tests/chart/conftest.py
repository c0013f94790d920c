"""Session-wide renders of the chart, shared by the chart tests (helpers: chartkit.py)."""

from __future__ import annotations

import pytest
from chartkit import ALL_ON, Render, render


@pytest.fixture(scope="session")
def default_render() -> Render:
    return render("--include-crds")


@pytest.fixture(scope="session")
def all_on_render() -> Render:
    return render("--include-crds", "--values", ALL_ON)


@pytest.fixture(scope="session")
def renders(default_render: Render, all_on_render: Render) -> dict[str, Render]:
    return {"default": default_render, "all-on": all_on_render}
