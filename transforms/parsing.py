"""A raw (all-text) catalogue numbered and parsed into the schema's types, the text kept."""

from __future__ import annotations

import polars as pl

from transforms.rules import UNIQUE_COLUMNS, raw_name
from transforms.schema import CATALOGUE_SCHEMA

ROW_NUMBER = "row_number"


def typed_catalogue(raw: pl.LazyFrame, *, exact: bool = True) -> pl.LazyFrame:
    """Number the rows and parse each schema column from text; the raw text is kept beside it
    for the reject report.

    Text is stripped of surrounding whitespace before it is parsed. With `exact=False` numbers
    are parsed as they stand (a third cheaper on a large file): a padded number then fails its
    dtype rule instead of passing, and nothing else changes, because a text that parses as a
    number has no whitespace to strip. Such a plan is conservative (every row it passes, the
    exact plan passes with the same values); the rows it fails need an exact second look
    (`transforms.screening.recheck_failed`).
    """
    columns = CATALOGUE_SCHEMA.columns
    if ROW_NUMBER not in raw.collect_schema():
        raw = raw.with_row_index(ROW_NUMBER, offset=1)
    return raw.select(
        pl.col(ROW_NUMBER).cast(pl.Int64),
        *(_text(n, exact).alias(raw_name(n)) for n in columns),
    ).with_columns(_parsed(pl.col(raw_name(n)), n).alias(n) for n in columns)


def _text(name: str, exact: bool) -> pl.Expr:
    """A column's text as validation sees it (see `typed_catalogue`)."""
    column = pl.col(name)
    if not exact and CATALOGUE_SCHEMA.columns[name].dtype.type != pl.String:
        return column
    return column.str.strip_chars()


def _parsed(text: pl.Expr, name: str) -> pl.Expr:
    return text.cast(CATALOGUE_SCHEMA.columns[name].dtype.type, strict=False)


def key_columns(raw: pl.LazyFrame, *, exact: bool = True) -> pl.LazyFrame:
    """The unique columns of every row of a raw catalogue, in file order, parsed as
    `typed_catalogue` parses them: what `transforms.uniqueness.duplicate_rejects` needs.

    Straight from the scan, not from the validated rows: in one streaming query, a branch off
    the scan costs less than a branch off the validated rows.
    """
    return raw.select(_parsed(_text(n, exact), n).alias(n) for n in UNIQUE_COLUMNS)
