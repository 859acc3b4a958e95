"""The soak: fourteen nights in a row on the deployed stack, accelerated (`python -m bench --only
soak`; on demand, not in the test suite; about a quarter of an hour).

The stack is the production one, on this machine: a Prefect server (filesystem lease storage,
as the README's), `appbuzz setup` (automations, alerts to a loopback webhook, the `x-api`
limit), the deployment from a clone, one process worker, a PostgreSQL cluster of the soak's
own (never the shared server), the fake X API. A night starts every minute (each its own
snapshot date), one after the other:

- night 5: the worker is killed (SIGKILL, flow run and all) while apps are counted, and a new
  one started: the night is `Crashed` (no heartbeat), restarted, `Completed` on attempt 2;
- night 9: the X account is spent after a few requests: the night loads what it counted and
  fails with its one message, and one alert;
- night 12: PostgreSQL is stopped for 20 s while apps are counted.

Each morning (the night ended): its state and message, apps counted, X requests, alerts, the
database and the files compared (apps.csv holds exactly the stored rows of its night), the
`x-api` limit's taken slots, the worker's and the server's resident memory.

The memory bound (stated before the run): from night 3 (warm) to night 14, the server grows by
at most 25% + 32 MiB and stays under 1.5 GiB; the worker, from its first night after the last
restart to night 14, by at most 25% + 16 MiB, under 512 MiB.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from sqlalchemy import create_engine, select

from bench.services import (
    PostgresCluster,
    ScratchDatabases,
    prefect_server,
    private_postgres,
    tree_rss_bytes,
)

NIGHTS = 14
CADENCE = 60.0  # seconds between the starts of two nights
CRASH_NIGHT, SPENT_NIGHT, DB_NIGHT = 5, 9, 12
AWAY = 20.0
CRASH_AFTER = 60  # the silent-run window (production: 90 s)
FIRST_NIGHT = date(2026, 11, 1)
MIB = 2**20
SERVER_CEILING, WORKER_CEILING = 1536 * MIB, 512 * MIB
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Morning:
    night: int
    snapshot: date
    state: str
    attempts: int
    message: str
    apps: int
    requests: int
    alerts: int
    agree: bool
    slots: int
    worker_rss: int
    server_rss: int
    seconds: float


@dataclass
class Alerts:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    def about(self, text: str) -> list[dict[str, Any]]:
        return [a for a in list(self.received) if text in a.get("subject", "")]


@contextlib.contextmanager
def alert_receiver() -> Any:
    alerts = Alerts()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            alerts.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alerts.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        yield alerts
    finally:
        server.shutdown()
        server.server_close()


class Stack:
    """The deployed stack the nights run on, and the means to break it."""

    def __init__(self, folder: Path, api_url: str, env: dict[str, str], fake: Any) -> None:
        self.folder = folder
        self.api = api_url
        self.env = env
        self.fake = fake
        self.worker: subprocess.Popen[bytes] | None = None
        self.workers = 0

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        for _ in range(30):
            try:
                response = httpx.request(method, f"{self.api}{path}", timeout=30, **kwargs)
            except httpx.HTTPError:
                time.sleep(2)
                continue
            if response.status_code != 503:
                response.raise_for_status()
                return response.json() if response.content else None
            time.sleep(1)
        raise RuntimeError(f"{method} {path}: the server did not answer")

    def start_worker(self) -> None:
        self.workers += 1
        log = (self.folder / f"worker-{self.workers}.log").open("wb")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", "appbuzz-process"],
            cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill_worker(self) -> None:
        """SIGKILL to the worker and everything it started (its machine gone)."""
        assert self.worker is not None
        for pid in [self.worker.pid, *_descendants(self.worker.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.worker.wait(timeout=30)

    def stop_worker(self) -> None:
        if self.worker is None:
            return
        below = _descendants(self.worker.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGTERM)
        try:
            self.worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def worker_rss(self) -> int:
        """The worker process itself (its flow runs are gone by morning)."""
        assert self.worker is not None
        return tree_rss_bytes(self.worker.pid)


def _descendants(pid: int) -> list[int]:
    from tests.support.processes import descendants

    return descendants(pid)


def run(quick: bool = False) -> bool:
    """The fourteen nights; True when every night ended as it should and memory held its bound.
    `quick` is ignored: a soak is its length."""
    from tests.fake_x_api import FakeXApi
    from tests.support.catalogues import write_catalogue

    folder = Path(tempfile.mkdtemp(prefix="appbuzz-soak-"))
    catalogue = write_catalogue(folder / "catalogue.csv")
    settings = {
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": (
            "prefect.server.concurrency.lease_storage.filesystem"
        ),
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    }
    fake = FakeXApi(latency=0.05).start()
    try:
        with (
            alert_receiver() as alerts,
            private_postgres() as cluster,
            prefect_server(**settings) as server,
        ):
            url = ScratchDatabases(cluster.url, prefix="appbuzz_soak").create()
            env = _stack_env(server.env(), url, folder, fake, alerts.url)
            _deploy(folder, env)
            stack = Stack(folder, server.api_url, env, fake)
            stack.start_worker()
            try:
                mornings = _nights(stack, cluster, url, catalogue, alerts, server)
            finally:
                stack.stop_worker()
    finally:
        fake.stop()
    ok = _report(mornings)
    if ok:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"soak: the workers' logs are in {folder}")
    return ok


def _stack_env(
    prefect_env: dict[str, str], url: str, folder: Path, fake: Any, alerts_url: str
) -> dict[str, str]:
    from tests.deploy.production import production_env

    return {
        **production_env(prefect_env),
        "APPBUZZ_DATABASE_URL": url,
        "APPBUZZ_OUT_DIR": str(folder / "out"),
        "APPBUZZ_RESULTS_DIR": str(folder / "results"),
        "X_BEARER_TOKEN": fake.token,
        "X_API_BASE_URL": fake.base_url,
        "APPBUZZ_X_RETRY_BASE_SECONDS": "0.05",
        "APPBUZZ_X_TIMEOUT_SECONDS": "10",
        "APPBUZZ_X_MAX_CONCURRENCY": "2",
        "APPBUZZ_ALERT_WEBHOOK_URL": alerts_url,
        "APPBUZZ_CRASH_AFTER_SECONDS": str(CRASH_AFTER),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }


def _deploy(folder: Path, env: dict[str, str]) -> Path:
    """`appbuzz setup` and `prefect deploy --all` from a clone, as the README says."""
    from tests.deploy.production import clone_repo

    clone = clone_repo(folder / "appbuzz clone")
    for command in ("appbuzz setup", "prefect --no-prompt deploy --all"):
        done = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"`{command}` failed:\n{done.stdout}\n{done.stderr}")
    return clone


def _nights(
    stack: Stack,
    cluster: PostgresCluster,
    url: str,
    catalogue: Path,
    alerts: Alerts,
    server: Any,
) -> list[Morning]:
    deployment = stack.call("GET", "/deployments/name/app-mentions/nightly")["id"]
    mornings: list[Morning] = []
    began = time.monotonic()
    print(f"soak: {NIGHTS} nights, one a minute; work in {stack.folder}", flush=True)
    for night in range(1, NIGHTS + 1):
        due = began + (night - 1) * CADENCE
        time.sleep(max(0.0, due - time.monotonic()))
        snapshot = FIRST_NIGHT + timedelta(days=night - 1)
        requests_before, alerts_before = len(stack.fake.requests), len(alerts.received)
        if night == SPENT_NIGHT:
            stack.fake.cap_after = stack.fake.answered + 4
        slow = night in (CRASH_NIGHT, DB_NIGHT)
        stack.fake.latency = 1.0 if slow else 0.05
        started = time.monotonic()
        run = stack.call(
            "POST", f"/deployments/{deployment}/create_flow_run",
            json={"parameters": {"csv_path": str(catalogue), "snapshot_date": str(snapshot)}},
        )  # fmt: skip
        run_id = run["id"]
        if night == CRASH_NIGHT:
            _answered_since(stack, requests_before, 3)
            stack.kill_worker()
            stack.start_worker()
        if night == DB_NIGHT:
            _answered_since(stack, requests_before, 3)
            cluster.stop("fast")
            time.sleep(AWAY)
            cluster.start()
        ended = _wait_end(stack, run_id, timeout=600)
        stack.fake.latency = 0.05
        if night == SPENT_NIGHT:
            stack.fake.lift_cap()
        time.sleep(5)  # the alert, if any, comes within seconds of the end
        name = ended["name"]
        mornings.append(
            Morning(
                night=night,
                snapshot=snapshot,
                state=ended["state"]["name"],
                attempts=ended["run_count"],
                message=(ended["state"].get("message") or "").splitlines()[0][:90]
                if ended["state"]["type"] != "COMPLETED"
                else "",
                apps=_apps_counted(url, snapshot),
                requests=len(stack.fake.requests) - requests_before,
                alerts=len([a for a in alerts.received[alerts_before:] if name in a["subject"]]),
                agree=_files_agree(url, stack.folder / "out"),
                slots=int(stack.call("GET", "/v2/concurrency_limits/x-api")["active_slots"]),
                worker_rss=stack.worker_rss(),
                server_rss=server.process.rss_bytes(),
                seconds=time.monotonic() - started,
            )
        )
        _print_row(mornings[-1], header=night == 1)
    return mornings


def _answered_since(stack: Stack, before: int, count: int) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        answered = [r for r in stack.fake.requests[before:] if r.status == 200]
        if len(answered) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError("the night asked X nothing within 4 min")


def _wait_end(stack: Stack, run_id: str, timeout: float) -> dict[str, Any]:
    """The run once it is terminal and not `Crashed` (a crash is restarted), or whatever it is
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = stack.call("GET", f"/flow_runs/{run_id}")
        kind = run["state"]["type"]
        if kind in TERMINAL - {"CRASHED"} or time.monotonic() > deadline:
            return run
        time.sleep(2)


def _apps_counted(url: str, snapshot: date) -> int:
    from sinks.tables import app_mentions

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(app_mentions.c.mention_status).where(
                    app_mentions.c.snapshot_date == snapshot
                )
            ).all()
    finally:
        engine.dispose()
    return sum(1 for (status,) in rows if status == "ok")


def _files_agree(url: str, out: Path) -> bool:
    """apps.csv holds exactly the stored rows of the night it names (ids, counts, statuses)."""
    from sinks.tables import app_mentions

    path = out / "apps.csv"
    if not path.exists():
        return False
    files = pl.read_csv(path)
    (day,) = files.get_column("snapshot_date").unique().to_list()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                select(
                    app_mentions.c.app_id, app_mentions.c.n_citacoes, app_mentions.c.mention_status
                ).where(app_mentions.c.snapshot_date == date.fromisoformat(str(day)))
            ).all()
    finally:
        engine.dispose()
    in_files = {
        (r["id"], r["n_citacoes"], r["mention_status"]) for r in files.iter_rows(named=True)
    }
    return in_files == {tuple(r) for r in stored}


_COLUMNS = (
    "night", "snapshot", "state", "attempts", "apps counted", "requests", "alerts",
    "db=files", "slots taken", "worker RSS", "server RSS", "s", "message",
)  # fmt: skip


def _print_row(m: Morning, header: bool) -> None:
    if header:
        print(" | ".join(_COLUMNS), flush=True)
        print(" | ".join("---" for _ in _COLUMNS), flush=True)
    cells = (
        m.night, m.snapshot, m.state, m.attempts, m.apps, m.requests, m.alerts,
        "yes" if m.agree else "NO", m.slots, f"{m.worker_rss / MIB:.0f} MiB",
        f"{m.server_rss / MIB:.0f} MiB", f"{m.seconds:.0f}", m.message,
    )  # fmt: skip
    print(" | ".join(str(c) for c in cells), flush=True)


def _expected(m: Morning) -> bool:
    """Completed with every app, no alert; the spent night failed with its message and one
    alert; the crashed night completed on its second attempt with one alert (the crash)."""
    if m.night == SPENT_NIGHT:
        return m.state == "Failed" and bool(m.message) and m.alerts == 1
    if m.night == CRASH_NIGHT:
        return m.state == "Completed" and m.attempts == 2 and m.apps == 10 and m.alerts == 1
    return m.state == "Completed" and m.apps == 10 and m.alerts == 0


def _report(mornings: list[Morning]) -> bool:
    ok = len(mornings) == NIGHTS
    for m in mornings:
        if not (_expected(m) and m.agree and m.slots == 0):
            print(f"soak: night {m.night} is not as it should be: {m}")
            ok = False
    server = [m.server_rss for m in mornings[2:]]
    restarted = CRASH_NIGHT if len(mornings) > CRASH_NIGHT else 0  # the worker's last start
    worker = [m.worker_rss for m in mornings[restarted:]]
    server_ok = bool(server) and _bounded(server, 32 * MIB, SERVER_CEILING)
    worker_ok = bool(worker) and _bounded(worker, 16 * MIB, WORKER_CEILING)
    if server:
        print(f"soak: server RSS night 3 -> {NIGHTS}: {server[0] / MIB:.0f} -> "
              f"{server[-1] / MIB:.0f} MiB (max {max(server) / MIB:.0f}); bound 25% + 32 MiB, "
              f"under {SERVER_CEILING / MIB:.0f} MiB: {'held' if server_ok else 'BROKEN'}")  # fmt: skip
    if worker:
        print(f"soak: worker RSS night {restarted + 1} -> {NIGHTS}: {worker[0] / MIB:.0f} -> "
              f"{worker[-1] / MIB:.0f} MiB (max {max(worker) / MIB:.0f}); bound 25% + 16 MiB, "
              f"under {WORKER_CEILING / MIB:.0f} MiB: {'held' if worker_ok else 'BROKEN'}")  # fmt: skip
    return ok and server_ok and worker_ok


def _bounded(values: list[int], slack: int, ceiling: int) -> bool:
    return max(values) <= values[0] * 1.25 + slack and max(values) < ceiling
