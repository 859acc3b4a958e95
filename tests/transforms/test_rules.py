"""The one use of pandera's private check internals (`transforms.rules.check_expression`)."""

from __future__ import annotations

import polars as pl
from pandera.api.checks import Check

from transforms.rules import RULES, check_expression
from transforms.schema import CATALOGUE_SCHEMA


def test_pandera_still_keeps_the_check_function_and_its_arguments_where_we_read_them() -> None:
    check = Check.in_range(0, 10)
    assert callable(getattr(check, "_check_fn", None)), (
        "pandera no longer has Check._check_fn: transforms.rules.check_expression must change"
    )
    assert isinstance(getattr(check, "_check_kwargs", None), dict), (
        "pandera no longer has Check._check_kwargs: transforms.rules.check_expression must change"
    )


def test_a_compiled_check_judges_rows_as_pandera_does() -> None:
    frame = pl.DataFrame({"x": [-1, 0, 5, 10, 11]})  # nulls: a rule of their own
    for check in (Check.in_range(0, 10), Check.ge(0), Check.str_length(min_value=1)):
        column = frame if check.name != "str_length" else frame.cast({"x": pl.String})
        ours = column.select(check_expression("x", check)).to_series().to_list()
        theirs = check(column.lazy(), "x").check_output.collect().to_series().to_list()
        assert ours == theirs, check.name


def test_every_declared_check_of_the_schema_is_compiled() -> None:
    declared = sum(len(column.checks) for column in CATALOGUE_SCHEMA.columns.values())
    assert sum(rule.kind == "check" for rule in RULES) == declared
