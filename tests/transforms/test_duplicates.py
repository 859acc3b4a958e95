"""Uniqueness decided the fast way (distinct count, then a sort) equals pandera's is_duplicated."""

from __future__ import annotations

import polars as pl
import pytest

from tests.validation_oracle import duplicates_of
from transforms.uniqueness import duplicate_rejects


@pytest.mark.parametrize(
    "ids",
    [
        [5, 3, 9, 1],
        [5, 3, 5, None, 3, 3, 7],
        [None, None, 1],
        [],
        [*range(1000, 0, -1), 17, 999],
    ],
    ids=["unique", "dups-and-null", "nulls-only-repeat", "empty", "many"],
)
def test_duplicate_rejects_equal_the_lazy_answer(ids: list[int | None]) -> None:
    keys = pl.DataFrame({"id": ids}, schema={"id": pl.Int64})
    expected = duplicates_of(keys.lazy()).sort("row_number").collect()
    assert duplicate_rejects(keys).equals(expected)
    assert set(expected["check"]) <= {"field_uniqueness"}
