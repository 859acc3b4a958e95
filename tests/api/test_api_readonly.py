"""The API's engine cannot write, whatever SQL reaches it; and an empty database is no error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, delete, insert, make_url, select, text
from sqlalchemy.exc import DBAPIError

from api.readonly import readonly_engine
from sinks.database import DatabaseUnavailable, check_database, make_engine
from sinks.tables import appbuzz_runs, metadata
from tests.support.polling import wait_for

RUN = {
    "run_id": "00000000-0000-0000-0000-000000000001",
    "snapshot_date": date(2026, 11, 1),
    "selection": "Book+Music/top10",
    "started_at": datetime(2026, 11, 1, 2, 0, tzinfo=UTC),
    "status": "completed",
    "source_path": "catalogue.csv",
    "strategy": "counts",
}


def _create_tables(url: str) -> None:
    engine = make_engine(url)
    check_database(engine)  # what the pipeline does first: create the tables and the view
    with engine.begin() as connection:
        connection.execute(insert(appbuzz_runs), RUN)
    engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        insert(appbuzz_runs).values({**RUN, "run_id": "x"}),
        delete(appbuzz_runs),
        text("CREATE TABLE intruder (a INTEGER)"),
        text("DROP VIEW app_mentions_latest"),
    ],
    ids=["insert", "delete", "create", "drop"],
)
def test_a_write_through_the_api_engine_fails(database_url: str, statement) -> None:
    _create_tables(database_url)
    engine = readonly_engine(database_url)
    try:
        with pytest.raises(DBAPIError, match=r"(?i)read-?only"), engine.begin() as connection:
            connection.execute(statement)
        with engine.connect() as connection:  # reading still works, and nothing changed
            assert connection.execute(select(appbuzz_runs.c.run_id)).scalars().all() == [
                RUN["run_id"]
            ]
            assert (
                connection.execute(text("SELECT count(*) FROM app_mentions_latest")).scalar() == 0
            )
    finally:
        engine.dispose()


def test_postgres_read_only_survives_autocommit(postgres_url: str) -> None:
    """The guard is the session default, so even statements outside a transaction cannot write."""
    _create_tables(postgres_url)
    engine = readonly_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(DBAPIError, match="read-only"), engine.connect() as connection:
            connection.execute(delete(appbuzz_runs))
    finally:
        engine.dispose()


def test_sqlite_path_with_url_characters_opens_read_only(tmp_path: Path) -> None:
    """The file becomes a SQLite URI: `#`, `%` and spaces in its path must not break it."""
    folder = tmp_path / "night #1 100%"
    url = f"sqlite:///{folder / 'app buzz.db'}"
    _create_tables(url)
    engine = readonly_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(select(appbuzz_runs.c.status)).scalar_one() == "completed"
        with pytest.raises(DBAPIError, match="readonly"), engine.begin() as connection:
            connection.execute(delete(appbuzz_runs))
    finally:
        engine.dispose()
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".db") == ["app buzz.db"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite:///{tmp}/missing.db", "does not exist"),
        ("sqlite://", "in-memory"),
        ("mysql://app:s3cret@127.0.0.1/appbuzz", "SQLite or PostgreSQL"),
        ("not a url s3cret", "Could not parse"),
    ],
)
def test_unusable_urls_are_one_line_without_the_password(
    tmp_path: Path, url: str, reason: str
) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        readonly_engine(url.format(tmp=tmp_path))
    message = str(caught.value)
    assert reason in message and "s3cret" not in message and "\n" not in message


@pytest.mark.parametrize("tables", [False, True], ids=["no-tables", "empty-tables"])
def test_an_empty_database_serves_empty_answers(
    database_url: str, tables: bool, serve_thread
) -> None:
    engine = make_engine(database_url)  # creates the SQLite file, nothing in it
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    if tables:
        metadata.create_all(engine)
    engine.dispose()
    with serve_thread(database_url) as base_url:
        for path in ("/apps.json", "/apps.json?snapshot_date=2026-11-01", "/runs"):
            response = httpx.get(base_url + path)
            assert (response.status_code, response.json()) == (200, []), path
        assert httpx.get(f"{base_url}/runs").headers["x-total-count"] == "0"
        download = httpx.get(f"{base_url}/apps.csv")
        assert download.status_code == 200
        assert (
            download.text
            == "id,track_name,n_citacoes,size_bytes,price,prime_genre,rank,rating_count_tot,mention_status,snapshot_date,prev_n_citacoes,change,change_pct,prev_rank,spike\n"
        )
        for page in ("/", "/history"):  # the dashboard's pages say there is nothing yet
            assert httpx.get(base_url + page).status_code == 200, page
        assert "No snapshot of Book+Music/top10 is stored yet" in httpx.get(base_url + "/").text
        assert httpx.get(f"{base_url}/apps/284035177/history").status_code == 404
        assert httpx.get(f"{base_url}/healthz").json()["status"] == "ok"


def test_a_database_that_goes_away_is_503_not_500(
    postgres_server: str, postgres_url: str, serve_thread
) -> None:
    _create_tables(postgres_url)
    with serve_thread(postgres_url) as base_url:
        assert httpx.get(f"{base_url}/runs").json()[0]["run_id"] == RUN["run_id"]
        admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = make_url(postgres_url).database
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        # `/runs` was answered from memory: that holds until the next check of the newest run
        wait_for(lambda: httpx.get(f"{base_url}/runs").status_code == 503, timeout=5)
        for path in ("/apps.json", "/apps.csv", "/runs", "/apps/1/history"):
            response = httpx.get(base_url + path)
            assert response.status_code == 503, path
            assert response.json()["detail"].startswith("database unavailable: ")
        health = httpx.get(f"{base_url}/healthz")
        assert health.status_code == 503
        assert (
            health.json()["status"] == "unavailable" and "does not exist" in health.json()["detail"]
        )
