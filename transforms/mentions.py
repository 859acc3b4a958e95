"""The mention columns that enrichment adds to each ranked app, and their run totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl


class MentionStatus(StrEnum):
    """What became of one app's count (`mention_status` in the files, the API and the table)."""

    OK = "ok"  # counted in full
    CAPPED = "capped"  # a lower bound: the search strategy reached its page limit
    FAILED = "failed"  # not counted; `mention_error` says why
    SKIPPED = "skipped"  # not asked: no X token set


MENTION_SCHEMA: dict[str, pl.DataType] = {
    "n_citacoes": pl.Int64(),
    "mention_status": pl.String(),
    "mention_query": pl.String(),
    "mention_error": pl.String(),
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "x_requests": pl.Int32(),
    "posts_consumed": pl.Int64(),
    "x_cost_usd": pl.Decimal(14, 6),
}


# what enrichment reports per app; the query is built before, from the name
RESULT_SCHEMA: dict[str, pl.DataType] = {
    name: dtype for name, dtype in MENTION_SCHEMA.items() if name != "mention_query"
}


def skipped_mentions(ranked: pl.DataFrame) -> pl.DataFrame:
    """Every app `skipped` with an unknown (null) count: what a run without a token records.

    A query already built for an app is kept, so the row says what would have been asked.
    """
    kept = {"n_citacoes", "mention_status", "x_requests", "posts_consumed", "x_cost_usd"}
    if "mention_query" in ranked.columns:
        kept.add("mention_query")
    return ranked.with_columns(
        pl.lit(None, dtype=MENTION_SCHEMA["n_citacoes"]).alias("n_citacoes"),
        pl.lit(MentionStatus.SKIPPED.value).alias("mention_status"),
        *(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in MENTION_SCHEMA.items()
            if name not in kept
        ),
        pl.lit(0, dtype=pl.Int32).alias("x_requests"),
        pl.lit(0, dtype=pl.Int64).alias("posts_consumed"),
        pl.lit(0, dtype=MENTION_SCHEMA["x_cost_usd"]).alias("x_cost_usd"),
    )


def mention_results(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Per-app results (`id` plus the result columns) as a typed frame."""
    return pl.DataFrame(
        [{"id": r["id"], **{name: r.get(name) for name in RESULT_SCHEMA}} for r in records],
        schema={"id": pl.Int64(), **RESULT_SCHEMA},
    )


def join_mentions(apps: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """The ranked apps (with `mention_query`) and their results, columns in the schema's order;
    an app that got no result is `failed`, not lost."""
    joined = apps.join(results, on="id", how="left", validate="1:1", coalesce=True)
    missing = pl.col("mention_status").is_null()
    return joined.with_columns(
        pl.when(missing)
        .then(pl.lit(MentionStatus.FAILED.value))
        .otherwise(pl.col("mention_status"))
        .alias("mention_status"),
        pl.when(missing)
        .then(pl.lit("no result was returned for this app"))
        .otherwise(pl.col("mention_error"))
        .alias("mention_error"),
        pl.col("x_requests").fill_null(0),
        pl.col("posts_consumed").fill_null(0),
        pl.col("x_cost_usd").fill_null(0),
    ).select(*(c for c in apps.columns if c not in MENTION_SCHEMA), *MENTION_SCHEMA)


def mention_totals(enriched: pl.DataFrame) -> dict[str, int | Decimal]:
    """Counts per mention status plus requests, posts and dollars spent: the run's numbers."""
    totals = enriched.select(
        *(
            (pl.col("mention_status") == status).sum().cast(pl.Int64).alias(f"mentions_{status}")
            for status in MentionStatus
        ),
        pl.col("x_requests").sum().cast(pl.Int64),
        pl.col("posts_consumed").sum().cast(pl.Int64),
    )
    numbers = {k: int(v or 0) for k, v in totals.row(0, named=True).items()}
    cost = enriched.get_column("x_cost_usd").sum()
    return {**numbers, "x_cost_usd": Decimal(cost or 0)}
