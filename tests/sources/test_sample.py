"""The shipped sample is what the generator makes, and it exercises what the real file does."""

from __future__ import annotations

import io

import polars as pl

from sources.catalogue import SAMPLE_CATALOGUE
from sources.sample import COLUMNS, sample_catalogue


def test_shipped_sample_is_the_generators_output() -> None:
    buffer = io.BytesIO()
    sample_catalogue().write_csv(buffer, quote_style="non_numeric")
    assert SAMPLE_CATALOGUE.read_bytes() == buffer.getvalue(), "run: appbuzz sample --out " + str(
        SAMPLE_CATALOGUE
    )


def test_sample_has_the_real_files_shape_and_its_difficulties() -> None:
    sample = pl.read_csv(SAMPLE_CATALOGUE, infer_schema=False)
    assert tuple(sample.columns) == COLUMNS and 200 <= sample.height <= 1000
    names = sample["track_name"]
    assert names.str.contains(",").any() and names.str.contains('"').any()
    assert names.str.contains("–").any() and names.str.contains("[^\\x00-\\x7f]").any()
    top = sample.filter(pl.col("prime_genre").is_in(["Book", "Music"]))
    assert top.height >= 10
    assert top["rating_count_tot"].is_duplicated().any()  # ties to break
    assert sample["id"].n_unique() == sample.height
