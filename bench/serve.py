"""Reads under load: appbuzz's routes against a minimal ASGI app serving the same bytes.

`python -m bench --only serve`. A SQLite database of 30 nights (written through the pipeline's
own `replace_snapshot`) is served by `appbuzz serve`; `wrk` (Debian's) runs 32 connections for
10 s per route. The same bytes, served by a bare ASGI callable on the same uvicorn through the
same `api.server.run_uvicorn` (same options, same worker count), are the limit Python reaches
here; nginx serving them as files, when installed, is printed for context; the commit before
the cache (`BASELINE`, its own code from `git archive`) is rerun at one worker, as it served.

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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from starlette.types import Receive, Scope, Send

from api.queries import DEFAULT_SELECTION
from api.server import default_workers, listen, run_uvicorn
from bench.services import free_port
from sinks.database import check_database, make_engine, replace_snapshot
from sources.catalogue import SAMPLE_CATALOGUE

NIGHTS = 30
CONNECTIONS = 32
BASELINE = "2d93b9c"  # the last commit before the cache: today's server
REPO = Path(__file__).resolve().parents[1]
TARGETS = {"/apps.json": 0.8, "/apps.csv": 0.8, "/": 0.5, "history": 0.5}
P99_LIMIT = 1.5  # for the two data routes


# -- the database -------------------------------------------------------------------------


def build_database(url: str, nights: int = NIGHTS) -> None:
    """`nights` snapshots of the default selection, each ranked anew from shifted counts."""
    engine = make_engine(url)
    check_database(engine)
    books_music = (
        pl.scan_csv(SAMPLE_CATALOGUE)
        .filter(pl.col("prime_genre").is_in(["Book", "Music"]))
        .select("id", "track_name", "prime_genre", "size_bytes", "price", "rating_count_tot")
    )
    first = date(2026, 10, 1)
    for night in range(nights):
        day = first + timedelta(days=night)
        at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
        run = {
            "run_id": f"bench-{night:04d}", "snapshot_date": day,
            "selection": DEFAULT_SELECTION, "started_at": at, "finished_at": at,
            "status": "completed", "source_path": "sample_catalogue.csv", "strategy": "counts",
        }  # fmt: skip
        rows = (
            books_music.with_columns(
                rating_count_tot=pl.col("rating_count_tot")
                + (pl.col("id").hash(seed=night) % 1000).cast(pl.Int64)
            )
            .sort(["rating_count_tot", "id"], descending=[True, False])
            .head(10)
            .with_columns(
                app_id=pl.col("id"),
                rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32),
                n_citacoes=(pl.col("id").hash(seed=night + 1) % 500).cast(pl.Int64),
                mention_status=pl.lit("ok"),
                x_requests=pl.lit(1, dtype=pl.Int32),
                snapshot_date=pl.lit(day),
                selection=pl.lit(DEFAULT_SELECTION),
                run_id=pl.lit(run["run_id"]),
                loaded_at=pl.lit(at),
            )
            .drop("id")
            .collect()
        )
        replace_snapshot(engine, run, rows.to_dicts())
    engine.dispose()


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
    args = [sys.executable, "-m", "flows.cli", "serve", "--port", str(port),
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


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, seconds: int) -> Load:
    """`wrk -t2 -c32 -d{seconds}s --latency url`, parsed."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(rps, p50, p99, errors)


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
    seconds = 3 if quick else 10
    if shutil.which("wrk") is None:
        print("  wrk is not installed (apt-get install -y wrk): nothing measured")
        return False
    cores = default_workers()
    worker_counts = sorted({1, cores})
    print(f"  wrk -t2 -c{CONNECTIONS} -d{seconds}s --latency; {NIGHTS} nights on SQLite; "
          f"{cores} cores; worker counts {worker_counts}")  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory(prefix="appbuzz-bench-serve-") as tmp:
        work = Path(tmp)
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
                    print(
                        f"  {route}: {answer.status_code} from appbuzz (no such route here), skipped"
                    )
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

        json_rps: dict[int, float] = {}
        for workers in worker_counts:
            print(f"\n  -- {workers} worker{'s' if workers > 1 else ''}")
            minimal: dict[str, Load] = {}
            # both up at once, measured in turn route by route: the machine's other load drifts
            # less between the two figures of a pair than between two blocks of routes
            with (
                minimal_serve(bodies_file, workers, log) as bare,
                appbuzz_serve(url, workers, log) as server,
            ):
                for route in routes:
                    reference = minimal[route] = wrk(f"{bare.base_url}{route}", seconds)
                    load = wrk(f"{server.base_url}{route}", seconds)
                    print(_row("minimal ASGI", route, reference, None))
                    print(_row("appbuzz", route, load, reference))
                    target = TARGETS[_key(route)]
                    met = load.rps >= target * reference.rps and load.errors == 0
                    data_route = route in ("/apps.json", "/apps.csv")
                    if data_route:
                        met = met and load.p99_ms <= P99_LIMIT * reference.p99_ms
                    print(f"  {'':<22} target >= {target}x rps"
                          f"{f', p99 <= {P99_LIMIT}x' if data_route else ''}"
                          f": {'met' if met else 'MISSED'}")  # fmt: skip
                    ok = ok and met
                    if route == "/apps.json":
                        json_rps[workers] = load.rps
            with nginx_serve(files, workers, work) as server:
                if server is None:
                    print("  nginx: not installed, skipped")
                else:
                    for route in routes:
                        name = route.lstrip("/") or "index.html"
                        print(_row("nginx (files)", route,
                                   wrk(f"{server.base_url}/{name}", seconds), minimal[route]))  # fmt: skip
            if workers == 1:
                with baseline_serve(url, work, log) as server:
                    for route in routes:
                        load = wrk(f"{server.base_url}{route}", seconds)
                        print(_row(f"before ({BASELINE})", route, load, minimal[route]))
        if len(json_rps) > 1:
            more = json_rps[cores] > json_rps[1]
            print(f"\n  /apps.json with {cores} workers: {json_rps[cores]:,.0f}/s vs 1 worker "
                  f"{json_rps[1]:,.0f}/s ({json_rps[cores] / json_rps[1]:.2f}x): "
                  f"{'more' if more else 'NOT MORE'}")  # fmt: skip
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
