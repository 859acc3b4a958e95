"""The catalogue schema's checks, compiled once into Polars expressions (`RULES`).

pandera's polars backend validates a whole frame and reports failure cases; appbuzz needs every
row judged on its own, inside a lazy (streaming) plan. Every built-in polars check of pandera is
written as `lazyframe.select(expr)`, so each declared check is asked for its `expr`
(`check_expression`, the one place that touches pandera's private internals) and evaluated
here: pandera stays the single source of truth for what a valid row is, and a check that cannot
be compiled fails loudly at import time rather than going unenforced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.container import DataFrameSchema
from pandera.api.polars.types import PolarsData

from transforms.schema import CATALOGUE_SCHEMA

UNIQUENESS = "field_uniqueness"


def raw_name(column: str) -> str:
    """The name of a column's text as read from the file, kept beside its parsed value."""
    return f"{column}__raw"


@dataclass(frozen=True)
class Rule:
    """One check of one column: `fails` is true on the rows that break it.

    A row-wise rule judges each row alone; a column-wide one (uniqueness) needs the whole column.
    """

    column: str
    check: str
    fails: pl.Expr
    kind: str = "check"  # "null", "dtype", "unique" or a pandera "check"

    @property
    def row_wise(self) -> bool:
        return self.kind != "unique"


class _ExpressionCapture:
    """Stands in for a LazyFrame so a pandera check hands over the expression it would select."""

    def select(self, *exprs: pl.Expr) -> pl.Expr:
        (expr,) = exprs
        return expr


def check_expression(column: str, check: Check) -> pl.Expr:
    """The Polars expression pandera's `check` evaluates on `column` (true where it passes).

    pandera has no public way to get it: this reads `Check._check_fn` and `._check_kwargs`,
    private since pandera 0.19. tests/transforms/test_rules.py fails loudly if an upgrade
    changes them.
    """
    expr = check._check_fn(PolarsData(_ExpressionCapture(), column), **check._check_kwargs)  # type: ignore[arg-type]
    if not isinstance(expr, pl.Expr):
        raise TypeError(f"check {check.error!r} on {column!r} cannot run inside a lazy plan")
    return expr


def _rules(schema: DataFrameSchema = CATALOGUE_SCHEMA) -> Iterator[Rule]:
    if schema.unique:
        raise TypeError(f"schema-level unique={schema.unique!r} is not compiled by this module")
    for name, column in schema.columns.items():
        raw, typed = pl.col(raw_name(name)), pl.col(name)
        dtype = column.dtype.type
        yield Rule(name, "not_nullable", raw.is_null(), "null")
        if dtype != pl.String:
            yield Rule(name, f"dtype('{dtype}')", raw.is_not_null() & typed.is_null(), "dtype")
        if column.unique:
            yield Rule(name, UNIQUENESS, typed.is_not_null() & typed.is_duplicated(), "unique")
        for check in column.checks:
            passes = check_expression(name, check)
            # pandera ignores nulls in checks (ignore_na); nullability is its own rule above
            yield Rule(name, check.error, passes.not_().fill_null(False))


RULES: tuple[Rule, ...] = tuple(_rules())
ROW_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.row_wise)
UNIQUE_COLUMNS: tuple[str, ...] = tuple(r.column for r in RULES if r.check == UNIQUENESS)
RAW_COLUMNS: tuple[str, ...] = tuple(raw_name(n) for n in CATALOGUE_SCHEMA.columns)
