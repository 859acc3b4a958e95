"""The mention columns that enrichment adds to each ranked app, and their run totals."""

from __future__ import annotations

import polars as pl

MENTION_SCHEMA: dict[str, pl.DataType] = {
    "n_citacoes": pl.Int64(),
    "mention_status": pl.String(),
    "mention_query": pl.String(),
    "mention_error": pl.String(),
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "x_requests": pl.Int32(),
    "posts_consumed": pl.Int64(),
}


def skipped_mentions(ranked: pl.DataFrame) -> pl.DataFrame:
    """Every app `skipped` with an unknown (null) count: what a run without a token records."""
    return ranked.with_columns(
        pl.lit(None, dtype=MENTION_SCHEMA["n_citacoes"]).alias("n_citacoes"),
        pl.lit("skipped").alias("mention_status"),
        *(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in MENTION_SCHEMA.items()
            if name not in {"n_citacoes", "mention_status", "x_requests", "posts_consumed"}
        ),
        pl.lit(0, dtype=pl.Int32).alias("x_requests"),
        pl.lit(0, dtype=pl.Int64).alias("posts_consumed"),
    )


def mention_totals(enriched: pl.DataFrame) -> dict[str, int]:
    """Counts per mention status plus requests and posts spent: the run record's numbers."""
    totals = enriched.select(
        *(
            (pl.col("mention_status") == status).sum().cast(pl.Int64).alias(f"mentions_{status}")
            for status in ("ok", "capped", "failed", "skipped")
        ),
        pl.col("x_requests").sum().cast(pl.Int64),
        pl.col("posts_consumed").sum().cast(pl.Int64),
    )
    return {k: int(v or 0) for k, v in totals.row(0, named=True).items()}
