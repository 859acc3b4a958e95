"""The benchmark's scaled inputs: fresh ids per copy, the same broken rows in every copy."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from bench.scaled import build_scaled, scaled_id


def test_scaled_copies_have_fresh_ids_and_repeat_the_bad_rows(
    catalogue_csv: Path, tmp_path: Path
) -> None:
    one = build_scaled(tmp_path, 1, source=catalogue_csv)
    three = build_scaled(tmp_path, 3, source=catalogue_csv)
    clean = build_scaled(tmp_path, 2, source=catalogue_csv, bad_rows=False)
    x1 = pl.read_csv(one.path, infer_schema=False)
    x3 = pl.read_csv(three.path, infer_schema=False)
    real = pl.read_csv(catalogue_csv, infer_schema=False)
    assert (
        x1.height == real.height == one.rows_per_copy and x3.height == three.rows == 3 * x1.height
    )
    assert x3[""].to_list() == [str(n) for n in range(1, x3.height + 1)]
    copy2 = x3.slice(2 * x1.height, x1.height)
    assert copy2["id"].to_list() == [str(scaled_id(int(i), 2)) for i in x1["id"]]
    assert copy2.drop("", "id").equals(x1.drop("", "id"))
    columns = [c for c in real.columns if c]
    changed = pl.concat(
        [x1.select(columns), real.select(pl.all().name.suffix("_real")).drop("_real")],
        how="horizontal",
    ).filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_real")) for c in columns))
    assert changed.height == 7 and set(changed["prime_genre"]) == {"Games"}
    assert x1["id"].n_unique() == x1.height - 1  # one id is used twice
    assert (
        pl.read_csv(clean.path, infer_schema=False)
        .slice(0, real.height)
        .drop("")
        .equals(real.drop(""))
    )
