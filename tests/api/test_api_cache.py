"""Cached reads stay correct: validators, the switch to a new night under load, workers dying.

Everything is real: `appbuzz run` commits nights through the pipeline, `appbuzz serve --workers 2`
answers over HTTP, and a worker is killed with SIGKILL. The freshness bound (a commit is served
within one second) is the cache's contract, so it is asserted; speed is measured in `bench/`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import httpx
from sqlalchemy import create_engine, func, select

from sinks.tables import appbuzz_runs
from tests.support.polling import wait_for
from tests.support.serve import Served, serving

NIGHTS = ("2026-11-01", "2026-11-02", "2026-11-03")
FRESH_WITHIN = 1.0  # seconds from a commit to every process serving it (the bound)


def workers(server: Served) -> list[int]:
    """The worker processes uvicorn's supervisor started (spawned, so `spawn_main`)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children if b"spawn_main" in _cmdline(int(child))]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


@contextmanager
def serving_workers(database_url: str, count: int, log: Path) -> Iterator[Served]:
    """`appbuzz serve --workers N`, once all N workers are up."""
    with serving(database_url, log, "--workers", str(count)) as server:
        wait_for(lambda: len(workers(server)) == count, what=f"{count} workers")
        yield server


def run_night(
    run_cli: Callable[..., CompletedProcess[str]], url: str, night: str, work: Path
) -> list:
    """`appbuzz run` for `night` in `work`; returns the rows of the apps.json file it wrote."""
    done = run_cli("run", "--database-url", url, "--out", night, "--snapshot-date", night)
    assert done.returncode == 0, done.stderr
    return json.loads((work / night / "apps.json").read_text(encoding="utf-8"))


def test_if_none_match_is_304_until_a_new_run_commits(
    database_url: str, run_cli, tmp_path: Path
) -> None:
    first = run_night(run_cli, database_url, NIGHTS[0], tmp_path)
    plain = {"Accept-Encoding": "identity"}  # httpx asks for gzip unless told otherwise
    with (
        serving_workers(database_url, 2, tmp_path / "serve.log") as server,
        httpx.Client(headers=plain) as client,
    ):
        url = f"{server.base_url}/apps.json"
        answer = client.get(url)
        assert answer.status_code == 200 and answer.json() == first
        etag = answer.headers["etag"]
        assert etag.startswith('"') and not etag.startswith('"W/')
        assert answer.headers["cache-control"] == "public, max-age=1"

        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag

        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and zipped.json() == first
        assert zipped.headers["etag"] != etag and "Accept-Encoding" in zipped.headers["vary"]
        both = client.get(url, headers={"If-None-Match": zipped.headers["etag"]})
        assert both.status_code == 304 and both.content == b""

        second = run_night(run_cli, database_url, NIGHTS[1], tmp_path)
        fresh = wait_for(
            lambda: (r := client.get(url, headers={"If-None-Match": etag})).status_code == 200
            and r,
            timeout=10, interval=0.05, what="a 200 after the commit",
        )  # fmt: skip
        assert fresh.json() == second and fresh.headers["etag"] != etag
        assert {row["snapshot_date"] for row in fresh.json()} == {NIGHTS[1]}

        pinned = client.get(url, params={"snapshot_date": NIGHTS[0]})
        assert pinned.json() == first
        assert pinned.headers["cache-control"] == "public, max-age=86400"  # a past night
        csv = client.get(f"{server.base_url}/apps.csv")
        assert client.get(
            f"{server.base_url}/apps.csv", headers={"If-None-Match": csv.headers["etag"]}
        ).status_code == 304  # fmt: skip


@dataclass(frozen=True)
class Read:
    started: float
    status: int
    body: bytes


def test_readers_see_whole_nights_and_the_switch_within_a_second(
    database_url: str, run_cli, tmp_path: Path
) -> None:
    files = {NIGHTS[0]: run_night(run_cli, database_url, NIGHTS[0], tmp_path)}
    runs = create_engine(database_url)
    committed: dict[int, float] = {}  # runs in the table -> when the watcher first saw them
    reads: list[Read] = []
    stop = threading.Event()

    def watch() -> None:
        """When each commit became visible: a reader started a second later must see it."""
        while not stop.is_set():
            with runs.connect() as connection:
                count = connection.execute(select(func.count()).select_from(appbuzz_runs)).scalar()
            committed.setdefault(int(count or 0), time.monotonic())
            time.sleep(0.01)

    def hammer(url: str) -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                started = time.monotonic()
                answer = client.get(url)
                reads.append(Read(started, answer.status_code, answer.content))

    with serving_workers(database_url, 2, tmp_path / "serve.log") as server:
        threads = [threading.Thread(target=watch)] + [
            threading.Thread(target=hammer, args=(f"{server.base_url}/apps.json",))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        try:
            for runs_before, night in enumerate(NIGHTS[1:], start=1):
                files[night] = run_night(run_cli, database_url, night, tmp_path)
                seen = wait_for(lambda n=runs_before + 1: committed.get(n), what="the commit")
                time.sleep(max(0.0, seen + FRESH_WITHIN + 0.5 - time.monotonic()))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    runs.dispose()

    assert reads and all(read.status == 200 for read in reads)
    nights_read = []
    for read in reads:
        rows = json.loads(read.body)
        nights = {row["snapshot_date"] for row in rows}
        assert len(nights) == 1, f"rows of {sorted(nights)} in one answer"
        night = nights.pop()
        assert rows == files[night]  # the night's whole top list, as its run wrote it
        nights_read.append(night)
    for index, night in enumerate(NIGHTS[1:], start=1):
        commit = committed[index + 1]
        late = [
            n for r, n in zip(reads, nights_read, strict=True) if r.started > commit + FRESH_WITHIN
        ]
        assert late and all(n >= night for n in late), f"{night} not served within {FRESH_WITHIN} s"
        old = [r.started for r, n in zip(reads, nights_read, strict=True) if n < night]
        print(f"{night}: last old answer requested {max(old) - commit:+.3f} s from the commit; "
              f"{len(reads)} reads in all")  # fmt: skip
    assert set(nights_read) == set(NIGHTS)  # each night was served while it was the newest


def test_a_killed_worker_is_survived(sqlite_url: str, run_cli, tmp_path: Path) -> None:
    first = run_night(run_cli, sqlite_url, NIGHTS[0], tmp_path)
    with serving_workers(sqlite_url, 2, tmp_path / "serve.log") as server:
        victim, survivor = workers(server)
        os.kill(victim, signal.SIGKILL)
        for _ in range(40):  # new connections each: the kernel hands them to a live worker
            answer = httpx.get(f"{server.base_url}/apps.json", timeout=10)
            assert answer.status_code == 200 and answer.json() == first
        replaced = wait_for(
            lambda: len(w := workers(server)) == 2 and victim not in w and w,
            what="uvicorn to replace the killed worker",
        )
        assert survivor in replaced
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).json()["status"] == "ok"
    assert f"Child process [{victim}] died" in (tmp_path / "serve.log").read_text()
