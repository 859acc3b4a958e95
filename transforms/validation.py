"""Validate a raw (all-text) catalogue inside one lazy Polars plan, with pandera's own checks.

pandera's polars backend validates a whole frame and reports failure cases; appbuzz needs more:
every row checked, bad rows quarantined with their reasons, good rows flowing on to the ranking,
all in one streaming plan that never materialises the file. Every built-in polars check of
pandera is written as `lazyframe.select(expr)`, so each declared check is asked for its `expr`
(see `_check_expression`) and evaluated here; pandera stays the single source of truth for what
a valid row is, and a check this module cannot compile fails loudly at import time rather than
going unenforced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.types import PolarsData

from transforms.errors import InputRejected
from transforms.schema import CATALOGUE_SCHEMA, REQUIRED_COLUMNS

ROW_NUMBER = "row_number"
REJECT_COLUMNS = ("row_number", "column", "check", "value")


@dataclass(frozen=True)
class Rule:
    """One check of one column: `fails` is true on the rows that break it."""

    column: str
    check: str
    fails: pl.Expr


class _ExpressionCapture:
    """Stands in for a LazyFrame so a pandera check hands over the expression it would select."""

    def select(self, *exprs: pl.Expr) -> pl.Expr:
        (expr,) = exprs
        return expr


def _check_expression(column: str, check: Check) -> pl.Expr:
    expr = check._check_fn(PolarsData(_ExpressionCapture(), column), **check._check_kwargs)
    if not isinstance(expr, pl.Expr):
        raise TypeError(f"check {check.error!r} on {column!r} cannot run inside a lazy plan")
    return expr


def _rules(schema=CATALOGUE_SCHEMA) -> Iterator[Rule]:
    for name, column in schema.columns.items():
        raw, typed = pl.col(f"{name}__raw"), pl.col(name)
        dtype = column.dtype.type
        yield Rule(name, "not_nullable", raw.is_null())
        if dtype != pl.String:
            yield Rule(name, f"dtype('{dtype}')", raw.is_not_null() & typed.is_null())
        if column.unique:
            yield Rule(name, "field_uniqueness", typed.is_not_null() & typed.is_duplicated())
        for check in column.checks:
            passes = _check_expression(name, check)
            # pandera ignores nulls in checks (ignore_na); nullability is its own rule above
            yield Rule(name, check.error, passes.not_().fill_null(False))


RULES: tuple[Rule, ...] = tuple(_rules())


def typed_catalogue(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Number the rows and parse each schema column from text; the raw text is kept beside it."""
    columns = CATALOGUE_SCHEMA.columns
    return raw.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW_NUMBER),
        *(pl.col(n).str.strip_chars().alias(f"{n}__raw") for n in columns),
    ).with_columns(
        pl.col(f"{n}__raw").cast(c.dtype.type, strict=False).alias(n) for n, c in columns.items()
    )


def _flag_failures(typed: pl.LazyFrame) -> pl.LazyFrame:
    failures = pl.concat_list(
        pl.when(rule.fails).then(pl.struct(column=pl.lit(rule.column), check=pl.lit(rule.check)))
        for rule in RULES
    ).list.drop_nulls()
    return typed.with_columns(failures.alias("_failures"))


@dataclass(frozen=True)
class ValidationPlan:
    """Lazy frames over the same scan; collect them together so the file is read once."""

    valid: pl.LazyFrame
    rejects: pl.LazyFrame
    counts: pl.LazyFrame


def plan_validation(raw: pl.LazyFrame) -> ValidationPlan:
    """Split a raw catalogue into valid typed rows, one reject row per failed check, and counts."""
    typed_rows = typed_catalogue(raw)
    flagged = _flag_failures(typed_rows)
    is_valid = pl.col("_failures").list.len() == 0
    valid = flagged.filter(is_valid).select(REQUIRED_COLUMNS)
    rejects = (
        flagged.filter(~is_valid)
        .select(ROW_NUMBER, "_failures", *(f"{n}__raw" for n in CATALOGUE_SCHEMA.columns))
        .explode("_failures")
        .unnest("_failures")
        .with_columns(value=_raw_value_of(pl.col("column")))
        .select(REJECT_COLUMNS)
        .sort(ROW_NUMBER, "column", "check", maintain_order=True)
    )
    counts = typed_rows.select(rows_read=pl.len().cast(pl.Int64))
    return ValidationPlan(valid=valid, rejects=rejects, counts=counts)


def _raw_value_of(column: pl.Expr, limit: int = 200) -> pl.Expr:
    """The offending cell as it was in the file, cut short so a megabyte name stays readable."""
    value = pl.lit(None, dtype=pl.String)
    for name in CATALOGUE_SCHEMA.columns:
        value = pl.when(column == name).then(pl.col(f"{name}__raw")).otherwise(value)
    return value.str.slice(0, limit)


def check_reject_share(
    source: Path, rows_read: int, rejects: pl.DataFrame, max_share: float
) -> int:
    """The number of rejected rows; the whole file is rejected when it has no rows, or when more
    than `max_share` of them fail (the message names the first failure, to start from)."""
    if rows_read == 0:
        raise InputRejected(f"{source}: has a header but no data rows")
    rows_rejected = rejects.get_column(ROW_NUMBER).n_unique()
    if rows_rejected / rows_read > max_share:
        first = rejects.row(0, named=True)
        raise InputRejected(
            f"{source}: {rows_rejected:,} of {rows_read:,} rows fail validation "
            f"({rows_rejected / rows_read:.1%}, more than the {max_share:.1%} allowed); "
            f"first: row {first[ROW_NUMBER]}, column {first['column']}: {first['check']}"
        )
    return rows_rejected
