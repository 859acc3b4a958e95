"""Pick the most-reviewed apps of the chosen genres, deterministically."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

RANKED_COLUMNS = (
    "rank",
    "id",
    "track_name",
    "size_bytes",
    "price",
    "prime_genre",
    "rating_count_tot",
)


def normalise_genres(genres: Sequence[str]) -> tuple[str, ...]:
    """Genres as a sorted set, so `Music,Book` and `Book,Music` are the same selection."""
    return tuple(sorted({g.strip() for g in genres if g.strip()}))


def selection_name(genres: Sequence[str], top_n: int) -> str:
    """The run's choice of genres and size, e.g. `Book+Music/top10`: the snapshot key."""
    return f"{'+'.join(normalise_genres(genres))}/top{top_n}"


def in_genres(genres: Sequence[str]) -> pl.Expr:
    """True on the rows of the chosen genres: the only rows a ranking ever looks at."""
    return pl.col("prime_genre").is_in(normalise_genres(genres))


def rank_top_apps(valid: pl.LazyFrame, genres: Sequence[str], top_n: int) -> pl.LazyFrame:
    """Top `top_n` of `genres` by `rating_count_tot` descending; ties go to the smaller `id`."""
    return (
        valid.filter(in_genres(genres))
        .top_k(top_n, by=["rating_count_tot", "id"], reverse=[False, True])
        .sort(["rating_count_tot", "id"], descending=[True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32))
        .select(RANKED_COLUMNS)
    )
