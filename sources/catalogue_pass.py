"""Read a catalogue once, in bounded memory: top apps, rejects, row count, and the valid rows.

Step 1 is one streaming Polars query over the CSV. It screens every row against the pandera
schema (`transforms.validation.screen_catalogue`: numbers parsed as they stand) and fans out to
file sinks in a private work folder: the failing rows together with the valid rows of the
chosen genres, the key column of every row (8 bytes a row) and, when the catalogue is to be
loaded, every valid row as a CSV ready for `COPY`. Only sinks: an in-memory output or an
in-stream top-k makes the streaming engine hold the whole file for the slower branch (measured:
1.8 GB at 7.2 million rows). The rows are written as Parquet, because a memory-mapped Arrow file
counts against the process's resident memory when read back and the chosen genres may be most
of the file; the keys, read whole anyway, are Arrow.

Step 2 is small. Failing rows get an exact second look (padded numbers are stripped and pass),
uniqueness is decided from the keys, the rejects are described, and the ranking runs over the
candidates. When step 1 fails too many rows for step 2 to hold them (a file whose numbers are
all padded, say), step 1 runs again with exact parsing, so memory stays bounded either way.

Nothing leaves the work folder; the caller deletes it (the valid-rows CSV lives there too).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sources.catalogue import CatalogueFile, collect_catalogue, scan_catalogue
from sources.content_hash import file_sha256, prefetch_sha256
from transforms.ranking import in_genres, rank_top_apps
from transforms.schema import CATALOGUE_SCHEMA, REQUIRED_COLUMNS
from transforms.validation import (
    FAILED,
    RAW_COLUMNS,
    ROW_NUMBER,
    UNIQUE_COLUMNS,
    UNIQUENESS,
    describe_failures,
    duplicate_rejects,
    exact_keys,
    exclude_rows,
    key_columns,
    plan_validation,
    recheck_failed,
    screen_catalogue,
    sort_rejects,
)

# The streaming CSV reader's chunk, in bytes. Polars' default keeps several 30+ MB chunks in
# flight (~340 MB peak at 7.2 million rows); 4 MiB chunks need ~170 MB and parse as fast; 1 MiB
# needs ~90 MB but parses 15% slower. Polars reads it from the environment on every query; an
# explicit setting wins.
CSV_CHUNK_BYTES = str(4 << 20)
VERSION_COLUMN = "catalogue_sha256"
VALID_ROW_COLUMNS: tuple[str, ...] = (VERSION_COLUMN, *REQUIRED_COLUMNS)
RECHECK_LIMIT = 100_000
"""Most rows step 1 may fail before it is redone exactly (step 2 holds them in memory)."""


@dataclass(frozen=True)
class ValidRows:
    """The valid rows of one catalogue version, as a CSV file ready for `COPY ... FROM STDIN`.

    No header; the columns are `columns`, the first being the version (`sha256`) on every row.
    `exclude` names values of unique columns whose rows failed uniqueness after the file was
    written: a loader skips rows holding them (usually there are none). `rows` is the number
    of rows to load.
    """

    path: Path
    sha256: str
    rows: int
    exclude: Mapping[str, Sequence[object]] = field(default_factory=dict, repr=False)
    columns: tuple[str, ...] = VALID_ROW_COLUMNS


@dataclass(frozen=True)
class CataloguePass:
    """What one read of the catalogue yields."""

    sha256: str
    rows_read: int
    top: pl.DataFrame
    rejects: pl.DataFrame
    valid_rows: ValidRows | None


@dataclass(frozen=True)
class _Files:
    notable: Path  # the rows step 2 looks at: failing ones and those of the chosen genres
    keys: Path
    valid: Path

    @classmethod
    def under(cls, workdir: Path) -> _Files:
        return cls(
            notable=workdir / "notable.parquet",
            keys=workdir / "keys.arrow",
            valid=workdir / "valid-rows.csv",
        )


def read_catalogue(
    catalogue: CatalogueFile,
    genres: Sequence[str],
    top_n: int,
    workdir: Path,
    *,
    sha256: str | None = None,
    keep_valid_rows: bool = False,
    recheck_limit: int = RECHECK_LIMIT,
) -> CataloguePass:
    """Validate and rank `catalogue`; with `keep_valid_rows`, also keep its valid rows in
    `workdir` for the database (they carry the version, so this needs `sha256`). Without
    `sha256`, the hash is computed alongside (or taken from `prefetch_sha256`)."""
    if keep_valid_rows and sha256 is None:
        raise ValueError("keep_valid_rows needs the catalogue's sha256: every row carries it")
    os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", CSV_CHUNK_BYTES)
    workdir.mkdir(parents=True, exist_ok=True)
    files = _Files.under(workdir)
    try:
        version = sha256 if keep_valid_rows else None
        _step_one(catalogue, genres, files, version, exact=False)
        if _failed_rows(files) > recheck_limit:
            _step_one(catalogue, genres, files, version, exact=True)
        if sha256 is None:
            # if nobody started it earlier, now: step 1 keeps both cores busy, step 2 one
            prefetch_sha256(catalogue.path)
        rows_read, top, rejects, rescued, excluded = _step_two(files, genres, top_n)
        digest = sha256 or file_sha256(catalogue.path)
    finally:
        for path in (files.notable, files.keys):
            path.unlink(missing_ok=True)
    assert digest is not None
    valid_rows = None
    if keep_valid_rows:
        if rescued.height:  # rows that passed on the exact second look belong to the file too
            with files.valid.open("ab") as handle:
                _with_version(rescued.lazy(), digest).collect().write_csv(
                    handle, include_header=False
                )
        rows_rejected = rejects.get_column(ROW_NUMBER).n_unique()
        valid_rows = ValidRows(
            files.valid, sha256=digest, rows=rows_read - rows_rejected, exclude=excluded
        )
    return CataloguePass(
        sha256=digest, rows_read=rows_read, top=top, rejects=rejects, valid_rows=valid_rows
    )


def _with_version(rows: pl.LazyFrame, sha256: str) -> pl.LazyFrame:
    return rows.select(pl.lit(sha256).alias(VERSION_COLUMN), *REQUIRED_COLUMNS)


def _step_one(
    catalogue: CatalogueFile,
    genres: Sequence[str],
    files: _Files,
    version: str | None,
    *,
    exact: bool,
) -> None:
    """One streaming pass over the CSV into the sinks; nothing is held in memory.

    Two sinks, not one per output: every extra branch is one more place where the streaming
    engine buffers when branches run at different speeds (measured: 290 MB peak with two,
    500 MB with three at 7.2 million rows).
    """
    raw = scan_catalogue(catalogue)
    rows = plan_validation(raw).flagged if exact else screen_catalogue(raw)
    notable = rows.filter(pl.col(FAILED) | in_genres(genres)).select(
        ROW_NUMBER, FAILED, *REQUIRED_COLUMNS, *RAW_COLUMNS
    )
    sinks = [
        notable.sink_parquet(files.notable, compression="lz4", statistics=False, lazy=True),
        key_columns(raw, exact=exact).sink_ipc(files.keys, lazy=True),
    ]
    if version is not None:
        valid = rows.filter(~pl.col(FAILED)).select(REQUIRED_COLUMNS)
        sinks.append(
            _with_version(valid, version).sink_csv(files.valid, include_header=False, lazy=True)
        )
    collect_catalogue(catalogue, *sinks)


def _failed_rows(files: _Files) -> int:
    return int(pl.scan_parquet(files.notable).select(pl.col(FAILED).sum()).collect().item())


def _step_two(
    files: _Files, genres: Sequence[str], top_n: int
) -> tuple[int, pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, list[object]]]:
    """Recheck the failing rows exactly, decide uniqueness, describe rejects, rank."""
    notable = pl.scan_parquet(files.notable)
    failed = notable.filter(pl.col(FAILED))
    recheck = recheck_failed(failed)
    # a key step 1 could not parse may parse exactly (a padded id): it still counts
    unparsed = failed.filter(pl.any_horizontal(pl.col(c).is_null() for c in UNIQUE_COLUMNS))
    rescued, row_rejects, patch = pl.collect_all(
        [recheck.checked, describe_failures(recheck.failed), exact_keys(unparsed)]
    )
    keys = pl.read_ipc(files.keys)
    rows_read = keys.height
    if patch.height:
        index = patch.get_column(ROW_NUMBER) - 1
        keys = keys.with_columns(
            keys.get_column(name).scatter(index, patch.get_column(name)) for name in UNIQUE_COLUMNS
        )
    duplicates = duplicate_rejects(keys)
    del keys
    rejects = sort_rejects(pl.concat([row_rejects, duplicates]).lazy()).collect()
    candidates = pl.concat(
        [notable.filter(~pl.col(FAILED)).select(ROW_NUMBER, *REQUIRED_COLUMNS), rescued.lazy()]
    )
    top = rank_top_apps(exclude_rows(candidates, duplicates), genres, top_n).collect(
        engine="streaming"
    )
    return rows_read, top, rejects, rescued, _excluded_values(duplicates)


def _excluded_values(duplicates: pl.DataFrame) -> dict[str, list[object]]:
    """Per unique column, the (typed) values whose rows failed uniqueness."""
    excluded: dict[str, list[object]] = {}
    for name in UNIQUE_COLUMNS:
        values = (
            duplicates.filter((pl.col("column") == name) & (pl.col("check") == UNIQUENESS))
            .get_column("value")
            .cast(CATALOGUE_SCHEMA.columns[name].dtype.type)
            .unique()
            .sort()
        )
        if values.len():
            excluded[name] = values.to_list()
    return excluded
