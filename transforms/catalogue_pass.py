"""Validate and rank a catalogue in bounded memory: the two steps' plans, as functions of data.

Step 1 is one streaming Polars query over the CSV scan. It screens every row against the pandera
schema (`transforms.screening.screen_catalogue`: numbers parsed as they stand) and fans out to
file sinks: the failing rows together with the valid rows of the chosen genres (`notable`), the
key column of every row (`keys`, 8 bytes a row) and, when the catalogue is to be loaded, every
valid row as a CSV ready for `COPY` (`valid`). Only sinks: an in-memory output or an in-stream
top-k makes the streaming engine hold the whole file for the slower branch (measured: 1.8 GB at
7.2 million rows). The caller reads through the catalogue source and writes through the scratch
sink (`sinks.scratch`); nothing here opens a file.

Step 2 is small. Failing rows get an exact second look (padded numbers are stripped and pass),
uniqueness is decided from the keys, the rejects are described, and the ranking runs over the
candidates. When step 1 fails too many rows for step 2 to hold them (a file whose numbers are
all padded, say), step 1 runs again with exact parsing, so memory stays bounded either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from transforms.parsing import ROW_NUMBER, key_columns
from transforms.ranking import in_genres, rank_top_apps
from transforms.rejects import describe_failures, sort_rejects
from transforms.rules import RAW_COLUMNS, UNIQUE_COLUMNS, UNIQUENESS
from transforms.schema import CATALOGUE_SCHEMA, REQUIRED_COLUMNS
from transforms.screening import (
    FAILED,
    exact_keys,
    plan_validation,
    recheck_failed,
    screen_catalogue,
)
from transforms.uniqueness import duplicate_rejects, exclude_rows

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
class RankedCatalogue:
    """What one pass over the catalogue yields: the top apps, the rejects and the counts, and
    (when the catalogue is to be loaded) its valid rows."""

    source_path: str
    sha256: str
    rows_read: int
    rows_rejected: int
    top: pl.DataFrame
    rejects: pl.DataFrame
    valid_rows: ValidRows | None = None


@dataclass(frozen=True)
class FirstStep:
    """Step 1's outputs as plans over one scan, each to be sunk to a file of its own."""

    notable: pl.LazyFrame  # the rows step 2 looks at: failing ones and those of the genres
    keys: pl.LazyFrame
    valid: pl.LazyFrame | None  # every valid row with its version, when the catalogue loads


@dataclass(frozen=True)
class SecondStep:
    rows_read: int
    top: pl.DataFrame
    rejects: pl.DataFrame
    rescued: pl.DataFrame  # rows that passed on the exact second look: valid rows too
    excluded: dict[str, list[object]]  # unique values whose rows failed uniqueness


def first_step(
    raw: pl.LazyFrame, genres: Sequence[str], *, exact: bool, version: str | None
) -> FirstStep:
    """The streaming pass's outputs. Two or three sinks, not one per output: every extra branch
    is one more place where the streaming engine buffers when branches run at different speeds
    (measured: 290 MB peak with two, 500 MB with three at 7.2 million rows)."""
    rows = plan_validation(raw).flagged if exact else screen_catalogue(raw)
    notable = rows.filter(pl.col(FAILED) | in_genres(genres)).select(
        ROW_NUMBER, FAILED, *REQUIRED_COLUMNS, *RAW_COLUMNS
    )
    valid = None
    if version is not None:
        valid = with_version(rows.filter(~pl.col(FAILED)).select(REQUIRED_COLUMNS), version)
    return FirstStep(notable, key_columns(raw, exact=exact), valid)


def failed_rows(notable: pl.LazyFrame) -> pl.LazyFrame:
    """How many rows step 1 failed (one row, one column)."""
    return notable.select(pl.col(FAILED).sum())


def needs_exact_step(failed: int, limit: int = RECHECK_LIMIT) -> bool:
    """Whether step 1 must run again with exact parsing, for step 2 to stay small."""
    return failed > limit


def second_step(
    notable: pl.LazyFrame, keys: pl.DataFrame, genres: Sequence[str], top_n: int
) -> SecondStep:
    """Recheck the failing rows exactly, decide uniqueness, describe rejects, rank."""
    failed = notable.filter(pl.col(FAILED))
    recheck = recheck_failed(failed)
    # a key step 1 could not parse may parse exactly (a padded id): it still counts
    unparsed = failed.filter(pl.any_horizontal(pl.col(c).is_null() for c in UNIQUE_COLUMNS))
    rescued, row_rejects, patch = pl.collect_all(
        [recheck.checked, describe_failures(recheck.failed), exact_keys(unparsed)]
    )
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
    return SecondStep(rows_read, top, rejects, rescued, _excluded_values(duplicates))


def with_version(rows: pl.LazyFrame, sha256: str) -> pl.LazyFrame:
    """Valid rows as the catalogue table takes them: the version first."""
    return rows.select(pl.lit(sha256).alias(VERSION_COLUMN), *REQUIRED_COLUMNS)


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
