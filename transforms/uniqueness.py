"""Uniqueness, decided once every key of the file is known, and the rows it excludes."""

from __future__ import annotations

import polars as pl

from transforms.parsing import ROW_NUMBER
from transforms.rejects import REJECT_SCHEMA, sort_rejects, uniqueness_reject
from transforms.rules import UNIQUE_COLUMNS


def duplicate_rejects(keys: pl.DataFrame) -> pl.DataFrame:
    """The uniqueness rejects from the collected keys (the unique columns in file order).

    pandera's answer (`is_duplicated` over the whole column) computed the fast way: a count of
    distinct values settles the usual case (no duplicates), and otherwise sorting the column
    finds the repeated values (about three times faster than `is_duplicated` at 7.2 million ids).
    """
    found = [pl.DataFrame(schema=REJECT_SCHEMA)]
    for name in UNIQUE_COLUMNS:
        present = keys.get_column(name).drop_nulls()
        if present.n_unique() == present.len():
            continue
        ordered = present.sort()
        repeated = ordered.filter(ordered == ordered.shift(1)).unique()
        found.append(
            keys.lazy()
            .with_row_index(ROW_NUMBER, offset=1)
            .filter(pl.col(name).is_in(repeated.implode()))
            .select(uniqueness_reject(name))
            .collect()
        )
    return sort_rejects(pl.concat(found).lazy()).collect()


def exclude_rows(frame: pl.LazyFrame, rejects: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """`frame` without the rows (by row number) that appear in `rejects`."""
    return frame.join(
        rejects.lazy().select(ROW_NUMBER).unique(), on=ROW_NUMBER, how="anti", maintain_order="left"
    )
