"""Spikes in daily mention counts, judged robustly against each app's own history (pure Polars).

One row per app and UTC day comes in (X's day buckets); each whole day is compared with a
baseline of earlier whole days of the same app:
- `weekday`: the same weekday in the trailing window (the previous Mondays for a Monday), used
  once `weekday_min_weeks` of them exist, so a weekly rhythm (busy weekends) is not a spike;
- `trailing`: every whole day of the trailing window, while there are too few weeks for that
  (its median is the weekday level, so a busy weekend can be flagged then: the rhythm is not
  known yet; `python -m bench.spikes` counts such days);
- none (null) with fewer than `min_days` earlier whole days: too little history to judge.
The score is `(mentions - median) / spread`, where spread is the baseline's robust standard
deviation `1.4826 * MAD` with a floor (`DaySpikeRule`), so one odd day in the baseline moves
neither the centre nor the width much, and a flat series neither divides by zero nor makes every
+1 a spike. Partial days (`whole` false) are never judged and never in a baseline; a missing day
(or a null count) is a gap, not a zero. Input: one row per `app_id` and `day`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826

BASELINE_WEEKDAY = "weekday"
BASELINE_TRAILING = "trailing"

# What `judge_days` gives, in this order.
JUDGED_SCHEMA = pl.Schema(
    {
        "app_id": pl.Int64(),
        "day": pl.Date(),
        "mentions": pl.Int64(),
        "baseline": pl.String(),
        "baseline_days": pl.Int32(),
        "median": pl.Float64(),
        "spread": pl.Float64(),
        "score": pl.Float64(),
        "band_low": pl.Float64(),
        "band_high": pl.Float64(),
        "spike": pl.Boolean(),
    }
)


@dataclass(frozen=True)
class DaySpikeRule:
    """When a whole day's count is a spike.

    - `window_days` (28): the trailing window, in calendar days before the judged day. Four
      weeks: enough days for a stable median, four of each weekday for the weekday baseline,
      and short enough to follow an app whose level drifts over a month.
    - `min_days` (7): the fewest earlier whole days in the window for a trailing baseline; a
      median and MAD of fewer than a week's days say little.
    - `threshold` (3.5): the robust score above which a day is a spike; 3.5 is the usual cut-off
      for modified z-scores (Iglewicz and Hoaglin).
    - `min_mentions` (20): the fewest mentions a spike has, as before: a jump from 2 to 9 is
      noise to a reader whatever its score.
    - `mad_floor` (0.3): the least spread, as a fraction of the baseline median. A weekday
      baseline has 3 or 4 days, whose MAD is often far below the real day-to-day spread (and a
      flat series has MAD 0), so this floor usually sets the bar: with the defaults a spike is
      above 1 + 3.5 * 0.3 = 2.05 times its baseline median, however calm the baseline looked.
      Tuned with `python -m bench.spikes` on other seeds than it reports (0.25 with 4 missed
      more spikes; 0.2 raised more false alarms). The spread is also never below the Poisson
      deviation `sqrt(max(median, 1))` (a count of n varies by about sqrt(n) by chance alone;
      1 for an all-zero series), so a flat 0 or a small constant does not make +1 a spike.
    - `weekday_min_weeks` (3): the fewest earlier same-weekday whole days in the window for the
      weekday baseline (with fewer, the trailing one is used): 3 is the smallest median that
      one odd week cannot move.
    """

    window_days: int = 28
    min_days: int = 7
    threshold: float = 3.5
    min_mentions: int = 20
    mad_floor: float = 0.3
    weekday_min_weeks: int = 3

    def __post_init__(self) -> None:
        if not self.window_days >= self.min_days >= 3:
            raise ValueError(
                f"need window_days >= min_days >= 3, got {self.window_days} and {self.min_days}"
            )
        if not 3 <= self.weekday_min_weeks <= self.window_days // 7:
            raise ValueError(
                f"need 3 <= weekday_min_weeks <= window_days // 7 ({self.window_days // 7}), "
                f"got {self.weekday_min_weeks}"
            )
        if not self.threshold > 0:
            raise ValueError(f"need threshold > 0, got {self.threshold}")
        if not self.min_mentions >= 0:
            raise ValueError(f"need min_mentions >= 0, got {self.min_mentions}")
        if not 0 <= self.mad_floor <= 1:
            raise ValueError(f"need 0 <= mad_floor <= 1, got {self.mad_floor}")


def _window_stats(
    whole: pl.LazyFrame, rule: DaySpikeRule, by: list[str], name: str
) -> pl.LazyFrame:
    """Per judged day: count, median and MAD of the `by` group's counts over the trailing window
    (the `window_days` calendar days before the day, the day itself left out; gaps skipped)."""
    past = pl.col("mentions").drop_nulls().cast(pl.Float64)
    return whole.rolling(
        index_column="day", period=f"{rule.window_days}d", closed="left", group_by=by
    ).agg(
        pl.col("mentions").count().cast(pl.Int32).alias(f"{name}_days"),
        past.median().alias(f"{name}_median"),
        (past - past.median()).abs().median().alias(f"{name}_mad"),
    )


def judge_days(days: pl.LazyFrame, rule: DaySpikeRule) -> pl.LazyFrame:
    """Each whole day of `days` (`app_id`, `day`, `mentions`, `whole`) judged against its app's
    baseline: `JUDGED_SCHEMA`, sorted by app and day.

    `baseline_days` is the number of days in the chosen baseline; without one (null), the
    number of earlier whole days there were. `band_low`/`band_high` are `median -/+ threshold *
    spread`: a chart's band (the low edge may be below 0). `score` and `spike` are null without a
    baseline or without a count.
    """
    whole = (
        days.filter(pl.col("whole"))
        .select("app_id", "day", "mentions")
        .with_columns(weekday=pl.col("day").dt.weekday())
        .sort("app_id", "day")
    )
    keys = ["app_id", "day"]
    trailing = _window_stats(whole, rule, ["app_id"], "trailing")
    weekday = _window_stats(whole, rule, ["app_id", "weekday"], "weekday")
    judged = whole.join(trailing, on=keys, how="left").join(
        weekday, on=[*keys, "weekday"], how="left"
    )

    on_weekday = pl.col("weekday_days") >= rule.weekday_min_weeks
    on_trailing = pl.col("trailing_days") >= rule.min_days

    def chosen(column: str) -> pl.Expr:
        return (
            pl.when(on_weekday)
            .then(pl.col(f"weekday_{column}"))
            .when(on_trailing)
            .then(pl.col(f"trailing_{column}"))
        )

    median = pl.col("median")
    spread = pl.col("spread")
    return (
        judged.select(
            "app_id",
            "day",
            "mentions",
            baseline=pl.when(on_weekday)
            .then(pl.lit(BASELINE_WEEKDAY))
            .when(on_trailing)
            .then(pl.lit(BASELINE_TRAILING)),
            baseline_days=pl.when(on_weekday)
            .then(pl.col("weekday_days"))
            .otherwise(pl.col("trailing_days")),
            median=chosen("median"),
            mad=chosen("mad"),
        )
        .with_columns(
            spread=pl.when(median.is_not_null()).then(
                pl.max_horizontal(
                    MAD_TO_SD * pl.col("mad"),
                    rule.mad_floor * median,
                    pl.max_horizontal(median, 1.0).sqrt(),
                )
            )
        )
        .with_columns(
            score=(pl.col("mentions") - median) / spread,
            band_low=median - rule.threshold * spread,
            band_high=median + rule.threshold * spread,
        )
        .with_columns(
            spike=pl.when(pl.col("score").is_not_null()).then(
                (pl.col("score") > rule.threshold) & (pl.col("mentions") >= rule.min_mentions)
            )
        )
        .select(JUDGED_SCHEMA.names())
        .cast(JUDGED_SCHEMA)
        .sort("app_id", "day")
    )


def last_whole_day(judged: pl.LazyFrame) -> pl.LazyFrame:
    """Each app's newest judged whole day only: the day an alert is about."""
    return judged.filter(pl.col("day") == pl.col("day").max().over("app_id"))
