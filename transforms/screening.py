"""Every row flagged against every row-wise rule: exactly (`plan_validation`) or cheaply
(`screen_catalogue`), whose failures `recheck_failed` settles exactly.

Row-wise rules (types, nullability, ranges, patterns) judge each row alone, so they stream;
uniqueness needs the whole column and is decided afterwards (`transforms.uniqueness`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.parsing import ROW_NUMBER, typed_catalogue
from transforms.rules import RAW_COLUMNS, ROW_RULES, UNIQUE_COLUMNS, raw_name
from transforms.schema import CATALOGUE_SCHEMA, REQUIRED_COLUMNS

FAILED = "_failed"
FLAGS: tuple[str, ...] = tuple(f"_fails_{i}" for i in range(len(ROW_RULES)))


@dataclass(frozen=True)
class ValidationPlan:
    """Lazy frames over one scan; collect (or sink) them together so the file is read once.

    `flagged` is every row: row number, raw text, parsed values, one flag per row-wise rule and
    `FAILED` (any flag). `checked` is the row number and schema columns of the rows that pass
    every row-wise check; `failed` the row number, raw text and flags of those that do not.
    """

    flagged: pl.LazyFrame

    @property
    def checked(self) -> pl.LazyFrame:
        return self.flagged.filter(~pl.col(FAILED)).select(ROW_NUMBER, *REQUIRED_COLUMNS)

    @property
    def failed(self) -> pl.LazyFrame:
        return self.flagged.filter(pl.col(FAILED)).select(ROW_NUMBER, *RAW_COLUMNS, *FLAGS)


def plan_validation(raw: pl.LazyFrame) -> ValidationPlan:
    """Flag every row of a raw catalogue against every row-wise rule (the exact reference)."""
    flagged = (
        typed_catalogue(raw)
        .with_columns(rule.fails.alias(flag) for rule, flag in zip(ROW_RULES, FLAGS, strict=True))
        .with_columns(pl.any_horizontal(FLAGS).alias(FAILED))
    )
    return ValidationPlan(flagged)


def screen_catalogue(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Every row with its number, raw text, parsed values and `FAILED`, the cheap way.

    Conservative: numbers are parsed as they stand (see `typed_catalogue`), and `FAILED` is
    one expression, not a flag per rule: a value that is missing or does not parse is simply a
    null after parsing, so "not nullable" and "dtype" fold into `is_null()`. A row it passes is
    valid with the same values; a row it fails needs `recheck_failed` to say why, or whether
    it passes after all.
    """
    columns = CATALOGUE_SCHEMA.columns
    checks = [rule.fails for rule in ROW_RULES if rule.kind == "check"]
    failed = pl.any_horizontal(*(pl.col(n).is_null() for n in columns), *checks)
    return typed_catalogue(raw, exact=False).with_columns(failed.alias(FAILED))


def _texts_of(failed: pl.LazyFrame) -> pl.LazyFrame:
    texts = {raw_name(n): n for n in CATALOGUE_SCHEMA.columns}
    return failed.select(ROW_NUMBER, *texts).rename(texts)


def recheck_failed(failed: pl.LazyFrame) -> ValidationPlan:
    """Validate, exactly, the `failed` rows of a plan (row-wise rules only: uniqueness is decided
    over the whole file, from the keys). Its `checked` rows passed after all."""
    return plan_validation(_texts_of(failed))


def exact_keys(failed: pl.LazyFrame) -> pl.LazyFrame:
    """Row number and exactly parsed unique columns of the `failed` rows: the values to put in
    the keys where a conservative plan could not parse them (a padded id still counts)."""
    return typed_catalogue(_texts_of(failed), exact=True).select(ROW_NUMBER, *UNIQUE_COLUMNS)
