"""An app's mention count (what X answered, what it cost) and the mention columns a night adds to
each ranked app, with the run's totals."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl

from transforms.cost import ZERO
from transforms.days import DayCount


class MentionStatus(StrEnum):
    """What became of one app's count (`mention_status` in the files, the API and the table)."""

    OK = "ok"  # counted in full
    CAPPED = "capped"  # a lower bound: the search strategy reached its page limit
    FAILED = "failed"  # not counted; `mention_error` says why
    SKIPPED = "skipped"  # not asked: no X token set, or the spend cap left it out


@dataclass(frozen=True)
class MentionCount:
    """One app's count; requests, posts and cost are what was spent, even on failure.

    `settled` says X gave the whole answer for the query as asked (`ok`, or `capped` by the
    page limit): the ledger reuses a settled count for the same night instead of paying again.
    A failure, an app the run's stop left out, or one the spend cap cut short is not settled.
    `days` are the mentions per UTC day the reply showed (`transforms.days`).
    """

    mentions: int | None
    mention_status: str
    mention_error: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    x_requests: int = 0
    posts_consumed: int = 0
    x_cost_usd: Decimal = ZERO
    settled: bool = False
    days: tuple[DayCount, ...] = ()

    @classmethod
    def failed(cls, reason: str, **spent: Any) -> MentionCount:
        return cls(None, MentionStatus.FAILED.value, reason, **spent)

    def day_rows(self, app_id: int) -> list[dict[str, Any]]:
        """This count's days as rows keyed by the app's `id`."""
        return [{"id": app_id, **dataclasses.asdict(day)} for day in self.days]

    def record(self, app_id: int) -> dict[str, Any]:
        """This count as a result row keyed by the app's `id` (the frame's columns)."""
        return {
            "id": app_id,
            "n_citacoes": self.mentions,
            "mention_status": self.mention_status,
            "mention_error": self.mention_error,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "x_requests": self.x_requests,
            "posts_consumed": self.posts_consumed,
            "x_cost_usd": self.x_cost_usd,
            "settled": self.settled,
        }

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> MentionCount:
        """The count a result row (or a ledger row) holds."""
        return cls(
            mentions=row["n_citacoes"],
            mention_status=row["mention_status"],
            mention_error=row["mention_error"],
            window_start=row["window_start"],
            window_end=row["window_end"],
            x_requests=int(row["x_requests"] or 0),
            posts_consumed=int(row["posts_consumed"] or 0),
            x_cost_usd=Decimal(row["x_cost_usd"] or 0),
            settled=bool(row["settled"]),
        )


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
    **{name: dtype for name, dtype in MENTION_SCHEMA.items() if name != "mention_query"},
    "settled": pl.Boolean(),
}


def skipped_mentions(ranked: pl.DataFrame, reason: str | None = None) -> pl.DataFrame:
    """Every app `skipped` with an unknown (null) count and `reason`: what a run without a token
    records. A query already built for an app is kept, so the row says what would have been asked.
    """
    query = {} if "mention_query" in ranked.columns else {"mention_query": None}
    values: dict[str, object] = {
        "n_citacoes": None,
        "mention_status": MentionStatus.SKIPPED.value,
        **query,
        "mention_error": reason,
        "window_start": None,
        "window_end": None,
        "x_requests": 0,
        "posts_consumed": 0,
        "x_cost_usd": 0,
    }
    return ranked.with_columns(
        pl.lit(value, dtype=MENTION_SCHEMA[name]).alias(name) for name, value in values.items()
    )


def mention_results(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Per-app results (`id` plus the result columns) as a typed frame; unsettled unless said."""
    return pl.DataFrame(
        [{"id": r["id"], **{name: r.get(name) for name in RESULT_SCHEMA}} for r in records],
        schema={"id": pl.Int64(), **RESULT_SCHEMA},
    ).with_columns(pl.col("settled").fill_null(False))


def join_mentions(apps: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """The ranked apps (with `mention_query`) and their results, columns in the schema's order;
    an app that got no result is `failed`, not lost."""
    joined = apps.join(
        results.drop("settled", strict=False), on="id", how="left", validate="1:1", coalesce=True
    )
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


def status_totals(enriched: pl.DataFrame) -> dict[str, int]:
    """How many apps ended in each mention status."""
    totals = enriched.select(
        (pl.col("mention_status") == status).sum().cast(pl.Int64).alias(f"mentions_{status}")
        for status in MentionStatus
    )
    return {k: int(v or 0) for k, v in totals.row(0, named=True).items()}


def spend_totals(enriched: pl.DataFrame) -> dict[str, int | Decimal]:
    """Requests, posts and dollars the rows' counts spent on X."""
    totals = enriched.select(
        pl.col("x_requests").sum().cast(pl.Int64), pl.col("posts_consumed").sum().cast(pl.Int64)
    )
    numbers = {k: int(v or 0) for k, v in totals.row(0, named=True).items()}
    return {**numbers, "x_cost_usd": Decimal(enriched.get_column("x_cost_usd").sum() or 0)}


def mention_totals(enriched: pl.DataFrame) -> dict[str, int | Decimal]:
    """Counts per mention status plus requests, posts and dollars spent: a night's numbers."""
    return {**status_totals(enriched), **spend_totals(enriched)}
