"""`appbuzz run` loads the validated catalogue once per file version; `--no-catalogue` skips it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import create_engine, func, select

from sinks.tables import app_catalogue, app_catalogue_versions
from tests.support.catalogues import ROWS


def catalogue_counts(url: str) -> tuple[int, list[tuple[str, int]]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.scalar(select(func.count()).select_from(app_catalogue))
        versions = connection.execute(
            select(app_catalogue_versions.c.catalogue_sha256, app_catalogue_versions.c.rows_loaded)
        ).all()
    engine.dispose()
    return rows, [tuple(v) for v in versions]


def test_run_loads_the_catalogue_once(run_cli, catalogue_csv: Path, database_url: str) -> None:
    args = ("run", "--csv", str(catalogue_csv), "--database-url", database_url, "--out", "out")
    sha256 = hashlib.sha256(catalogue_csv.read_bytes()).hexdigest()
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert catalogue_counts(database_url) == (ROWS, [(sha256, ROWS)])
    second = run_cli(*args, "--snapshot-date", "2026-01-01")
    assert second.returncode == 0, second.stderr
    assert catalogue_counts(database_url) == (ROWS, [(sha256, ROWS)])


def test_no_catalogue_skips_the_load(run_cli, catalogue_csv: Path, sqlite_url: str) -> None:
    result = run_cli("run", "--csv", str(catalogue_csv), "--database-url", sqlite_url,
                     "--out", "out", "--no-catalogue")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert catalogue_counts(sqlite_url) == (0, [])
