"""The run record mirrors `appbuzz_runs`; mention statuses are one enum, the table's values."""

from __future__ import annotations

import dataclasses

import polars as pl

from sinks.tables import appbuzz_runs
from transforms.mentions import MentionStatus, mention_totals, skipped_mentions
from transforms.run_record import RunRecord


def test_the_record_has_the_tables_columns_and_no_other() -> None:
    fields = [f.name for f in dataclasses.fields(RunRecord)]
    assert sorted(fields) == sorted(c.name for c in appbuzz_runs.c)
    required = {f.name for f in dataclasses.fields(RunRecord) if f.default is dataclasses.MISSING}
    assert {c.name for c in appbuzz_runs.c if not c.nullable} <= required


def test_every_status_has_its_total_in_the_record() -> None:
    totals = mention_totals(skipped_mentions(pl.DataFrame({"id": [1, 2]})))
    assert totals[f"mentions_{MentionStatus.SKIPPED}"] == 2
    assert {f"mentions_{s}" for s in MentionStatus} <= {
        f.name for f in dataclasses.fields(RunRecord)
    }
