"""Benchmark: the daily spike rule against the nightly one, on a seeded synthetic two months.

Each seed makes 50 apps x 60 whole UTC days:
- a weekday level per app, log-uniform over 20..5,000 mentions a day, drifting linearly by up to
  +-15% over the 60 days; Saturdays and Sundays 1.5-3x the weekdays (per app);
- negative-binomial noise around that level (a Gamma(k=30) rate, then Poisson): about sqrt(n)
  for small counts and about 18% for large ones;
- 8 one-day outliers (4-8x the day's level) among the 28 days before the judged days, so they
  sit in the baselines;
- the judged days: each app's last 14 days (700 days), every one judged against its own past;
  10 of them, on 10 different apps, are injected spikes of 2.5-5x the day's level.
  A spike then sits in the baselines of the judged days after it, as it would.
Recall is how many of the 10 a rule flags; a false alarm is a flag on any other judged day.
(a) is `transforms.day_spikes` with its defaults; (b) the current nightly rule, re-done here in
Polars on the same days: mean + 3 sample sd of the previous 14 counted days, at least 7 of them,
at least 20 mentions. Also printed: what the new rule flags on each app's days 7-20, judged on
the trailing baseline before 3 weeks give a weekday one (nothing is injected there). Then
`judge_days` is timed on 7,197 apps x 60 days (the catalogue's size).
The target (recall >= 9 of 10, at most 2 false alarms) is checked on the month of the first seed
(1); the other seeds show it is not that month's luck (seed 2 misses two 2.5x spikes that its
noise brought down to 1.8x their usual day). The rule's defaults were tuned on seeds 100-139,
never on the seeds reported here (1-5). The
noise comes from the standard library's `random` (numpy is not a dependency).

    python -m bench.spikes [--seeds 1 2 3 4 5]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from transforms.day_spikes import SpikeRule, judge_days

APPS = 50
DAYS = 60
JUDGED_DAYS = 14
SPIKES = 10
OUTLIERS = 8
DISPERSION = 30.0  # negative binomial k: variance = mu + mu^2 / k
FIRST_DAY = date(2026, 9, 28)  # a Monday
SEEDS = (1, 2, 3, 4, 5)
TIMING_APPS = 7_197
TARGET_RECALL = 9
TARGET_FALSE_ALARMS = 2
TARGET_SECONDS = 5.0


@dataclass(frozen=True)
class Month:
    days: pl.DataFrame  # app_id, day, mentions, whole
    spikes: frozenset[tuple[int, date]]
    outliers: frozenset[tuple[int, date]]
    judged_from: date


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: exact (Knuth) below 30, the normal approximation above (numpy-free)."""
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _count(rng: random.Random, mean: float, dispersion: float) -> int:
    """A negative-binomial count around `mean` (Gamma-Poisson mixture)."""
    return _poisson(rng, rng.gammavariate(dispersion, mean / dispersion))


def synthetic_month(
    seed: int, apps: int = APPS, spikes: int = SPIKES, dispersion: float = DISPERSION
) -> Month:
    """The seeded apps x days described in the module's docstring."""
    rng = random.Random(seed)
    judged_from = DAYS - JUDGED_DAYS
    levels: dict[tuple[int, int], float] = {}
    for app in range(apps):
        base = math.exp(rng.uniform(math.log(20), math.log(5_000)))
        weekend = rng.uniform(1.5, 3.0)
        drift = rng.uniform(-0.15, 0.15)
        for d in range(DAYS):
            busy = weekend if (FIRST_DAY + timedelta(d)).weekday() >= 5 else 1.0
            levels[app, d] = base * busy * (1 + drift * d / (DAYS - 1))
    outliers = set()
    for app in rng.sample(range(apps), min(OUTLIERS, apps)):
        d = rng.randrange(judged_from - 28, judged_from)
        levels[app, d] *= rng.uniform(4, 8)
        outliers.add((app, FIRST_DAY + timedelta(d)))
    injected = set()
    for app in rng.sample(range(apps), spikes):
        d = rng.randrange(judged_from, DAYS)
        levels[app, d] *= rng.uniform(2.5, 5)
        injected.add((app, FIRST_DAY + timedelta(d)))
    keys = sorted(levels)
    frame = pl.DataFrame(
        {
            "app_id": [app for app, _ in keys],
            "day": [FIRST_DAY + timedelta(d) for _, d in keys],
            "mentions": [_count(rng, levels[k], dispersion) for k in keys],
            "whole": [True] * len(keys),
        },
        schema={"app_id": pl.Int64, "day": pl.Date, "mentions": pl.Int64, "whole": pl.Boolean},
    )
    return Month(
        frame, frozenset(injected), frozenset(outliers), FIRST_DAY + timedelta(judged_from)
    )


def current_rule(days: pl.LazyFrame) -> pl.LazyFrame:
    """The nightly rule of `sinks.trends` on daily counts: above the mean of the previous 14
    counted days by more than 3 sample sd, with at least 7 such days and 20 mentions."""
    past = pl.col("mentions").cast(pl.Float64).shift(1)
    mean = past.rolling_mean(14, min_samples=7).over("app_id")
    sd = past.rolling_std(14, min_samples=7).over("app_id")
    counted = pl.col("whole") & pl.col("mentions").is_not_null()
    return (
        days.filter(counted)
        .sort("app_id", "day")
        .with_columns(
            spike=(pl.col("mentions") > mean + 3 * sd) & (pl.col("mentions") >= 20),
        )
        .select("app_id", "day", "spike")
    )


def tally(flags: pl.LazyFrame, month: Month) -> tuple[int, int]:
    """(spikes found, false alarms) over the judged days."""
    flagged = {
        (a, d)
        for a, d in flags.filter((pl.col("day") >= month.judged_from) & pl.col("spike"))
        .select("app_id", "day")
        .collect()
        .iter_rows()
    }
    return len(flagged & month.spikes), len(flagged - month.spikes)


def missed(judged: pl.LazyFrame, month: Month) -> list[str]:
    """The injected spikes the new rule let through, with how far above the baseline they were."""
    truth = pl.LazyFrame(
        sorted(month.spikes), schema={"app_id": pl.Int64, "day": pl.Date}, orient="row"
    )
    rows = judged.join(truth, on=["app_id", "day"]).filter(~pl.col("spike").fill_null(False))
    return [
        f"app {r['app_id']} on {r['day']}: {r['mentions']:,} vs median {r['median']:,.0f} "
        f"({r['mentions'] / r['median']:.2f}x, score {r['score']:.2f}, {r['baseline']})"
        for r in rows.collect().iter_rows(named=True)
    ]


def young_flags(judged: pl.LazyFrame, month: Month) -> tuple[int, int, int]:
    """(days judged on the trailing baseline, flagged ones, flagged weekend days), outliers left
    out: an app's days 7-20, before 3 weeks give it a weekday baseline; nothing injected there."""
    young = (
        judged.filter(pl.col("baseline") == "trailing")
        .select("app_id", "day", "spike", weekend=pl.col("day").dt.weekday() >= 6)
        .collect()
    )
    young = young.filter(
        ~pl.struct("app_id", "day").is_in([{"app_id": a, "day": d} for a, d in month.outliers])
    )
    flagged = young.filter(pl.col("spike"))
    return young.height, flagged.height, flagged["weekend"].sum()


def time_judge_days(apps: int = TIMING_APPS) -> tuple[float, float, int]:
    """(first, best of three) seconds of `judge_days(...).collect()` on `apps` x 60 days."""
    days = synthetic_month(seed=0, apps=apps, spikes=0).days.lazy()
    rule = SpikeRule()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        rows = judge_days(days, rule).collect().height
        times.append(time.perf_counter() - started)
    return times[0], min(times), rows


def report(seeds: tuple[int, ...]) -> bool:
    """Both rules on each seed, the timing, and whether the targets hold."""
    rule = SpikeRule()
    print(
        f"spikes: {APPS} apps x {DAYS} days, last {JUDGED_DAYS} judged ({APPS * JUDGED_DAYS} days), "
        f"{SPIKES} injected spikes 2.5-5x, {OUTLIERS} outliers 4-8x in the baselines; "
        f"new rule {rule}",
        flush=True,
    )
    print(" seed | new: recall  false alarms | current: recall  false alarms")
    totals = [0, 0, 0, 0]
    misses: list[str] = []
    young = [0, 0, 0]
    met = 0
    first_ok = False
    for seed in seeds:
        month = synthetic_month(seed)
        judged = judge_days(month.days.lazy(), rule)
        new = tally(judged, month)
        old = tally(current_rule(month.days.lazy()), month)
        hit = new[0] >= TARGET_RECALL and new[1] <= TARGET_FALSE_ALARMS
        met += hit
        first_ok = first_ok or (seed == seeds[0] and hit)
        totals = [t + n for t, n in zip(totals, (*new, *old), strict=True)]
        misses += [f"seed {seed}: {m}" for m in missed(judged, month)]
        young = [t + n for t, n in zip(young, young_flags(judged, month), strict=True)]
        print(
            f" {seed:>4} | {new[0]:>6} of {SPIKES}  {new[1]:>12} | "
            f"{old[0]:>10} of {SPIKES}  {old[1]:>12}"
        )
    out_of = SPIKES * len(seeds)
    print(
        f"  all | {totals[0]:>6} of {out_of}  {totals[1]:>12} | "
        f"{totals[2]:>10} of {out_of}  {totals[3]:>12}"
    )
    for line in misses:
        print(f"spikes: the new rule missed {line}")
    print(
        f"spikes: target for the new rule on the month of seed {seeds[0]}: recall >= "
        f"{TARGET_RECALL} of {SPIKES}, <= {TARGET_FALSE_ALARMS} false alarms: "
        f"{'met' if first_ok else 'MISSED'}; on {met} of {len(seeds)} seeds in all"
    )
    print(
        f"spikes: before 3 weeks of history (the trailing baseline, no spike injected), the new "
        f"rule flagged {young[1]} of {young[0]} days, {young[2]} of them Saturdays or Sundays"
    )
    first, best, rows = time_judge_days()
    print(
        f"spikes: judge_days on {TIMING_APPS:,} apps x {DAYS} days ({rows:,} rows): "
        f"{first:.2f} s first, {best:.2f} s best of 3 (target <= {TARGET_SECONDS:g} s)"
    )
    return first_ok and best <= TARGET_SECONDS


def run(quick: bool) -> bool:
    """The `python -m bench` hook: the same under `--quick` (it takes seconds)."""
    return report(SEEDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spikes", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args(argv)
    return 0 if report(tuple(args.seeds)) else 1


if __name__ == "__main__":
    sys.exit(main())
