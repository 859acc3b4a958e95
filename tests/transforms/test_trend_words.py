"""How change and spikes are worded for a person (the CLI's closing line, the summary)."""

from __future__ import annotations

import polars as pl

from transforms.trends import biggest_mover, describe_change, spikes, trend_note


def night(**columns: list) -> pl.DataFrame:
    base = {
        "rank": [1, 2, 3],
        "id": [11, 22, 33],
        "track_name": ["Alpha", "Beta", "Gamma"],
        "n_citacoes": [100, 1500, None],
        "change": [-40, 1000, None],
        "change_pct": [-28.57, 200.0, None],
        "spike": [False, True, None],
    }
    return pl.DataFrame({**base, **columns})


def test_changes_are_signed_with_separators_and_new_when_unknown() -> None:
    assert describe_change(1234, 45.4) == "+1,234 (+45%)"
    assert describe_change(-3, -1.2) == "-3 (-1%)"
    assert describe_change(0, 0.0) == "±0 (±0%)"
    assert describe_change(5, None) == "+5"  # from zero: no percentage
    assert describe_change(None, None) == "new"


def test_biggest_mover_is_the_largest_absolute_change_ties_to_the_better_rank() -> None:
    assert biggest_mover(night())["id"] == 22
    assert biggest_mover(night(change=[-50, 50, None]))["id"] == 11
    assert biggest_mover(night(change=[0, None, None])) is None


def test_closing_clause_names_the_mover_and_every_spike() -> None:
    assert trend_note(night()) == "biggest mover Beta +1,000 (+200%); spike: Beta (1,500)"
    quiet = night(change=[None, None, None], spike=[None, None, None])
    assert trend_note(quiet) == "no change since the night before; no spike"
    assert spikes(night(spike=[True, True, None]))["id"].to_list() == [11, 22]
