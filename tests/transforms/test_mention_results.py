"""Joining per-app results back into the ranked frame: typed, complete, nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

from transforms.mentions import (
    MENTION_SCHEMA,
    join_mentions,
    mention_results,
    mention_totals,
    skipped_mentions,
)


def apps() -> pl.DataFrame:
    return pl.DataFrame(
        {"rank": [1, 2, 3], "id": [30, 10, 20], "track_name": ["a", "b", "c"]},
        schema={"rank": pl.Int32, "id": pl.Int64, "track_name": pl.String},
    ).with_columns(mention_query=pl.format('"{}" -is:retweet', "track_name"))


def test_results_join_by_id_and_missing_ones_fail_loudly() -> None:
    window = datetime(2026, 1, 1, tzinfo=UTC)
    results = mention_results(
        [
            {"id": 10, "n_citacoes": 7, "mention_status": "ok", "x_requests": 1,
             "window_start": window, "window_end": window, "posts_consumed": 0},
            {"id": 30, "n_citacoes": None, "mention_status": "failed", "x_requests": 2,
             "mention_error": "400 Bad Request: bad", "posts_consumed": 0},
        ]
    )  # fmt: skip
    joined = join_mentions(apps(), results)
    assert joined.columns == ["rank", "id", "track_name", *MENTION_SCHEMA]
    assert joined.schema["n_citacoes"] == pl.Int64 and joined.schema["x_requests"] == pl.Int32
    assert joined.schema["window_start"] == pl.Datetime("us", "UTC")
    rows = {r["id"]: r for r in joined.iter_rows(named=True)}
    assert rows[10]["n_citacoes"] == 7 and rows[10]["mention_status"] == "ok"
    assert rows[30]["mention_status"] == "failed" and rows[30]["mention_error"].startswith("400")
    assert rows[20]["mention_status"] == "failed" and rows[20]["n_citacoes"] is None
    assert rows[20]["mention_error"] and rows[20]["x_requests"] == 0
    assert joined["id"].to_list() == [30, 10, 20]  # the ranked order is kept
    assert mention_totals(joined) == {
        "mentions_ok": 1, "mentions_capped": 0, "mentions_failed": 2, "mentions_skipped": 0,
        "x_requests": 3, "posts_consumed": 0, "x_cost_usd": Decimal(0),
    }  # fmt: skip


def test_skipped_rows_keep_the_query_they_would_have_asked() -> None:
    skipped = skipped_mentions(apps())
    assert skipped["mention_query"].to_list() == apps()["mention_query"].to_list()
    assert skipped["mention_status"].unique().to_list() == ["skipped"]
    assert skipped["n_citacoes"].null_count() == 3
    assert set(MENTION_SCHEMA) <= set(skipped.columns)
