"""Every declared check quarantines a bad row, and the compiled plan agrees with pandera itself."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
import pytest

from tests import validation_oracle as oracle
from transforms.parsing import typed_catalogue
from transforms.rules import RULES
from transforms.schema import CATALOGUE_SCHEMA, NO_CONTROL_CHARACTERS, Catalogue
from transforms.screening import plan_validation

GOOD = {
    "id": "281656475",
    "track_name": "PAC-MAN Premium",
    "size_bytes": "100788224",
    "price": "3.99",
    "rating_count_tot": "21292",
    "user_rating": "4",
    "prime_genre": "Games",
}


def raw(*rows: dict[str, str | None]) -> pl.LazyFrame:
    return pl.LazyFrame(list(rows), schema={name: pl.String for name in GOOD})


def run(frame: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    plan = plan_validation(frame)
    valid, rejects = pl.collect_all([oracle.valid(plan), oracle.rejects(plan)])
    return valid, rejects


BAD_ROWS = [
    ("id", "greater_than(0)", {"id": "0"}),
    ("id", "greater_than(0)", {"id": "-5"}),
    ("id", "dtype('Int64')", {"id": "abc"}),
    ("id", "not_nullable", {"id": None}),
    ("track_name", "str_length(1, 1000)", {"track_name": "   "}),
    ("track_name", "not_nullable", {"track_name": None}),
    ("track_name", "str_length(1, 1000)", {"track_name": "x" * 1001}),
    ("track_name", f"str_contains('{NO_CONTROL_CHARACTERS}')", {"track_name": "Magic\x00Piano"}),
    ("track_name", f"str_contains('{NO_CONTROL_CHARACTERS}')", {"track_name": "\x1b[2JSing!"}),
    ("size_bytes", "greater_than_or_equal_to(0)", {"size_bytes": "-1"}),
    ("size_bytes", "dtype('Int64')", {"size_bytes": "big"}),
    ("size_bytes", "not_nullable", {"size_bytes": None}),
    ("price", "greater_than_or_equal_to(0)", {"price": "-0.99"}),
    ("price", "dtype('Float64')", {"price": "free"}),
    ("price", "not_nullable", {"price": None}),
    ("rating_count_tot", "greater_than_or_equal_to(0)", {"rating_count_tot": "-3"}),
    ("rating_count_tot", "dtype('Int64')", {"rating_count_tot": "1.5"}),
    ("rating_count_tot", "not_nullable", {"rating_count_tot": None}),
    ("user_rating", "in_range(0, 5)", {"user_rating": "5.5"}),
    ("user_rating", "in_range(0, 5)", {"user_rating": "-0.5"}),
    ("user_rating", "not_nullable", {"user_rating": None}),
    ("user_rating", "dtype('Float64')", {"user_rating": "four"}),
    ("prime_genre", "str_length(1, None)", {"prime_genre": " "}),
    ("prime_genre", "not_nullable", {"prime_genre": None}),
]


@pytest.mark.parametrize(("column", "check", "change"), BAD_ROWS)
def test_each_check_rejects_its_bad_row(column: str, check: str, change: dict) -> None:
    valid, rejects = run(raw({**GOOD, "id": "1"}, {**GOOD, "id": "2", **change}))
    assert valid["id"].to_list() == [1]
    assert rejects.select("row_number", "column", "check").rows() == [(2, column, check)]


def test_every_rule_is_exercised_by_a_bad_row() -> None:
    exercised = {(column, check) for column, check, _ in BAD_ROWS} | {("id", "field_uniqueness")}
    assert {(rule.column, rule.check) for rule in RULES} == exercised


def test_every_copy_of_a_duplicated_id_is_rejected() -> None:
    valid, rejects = run(raw({**GOOD, "id": "7"}, {**GOOD, "id": "8"}, {**GOOD, "id": "07"}))
    assert valid["id"].to_list() == [8]
    assert rejects.select("row_number", "check").rows() == [
        (1, "field_uniqueness"),
        (3, "field_uniqueness"),
    ]


def test_a_row_breaking_several_checks_lists_each_and_keeps_the_raw_value() -> None:
    _, rejects = run(raw({**GOOD, "price": "-1", "user_rating": "9", "id": "3"}))
    assert rejects.select("column", "check", "value").rows() == [
        ("price", "greater_than_or_equal_to(0)", "-1"),
        ("user_rating", "in_range(0, 5)", "9"),
    ]


@pytest.mark.parametrize("blank", [" ", "\t \r\n", "\u00a0", "\u2003\u3000", "\u2028"])
def test_a_name_of_only_whitespace_is_blank_whatever_the_whitespace(blank: str) -> None:
    """Text is stripped before it is checked, so "not blank" is a length of at least one
    (rejects are listed by column)."""
    _, rejects = run(raw({**GOOD, "track_name": blank, "prime_genre": blank}))
    assert rejects.select("column", "check", "value").rows() == [
        ("prime_genre", "str_length(1, None)", ""),
        ("track_name", "str_length(1, 1000)", ""),
    ]


def test_surrounding_whitespace_is_not_an_error() -> None:
    valid, rejects = run(raw({**GOOD, "id": " 42 ", "price": " 0.99"}))
    assert rejects.is_empty()
    assert valid.row(0, named=True)["id"] == 42


def test_compiled_plan_agrees_with_pandera_on_the_same_rows() -> None:
    """On rows that all parse, pandera's own validate and the plan reject the same rows."""
    changes = [
        c for _, check, c in BAD_ROWS if check not in {"not_nullable"} and "dtype" not in check
    ]
    rows = [{**GOOD, "id": str(i + 1)} for i in range(5)]
    rows += [{**GOOD, "id": str(100 + i), **change} for i, change in enumerate(changes)]
    rows.append({**GOOD, "id": "3"})  # a second copy of row 3's id
    typed = typed_catalogue(raw(*rows)).select(CATALOGUE_SCHEMA.columns.keys()).collect()
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        Catalogue.validate(typed, lazy=True)
    pandera_rows = {i + 1 for i in caught.value.failure_cases["index"].to_list()}
    _, rejects = run(raw(*rows))
    assert set(rejects["row_number"].to_list()) == pandera_rows
    assert len(pandera_rows) == len(changes) + 2


def test_valid_rows_pass_pandera_at_full_depth() -> None:
    valid, _ = run(raw(*({**GOOD, "id": str(i)} for i in range(1, 50))))
    Catalogue.validate(valid)  # raises on any failure
