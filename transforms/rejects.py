"""The reject report (one row per failed check, with the cell's text) and the share of rejects
past which the whole file is refused."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from transforms.errors import InputRejected
from transforms.parsing import ROW_NUMBER
from transforms.rules import RAW_COLUMNS, ROW_RULES, UNIQUENESS, raw_name
from transforms.schema import CATALOGUE_SCHEMA
from transforms.screening import FLAGS

REJECT_COLUMNS = (ROW_NUMBER, "column", "check", "value")
REJECT_SCHEMA = pl.Schema(
    {ROW_NUMBER: pl.Int64(), "column": pl.String(), "check": pl.String(), "value": pl.String()}
)
VALUE_LIMIT = 200


def describe_failures(failed: pl.LazyFrame) -> pl.LazyFrame:
    """One reject row per failed row-wise check of each failing row, with the cell's raw text."""
    failures = pl.concat_list(
        pl.when(pl.col(flag)).then(pl.struct(column=pl.lit(rule.column), check=pl.lit(rule.check)))
        for rule, flag in zip(ROW_RULES, FLAGS, strict=True)
    ).list.drop_nulls()
    return (
        failed.select(ROW_NUMBER, failures.alias("_failures"), *RAW_COLUMNS)
        .explode("_failures")
        .unnest("_failures")
        .with_columns(value=_raw_value_of(pl.col("column")))
        .select(REJECT_COLUMNS)
        .cast(REJECT_SCHEMA)
    )


def _raw_value_of(column: pl.Expr) -> pl.Expr:
    """The offending cell as it was in the file, cut short so a megabyte name stays readable."""
    value = pl.lit(None, dtype=pl.String)
    for name in CATALOGUE_SCHEMA.columns:
        value = pl.when(column == name).then(pl.col(raw_name(name))).otherwise(value)
    return value.str.slice(0, VALUE_LIMIT)


def uniqueness_reject(name: str) -> list[pl.Expr]:
    """The reject row of a value of `name` that is not unique (over rows numbered from 1)."""
    return [
        pl.col(ROW_NUMBER).cast(pl.Int64),
        pl.lit(name).alias("column"),
        pl.lit(UNIQUENESS).alias("check"),
        pl.col(name).cast(pl.String).str.slice(0, VALUE_LIMIT).alias("value"),
    ]


def sort_rejects(rejects: pl.LazyFrame) -> pl.LazyFrame:
    """Rejects in file order, then by column and check: the same input, the same report."""
    return rejects.sort(ROW_NUMBER, "column", "check", maintain_order=True)


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
