"""The services may restart: a night on the deployed stack outlives its Prefect server and its
PostgreSQL going away for 20 s, and a night that stops making progress ends by itself.

One Prefect server for the module (with the filesystem lease storage, as in production), killed
and started again on the same port and database; a PostgreSQL cluster of the module's own
(never the shared server), stopped and started again; process workers; the fake X API; a
loopback webhook for the alerts. Each test prints what it measured (MEASURED: ...). A few
minutes for the module: run it alone,

    .venv/bin/python -m pytest -s tests/deploy/test_restarts.py
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bench.services import PostgresCluster, ScratchDatabases, private_postgres, tree_rss_bytes
from sinks.tables import app_mentions, appbuzz_runs, metadata
from tests.deploy.production import (
    DEPLOY,
    SETUP,
    Deployed,
    Shell,
    clone_repo,
    production_env,
    worker_env,
)
from tests.deploy.test_self_healing import (  # noqa: F401  (`hooks`: the webhook fixture)
    TERMINAL,
    Hooks,
    hooks,
    kill_tree,
    new_run,
    settled_counts,
    state_type,
)
from tests.fake_x_api import FakeXApi
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.support.prefect import PrefectApi, PrefectServer
from tests.support.prefect import prefect_server as start_prefect_server
from tests.support.requirements import missing

pytestmark = pytest.mark.postgres

AWAY = 20.0  # seconds each service stays away
STALL_AFTER = 90  # the stalled-night window here (production: 600 s)
LIMIT = "x-api"
SERVER: dict[str, PrefectServer] = {}


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """PostgreSQL of the module's own, to stop and start again."""
    try:
        with private_postgres() as pg:
            yield pg
    except RuntimeError as error:
        missing(str(error))


@pytest.fixture
def night_db(cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database on the private cluster for one night."""
    databases = ScratchDatabases(cluster.url, prefix="appbuzz_restart")
    try:
        yield databases.create()
    finally:
        if not cluster.running():
            cluster.start()
        databases.drop_all()


@pytest.fixture(scope="module")
def deployed(hooks: Hooks, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:  # noqa: F811
    """`appbuzz setup` and the deployment, from a clone, on a server the tests may kill."""
    clone = clone_repo(tmp_path_factory.mktemp("restarts") / "appbuzz clone")
    with start_prefect_server() as server:
        SERVER["server"] = server
        env = {
            **production_env(server.env()),
            "APPBUZZ_ALERT_WEBHOOK_URL": hooks.url,
            "APPBUZZ_STALL_AFTER_SECONDS": str(STALL_AFTER),
            # production's 5 slots; a stalled attempt's slots come back with its process's end
            "APPBUZZ_X_API_LIMIT": "5",
        }
        shell = Shell(clone, env)
        shell.run(SETUP).ok()
        shell.run(DEPLOY, timeout=180).ok()
        try:
            yield Deployed(clone, shell, PrefectApi(server.api_url))
        finally:
            shell.stop_all()


def night_env(fake: FakeXApi, url: str, folder: Path, **more: str) -> dict[str, str]:
    """A worker counting one app at a time, each request 1.5 s (the fake's latency): a night of
    about 15 s of counting, long enough to break something in the middle of it."""
    fake.latency = 1.5
    return {**worker_env(fake, url, folder), "APPBUZZ_X_MAX_CONCURRENCY": "1", **more}


def free_slots_after(deployed: Deployed) -> int:
    """The x-api limit's taken slots, read back once they settle (a lease ends within 60 s)."""
    taken = wait_for(
        lambda: [n for n in [_active(deployed)] if n == 0] or None, timeout=90,
        what="the x-api limit's slots all given back", interval=1,
    )  # fmt: skip
    return taken[0]


def _active(deployed: Deployed) -> int:
    return int(deployed.prefect.call("GET", f"/v2/concurrency_limits/{LIMIT}")["active_slots"])


def completed_at(deployed: Deployed, run_id: str) -> datetime:
    (state,) = [s for s in deployed.prefect.states(run_id) if s["type"] == "COMPLETED"][:1]
    return datetime.fromisoformat(state["timestamp"])


def wait_end(deployed: Deployed, run_id: str, timeout: float) -> dict[str, Any]:
    wait_for(
        lambda: state_type(deployed, run_id) in TERMINAL - {"CRASHED"}, timeout=timeout,
        what="the night to end", interval=1,
    )  # fmt: skip
    return deployed.prefect.flow_run(run_id)


def loaded_whole(url: str, run_id: str) -> None:
    rows = table_rows(url, app_mentions, app_mentions.c.rank)
    assert len(rows) == 10 and all(r["mention_status"] == "ok" for r in rows), rows
    runs = table_rows(url, appbuzz_runs, appbuzz_runs.c.started_at)
    assert [(r["flow_run_id"], r["status"]) for r in runs] == [(run_id, "completed")]


def asked_once(fake: FakeXApi, in_flight: int) -> None:
    """No app asked twice beyond the requests in flight when the fault came."""
    answered = [r.query for r in fake.requests if r.status == 200]
    again = len(answered) - len(set(answered))
    assert again <= in_flight, f"{again} app(s) asked again, {in_flight} in flight"
    assert len(set(answered)) == 10


def crash_alerts(hooks: Hooks) -> list[dict[str, Any]]:  # noqa: F811
    return [h for h in hooks.received if " ended " in h.get("subject", "")]


def worker_serves(deployed: Deployed, since: float) -> None:
    """The pool's worker heartbeats again after the fault (it is still serving the pool)."""

    def fresh() -> bool:
        found = deployed.prefect.call("POST", "/work_pools/appbuzz-process/workers/filter", json={})
        beats = [datetime.fromisoformat(w["last_heartbeat_time"]).timestamp() for w in found]
        return any(b > since for b in beats)

    wait_for(fresh, timeout=120, what="a worker heartbeat after the fault", interval=2)


@pytest.mark.timeout(600)
def test_a_night_outlives_the_prefect_server_killed_and_back_20_s_later(
    deployed: Deployed,
    worker,
    hooks: Hooks,  # noqa: F811
    fake_x_api: FakeXApi,
    night_db: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    hooks.received.clear()
    server = SERVER["server"]
    assert server.process is not None
    worker(**night_env(fake_x_api, night_db, tmp_path))
    run_id = new_run(deployed, catalogue_csv)
    wait_for(lambda: settled_counts(night_db) >= 3, timeout=180, what="three apps counted")
    in_flight = fake_x_api.in_flight
    killed = time.time()
    server.process.kill()
    time.sleep(AWAY)
    server.process.start()
    back = time.time()
    run = wait_end(deployed, run_id, timeout=420)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    took = completed_at(deployed, run_id).timestamp() - killed
    print(f"\nMEASURED: Prefect server SIGKILL, back {back - killed:.1f} s later (same port, "
          f"same database) -> night Completed {took:.1f} s after the kill, attempt "
          f"{run['run_count']}")  # fmt: skip
    loaded_whole(night_db, run_id)
    asked_once(fake_x_api, max(in_flight, 1))
    worker_serves(deployed, back)
    assert free_slots_after(deployed) == 0
    print(f"MEASURED: x-api active_slots after the night: {_active(deployed)}")
    assert len(crash_alerts(hooks)) <= 1, hooks.received


@pytest.mark.timeout(600)
def test_a_night_outlives_postgresql_restarting_while_apps_are_counted(
    deployed: Deployed,
    worker,
    hooks: Hooks,  # noqa: F811
    fake_x_api: FakeXApi,
    cluster: PostgresCluster,
    night_db: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    hooks.received.clear()
    # and a limit left full by a server that forgot its leases: repaired before the first slot
    deployed.prefect.call("PATCH", f"/v2/concurrency_limits/{LIMIT}", json={"active_slots": 5})
    worker(**night_env(fake_x_api, night_db, tmp_path))
    run_id = new_run(deployed, catalogue_csv)
    wait_for(lambda: settled_counts(night_db) >= 3, timeout=180, what="three apps counted")
    stopped = time.time()
    cluster.stop("fast")
    time.sleep(AWAY)
    cluster.start()
    run = wait_end(deployed, run_id, timeout=420)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    took = completed_at(deployed, run_id).timestamp() - stopped
    print(f"\nMEASURED: PostgreSQL away {AWAY:.0f} s while apps were counted -> night "
          f"Completed {took:.1f} s after it stopped, attempt {run['run_count']}")  # fmt: skip
    loaded_whole(night_db, run_id)
    asked_once(fake_x_api, 1)
    logs = deployed.prefect.logs(run_id)
    assert any("slot(s) held by no running night given back" in m for m in logs), logs
    assert free_slots_after(deployed) == 0
    print(f"MEASURED: x-api active_slots after the night: {_active(deployed)}")
    assert crash_alerts(hooks) == [], hooks.received


@pytest.mark.timeout(600)
def test_a_night_outlives_postgresql_restarting_while_it_is_loaded(
    deployed: Deployed,
    worker,
    hooks: Hooks,  # noqa: F811
    fake_x_api: FakeXApi,
    cluster: PostgresCluster,
    night_db: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    """The load is held inside its transaction by a lock this test takes, then PostgreSQL
    stops (the load's connection with it) and comes back 20 s later: the load is retried."""
    hooks.received.clear()
    engine = create_engine(night_db)
    metadata.create_all(engine)
    holder = engine.connect()
    holder.execute(text("LOCK TABLE appbuzz_runs IN ACCESS EXCLUSIVE MODE"))
    try:
        worker(**night_env(fake_x_api, night_db, tmp_path))
        run_id = new_run(deployed, catalogue_csv)
        wait_for(
            lambda: settled_counts(night_db) == 10 and _load_waits(holder), timeout=240,
            what="every app counted and the load waiting inside its transaction", interval=0.5,
        )  # fmt: skip
        stopped = time.time()
        cluster.stop("fast")
    finally:
        with contextlib.suppress(Exception):  # its session ended with the server
            holder.close()
        engine.dispose()
    time.sleep(AWAY)
    cluster.start()
    run = wait_end(deployed, run_id, timeout=420)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    took = completed_at(deployed, run_id).timestamp() - stopped
    print(f"\nMEASURED: PostgreSQL away {AWAY:.0f} s during the load -> night Completed "
          f"{took:.1f} s after it stopped, attempt {run['run_count']}")  # fmt: skip
    loaded_whole(night_db, run_id)
    asked_once(fake_x_api, 0)
    assert free_slots_after(deployed) == 0
    print(f"MEASURED: x-api active_slots after the night: {_active(deployed)}")
    assert crash_alerts(hooks) == [], hooks.received


def _load_waits(holder: Any) -> bool:
    waiting = holder.execute(
        text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND l.locktype = 'relation' AND a.datname = current_database()"
        )
    ).scalar()
    return bool(waiting)


@pytest.mark.timeout(600)
def test_a_night_that_stops_making_progress_is_crashed_alerted_and_completed_again(
    deployed: Deployed,
    worker,
    hooks: Hooks,  # noqa: F811
    fake_x_api: FakeXApi,
    night_db: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    """X stops answering (no timeout would end the wait soon: 600 s), the process heartbeats
    on: no progress for the stall window, the night is Crashed and alerted once; the old
    process ends, the restarted attempt asks only for what the ledger lacks."""
    hooks.received.clear()
    hang = fake_x_api.script("slow", seconds=3600.0, after=3, times=1)
    first = worker(**night_env(fake_x_api, night_db, tmp_path, APPBUZZ_X_TIMEOUT_SECONDS="600"))
    run_id = new_run(deployed, catalogue_csv)
    wait_for(
        lambda: fake_x_api.in_flight >= 1 and settled_counts(night_db) == 3, timeout=180,
        what="three apps counted and the run waiting on X",
    )  # fmt: skip
    hung = time.time()
    flow_pids = _flow_run_pids(first)
    wait_for(lambda: state_type(deployed, run_id) != "RUNNING", timeout=STALL_AFTER + 120,
             what="the stalled night to be marked Crashed", interval=1)  # fmt: skip
    crashed = _first(deployed, run_id, "CRASHED")
    hang.times = 0
    run = wait_end(deployed, run_id, timeout=300)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert run["run_count"] == 2
    done = completed_at(deployed, run_id).timestamp()
    print(f"\nMEASURED: X silent (a request hung): no progress -> Crashed "
          f"{crashed - hung:.1f} s later (window {STALL_AFTER} s), Completed "
          f"{done - hung:.1f} s after the hang, attempt 2")  # fmt: skip
    loaded_whole(night_db, run_id)
    asked_once(fake_x_api, 1)
    assert all(not _alive(pid) for pid in flow_pids), "the given-up attempt still runs"
    alerts = wait_for(lambda: crash_alerts(hooks), timeout=30, what="the crash alert")
    time.sleep(5)
    alerts = crash_alerts(hooks)
    assert len(alerts) == 1 and "no progress for" in alerts[0]["body"], alerts
    assert free_slots_after(deployed) == 0
    print(f"MEASURED: x-api active_slots after the night: {_active(deployed)}")


def _first(deployed: Deployed, run_id: str, kind: str) -> float:
    (when,) = [s["timestamp"] for s in deployed.prefect.states(run_id) if s["type"] == kind][:1]
    return datetime.fromisoformat(when).timestamp()


def _flow_run_pids(worker_process: Any) -> list[int]:
    from tests.support.processes import descendants

    return descendants(worker_process.pid)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_memory_figures_are_readable(deployed: Deployed) -> None:
    """The soak reads the server's memory this way: it must see a running server."""
    server = SERVER["server"]
    assert server.process is not None and server.process.popen is not None
    assert tree_rss_bytes(server.process.popen.pid) > 50 * 2**20
