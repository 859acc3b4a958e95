"""The shipped sample is what the generator makes, and it exercises what the real file does."""

from __future__ import annotations

import io

import polars as pl

from sources.catalogue import SAMPLE_CATALOGUE
from tests.support.catalogues import COLUMNS, GENRES, ROWS, generated, sample_catalogue, top_apps
from transforms.queries import with_mention_queries


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


def test_a_large_generated_catalogue_is_like_the_real_file() -> None:
    """What the suite's generated catalogue (tests/support/catalogues.py) promises its tests: the
    real file's columns, row count, genres and value ranges, and top apps that never share an X
    query (the real file's don't), so a test may tell the fake X API which app to trouble."""
    catalogue = generated()
    assert tuple(catalogue.columns) == COLUMNS and catalogue.height == ROWS == 7197
    assert set(catalogue["prime_genre"]) == set(GENRES) and catalogue["id"].n_unique() == ROWS
    assert catalogue["user_rating"].is_between(0, 5).all()
    assert catalogue["price"].min() == 0 and catalogue["size_bytes"].min() > 0
    assert catalogue["rating_count_tot"].max() > 100_000  # a heavy tail, like the real counts
    for genres, n in ((("Book",), 50), (("Music",), 50), (("Book", "Music"), 100)):
        queries = with_mention_queries(top_apps(catalogue, genres, n))["mention_query"]
        assert queries.n_unique() == n, genres
