"""What counting a night's apps comes to, and which counts the ledger already holds.

The ledger (`sinks.ledger`) keeps every app's count for a night and selection as X answers it;
a run asks X only for apps it does not hold settled for the same query, strategy and pages, so a
retry or a rerun on any host never pays twice for one count. This module decides, on frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl

from transforms.days import DAY_SCHEMA, source_of
from transforms.errors import XApiError
from transforms.mentions import RESULT_SCHEMA, MentionCount, join_mentions, spend_totals

LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "app_id": pl.Int64(),
    "mention_query": pl.String(),
    "strategy": pl.String(),
    "max_pages": pl.Int32(),
    **RESULT_SCHEMA,
    "run_id": pl.String(),
    "counted_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class NightCounts:
    """Whose counts these are: the night and selection (the ledger's key with the app), how
    they are asked (a held count is reused only for the same strategy and pages), by which run."""

    snapshot_date: date
    selection: str
    strategy: str
    max_pages: int
    run_id: str

    @property
    def pages(self) -> int | None:
        """Pages as the ledger keeps them: None for the counts strategy, where they mean nothing."""
        return None if self.strategy == "counts" else self.max_pages

    def ledger_rows(
        self, counts: pl.DataFrame, queries: pl.DataFrame, counted_at: datetime
    ) -> list[dict[str, Any]]:
        """`counts` (`id` plus the result columns) as ledger rows; `queries` gives each app's
        `mention_query`."""
        return (
            counts.join(queries.select("id", "mention_query"), on="id", how="left")
            .select(
                pl.lit(self.snapshot_date).alias("snapshot_date"),
                pl.lit(self.selection).alias("selection"),
                pl.col("id").alias("app_id"),
                "mention_query",
                pl.lit(self.strategy).alias("strategy"),
                pl.lit(self.pages, dtype=pl.Int32).alias("max_pages"),
                *RESULT_SCHEMA,
                pl.lit(self.run_id).alias("run_id"),
                pl.lit(counted_at).alias("counted_at"),
            )
            .to_dicts()
        )

    def day_rows(
        self, days: pl.DataFrame, queries: pl.DataFrame, observed_at: datetime
    ) -> list[dict[str, Any]]:
        """`days` (`id`, `day`, `mentions`, `whole`) as rows of the days table, each with its
        app's query and the source its strategy reads."""
        return (
            days.join(queries.select("id", "mention_query"), on="id", how="left")
            .select(
                pl.lit(self.selection).alias("selection"),
                pl.col("id").alias("app_id"),
                "day",
                "mentions",
                "whole",
                pl.lit(source_of(self.strategy).value).alias("source"),
                "mention_query",
                pl.lit(self.run_id).alias("run_id"),
                pl.lit(observed_at).alias("observed_at"),
            )
            .to_dicts()
        )

    def held(self, apps: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
        """The ledger's settled counts of `apps` (`id`, `mention_query`) as they would be asked
        now (same query, strategy and, for search, pages): `id` plus the result columns."""
        usable = ledger.filter(
            pl.col("settled")
            & (pl.col("strategy") == self.strategy)
            & pl.col("max_pages").eq_missing(pl.lit(self.pages, dtype=pl.Int32))
        )
        return (
            apps.select("id", "mention_query")
            .join(usable.rename({"app_id": "id"}), on=["id", "mention_query"], how="inner")
            .select("id", *RESULT_SCHEMA)
        )


def held_by_app(held: pl.DataFrame) -> dict[int, MentionCount]:
    return {row["id"]: MentionCount.of(row) for row in held.iter_rows(named=True)}


class Origin(StrEnum):
    """Where an app's count for this run came from (`came_from`)."""

    LEDGER = "ledger"  # held in the ledger: paid for by an earlier run, not asked again
    CACHE = "cache"  # Prefect's result cache of an earlier attempt (an accelerator)
    X = "x"  # asked of X by this run
    NOT_ASKED = "not asked"  # left out: no token, or counting had stopped


COUNT_SCHEMA: dict[str, pl.DataType] = {"id": pl.Int64(), **RESULT_SCHEMA, "came_from": pl.String()}
APP_DAY_SCHEMA: dict[str, pl.DataType] = {"id": pl.Int64(), **DAY_SCHEMA}


@dataclass(frozen=True)
class Enrichment:
    """What counting the night's apps came to: the ranked apps with their queries (`apps`), each
    app's count and where it came from (`counts`: `COUNT_SCHEMA`), the days those counts showed
    (`days`: `APP_DAY_SCHEMA`), and the reason counting stopped, if it did: the one value that
    carries counting's outcome."""

    apps: pl.DataFrame
    counts: pl.DataFrame
    days: pl.DataFrame
    stop: XApiError | None = None

    @classmethod
    def of(
        cls, apps: pl.DataFrame, records: Sequence[Mapping[str, Any]], stop: XApiError | None
    ) -> Enrichment:
        """From per-app records (`MentionCount.record` plus `came_from`, and `days`: its
        `DayCount`s); the apps a stop left out say why in their `mention_error`."""
        counts = pl.DataFrame(
            [{name: record.get(name) for name in COUNT_SCHEMA} for record in records],
            schema=COUNT_SCHEMA,
        ).with_columns(pl.col("settled").fill_null(False))
        days = pl.DataFrame(
            [
                {"id": record["id"], **dataclasses.asdict(day)}
                for record in records
                if record.get("came_from") != Origin.LEDGER.value  # stored when it was counted
                for day in record.get("days", ())
            ],
            schema=APP_DAY_SCHEMA,
        )
        if stop is not None:
            left_out = pl.col("came_from") == Origin.NOT_ASKED.value
            counts = counts.with_columns(
                pl.when(left_out).then(pl.lit(str(stop))).otherwise("mention_error")
                .alias("mention_error")
            )  # fmt: skip
        return cls(apps, counts, days, stop)

    @property
    def loads(self) -> bool:
        """A refused token (or a plan without the archive) loads nothing: what is stored stays
        (the run's line records why). A spent account loads what was counted, then fails."""
        return self.stop is None or self.stop.keeps_counts

    def run_spend(self) -> dict[str, int | Decimal]:
        """What this run spent on X: the requests, posts and dollars of the apps it asked."""
        return spend_totals(self.counts.filter(pl.col("came_from") == Origin.X.value))

    def to_record(self) -> pl.DataFrame:
        """The counts the ledger must take: all but those it already held."""
        return self.counts.filter(pl.col("came_from") != Origin.LEDGER.value).drop("came_from")

    def as_counted(self) -> pl.DataFrame:
        """The apps with the counts this run has in hand (for a run that loads nothing)."""
        return join_mentions(self.apps, self.counts.drop("came_from"))


def night_rows(apps: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The night as the ledger holds it: the ranked apps (with `mention_query`) and their stored
    counts (`id`, `mention_query`, result columns), a count of another query left out."""
    matching = stored.join(
        apps.select("id", "mention_query"), on=["id", "mention_query"], how="semi"
    )
    return join_mentions(apps, matching.drop("mention_query"))
