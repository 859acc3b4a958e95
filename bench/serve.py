"""Reads under load: appbuzz's routes against a minimal ASGI app serving the same bytes.

`python -m bench --only serve`. A SQLite database of 30 nights (written through the pipeline's
own night load, `sinks.database.Database.night`) is served by `appbuzz serve`; `wrk` (Debian's) runs 32 connections for
10 s per server and route. The same bytes, served by a bare ASGI callable on the same uvicorn
through the same `api.server.run_uvicorn` (same options, same worker count), are the limit
Python reaches here; nginx serving them as files, when installed, is printed for context; the
commit before the cache (`BASELINE`, its own code from `git archive`) is rerun as it served.

On a machine shared with other work, two 10 s runs minutes apart differ by more than the
servers do; so the 10 s are five 2 s slices, taken in turn with the servers compared (all are
up at once; an idle one costs nothing), and p50/p99 are over all the slices' requests (wrk's
distribution at every 0.1 %, merged by weight).

Targets, at each worker count: `/apps.json` and `/apps.csv` at least 0.8x the minimal app's
requests/s with a p99 at most 1.5x its p99; `/` and `/apps/{id}/history` at least 0.5x; and
`/apps.json` answering more with one worker per core than with one worker.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from starlette.types import Receive, Scope, Send

from api.queries import DEFAULT_SELECTION
from api.server import default_workers, listen, run_uvicorn
from bench.services import free_port
from sinks.database import Database
from sources.catalogue import SAMPLE_CATALOGUE
from transforms.run_record import RunRecord, RunStatus

NIGHTS = 30
CONNECTIONS = 32
BASELINE = "2d93b9c"  # the last commit before the cache: today's server
REPO = Path(__file__).resolve().parents[1]
TARGETS = {"/apps.json": 0.8, "/apps.csv": 0.8, "/": 0.5, "history": 0.5}
P99_LIMIT = 1.5  # for the two data routes


# -- the database -------------------------------------------------------------------------


def build_database(url: str, nights: int = NIGHTS) -> None:
    """`nights` snapshots of the default selection, each ranked anew from shifted counts."""
    database = Database.open(url)
    database.check()
    books_music = (
        pl.scan_csv(SAMPLE_CATALOGUE)
        .filter(pl.col("prime_genre").is_in(["Book", "Music"]))
        .select("id", "track_name", "prime_genre", "size_bytes", "price", "rating_count_tot")
    )
    first = date(2026, 10, 1)
    for night in range(nights):
        day = first + timedelta(days=night)
        at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
        run = RunRecord(
            run_id=f"bench-{night:04d}", flow_run_id=None, snapshot_date=day,
            selection=DEFAULT_SELECTION, started_at=at, finished_at=at,
            status=RunStatus.COMPLETED, source_path="sample_catalogue.csv", strategy="counts",
        )  # fmt: skip
        rows = (
            books_music.with_columns(
                rating_count_tot=pl.col("rating_count_tot")
                + (pl.col("id").hash(seed=night) % 1000).cast(pl.Int64)
            )
            .sort(["rating_count_tot", "id"], descending=[True, False])
            .head(10)
            .with_columns(
                rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32),
                n_citacoes=(pl.col("id").hash(seed=night + 1) % 500).cast(pl.Int64),
                mention_status=pl.lit("ok"),
                x_requests=pl.lit(1, dtype=pl.Int32),
            )
            .collect()
        )
        with database.night(day, DEFAULT_SELECTION) as load:
            load.replace_snapshot(run, rows)
    database.close()


# -- the servers --------------------------------------------------------------------------


def minimal_app(bodies_file: str) -> Any:
    """A bare ASGI callable answering each path with stored bytes: no framework, no lookup cost
    beyond one dict, the same response headers a client needs (type, length)."""
    stored = json.loads(Path(bodies_file).read_text(encoding="utf-8"))
    answers = {
        path: (
            [(b"content-type", kind.encode()), (b"content-length", str(len(b)).encode())],
            b,
        )
        for path, (kind, text) in stored.items()
        for b in [text.encode()]
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers, body = answers[scope["path"]]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@dataclass(frozen=True)
class Running:
    base_url: str
    process: subprocess.Popen[bytes]


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


@contextlib.contextmanager
def started(args: list[str], probe: str, log: Path, cwd: Path = REPO) -> Iterator[Running]:
    """A server subprocess, stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log.open("ab") as sink:
        process = subprocess.Popen(args, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    try:
        base = probe.split("/", 3)
        _wait_up(probe, process)
        yield Running("/".join(base[:3]), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def appbuzz_serve(url: str, workers: int, log: Path) -> contextlib.AbstractContextManager[Running]:
    port = free_port()
    args = [sys.executable, "-m", "cli", "serve", "--port", str(port),
            "--database-url", url, "--workers", str(workers)]  # fmt: skip
    return started(args, f"http://127.0.0.1:{port}/healthz", log)


def minimal_serve(
    bodies: Path, workers: int, log: Path
) -> contextlib.AbstractContextManager[Running]:
    port = free_port()
    args = [sys.executable, "-m", "bench.serve", "--minimal", str(bodies),
            "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return started(args, f"http://127.0.0.1:{port}/apps.json", log)


def baseline_serve(url: str, work: Path, log: Path) -> contextlib.AbstractContextManager[Running]:
    """The commit before the cache, with its own code (only its packages, from git archive)."""
    tree = work / "baseline"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BASELINE, "api", "flows", "sinks", "sources", "transforms"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    port = free_port()
    # -P: no script folder first; PYTHONPATH puts the baseline's packages before the editable
    # install of this checkout
    args = [sys.executable, "-c",
            f"import sys; sys.path.insert(0, {str(tree)!r}); import flows.cli as c; "
            f"assert c.__file__.startswith({str(tree)!r}), c.__file__; sys.exit(c.main())",
            "serve", "--port", str(port), "--database-url", url]  # fmt: skip
    return started(args, f"http://127.0.0.1:{port}/healthz", log, cwd=tree)


@contextlib.contextmanager
def nginx_serve(files: Path, workers: int, work: Path) -> Iterator[Running | None]:
    """nginx serving the bodies as files, if installed (context only: C, sendfile, no Python)."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        yield None
        return
    port = free_port()
    prefix = work / "nginx"
    prefix.mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"""{user}
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  types {{ application/json json; text/csv csv; text/html html; }}
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {files};
    sendfile on; tcp_nodelay on; keepalive_requests 1000000;
  }}
}}
""",
        encoding="utf-8",
    )
    args = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
    with started(args, f"http://127.0.0.1:{port}/apps.json", prefix / "nginx.log") as running:
        yield running


# -- the load -----------------------------------------------------------------------------

# wrk's summary, with the latency distribution at every 0.1 %, so slices can be merged
_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("TOTAL %d %d %d\\n", summary.requests, summary.duration,
                         e.connect + e.read + e.write + e.status + e.timeout))
  for i = 1, 1000 do io.write(string.format("Q %d\\n", latency:percentile(i / 10.0))) end
end
"""


@dataclass
class Load:
    """Requests and latencies of one URL, over one or more slices of wrk."""

    requests: int = 0
    micros: int = 0  # time measured
    errors: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (latency ms, weight)

    @property
    def rps(self) -> float:
        return self.requests / (self.micros / 1e6) if self.micros else 0.0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        total = sum(weight for _, weight in ordered)
        seen = 0.0
        for latency, weight in ordered:
            seen += weight
            if seen >= q * total:
                return latency
        return ordered[-1][0] if ordered else float("nan")

    @property
    def p50_ms(self) -> float:
        return self.quantile(0.50)

    @property
    def p99_ms(self) -> float:
        return self.quantile(0.99)


def wrk(url: str, seconds: int, script: Path, into: Load) -> None:
    """`wrk -t2 -c32 -d{seconds}s` on `url`, its figures added to `into`."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    requests, micros, errors = map(int, re.search(r"^TOTAL (\d+) (\d+) (\d+)$", out, re.M).groups())  # type: ignore[union-attr]
    into.requests += requests
    into.micros += micros
    into.errors += errors
    into.samples += [(int(q) / 1000, requests / 1000) for q in re.findall(r"^Q (\d+)$", out, re.M)]


def _row(name: str, route: str, load: Load, reference: Load | None) -> str:
    ratio = f"{load.rps / reference.rps:6.2f}x" if reference else "      "
    p99r = f"{load.p99_ms / reference.p99_ms:6.2f}x" if reference else "      "
    errors = f"  errors {load.errors}" if load.errors else ""
    return (
        f"  {name:<22} {route:<24} {load.rps:>9,.0f}/s  p50 {load.p50_ms:7.2f} ms  "
        f"p99 {load.p99_ms:7.2f} ms  {ratio} rps  {p99r} p99{errors}"
    )


def _key(route: str) -> str:
    return "history" if route.endswith("/history") else route


def run(quick: bool) -> bool:
    seconds, slices = (1, 3) if quick else (2, 5)
    if shutil.which("wrk") is None:
        print("  wrk is not installed (apt-get install -y wrk): nothing measured")
        return False
    cores = default_workers()
    counts = sorted({1, cores})
    print(f"  wrk -t2 -c{CONNECTIONS}, {slices * seconds} s per server and route as {slices} "
          f"slices of {seconds} s taken in turn with the servers it is compared with "
          f"(the machine's other load then weighs on all alike); p50/p99 over all the slices' "
          f"requests; {NIGHTS} nights on SQLite; {cores} cores")  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory(prefix="appbuzz-bench-serve-") as tmp:
        work = Path(tmp)
        script = work / "report.lua"
        script.write_text(_REPORT, encoding="utf-8")
        url = f"sqlite:///{work / 'appbuzz.db'}"
        build_database(url)
        log = work / "servers.log"
        with appbuzz_serve(url, 1, log) as server:
            top = httpx.get(f"{server.base_url}/apps.json", timeout=10).json()
            routes = ["/apps.json", "/apps.csv", "/", f"/apps/{top[0]['id']}/history"]
            bodies: dict[str, tuple[str, str]] = {}
            for route in list(routes):
                answer = httpx.get(f"{server.base_url}{route}", timeout=10)
                if answer.status_code != 200:
                    print(f"  {route}: {answer.status_code} from appbuzz (no such route on "
                          "this branch), skipped")  # fmt: skip
                    routes.remove(route)
                    continue
                bodies[route] = (answer.headers["content-type"], answer.text)
        bodies_file = work / "bodies.json"
        bodies_file.write_text(json.dumps(bodies), encoding="utf-8")
        files = work / "files"
        for route, (_, text) in bodies.items():
            target = files / (route.lstrip("/") or "index.html")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

        # every server up at once (an idle one costs nothing), measured slice by slice in turn
        loads: dict[tuple[str, int, str], Load] = {}
        with contextlib.ExitStack() as stack:
            servers: dict[tuple[str, int], Running] = {}
            for workers in counts:
                servers["minimal", workers] = stack.enter_context(
                    minimal_serve(bodies_file, workers, log)
                )
                servers["appbuzz", workers] = stack.enter_context(appbuzz_serve(url, workers, log))
            for route in routes:
                for server in servers.values():  # rendered by every worker before timing:
                    wrk(f"{server.base_url}{route}", 1, script, Load())  # a second, not counted
                for _ in range(slices):
                    for (name, workers), server in servers.items():
                        load = loads.setdefault((name, workers, route), Load())
                        wrk(f"{server.base_url}{route}", seconds, script, load)
        context: dict[tuple[str, str], Load] = {}
        with nginx_serve(files, cores, work) as nginx, baseline_serve(url, work, log) as before:
            if nginx is None:
                print("  nginx: not installed, skipped")
            for route in routes:
                for _ in range(slices):
                    if nginx is not None:
                        name = route.lstrip("/") or "index.html"
                        wrk(f"{nginx.base_url}/{name}", seconds, script,
                            context.setdefault(("nginx", route), Load()))  # fmt: skip
                    wrk(f"{before.base_url}{route}", seconds, script,
                        context.setdefault(("before", route), Load()))  # fmt: skip

        for workers in counts:
            print(f"\n  -- {workers} worker{'s' if workers > 1 else ''}")
            for route in routes:
                reference, load = loads["minimal", workers, route], loads["appbuzz", workers, route]
                print(_row("minimal ASGI", route, reference, None))
                print(_row("appbuzz", route, load, reference))
                share = TARGETS[_key(route)]
                data_route = route in ("/apps.json", "/apps.csv")
                met = load.rps >= share * reference.rps and load.errors == 0
                if data_route:
                    met = met and load.p99_ms <= P99_LIMIT * reference.p99_ms
                print(f"  {'':<22} target >= {share}x rps"
                      f"{f', p99 <= {P99_LIMIT}x' if data_route else ''}: "
                      f"{'met' if met else 'MISSED'}")  # fmt: skip
                ok = ok and met
        print(f"\n  -- context (nginx: {cores} workers; {BASELINE}: the server before the cache, "
              "1 process as it served; ratios against the minimal app at 1 worker)")  # fmt: skip
        for route in routes:
            for name, label in (("nginx", "nginx (files)"), ("before", f"before ({BASELINE})")):
                if (name, route) in context:
                    print(_row(label, route, context[name, route], loads["minimal", 1, route]))
        if len(counts) > 1:
            for route in routes:
                one, many = loads["appbuzz", 1, route].rps, loads["appbuzz", cores, route].rps
                more = many > one
                print(f"  appbuzz {route:<24} {cores} workers {many:>9,.0f}/s vs 1 worker "
                      f"{one:>9,.0f}/s ({many / one:.2f}x){'' if more else ': NOT MORE'}")  # fmt: skip
                if route == "/apps.json":
                    ok = ok and more
        else:
            print("\n  one core only: the worker-count comparison needs two")
    return ok


def _serve_minimal(argv: list[str]) -> None:
    """`python -m bench.serve --minimal BODIES --port P --workers N`: the bare app on uvicorn."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--minimal", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    run_uvicorn(
        functools.partial(minimal_app, args.minimal),
        listen("127.0.0.1", args.port),
        args.workers,
    )


if __name__ == "__main__":
    _serve_minimal(sys.argv[1:])
