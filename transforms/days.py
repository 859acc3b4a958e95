"""Mentions per UTC day, from what X answers: the day buckets of a counts reply, or the posts a
search returned. A day is `whole` only when the reply covers it from midnight to midnight: the
first and last buckets of a `counts/recent` reply are partial (its window is the last 7 days up
to about 30 s before the request), and a search covers whole only the days after its oldest post.
Partial days are kept, marked, and never judged or mixed with whole ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import polars as pl

ONE_DAY = timedelta(days=1)


class DaySource(StrEnum):
    """Which X endpoint a day's count came from (`source` in the table and the API)."""

    RECENT = "recent"  # GET /2/tweets/counts/recent, granularity=day
    ALL = "all"  # GET /2/tweets/counts/all (the full archive: a backfill)
    SEARCH = "search"  # the posts GET /2/tweets/search/recent returned, by created_at


def source_of(strategy: str) -> DaySource:
    """Where a strategy's days come from."""
    return {"counts": DaySource.RECENT, "all": DaySource.ALL, "search": DaySource.SEARCH}[strategy]


@dataclass(frozen=True)
class DayCount:
    """One app's mentions on one UTC day, as one reply saw it."""

    day: date
    mentions: int
    whole: bool


DAY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "mentions": pl.Int64(),
    "whole": pl.Boolean(),
}


def _utc(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_days(buckets: Iterable[Mapping[str, Any]]) -> tuple[DayCount, ...]:
    """Day buckets (`start`, `end`, `tweet_count`) as days; a bucket that is not a whole UTC day
    (from midnight, 24 hours long) is a partial one. Buckets that cannot be read are skipped."""
    found = []
    for bucket in buckets:
        start, end = _utc(bucket.get("start")), _utc(bucket.get("end"))
        count = bucket.get("tweet_count")
        if start is None or end is None or not isinstance(count, int) or count < 0:
            continue
        whole = start == _midnight(start) and end - start == ONE_DAY
        found.append(DayCount(start.astimezone(UTC).date(), count, whole))
    return tuple(found)


def post_days(
    created: Iterable[datetime], covered_from: datetime, covered_to: datetime
) -> tuple[DayCount, ...]:
    """Posts a search returned, counted per day of their `created_at`, for the span the search
    covered (`covered_from`..`covered_to`: every post in it was read). A day is whole when the
    span holds it from midnight to midnight; days outside the span are not counted at all."""
    per_day: dict[date, int] = {}
    for moment in created:
        if covered_from <= moment <= covered_to:
            day = moment.astimezone(UTC).date()
            per_day[day] = per_day.get(day, 0) + 1
    days = []
    day = covered_from.astimezone(UTC).date()
    while datetime.combine(day, datetime.min.time(), UTC) <= covered_to:
        start = datetime.combine(day, datetime.min.time(), UTC)
        whole = covered_from <= start and start + ONE_DAY <= covered_to
        days.append(DayCount(day, per_day.get(day, 0), whole))
        day += ONE_DAY
    return tuple(days)
