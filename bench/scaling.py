"""Scaling on paper, measured where it can be: where a night's time goes as the selection grows.

    python -m bench.scaling [--latency-ms 150] [--latency-sigma 0.3] [--seed 1]
                            [--task-ms MS] [--catalogue-seconds S] [--quick]

Prints, per strategy (counts; search with 1 and with 10 pages an app), a table of apps (10, 100,
1,000, 7,197) x workers (1, 2, 4): the X requests, the 429s, the rate windows used, the simulated
X time, the shortest time `transforms/plan.py` allows, the Prefect task overhead, the catalogue
pass and the night; then one row on the legacy Basic plan (5 counts requests / 15 min).

The simulation. One thread, one event loop, simulated time; nothing sleeps. It drives the real
`sources.rate_limit.RateGate` (imported, one per worker: each worker is a process of its own),
whose `clock` is the loop's clock and whose `wait` hook raises `_WouldBlock(seconds)` instead of
waiting. So `gate.acquire` either admits a request (and counts it, as for real) or says how long
it would wait; the gate changes nothing on that path that a blocked thread's look would not
change too (a spent window rolled over, a wait announced to `on_wait`). The loop then parks the
request at its gate until that time, or until a reply reaches the same gate: the real `observe`
wakes the gate's waiters (`notify_all`), and here the loop retries the parked requests right after
calling `observe`. That is a blocked thread's life (wait, wake, look again) without threads, so
the run is deterministic for a seed and takes seconds for hours of X time.

Around the gate, each request goes through what `sources/x_client.py::Traffic.turn` does, in its
order: a place among the worker's `APPBUZZ_X_MAX_CONCURRENCY` requests in flight, then a slot of
the global concurrency limit `x-api` that all workers share, then the gate; both places are held
while the gate makes the request wait, and given back after the reply was `observe`d. A 429 is
sent again (tenacity's RATE_LIMITED verdict: no backoff; a sixth 429 in a row fails the app); a
search app asks its pages one after another. The slot of `x-api` is a perfect semaphore here
(Prefect's costs an API call to take and one to give back, and when full waits the server's
`Retry-After` between tries: not simulated).

The simulated X service holds one fixed window per app token and endpoint, as the loopback fake
(`tests/fake_x_api.py`) does: it opens with the first request that arrives after the previous one
ended, admits `limit` requests in `window_seconds`, refuses the rest with 429, and answers every
request with `x-rate-limit-limit/remaining/reset`, the reset being the window's end rounded down
to the whole second (so a request inside the reset second is refused). A request takes a latency
drawn from a log-normal distribution (median `latency_ms`), arriving at the service half-way.
Every app has all its pages (the worst case, which the spend cap and the plan also assume).

Several workers share one app token, hence one window: the apps are dealt round-robin to the
workers (one flow run each, as a sharded night would be), each worker with its own gate.

The non-X phases come from measurements on this machine (printed with the machine and the date):
- the catalogue pass: `flows.catalogue_tasks.rank_catalogue` on the 7,197-row catalogue
  (`../shared/data/AppleStore.csv` when present, a generated one otherwise), all genres, top N,
  median of 3 after a warm-up (`measure_catalogue_pass`);
- the Prefect overhead per mapped task: a flow mapping N tasks with `ThreadPoolTaskRunner`, in a
  child process on Prefect's temporary server (no `PREFECT_API_URL`), N = 10, 100, 1000, the
  fastest of 3 interleaved runs each, each started once the server has finished recording the
  previous run (some 20 s after 1,000 tasks; a run started sooner was slowed 4x); the slope of
  a least-squares fit of the flow's wall time on N (`measure_task_overhead`), for a no-op task
  and for one persisting its result under a cache key as count-app-mentions does (the latter
  is the one used).
In the night, a worker's apps reach the X client one task overhead apart (the task engine's
throughput), so the overhead overlaps the X waits; the "tasks" column is that overhead alone.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sources.rate_limit import RateGate, WaitNotice
from transforms.cost import Prices, usd
from transforms.errors import RateLimitWaitTooLong
from transforms.plan import LIMITS, WINDOW_SECONDS, Plan, PlannedApp

# The defaults of a run, as flows/settings.py, flows/automations.py and sources/x_api.py have them
# (`main` checks that they still agree; the simulation core imports none of those modules).
ENDPOINTS = {"counts": "/2/tweets/counts/recent", "search": "/2/tweets/search/recent"}
MAX_CONCURRENCY = 5  # APPBUZZ_X_MAX_CONCURRENCY, per worker
SHARED_LIMIT = 5  # the Prefect global concurrency limit `x-api` (APPBUZZ_X_API_LIMIT)
MARGIN = 0.25  # APPBUZZ_X_RATE_LIMIT_MARGIN_SECONDS
MAX_WAIT = 960.0  # APPBUZZ_X_MAX_RATE_WAIT_SECONDS
MAX_REFUSALS = 5  # RetryPolicy.max_refusals: 429s in a row before an app is given up
NIGHT_DEADLINE = 4 * 3600  # APPBUZZ_NIGHT_DEADLINE_SECONDS: the missed-night alert

APPS = (10, 100, 1000, 7197)
WORKERS = (1, 2, 4)
CASES = (("counts", 1), ("search", 1), ("search", 10))
NIGHT = datetime(2026, 12, 3, 3, 0, tzinfo=UTC).timestamp()  # a nightly run's 03:00 UTC
REPO = Path(__file__).resolve().parent.parent
REAL_CSV = REPO.parent / "shared" / "data" / "AppleStore.csv"


class _WouldBlock(Exception):
    """The gate would wait `seconds` before looking again."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _would_block(_condition: object, seconds: float) -> None:
    raise _WouldBlock(seconds)


@dataclass(frozen=True)
class Scenario:
    apps: int
    workers: int = 1
    strategy: str = "counts"
    max_pages: int = 1
    limit: int | None = None  # requests per window; None: the documented one (transforms.plan)
    window_seconds: float = float(WINDOW_SECONDS)
    latency_ms: float = 150.0  # median
    latency_sigma: float = 0.3  # of the log-normal; 0 for a fixed latency
    max_concurrency: int = MAX_CONCURRENCY
    shared_limit: int = SHARED_LIMIT
    margin: float = MARGIN
    max_wait: float = MAX_WAIT
    task_seconds: float = 0.0  # Prefect overhead per app: a worker's apps reach X this far apart
    seed: int = 1

    @property
    def per_window(self) -> int:
        return self.limit if self.limit is not None else LIMITS[self.strategy][0]

    @property
    def pages(self) -> int:
        return 1 if self.strategy == "counts" else self.max_pages

    def plan(self) -> Plan:
        """transforms/plan.py's plan for as many apps, each with a query."""
        apps = tuple(PlannedApp(i + 1, i + 1, f"app {i}", f'"app {i}"') for i in range(self.apps))
        return Plan("simulated", self.strategy, self.pages, apps, Prices(), Decimal(10**9))


@dataclass
class Outcome:
    scenario: Scenario
    requests: int = 0  # sent, the refused ones included
    refused: int = 0  # 429s
    windows: int = 0  # windows the service opened
    seconds: float = 0.0  # from the start to the last reply
    ok: int = 0
    failed: int = 0
    waits: list[WaitNotice] = field(default_factory=list)  # announced by the gates


@dataclass
class _Service:
    """One app token's window on one endpoint, as X enforces it (and tests/fake_x_api.py)."""

    limit: int
    window_seconds: float
    start: float | None = None
    used: int = 0
    windows: int = 0

    def arrive(self, now: float) -> tuple[int, dict[str, str]]:
        if self.start is None or now >= self.start + self.window_seconds:
            self.start, self.used = now, 0
            self.windows += 1
        allowed = self.used < self.limit
        if allowed:
            self.used += 1
        headers = {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(max(0, self.limit - self.used)),
            "x-rate-limit-reset": str(int(self.start + self.window_seconds)),  # rounded down
        }
        return (200 if allowed else 429), headers


@dataclass(eq=False)
class _App:
    worker: _Worker
    rank: int
    pages: int = 0  # answered
    refusals: int = 0  # 429s in a row


@dataclass(eq=False)
class _Request:
    app: _App
    parked: int = 0  # generation: a wake-up timer of an older parking is stale


@dataclass(eq=False)
class _Worker:
    gate: RateGate
    free: int  # places among its requests in flight
    queue: deque[_Request] = field(default_factory=deque)
    parked: dict[_Request, None] = field(default_factory=dict)  # held at the gate, in order


class _Simulation:
    """One scenario on the event loop (see the module's docstring)."""

    def __init__(self, scenario: Scenario, start: float) -> None:
        self.s = scenario
        self.now = start
        self.start = start
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.endpoint = ENDPOINTS[scenario.strategy]
        self.service = _Service(scenario.per_window, scenario.window_seconds)
        self.shared_free = scenario.shared_limit
        self.shared_queue: deque[_Request] = deque()
        self.out = Outcome(scenario)
        self.workers = [
            _Worker(
                RateGate(
                    margin=scenario.margin,
                    max_wait=scenario.max_wait,
                    clock=self.clock,
                    wait=_would_block,
                    on_wait=self.out.waits.append,
                ),
                scenario.max_concurrency,
            )
            for _ in range(scenario.workers)
        ]

    def clock(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        if when <= self.now:  # a wait shorter than the clock's resolution still moves it on
            when = math.nextafter(self.now, math.inf)
        heapq.heappush(self.events, (when, next(self.order), action))

    def run(self) -> Outcome:
        for w, worker in enumerate(self.workers):
            shard = range(w, self.s.apps, self.s.workers)  # ranks dealt round-robin
            for k, rank in enumerate(shard):
                app = _App(worker, rank)
                ready = self.start + (k + 1) * self.s.task_seconds
                turn: Callable[[], None] = partial(self._turn, app)
                heapq.heappush(self.events, (ready, next(self.order), turn))
        budget = 50 * self.s.apps * self.s.pages + 1000
        while self.events:
            budget -= 1
            assert budget > 0, "the simulation does not end"
            self.now, _, action = heapq.heappop(self.events)
            action()
        self.out.windows = self.service.windows
        return self.out

    # -- a request's way: Traffic.turn's local place, the x-api slot, the gate ----------------
    def _turn(self, app: _App) -> None:
        request = _Request(app)
        worker = app.worker
        if worker.free:
            worker.free -= 1
            self._shared(request)
        else:
            worker.queue.append(request)

    def _shared(self, request: _Request) -> None:
        if self.shared_free:
            self.shared_free -= 1
            self._gate(request)
        else:
            self.shared_queue.append(request)

    def _gate(self, request: _Request) -> None:
        worker = request.app.worker
        try:
            worker.gate.acquire(self.endpoint)
        except _WouldBlock as blocked:
            request.parked += 1
            worker.parked[request] = None
            generation = request.parked
            self.at(self.now + blocked.seconds, lambda: self._wake(request, generation))
            return
        except RateLimitWaitTooLong:
            self._release(request)
            self._done(request.app, ok=False)
            return
        self._send(request)

    def _wake(self, request: _Request, generation: int) -> None:
        worker = request.app.worker
        if request.parked == generation and request in worker.parked:
            del worker.parked[request]
            self._gate(request)

    def _notify(self, worker: _Worker) -> None:
        """The gate's `notify_all`: every request parked at it looks again."""
        parked, worker.parked = list(worker.parked), {}
        for request in parked:
            request.parked += 1
            self._gate(request)

    def _send(self, request: _Request) -> None:
        self.out.requests += 1
        latency = self._latency(request.app)
        self.at(self.now + latency / 2, lambda: self._arrive(request, latency / 2))

    def _latency(self, app: _App) -> float:
        """Drawn per app, page and attempt, so that the same request takes as long in every
        scenario of a seed (the X part alone and the night compare like with like)."""
        s = self.s
        key = (s.seed << 48) ^ (app.rank << 16) ^ (app.pages << 4) ^ app.refusals
        return s.latency_ms / 1000 * math.exp(s.latency_sigma * random.Random(key).gauss(0, 1))

    def _arrive(self, request: _Request, rest: float) -> None:
        status, headers = self.service.arrive(self.now)
        self.at(self.now + rest, lambda: self._reply(request, status, headers))

    def _reply(self, request: _Request, status: int, headers: dict[str, str]) -> None:
        app = request.app
        app.worker.gate.observe(self.endpoint, status, headers)
        self._notify(app.worker)
        self._release(request)
        if status == 429:
            self.out.refused += 1
            app.refusals += 1
            if app.refusals > MAX_REFUSALS:
                self._done(app, ok=False)
            else:
                self._turn(app)  # tenacity sends it again at once; the gate holds it
            return
        app.refusals = 0
        app.pages += 1
        if app.pages < self.s.pages:
            self._turn(app)  # the next page, once this one's next_token is known
        else:
            self._done(app, ok=True)

    def _release(self, request: _Request) -> None:
        """Leave `x-api`, then the worker's place (the `with` in Traffic.turn, inside out)."""
        if self.shared_queue:
            self._gate(self.shared_queue.popleft())
        else:
            self.shared_free += 1
        worker = request.app.worker
        if worker.queue:
            self._shared(worker.queue.popleft())
        else:
            worker.free += 1

    def _done(self, app: _App, ok: bool) -> None:
        if ok:
            self.out.ok += 1
        else:
            self.out.failed += 1
        self.out.seconds = self.now - self.start


def simulate(scenario: Scenario, start: float = NIGHT) -> Outcome:
    """Run one scenario from `start` (epoch seconds) until every app is counted or given up."""
    return _Simulation(scenario, start).run()


# -- the measured constants ------------------------------------------------------------------
@dataclass(frozen=True)
class TaskOverhead:
    seconds_per_task: float
    intercept: float  # the fixed part of the fit: one flow run on the temporary server
    points: dict[int, float]  # N -> the flow's wall time (the fastest of the repeats)
    variant: str


def _fit(points: dict[int, float]) -> tuple[float, float]:
    xs, ys = list(points), list(points.values())
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return slope, my - slope * mx


def measure_catalogue_pass(csv: Path, top_ns: Sequence[int], repeats: int = 3) -> dict[int, float]:
    """Seconds of one validate-and-rank pass over `csv`, all genres, for each top N (the median
    of `repeats`, after a warm-up), as a run calls it for a catalogue already loaded: the
    file's sha256 known, the valid rows not kept."""
    import polars as pl

    from flows.catalogue_tasks import rank_catalogue
    from sinks.scratch import Scratch
    from sources.catalogue import CatalogueFile

    catalogue = CatalogueFile.open(csv)
    assert catalogue.sha256  # hashed once, before the timing, as a run's is while it starts
    genres = sorted(
        pl.read_csv(csv, columns=["prime_genre"], infer_schema=False)["prime_genre"].unique()
    )
    times: dict[int, float] = {}
    with Scratch() as scratch:

        def one_pass(top_n: int) -> int:
            ranked = rank_catalogue(catalogue, scratch, genres, top_n, max_reject_share=1.0)
            return ranked.top.height

        one_pass(top_ns[0])  # warm-up
        for top_n in top_ns:
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                height = one_pass(top_n)
                samples.append(time.perf_counter() - started)
            assert 0 < height <= top_n
            times[top_n] = statistics.median(samples)
    return times


def _children_cpu() -> int | None:
    """CPU ticks used so far by this process's children (Linux); None where /proc is not."""
    me, total = str(os.getpid()), 0
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    for pid in entries:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:  # ppid; utime and stime follow as fields 14 and 15
            total += int(fields[11]) + int(fields[12])
    return total


def _quiet_children(timeout: float = 90.0, ticks_per_second: int = 10) -> None:
    """Wait until the children (Prefect's temporary server) use under 10% of a core for a
    second, at most `timeout`; without /proc, a fixed 5 s."""
    deadline = time.monotonic() + timeout
    before = _children_cpu()
    if before is None:
        time.sleep(5)
        return
    while time.monotonic() < deadline:
        time.sleep(1)
        now = _children_cpu() or 0
        if now - before < ticks_per_second:
            return
        before = now


def _mapped_flow_times(
    ns: Sequence[int], repeats: int, results: Path
) -> dict[str, dict[int, float]]:
    """In this process: a flow mapping N tasks, the fastest of `repeats` runs per N and variant
    (the child side of measure_task_overhead)."""
    import uuid

    from prefect import flow, task, unmapped
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.heartbeats import heartbeats_only_with_a_server

    @task(name="noop")
    def noop(i: int, nonce: str) -> int:
        return i

    # like count-app-mentions: a cache key of its own, a result persisted to a folder
    persisted = noop.with_options(
        name="noop-persisted",
        persist_result=True,
        result_storage=results.resolve(),
        cache_key_fn=lambda _context, p: f"scaling-{p['nonce']}-{p['i']}",
    )

    # as app-mentions runs: ThreadPoolTaskRunner, a thread per task (max_workers unbounded)
    runner: Any = ThreadPoolTaskRunner()

    @flow(name="bench-scaling-mapped", task_runner=runner)
    def mapped(n: int, keep: bool) -> int:
        futures = (persisted if keep else noop).map(range(n), unmapped(uuid.uuid4().hex))
        return sum(1 for future in futures if future.result() is not None)

    samples: dict[str, dict[int, list[float]]] = {"no-op": {}, "persisted": {}}
    with heartbeats_only_with_a_server():
        for keep in (False, True):
            mapped(10, keep)  # warm-up
        for _ in range(repeats):  # interleaved, so that a busy spell of the machine hits all
            for n in ns:
                for keep in (False, True):
                    # the server records a run's task runs for seconds after it ended (20 s
                    # after 1,000 tasks here): a run started meanwhile is slowed by it
                    _quiet_children()
                    started = time.perf_counter()
                    assert mapped(n, keep) == n
                    variant = "persisted" if keep else "no-op"
                    samples[variant].setdefault(n, []).append(time.perf_counter() - started)
    return {v: {n: min(times) for n, times in by_n.items()} for v, by_n in samples.items()}


def measure_task_overhead(
    ns: Sequence[int] = (10, 100, 1000), repeats: int = 3
) -> dict[str, TaskOverhead]:
    """Per variant (a no-op task; one whose result is persisted under a cache key, as
    count-app-mentions is), seconds per mapped task: a child process runs the flows on Prefect's
    temporary server (no PREFECT_API_URL, a PREFECT_HOME of its own), so nothing here is left."""
    with tempfile.TemporaryDirectory(prefix="appbuzz-scaling-prefect-") as home:
        env = {
            k: v for k, v in os.environ.items() if k != "PREFECT_API_URL" and k != "PREFECT_PROFILE"
        }
        env |= {
            "PREFECT_HOME": home,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }
        argv = [sys.executable, "-m", "bench.scaling", "--child-tasks", home, str(repeats)]
        done = subprocess.run(
            [*argv, *map(str, ns)], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"measuring the task overhead failed:\n{done.stderr[-3000:]}")
    measured = json.loads(lines[-1])
    overheads = {}
    for variant, raw in measured.items():
        points = {int(n): t for n, t in raw.items()}
        slope, intercept = _fit(points)
        overheads[variant] = TaskOverhead(slope, intercept, points, variant)
    return overheads


# -- the tables ------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass(frozen=True)
class Row:
    x: Outcome  # the X part alone: every app ready at once
    night: Outcome  # the X part with the apps arriving one task overhead apart
    catalogue: float
    task_seconds: float

    @property
    def tasks(self) -> float:
        """One worker's share of the Prefect task overhead, as if nothing overlapped."""
        return math.ceil(self.x.scenario.apps / self.x.scenario.workers) * self.task_seconds

    @property
    def night_seconds(self) -> float:
        return self.catalogue + self.night.seconds


HEADER = (
    "| apps | workers | requests | 429s | windows | X (sim) | plan floor | X - floor "
    "| tasks | catalogue | night | worst cost |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


LEGEND = """
requests: sent to X, 429s included; windows: rate windows X opened; X (sim): first request to
last reply, every app ready at once; plan floor: transforms/plan.py's shortest_seconds; tasks:
one worker's Prefect overhead (its apps x the measured ms per task), as if nothing overlapped;
catalogue: the measured pass; night: catalogue + the X part with each worker's apps reaching X
one task overhead apart (flow-run start, database load and files not included); * beyond the
4 h missed-night alert (APPBUZZ_NIGHT_DEADLINE_SECONDS). Times: s, m:ss or h:mm:ss."""


def row_line(row: Row) -> str:
    s = row.x.scenario
    plan = s.plan()
    floor = plan.shortest_seconds(s.per_window)
    failed = f" ({row.x.failed} failed)" if row.x.failed or row.night.failed else ""
    return (
        f"| {s.apps:,} | {s.workers} | {row.x.requests:,}{failed} | {row.x.refused} "
        f"| {row.x.windows} | {duration(row.x.seconds)} | {duration(floor)} "
        f"| {row.x.seconds - floor:+.1f} s | {duration(row.tasks)} | {duration(row.catalogue)} "
        f"| {duration(row.night_seconds)}{' *' * (row.night_seconds > NIGHT_DEADLINE)} "
        f"| {usd(plan.worst_cost)} |"
    )


def build_row(base: Scenario, catalogue: float, task_seconds: float) -> Row:
    x = simulate(base, NIGHT + catalogue)
    night = simulate(replace(base, task_seconds=task_seconds), NIGHT + catalogue)
    return Row(x, night, catalogue, task_seconds)


def tables(
    catalogue: dict[int, float],
    task_seconds: float,
    latency_ms: float,
    latency_sigma: float,
    seed: int,
) -> tuple[list[str], list[Row]]:
    lines: list[str] = []
    rows: list[Row] = []
    common = {"latency_ms": latency_ms, "latency_sigma": latency_sigma, "seed": seed}
    for strategy, pages in CASES:
        limit = LIMITS[strategy][0]
        what = "counts" if strategy == "counts" else f"search, {pages} page{'s' * (pages > 1)}"
        lines += ["", f"### {what} ({limit} requests / 15 min per app token)", "", HEADER]
        for apps in APPS:
            for workers in WORKERS:
                base = Scenario(apps, workers, strategy, pages, **common)  # type: ignore[arg-type]
                row = build_row(base, catalogue[apps], task_seconds)
                rows.append(row)
                lines.append(row_line(row))
    basic = Scenario(10, 1, "counts", 1, limit=LIMITS["counts"][1], **common)  # type: ignore[arg-type]
    row = build_row(basic, catalogue[10], task_seconds)
    rows.append(row)
    lines += ["", "### legacy Basic plan: counts, 5 requests / 15 min", "", HEADER, row_line(row)]
    return lines, rows


def check_defaults() -> list[str]:
    """Where the constants above no longer agree with the code they copy (empty: all agree)."""
    from flows.automations import OpsSettings
    from flows.settings import Settings
    from sources.x_api import ENDPOINTS as REAL_ENDPOINTS
    from sources.x_api import RetryPolicy

    fields = Settings.model_fields
    pairs = {
        "endpoints": (ENDPOINTS, REAL_ENDPOINTS),
        "x_max_concurrency": (MAX_CONCURRENCY, fields["x_max_concurrency"].default),
        "x_rate_limit_margin_seconds": (MARGIN, fields["x_rate_limit_margin_seconds"].default),
        "x_max_rate_wait_seconds": (MAX_WAIT, fields["x_max_rate_wait_seconds"].default),
        "x_api_limit": (SHARED_LIMIT, OpsSettings.model_fields["x_api_limit"].default),
        "night_deadline_seconds": (
            NIGHT_DEADLINE,
            OpsSettings.model_fields["night_deadline_seconds"].default,
        ),
        "max_refusals": (MAX_REFUSALS, RetryPolicy().max_refusals),
    }
    return [
        f"{name}: {ours!r} here, {theirs!r} in the code"
        for name, (ours, theirs) in pairs.items()
        if ours != theirs
    ]


def machine() -> str:
    import platform

    import polars
    import prefect

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores (nproc), {platform.machine()}, Python {platform.python_version()}, "
        f"Polars {polars.__version__}, Prefect {prefect.__version__}"
    )


def report(args: argparse.Namespace) -> bool:
    """Measure (unless given), simulate, print; True when the simulation's invariants hold."""
    drift = check_defaults()
    for line in drift:
        print(f"scaling: WARNING, a default moved: {line}")
    today = datetime.now(UTC)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"scaling: {today:%Y-%m-%d %H:%M} UTC on {machine()}; load {load}", flush=True)
    if args.catalogue_seconds is None:
        csv = REAL_CSV if REAL_CSV.exists() else _generated_catalogue()
        started = time.perf_counter()
        catalogue = measure_catalogue_pass(csv, APPS, repeats=1 if args.quick else 3)
        print(
            f"scaling: measured the catalogue pass (rank_catalogue, {csv.name}, all genres) in "
            f"{time.perf_counter() - started:.0f} s: "
            + ", ".join(f"top {n:,}: {t * 1000:.0f} ms" for n, t in catalogue.items()),
            flush=True,
        )
    else:
        catalogue = dict.fromkeys(APPS, args.catalogue_seconds)
        print(f"scaling: catalogue pass GIVEN (not measured): {args.catalogue_seconds} s")
    if args.task_ms is None:
        started = time.perf_counter()
        overheads = measure_task_overhead(repeats=1 if args.quick else 3)
        for o in overheads.values():
            points = ", ".join(f"N={n}: {t:.2f} s" for n, t in o.points.items())
            print(
                f"scaling: measured the Prefect mapped-task overhead ({o.variant}): "
                f"{o.seconds_per_task * 1000:.2f} ms per task, {o.intercept:+.2f} s per flow "
                f"({points})"
            )
        print(f"scaling: (measuring took {time.perf_counter() - started:.0f} s)")
        task_seconds = overheads["persisted"].seconds_per_task
    else:
        task_seconds = args.task_ms / 1000
        print(f"scaling: task overhead GIVEN (not measured): {args.task_ms} ms per task")
    print(
        f"scaling: X latency median {args.latency_ms:g} ms (log-normal sigma "
        f"{args.latency_sigma:g}), seed {args.seed}; {MAX_CONCURRENCY} in flight per worker, "
        f"x-api limit {SHARED_LIMIT} for all workers; margin {MARGIN} s; tasks at "
        f"{task_seconds * 1000:.2f} ms each",
        flush=True,
    )
    started = time.perf_counter()
    lines, rows = tables(catalogue, task_seconds, args.latency_ms, args.latency_sigma, args.seed)
    print("\n".join(lines))
    print(LEGEND)
    print(f"\nscaling: {len(rows) * 2} simulations in {time.perf_counter() - started:.1f} s")
    return _invariants(rows)


def _invariants(rows: list[Row]) -> bool:
    """The gate never beats the window, loses no app, and one worker is never refused."""
    ok = True
    for row in rows:
        s = row.x.scenario
        floor = s.plan().shortest_seconds(s.per_window)
        problems = []
        if row.x.seconds < floor or row.night.seconds < floor:
            problems.append("faster than the window allows")
        if row.x.failed or row.night.failed:
            problems.append(f"{row.x.failed + row.night.failed} apps failed")
        if s.workers == 1 and (row.x.refused or row.night.refused):
            problems.append("one worker was refused")
        if problems:
            ok = False
            print(f"scaling: FAIL {s.strategy} {s.apps} apps x {s.workers}: {'; '.join(problems)}")
    print(f"scaling: invariants {'hold' if ok else 'BROKEN'}")
    return ok


def _generated_catalogue() -> Path:
    from tests.support.catalogues import write_catalogue

    folder = Path(tempfile.mkdtemp(prefix="appbuzz-scaling-"))
    return write_catalogue(folder / "catalogue.csv")


def run(quick: bool) -> bool:
    """The `python -m bench` hook."""
    return report(_parser().parse_args(["--quick"] if quick else []))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaling", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--latency-ms", type=float, default=150.0, help="median per request")
    parser.add_argument("--latency-sigma", type=float, default=0.3, help="of the log-normal")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--task-ms", type=float, help="Prefect overhead per task (skip measuring)")
    parser.add_argument("--catalogue-seconds", type=float, help="the pass (skip measuring)")
    parser.add_argument("--quick", action="store_true", help="measure once instead of 3 times")
    parser.add_argument("--child-tasks", nargs="+", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child_tasks:  # the child of measure_task_overhead: home, repeats, N...
        home, repeats, *ns = args.child_tasks
        times = _mapped_flow_times([int(n) for n in ns], int(repeats), Path(home) / "results")
        print(json.dumps(times), flush=True)
        return 0
    return 0 if report(args) else 1


if __name__ == "__main__":
    sys.exit(main())
