"""Spikes in daily mention counts, judged robustly against each app's own history (pure Polars).

One row per app and UTC day comes in (X's day buckets); each whole day is compared with a
baseline of earlier whole days of the same app:
- `weekday`: the same weekday in the trailing window (the previous Mondays for a Monday), used
  once `spike_weekday_min_weeks` of them exist, so a weekly rhythm (busy weekends) is not a spike;
- `trailing`: every whole day of the trailing window, while there are too few weeks for that;
  its median is raised to the quietest of two or more earlier same weekdays, so busy weekends
  already seen are read as the rhythm, not a spike, while one odd day among them raises nothing
  (`python -m bench.spikes` counts what this baseline still flags);
- none (null) with fewer than `spike_min_days` earlier whole days: too little history to judge.
The score is `(mentions - median) / spread`, where spread is the baseline's robust standard
deviation `1.4826 * MAD` with a floor (`SpikeRule`), so one odd day in the baseline moves
neither the centre nor the width much, and a flat series neither divides by zero nor makes every
+1 a spike. Partial days (`whole` false) are never judged and never in a baseline; a missing day
(or a null count) is a gap, not a zero. Input: one row per `app_id` and `day`.
"""

from __future__ import annotations

from typing import Any, Self

import polars as pl
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

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


def _named(name: str, *old: str) -> Any:
    """A setting's environment names: its own, then the old ones it replaces (kept as aliases)."""
    return AliasChoices(f"APPBUZZ_{name.upper()}", *(f"APPBUZZ_{o}" for o in old))


class SpikeRule(BaseModel):
    """When a whole day's count is a spike; its fields are settings (`APPBUZZ_SPIKE_*`, the
    nightly rule's old names kept as aliases), declared once here for the settings class.

    - `spike_window_days` (28; was `APPBUZZ_TREND_WINDOW_NIGHTS`): the trailing window, in
      calendar days before the judged day. Four weeks: enough days for a stable median, four of
      each weekday for the weekday baseline, short enough to follow a level that drifts.
    - `spike_min_days` (7; was `APPBUZZ_SPIKE_MIN_NIGHTS`): the fewest earlier whole days in the
      window for a trailing baseline; a median and MAD of fewer say little.
    - `spike_threshold` (3.5; was `APPBUZZ_SPIKE_SIGMAS`): the robust score above which a day is a
      spike; 3.5 is the usual cut-off for modified z-scores (Iglewicz and Hoaglin).
    - `spike_min_mentions` (20): the fewest mentions a spike has: a jump from 2 to 9 is noise to a
      reader whatever its score.
    - `spike_mad_floor` (0.3): the least spread, as a fraction of the baseline median. A weekday
      baseline has 3 or 4 days, whose MAD is often far below the real day-to-day spread (and a
      flat series has MAD 0), so this floor usually sets the bar: with the defaults a spike is
      above 1 + 3.5 * 0.3 = 2.05 times its baseline median. The spread is also never below the
      Poisson deviation `sqrt(max(median, 1))`, so a flat 0 or a small constant does not make +1
      a spike. Tuned with `python -m bench.spikes` on other seeds than it reports.
    - `spike_weekday_min_weeks` (3): the fewest earlier same-weekday whole days in the window for
      the weekday baseline (with fewer, the trailing one is used): 3 is the smallest median that
      one odd week cannot move.
    """

    model_config = ConfigDict(frozen=True, validate_by_name=True)

    spike_window_days: int = Field(
        default=28,
        ge=3,
        le=365,
        validation_alias=_named("spike_window_days", "TREND_WINDOW_NIGHTS"),
    )
    spike_min_days: int = Field(
        default=7, ge=3, le=365, validation_alias=_named("spike_min_days", "SPIKE_MIN_NIGHTS")
    )
    spike_threshold: float = Field(
        default=3.5,
        gt=0,
        allow_inf_nan=False,
        validation_alias=_named("spike_threshold", "SPIKE_SIGMAS"),
    )
    spike_min_mentions: int = Field(default=20, ge=0, validation_alias=_named("spike_min_mentions"))
    spike_mad_floor: float = Field(
        default=0.3, ge=0, le=1, allow_inf_nan=False, validation_alias=_named("spike_mad_floor")
    )
    spike_weekday_min_weeks: int = Field(
        default=3, ge=3, validation_alias=_named("spike_weekday_min_weeks")
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.spike_min_days > self.spike_window_days:
            raise ValueError(
                f"spike_min_days ({self.spike_min_days}) must not exceed spike_window_days "
                f"({self.spike_window_days})"
            )
        if self.spike_weekday_min_weeks > self.spike_window_days // 7:
            raise ValueError(
                f"spike_weekday_min_weeks ({self.spike_weekday_min_weeks}) needs a window of "
                f"at least {7 * self.spike_weekday_min_weeks} days, not {self.spike_window_days}"
            )
        return self


def _window_stats(whole: pl.LazyFrame, rule: SpikeRule, by: list[str], name: str) -> pl.LazyFrame:
    """Per judged day: count, median and MAD of the `by` group's counts over the trailing window
    (the `window_days` calendar days before the day, the day itself left out; gaps skipped)."""
    past = pl.col("mentions").drop_nulls().cast(pl.Float64)
    return whole.rolling(
        index_column="day", period=f"{rule.spike_window_days}d", closed="left", group_by=by
    ).agg(
        pl.col("mentions").count().cast(pl.Int32).alias(f"{name}_days"),
        past.median().alias(f"{name}_median"),
        (past - past.median()).abs().median().alias(f"{name}_mad"),
        past.min().alias(f"{name}_least"),
    )


def judge_days(days: pl.LazyFrame, rule: SpikeRule) -> pl.LazyFrame:
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

    on_weekday = pl.col("weekday_days") >= rule.spike_weekday_min_weeks
    on_trailing = pl.col("trailing_days") >= rule.spike_min_days

    def chosen(column: str) -> pl.Expr:
        return (
            pl.when(on_weekday)
            .then(pl.col(f"weekday_{column}"))
            .when(on_trailing)
            .then(pl.col(f"trailing_{column}"))
        )

    # before there are weeks enough for the weekday baseline, the trailing median is raised to
    # the quietest of two or more earlier same weekdays: busy weekends seen before are the
    # rhythm, while one odd day among them (the quietest is another) raises nothing
    seen_twice = pl.when(pl.col("weekday_days") >= 2).then(pl.col("weekday_least"))
    trailing_level = pl.max_horizontal(pl.col("trailing_median"), seen_twice)

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
            median=pl.when(on_weekday)
            .then(pl.col("weekday_median"))
            .when(on_trailing)
            .then(trailing_level),
            mad=chosen("mad"),
        )
        .with_columns(
            spread=pl.when(median.is_not_null()).then(
                pl.max_horizontal(
                    MAD_TO_SD * pl.col("mad"),
                    rule.spike_mad_floor * median,
                    pl.max_horizontal(median, 1.0).sqrt(),
                )
            )
        )
        .with_columns(
            score=(pl.col("mentions") - median) / spread,
            band_low=median - rule.spike_threshold * spread,
            band_high=median + rule.spike_threshold * spread,
        )
        .with_columns(
            spike=pl.when(pl.col("score").is_not_null()).then(
                (pl.col("score") > rule.spike_threshold)
                & (pl.col("mentions") >= rule.spike_min_mentions)
            )
        )
        .select(JUDGED_SCHEMA.names())
        .cast(JUDGED_SCHEMA)
        .sort("app_id", "day")
    )


def last_whole_day(judged: pl.LazyFrame) -> pl.LazyFrame:
    """Each app's newest judged whole day only: the day an alert is about."""
    return judged.filter(pl.col("day") == pl.col("day").max().over("app_id"))
