"""A snapshot's files and rows are of one night: a failure between the database commit and the
files' move leaves the previous night's files and rows, never new rows beside old files."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select, text

from sinks import files as files_module
from sinks.database import Database
from sinks.files import PreparedOutputs, output_rows, prepare_outputs
from sinks.tables import app_mentions
from transforms.run_record import RunRecord, RunStatus

NIGHT = date(2026, 11, 1)


def night(run_id: str, n: int) -> tuple[RunRecord, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One night's run, its rows for the table, its rows for the files and its rejects."""
    now = datetime.now(UTC)
    run = RunRecord(
        run_id=run_id, flow_run_id=None, snapshot_date=NIGHT, selection="Music/top1",
        started_at=now, finished_at=now, status=RunStatus.COMPLETED, source_path="x.csv",
        strategy="counts",
    )  # fmt: skip
    app = {
        "id": 1, "track_name": "Pandora", "n_citacoes": n, "size_bytes": 10, "price": 0.0,
        "prime_genre": "Music", "rank": 1, "rating_count_tot": 5, "mention_status": "ok",
        "snapshot_date": NIGHT,
    }  # fmt: skip
    stored = pl.DataFrame([{**app, "x_requests": 1}]).drop("snapshot_date")
    rejects = pl.DataFrame({"row_number": [7], "column": ["id"], "check": ["x"], "value": ["-"]})
    return run, stored, output_rows(pl.DataFrame([app])), rejects if n == 1 else rejects.clear()


def load(url: str, out: Path, run_id: str, n: int) -> PreparedOutputs:
    """A night's load as the flow's does it: rows replaced, files staged for the commit."""
    run, stored, shaped, rejects = night(run_id, n)
    prepared = prepare_outputs(out, shaped, rejects)
    with Database.open(url) as database, database.night(NIGHT, run.selection) as load:
        load.replace_snapshot(run, stored)
        load.publish_with_commit(prepared)
    return prepared


def state(url: str, out: Path) -> tuple[list[tuple], dict[str, bytes]]:
    with Database.open(url) as database, database.engine.connect() as connection:
        rows = connection.execute(select(app_mentions.c.run_id, app_mentions.c.n_citacoes)).all()
    return [tuple(r) for r in rows], {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture
def first_night(database_url: str, tmp_path: Path) -> tuple[str, Path]:
    out = tmp_path / "out"
    with Database.open(database_url) as database:
        database.check()
    load(database_url, out, "night-1", 1)
    return database_url, out


def test_a_load_puts_rows_and_files_in_place_together(first_night: tuple[str, Path]) -> None:
    url, out = first_night
    rows, files = state(url, out)
    assert rows == [("night-1", 1)]
    assert set(files) == {"apps.csv", "apps.json", "rejects.csv"}  # nothing left aside
    load(url, out, "night-2", 2)
    rows, files = state(url, out)
    assert rows == [("night-2", 2)]
    assert set(files) == {"apps.csv", "apps.json"}  # night 2 rejected nothing: no stale report
    assert b'"n_citacoes": 2' in files["apps.json"]


def test_a_failed_move_leaves_the_previous_night(
    first_night: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, out = first_night
    before = state(url, out)

    def move(source: os.PathLike[str], target: os.PathLike[str]) -> None:
        if Path(target).name == "apps.json":  # apps.csv is in place by now
            raise OSError(28, "No space left on device")
        os.replace(source, target)

    monkeypatch.setattr(files_module, "_move", move)  # the seam built for this test
    with pytest.raises(OSError, match="No space left"):
        load(url, out, "night-2", 2)
    assert state(url, out) == before


@pytest.mark.postgres
def test_a_failed_commit_after_the_move_leaves_the_previous_night(
    postgres_url: str, tmp_path: Path
) -> None:
    """A deferred constraint fails at COMMIT itself, after the files were moved in."""
    out = tmp_path / "out"
    with Database.open(postgres_url) as database:
        database.check()
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_night_2() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN IF NEW.run_id = 'night-2' THEN RAISE EXCEPTION 'refused at commit';"
                    " END IF; RETURN NULL; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON appbuzz_runs"
                    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_night_2()"
                )
            )
    load(postgres_url, out, "night-1", 1)
    before = state(postgres_url, out)
    with pytest.raises(Exception, match="refused at commit"):
        load(postgres_url, out, "night-2", 2)
    assert state(postgres_url, out) == before
