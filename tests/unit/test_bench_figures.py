"""A benchmark figure's verdict beside its goal: below a ceiling, or at least a floor."""

from __future__ import annotations

from infercost.bench_figures import Figure


def test_a_ceiling_passes_below_it_and_a_floor_passes_at_or_above_it() -> None:
    ceiling = Figure(area="operator", name="round CPU", value=14.9, unit="s", goal=15.0)
    assert ceiling.verdict == "PASS"
    assert "[goal < 15 s: PASS]" in ceiling.line()
    floor = Figure(area="operator", name="kept", value=0.9, unit="", goal=0.95, at_least=True)
    assert floor.verdict == "MISS"
    assert "| >= 0.95  | MISS |" in floor.row()
    assert Figure(area="x", name="y", value=0.95, unit="", goal=0.95, at_least=True).verdict == (
        "PASS"
    )
    assert Figure(area="x", name="y", value=3.0, unit="s").verdict == "-"
