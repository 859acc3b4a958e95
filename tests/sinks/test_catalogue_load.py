"""The catalogue table: loaded once per version, COPY on PostgreSQL, batched inserts on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.catalogue_tasks import rank_catalogue
from sinks.catalogue import catalogue_loaded, load_catalogue
from sinks.database import check_database, make_engine
from sinks.scratch import Scratch
from sinks.tables import app_catalogue, app_catalogue_versions
from sources.catalogue import CatalogueFile
from tests.support.catalogues import ROWS, generated

FIRST, SECOND = generated().head(2).iter_rows(named=True)  # the file's first two apps


@pytest.fixture(scope="module")
def valid_rows(catalogue_csv: Path):
    with Scratch() as scratch:
        result = rank_catalogue(
            CatalogueFile.open(catalogue_csv), scratch, ("Book",), 1, max_reject_share=0.01,
            keep_valid_rows=True,
        )  # fmt: skip
        yield result.valid_rows


@pytest.fixture(scope="module")
def sha(valid_rows) -> str:
    return valid_rows.sha256


def load(engine, rows, **overrides) -> bool:
    arguments = dict(
        sha256=rows.sha256, csv_path=rows.path, columns=rows.columns, rows=rows.rows,
        source_path="AppleStore.csv", loaded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        exclude=rows.exclude,
    )  # fmt: skip
    return load_catalogue(engine, **{**arguments, **overrides})


def test_catalogue_is_loaded_once_per_version(database_url: str, valid_rows, sha: str) -> None:
    engine = make_engine(database_url)
    check_database(engine)
    assert not catalogue_loaded(engine, sha)
    assert load(engine, valid_rows) is True
    assert catalogue_loaded(engine, sha)
    assert load(engine, valid_rows) is False  # unchanged file: nothing loaded twice
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(app_catalogue))
        versions = connection.execute(select(app_catalogue_versions)).mappings().all()
        first = (
            connection.execute(select(app_catalogue).where(app_catalogue.c.id == int(FIRST["id"])))
            .mappings()
            .one()
        )
    engine.dispose()
    assert count == ROWS == valid_rows.rows
    assert [(v["catalogue_sha256"], v["rows_loaded"]) for v in versions] == [(sha, ROWS)]
    assert first["track_name"] == FIRST["track_name"] and first["catalogue_sha256"] == sha
    assert first["rating_count_tot"] == FIRST["rating_count_tot"]
    assert isinstance(first["price"], float) and first["prime_genre"] == FIRST["prime_genre"]
    assert first["loaded_at"] is not None


def test_excluded_ids_are_skipped_and_versions_coexist(
    database_url: str, valid_rows, sha: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    check_database(engine)
    assert load(engine, valid_rows)
    other = "b" * 64
    # the same rows as another version, minus two ids validation rejected after the fact
    rewritten = tmp_path / "other.csv"
    rewritten.write_text(valid_rows.path.read_text(encoding="utf-8").replace(sha, other))
    assert load(engine, valid_rows, sha256=other, csv_path=rewritten,
                exclude={"id": [int(FIRST["id"]), int(SECOND["id"])]})  # fmt: skip
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                select(app_catalogue.c.catalogue_sha256, func.count()).group_by(
                    app_catalogue.c.catalogue_sha256
                )
            ).all()
        )
        missing = connection.scalar(
            select(func.count())
            .select_from(app_catalogue)
            .where(
                app_catalogue.c.catalogue_sha256 == other, app_catalogue.c.id == int(FIRST["id"])
            )
        )
    engine.dispose()
    assert counts == {sha: ROWS, other: ROWS - 2}
    assert missing == 0


def test_a_failed_load_leaves_nothing(
    database_url: str, valid_rows, sha: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    check_database(engine)
    broken = tmp_path / "broken.csv"
    lines = valid_rows.path.read_text(encoding="utf-8").splitlines(keepends=True)
    broken.write_text("".join(lines[:100]) + "not,a,valid,row\n", encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - the driver's error differs per backend
        load(engine, valid_rows, csv_path=broken)
    assert not catalogue_loaded(engine, sha)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(app_catalogue)) == 0
    engine.dispose()
