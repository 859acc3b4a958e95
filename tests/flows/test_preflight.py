"""The flow's first task checks what every run needs, whoever started it: a folder that cannot
be written ends the run `Rejected` in one line, before any X request or database write."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

from flows.app_mentions import app_mentions
from sinks.database import Database
from sinks.tables import app_mentions as mentions_table
from sinks.tables import appbuzz_runs
from tests.fake_x_api import FakeXApi

pytestmark = pytest.mark.usefixtures("prefect_harness")


def counts(url: str) -> tuple[int, int]:
    with Database.open(url) as database, database.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.scalar(select(func.count()).select_from(t))
            for t in (mentions_table, appbuzz_runs)
        )


def test_an_unwritable_output_folder_fails_the_run_before_x_and_the_database(
    catalogue_csv: Path,
    database_url: str,
    tmp_path: Path,
    fake_x_api: FakeXApi,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", database_url)
    monkeypatch.setenv("X_BEARER_TOKEN", fake_x_api.token)
    monkeypatch.setenv("X_API_BASE_URL", fake_x_api.base_url)
    with Database.open(database_url) as database:
        database.check()
    previous = tmp_path / "out"
    previous.write_text("the previous night's apps.csv\n")  # a file where a folder is expected
    out_dir = previous / "nightly"

    with caplog.at_level(logging.INFO):
        state = app_mentions(
            csv_path=catalogue_csv, snapshot_date=date(2026, 11, 20), out_dir=out_dir,
            return_state=True,
        )  # fmt: skip

    assert state.is_failed() and state.name == "Rejected"
    assert state.message == (
        f"output folder {out_dir}: {previous} is a file, not a folder "
        "(expected --out or APPBUZZ_OUT_DIR to name a folder)"
    )
    assert fake_x_api.requests == []
    assert counts(database_url) == (0, 0)
    assert previous.read_text() == "the previous night's apps.csv\n"
    assert "Traceback" not in caplog.text  # the task's failure is one line too
    assert "exception OutputUnavailable: output folder" in caplog.text


def test_a_task_that_rejects_the_input_logs_one_line_not_a_traceback(
    catalogue_csv: Path,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", database_url)
    broken = tmp_path / "negative-ids.csv"  # opens as a catalogue; every row fails a check
    pl.read_csv(catalogue_csv, n_rows=20).with_columns(id=-pl.col("id")).write_csv(broken)
    with caplog.at_level(logging.INFO):
        state = app_mentions(csv_path=broken, out_dir=tmp_path / "out", return_state=True)
    assert state.name == "Rejected"
    assert "20 of 20 rows fail validation" in (state.message or "")
    assert "Task run failed with exception: InputRejected" in caplog.text
    assert "Traceback" not in caplog.text
    assert not (tmp_path / "out").exists()


def test_a_parameter_out_of_range_is_rejected_in_one_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", database_url)
    state = app_mentions(max_pages=0, out_dir=tmp_path, return_state=True)
    assert state.name == "Rejected" and "max_pages=0" in (state.message or "")
    assert "\n" not in (state.message or "")
