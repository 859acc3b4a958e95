"""Benchmark: counting mentions for many apps against a rate-limited X API.

Runs the project's X API client (the same `XApi.count` every mapped flow task calls, one thread
per app as Prefect's thread-pool task runner gives it) against the loopback fake with a fixed
reply latency and a rate-limit window much shorter than the run. The baseline is the floor that
the window and the concurrency allow: an ideal client, simulated with the fake's own rules, that
knows exactly when each window ends and wastes no request. The figure is elapsed / floor.

    python -m bench.x_api [--apps 200] [--latency 0.1] [--limit 25] [--window 5] [--concurrency 5]
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from pydantic import SecretStr

from sources.rate_limit import RateGate
from sources.x_api import RetryPolicy, XApi
from tests.fake_x_api import FakeXApi
from transforms.queries import build_query

TARGET_RATIO = 1.25


def floor_seconds(apps: int, limit: int, window: float, concurrency: int, latency: float) -> float:
    """The shortest possible run: `concurrency` requests in flight, each taking `latency`, and
    `limit` per window, a window starting with its first request (the fake's rule)."""
    free = [0.0] * concurrency  # when each slot can send next
    heapq.heapify(free)
    start: float | None = None
    used = 0
    finish = 0.0
    for _ in range(apps):
        send = heapq.heappop(free)
        if start is None or send >= start + window:
            start, used = send, 0
        elif used >= limit:
            send = start + window
            start, used = send, 0
        used += 1
        finish = max(finish, send + latency)
        heapq.heappush(free, send + latency)
    return finish


def measure(apps: int, latency: float, limit: int, window: float, concurrency: int) -> dict:
    fake = FakeXApi(token="bench-token", latency=latency)
    fake.set_rate_limit(limit, window)
    queries = [build_query(f"Bench App {i} - Music & Radio") for i in range(apps)]
    with fake:
        api = XApi(
            SecretStr(fake.token),
            fake.base_url,
            timeout=10,
            max_concurrency=concurrency,
            retry=RetryPolicy(max_retries=4, base_seconds=0.5),
            gate=RateGate(),  # the defaults a real run uses
        )
        with api, ThreadPoolExecutor(max_workers=apps) as pool:
            started = time.perf_counter()
            results = list(pool.map(api.count, queries))
            elapsed = time.perf_counter() - started
        wrong = [
            q
            for q, r in zip(queries, results, strict=True)
            if r.mention_status != "ok" or r.mentions != fake.total_for(q)
        ]
        statuses = fake.statuses()
    floor = floor_seconds(apps, limit, window, concurrency, latency)
    return {
        "apps": apps,
        "elapsed": elapsed,
        "floor": floor,
        "ratio": elapsed / floor,
        "wrong": len(wrong),
        "requests": len(statuses),
        "refused": statuses.count(429),
        "max_in_flight": fake.max_in_flight,
    }


def report(apps: int, latency: float, limit: int, window: float, concurrency: int) -> bool:
    """Measure once, print the figure, and say whether the target holds."""
    print(
        f"x_api: {apps} apps, {latency * 1000:.0f} ms per reply, "
        f"{limit} requests per {window:g} s window, {concurrency} in flight",
        flush=True,
    )
    r = measure(apps, latency, limit, window, concurrency)
    print(
        f"x_api: {r['elapsed']:.2f} s vs floor {r['floor']:.2f} s: ratio {r['ratio']:.3f}x "
        f"(target <= {TARGET_RATIO}x); {r['requests']} requests, {r['refused']} refused (429), "
        f"max {r['max_in_flight']} in flight, {r['wrong']} wrong counts"
    )
    return r["wrong"] == 0 and r["ratio"] <= TARGET_RATIO


def run(quick: bool) -> bool:
    """The `python -m bench` hook: the full case, or a 50-app one under `--quick`."""
    return report(apps=50 if quick else 200, latency=0.1, limit=25, window=5.0, concurrency=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.x_api", description=__doc__)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per reply")
    parser.add_argument("--limit", type=int, default=25, help="requests per window")
    parser.add_argument("--window", type=float, default=5.0, help="window length, seconds")
    parser.add_argument("--concurrency", type=int, default=5)
    args = parser.parse_args(argv)
    ok = report(args.apps, args.latency, args.limit, args.window, args.concurrency)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
