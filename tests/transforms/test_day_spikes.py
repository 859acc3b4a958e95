"""Daily spikes: robust scores against a weekday or trailing baseline of whole days only."""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest
from pydantic import ValidationError

from transforms.day_spikes import JUDGED_SCHEMA, SpikeRule, judge_days, last_whole_day

MONDAY = date(2026, 11, 2)
RULE = SpikeRule()


def days(counts: list[int | None], app_id: int = 1, partial: tuple[int, ...] = ()) -> pl.LazyFrame:
    """One app's days from MONDAY on; `None` is a missing day (no row), `partial` the indexes
    of days that are not whole."""
    rows = [
        (app_id, MONDAY + timedelta(i), n, i not in partial)
        for i, n in enumerate(counts)
        if n is not None
    ]
    return pl.LazyFrame(
        rows,
        schema={"app_id": pl.Int64, "day": pl.Date, "mentions": pl.Int64, "whole": pl.Boolean},
        orient="row",
    )


def judged(frame: pl.LazyFrame, rule: SpikeRule = RULE) -> pl.DataFrame:
    return judge_days(frame, rule).collect()


def on(result: pl.DataFrame, index: int, app_id: int = 1) -> dict[str, object]:
    """The judged row of day `index` (from MONDAY)."""
    row = result.filter((pl.col("app_id") == app_id) & (pl.col("day") == MONDAY + timedelta(index)))
    assert row.height == 1, f"day {index} judged {row.height} times"
    return row.row(0, named=True)


NOISY_WEEK = [100, 104, 97, 102, 99, 103, 96]


def test_a_jump_from_a_flat_series_is_a_spike_and_the_flat_days_are_not() -> None:
    result = judged(days([100] * 14 + [300]))
    last = on(result, 14)
    # 14 earlier days, 2 Mondays among them: the trailing baseline; MAD 0, so the floor
    # 0.3 * median is the spread: (300 - 100) / 30
    assert last["baseline"] == "trailing" and last["baseline_days"] == 14
    assert (last["median"], last["spread"]) == (100.0, 30.0)
    assert last["score"] == pytest.approx(200 / 30)
    assert (last["band_low"], last["band_high"]) == (100 - 3.5 * 30, 100 + 3.5 * 30)
    assert last["spike"] is True
    assert (
        result.filter(pl.col("day") < MONDAY + timedelta(14))["spike"].drop_nulls().to_list()
        == [False] * 7
    )


def test_a_flat_series_neither_divides_by_zero_nor_makes_plus_one_a_spike() -> None:
    zeros = on(judged(days([0] * 14 + [1])), 14)
    assert zeros["spread"] == 1.0 and zeros["score"] == 1.0 and zeros["spike"] is False
    constant = on(judged(days([50] * 14 + [51])), 14)
    assert constant["spread"] == 15.0  # 0.3 * 50, above sqrt(50)
    assert constant["score"] == pytest.approx(1 / 15) and constant["spike"] is False
    small = on(judged(days([4] * 14 + [5])), 14)
    assert small["spread"] == 2.0  # sqrt(4): the Poisson floor, above 0.3 * 4
    assert small["spike"] is False
    # a real jump from zero is still one
    assert on(judged(days([0] * 14 + [30])), 14)["spike"] is True


def test_a_weekly_rhythm_is_no_spike_once_three_weeks_give_a_weekday_baseline() -> None:
    week = [100, 100, 100, 100, 100, 300, 300]  # Saturday and Sunday busy
    result = judged(days(week * 5))
    saturday = on(result, 33)
    assert saturday["baseline"] == "weekday" and saturday["baseline_days"] == 4
    assert saturday["median"] == 300.0 and saturday["spike"] is False
    from_week_4 = result.filter(pl.col("day") >= MONDAY + timedelta(21))
    assert set(from_week_4["baseline"]) == {"weekday"}
    assert not from_week_4["spike"].any()


def test_with_fewer_than_three_weeks_the_baseline_is_the_trailing_window() -> None:
    week = [100, 100, 100, 100, 100, 300, 300]
    result = judged(days(week * 4))
    # day i has i // 7 earlier same weekdays: trailing from day 7 (7 days) to day 20
    assert result["baseline"].to_list() == [None] * 7 + ["trailing"] * 14 + ["weekday"] * 7
    saturday = on(result, 19)  # 2 earlier Saturdays only: not yet the weekday baseline ...
    assert saturday["baseline_days"] == 19 and saturday["baseline"] == "trailing"
    assert saturday["median"] == 300.0 and saturday["spike"] is False  # ... but both were busy
    first_busy = on(result, 12)  # one earlier Saturday only: the rhythm is not known yet
    assert first_busy["median"] == 100.0 and first_busy["spike"] is True
    assert on(result, 26)["baseline_days"] == 3  # the third Saturday: weekday


@pytest.mark.parametrize(
    ("outlier", "spike", "baseline"),
    [(11, 18, "trailing"), (18, 25, "weekday")],  # the outlier on the judged day's weekday
)
def test_one_odd_day_in_the_baseline_neither_hides_a_later_spike_nor_makes_one(
    outlier: int, spike: int, baseline: str
) -> None:
    counts = (NOISY_WEEK * 5)[:28]
    counts[outlier] = 1_000
    counts[spike] = 300
    result = judged(days(counts))
    assert on(result, outlier)["spike"] is True  # the odd day itself is judged a spike
    found = on(result, spike)
    assert found["baseline"] == baseline and found["spike"] is True
    assert 96 <= found["median"] <= 104  # the 1,000 barely moves the centre
    between = result.filter(
        pl.col("day").is_between(MONDAY + timedelta(outlier + 1), MONDAY + timedelta(spike - 1))
    )
    assert between.height == spike - outlier - 1 and not between["spike"].any()


def test_partial_days_are_never_judged_nor_part_of_a_baseline() -> None:
    counts = [100] * 20 + [5_000]
    # day 10 is partial (a huge count there must not matter) and so is today, day 20
    counts[10] = 9_000
    result = judged(days(counts, partial=(10, 20)))
    assert result.height == 19
    assert (
        MONDAY + timedelta(10) not in result["day"] and MONDAY + timedelta(20) not in result["day"]
    )
    day_11 = on(result, 11)
    assert day_11["baseline_days"] == 10 and day_11["median"] == 100.0  # days 0..9 only
    assert not result["spike"].drop_nulls().any()
    newest = last_whole_day(judge_days(days(counts, partial=(10, 20)), RULE)).collect()
    assert newest["day"].to_list() == [MONDAY + timedelta(19)]


def test_missing_days_and_null_counts_are_gaps_not_zeros() -> None:
    counts: list[int | None] = [100] * 17
    counts[2:10] = [None] * 8  # 8 of the 16 earlier days missing: zeros would halve the median
    frame = pl.concat(
        [
            days(counts),
            pl.LazyFrame(  # a whole day whose count is unknown
                {
                    "app_id": [1],
                    "day": [MONDAY + timedelta(17)],
                    "mentions": [None],
                    "whole": [True],
                },
                schema={
                    "app_id": pl.Int64,
                    "day": pl.Date,
                    "mentions": pl.Int64,
                    "whole": pl.Boolean,
                },
            ),
            days([None] * 18 + [100]),
        ]
    )
    result = judged(frame)
    day_16 = on(result, 16)
    assert day_16["baseline_days"] == 8 and day_16["median"] == 100.0 and day_16["spike"] is False
    unknown = on(result, 17)
    assert unknown["mentions"] is None and unknown["score"] is None and unknown["spike"] is None
    assert on(result, 18)["baseline_days"] == 9  # the unknown day 17 is not counted either


def test_too_little_history_gives_no_baseline_and_no_verdict() -> None:
    result = judged(days([100] * 7 + [500]))
    sixth = on(result, 6)
    assert sixth["baseline"] is None and sixth["baseline_days"] == 6
    assert all(
        sixth[c] is None for c in ("median", "spread", "score", "band_low", "band_high", "spike")
    )
    assert on(result, 7)["baseline"] == "trailing" and on(result, 7)["spike"] is True
    assert on(judged(days([5] * 3)), 2)["spike"] is None  # unknown, not False, below 20 too
    strict = on(judged(days([100] * 7 + [500]), SpikeRule(spike_min_days=8)), 7)
    assert strict["baseline"] is None and strict["spike"] is None


def test_a_high_score_below_min_mentions_is_not_a_spike() -> None:
    below = on(judged(days([5] * 14 + [19])), 14)
    assert below["score"] > RULE.spike_threshold and below["spike"] is False
    assert on(judged(days([5] * 14 + [20])), 14)["spike"] is True
    assert on(judged(days([5] * 14 + [19]), SpikeRule(spike_min_mentions=19)), 14)["spike"] is True


def test_output_is_typed_sorted_and_each_app_judged_on_its_own() -> None:
    frame = pl.concat([days([100] * 14 + [300], app_id=2), days([1_000] * 15, app_id=1)])
    result = judged(frame)
    assert result.schema == JUDGED_SCHEMA
    assert result.select("app_id", "day").equals(
        result.select("app_id", "day").sort("app_id", "day")
    )
    assert on(result, 14, app_id=2)["spike"] is True
    assert (
        on(result, 14, app_id=1)["median"] == 1_000.0 and on(result, 14, app_id=1)["spike"] is False
    )
    newest = last_whole_day(judge_days(frame, RULE)).collect()
    assert newest.select("app_id", "day", "spike").rows() == [
        (1, MONDAY + timedelta(14), False),
        (2, MONDAY + timedelta(14), True),
    ]


def test_a_spike_is_exactly_a_count_above_the_band() -> None:
    counts = NOISY_WEEK * 4 + [100, 250, 400, 150, 99, 180, 500]
    result = judged(days(counts)).filter(pl.col("baseline").is_not_null())
    above = (pl.col("mentions") > pl.col("band_high")) & (pl.col("mentions") >= 20)
    assert result.select((pl.col("spike") == above).all()).item()
    assert result["spike"].sum() >= 3
    assert (
        result["band_high"] - result["median"] - RULE.spike_threshold * result["spread"]
    ).abs().max() < 1e-9


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"spike_window_days": 6}, "must not exceed spike_window_days"),
        ({"spike_min_days": 2}, "greater than or equal to 3"),
        ({"spike_weekday_min_weeks": 2}, "greater than or equal to 3"),
        ({"spike_weekday_min_weeks": 5}, "needs a window of at least 35 days"),  # 4 per weekday
        ({"spike_threshold": 0.0}, "greater than 0"),
        ({"spike_threshold": math.nan}, "finite number"),
        ({"spike_min_mentions": -1}, "greater than or equal to 0"),
        ({"spike_mad_floor": -0.1}, "greater than or equal to 0"),
        ({"spike_mad_floor": math.nan}, "finite number"),
    ],
)
def test_a_bad_rule_is_refused_naming_what_is_wrong(bad: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SpikeRule(**bad)  # type: ignore[arg-type]
    (error,) = refused.value.errors()
    assert message in error["msg"] and "\n" not in error["msg"]
