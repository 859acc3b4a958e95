"""The whole validation answer computed the simple (lazy, whole-file) way: the reference that
`transforms.catalogue_pass` (streaming, two steps) and `duplicate_rejects` (fast) must equal.
Test oracles only: at scale they hold a whole column in memory."""

from __future__ import annotations

import polars as pl

from transforms.parsing import ROW_NUMBER
from transforms.rejects import REJECT_SCHEMA, describe_failures, sort_rejects, uniqueness_reject
from transforms.rules import UNIQUE_COLUMNS
from transforms.schema import REQUIRED_COLUMNS
from transforms.screening import ValidationPlan
from transforms.uniqueness import exclude_rows


def duplicates_of(keys: pl.LazyFrame) -> pl.LazyFrame:
    """The uniqueness rejects as pandera defines them: `is_duplicated` over the whole column."""
    found = [
        keys.with_row_index(ROW_NUMBER, offset=1)
        .filter(pl.col(name).is_not_null() & pl.col(name).is_duplicated())
        .select(uniqueness_reject(name))
        for name in UNIQUE_COLUMNS
    ]
    return pl.concat(found or [pl.LazyFrame(schema=REJECT_SCHEMA)])


def duplicates(plan: ValidationPlan) -> pl.LazyFrame:
    return duplicates_of(plan.flagged.select(UNIQUE_COLUMNS))


def rejects(plan: ValidationPlan) -> pl.LazyFrame:
    """Every reject, one row per failed check, in file order."""
    return sort_rejects(pl.concat([describe_failures(plan.failed), duplicates(plan)]))


def valid(plan: ValidationPlan) -> pl.LazyFrame:
    """The rows that pass every check, uniqueness included."""
    return exclude_rows(plan.checked, duplicates(plan)).select(REQUIRED_COLUMNS)


def counts(plan: ValidationPlan) -> pl.LazyFrame:
    """The number of data rows."""
    return plan.flagged.select(rows_read=pl.len().cast(pl.Int64))
