"""Nights that heal themselves: `appbuzz setup`'s automations on a real server and process workers.

One Prefect server (with its UI) for the module, set up with `appbuzz setup` and deployed from a
clone; a loopback webhook receives the alerts. The crash window is 60 s here (production: 90 s;
heartbeats every 30 s in both, Prefect's minimum). Several minutes for the module: run it alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import ProgrammingError

from flows.automations import (
    CRASH_SILENT,
    CRASH_STALLED,
    NOTIFY_FAILED,
    NOTIFY_MISSED,
    NOTIFY_SPIKE,
    RESTART_CRASHED,
)
from sinks.tables import app_mentions, appbuzz_runs, mention_ledger
from tests.deploy.production import (
    DEPLOY,
    ROOT,
    RUN_NOW,
    SETUP,
    Deployed,
    Shell,
    clone_repo,
    flow_run_id,
    production_env,
    worker_env,
)
from tests.fake_x_api import FakeXApi
from tests.support.browser import chromium
from tests.support.catalogues import top_apps
from tests.support.cli import Cli, Job
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.support.prefect import PrefectApi
from tests.support.prefect import prefect_server as start_prefect_server
from tests.support.processes import descendants
from transforms.queries import build_query

pytestmark = pytest.mark.postgres

CRASH_AFTER = 60
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
ARTIFACTS = ROOT / "test-artifacts" / "self-healing"
# what a run waits on when the X API hangs: longer than any test
HANG = 3600.0


@dataclass
class Hooks:
    """A loopback webhook: every POST's JSON body, in arrival order."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    def about(self, text: str) -> list[dict[str, Any]]:
        return [h for h in list(self.received) if text in h.get("subject", "")]


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    found = Hooks()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            found.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def deployed(hooks: Hooks, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The README's production steps with `appbuzz setup`, from a clone, on a server with a UI
    (the suite's `worker` fixture starts workers for it)."""
    clone = clone_repo(tmp_path_factory.mktemp("healing") / "appbuzz clone")
    # a server of its own: it needs its UI, and its automations must not reach other tests' runs
    with start_prefect_server(ui=True) as server:
        env = {
            **production_env(server.env()),
            "APPBUZZ_ALERT_WEBHOOK_URL": hooks.url,
            "APPBUZZ_CRASH_AFTER_SECONDS": str(CRASH_AFTER),
            # a killed run keeps its X API slots until their lease ends (60 s): room meanwhile
            "APPBUZZ_X_API_LIMIT": "50",
        }
        shell = Shell(clone, env)
        shell.run(SETUP).ok()
        shell.run(DEPLOY, timeout=180).ok()
        try:
            yield Deployed(clone, shell, PrefectApi(server.api_url))
        finally:
            shell.stop_all()


def kill_tree(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """What a machine or container going away does: the worker and everything it started."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    process.wait(timeout=30)


def host_env(fake: FakeXApi, postgres_url: str, machine: Path) -> dict[str, str]:
    """A worker's environment on a machine of its own: its Prefect home, its results folder."""
    return {
        **worker_env(fake, postgres_url, machine),
        "PREFECT_HOME": str(machine / "prefect-home"),
        "APPBUZZ_RESULTS_DIR": str(machine / "results"),
    }


def settled_counts(postgres_url: str) -> int:
    """How many counts the ledger holds (0 before the first run made its tables)."""
    try:
        return sum(r["settled"] for r in table_rows(postgres_url, mention_ledger))
    except ProgrammingError:
        return 0


def held_lines(deployed: Deployed, run_id: str) -> list[str]:
    return [m for m in deployed.prefect.logs(run_id) if "held in the ledger" in m]


def new_run(deployed: Deployed, catalogue: Path, *params: str) -> str:
    command = RUN_NOW.replace("--watch", " ".join(params))
    done = deployed.shell.with_env(CATALOGUE=str(catalogue)).run(command).ok()
    return flow_run_id(done.output)


def state_type(deployed: Deployed, run_id: str) -> str:
    return deployed.prefect.flow_run(run_id)["state"]["type"]


def first_state(deployed: Deployed, run_id: str, kind: str) -> datetime:
    (when,) = [s["timestamp"] for s in deployed.prefect.states(run_id) if s["type"] == kind][:1]
    return datetime.fromisoformat(when)


def first_end(deployed: Deployed, run_id: str) -> dict[str, Any] | None:
    ends = [s for s in deployed.prefect.states(run_id) if s["type"] in TERMINAL]
    return min(ends, key=lambda s: s["timestamp"]) if ends else None


# what the crash test leaves for the browser test
NIGHTS: dict[str, str] = {}


def test_setup_twice_leaves_one_of_each(deployed: Deployed) -> None:
    before = sorted(
        (a["name"], a["id"]) for a in deployed.prefect.call("POST", "/automations/filter", json={})
    )
    deployed.shell.run(SETUP).ok()
    after = sorted(
        (a["name"], a["id"]) for a in deployed.prefect.call("POST", "/automations/filter", json={})
    )
    names = [name for name, _ in after]
    assert names == sorted(
        [CRASH_SILENT, CRASH_STALLED, NOTIFY_FAILED, NOTIFY_MISSED, NOTIFY_SPIKE, RESTART_CRASHED]
    )
    assert after == before, "updated in place, not created again"
    assert (
        deployed.prefect.call("POST", "/work_pools/filter", json={})[0]["name"] == "appbuzz-process"
    )
    assert deployed.prefect.call("GET", "/v2/concurrency_limits/x-api")["limit"] == 50
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert f"`{name}`" in readme, f"the README does not list {name!r}"


@pytest.mark.timeout(600)
def test_a_killed_worker_s_night_crashes_restarts_and_resumes(
    deployed: Deployed,
    worker,
    hooks: Hooks,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv,
    tmp_path,
) -> None:
    hooks.received.clear()
    # two machines that share the database and nothing else: each worker its own Prefect home
    # and results folder, so the night can only resume from the ledger of counts
    machine_a, machine_b = (host_env(fake_x_api, postgres_url, tmp_path / n) for n in "ab")
    # three apps are counted, then the X API stops answering: the run waits on it
    hang = fake_x_api.script("slow", seconds=HANG, after=3, times=5)
    first = worker(**machine_a)
    run_id = new_run(deployed, catalogue_csv)
    wait_for(
        lambda: fake_x_api.in_flight >= 1 and settled_counts(postgres_url) == 3,
        timeout=180,
        what="three apps counted (in the ledger) and the run waiting on the X API",
    )
    before = deployed.prefect.flow_run(run_id)
    assert before["state"]["type"] == "RUNNING"
    counted = {r.query for r in fake_x_api.requests if r.status == 200}
    assert len(counted) == 3

    killed = time.time()
    kill_tree(first)  # the worker's machine is gone, flow-run process and all
    hang.times = 0  # the X API answers again when the night comes back
    worker(**machine_b)  # a second machine's worker is up

    wait_for(lambda: state_type(deployed, run_id) != "RUNNING", timeout=CRASH_AFTER + 120,
             what="the silent run to be marked Crashed", interval=1)  # fmt: skip
    crashed = first_state(deployed, run_id, "CRASHED")
    print(f"\nMEASURED: SIGKILL -> Crashed in {crashed.timestamp() - killed:.1f} s "
          f"(heartbeat 30 s, window {CRASH_AFTER} s)")  # fmt: skip
    wait_for(lambda: state_type(deployed, run_id) in TERMINAL - {"CRASHED"}, timeout=240,
             what="the restarted run to end", interval=1)  # fmt: skip
    after = deployed.prefect.flow_run(run_id)
    assert after["state"]["type"] == "COMPLETED", after["state"]
    assert after["run_count"] == 2
    # the same night: same parameters, same scheduled date, same name
    assert after["parameters"] == before["parameters"]
    assert after["expected_start_time"] == before["expected_start_time"]
    assert after["name"] == before["name"]
    types = [
        s["type"] for s in sorted(deployed.prefect.states(run_id), key=lambda s: s["timestamp"])
    ]
    start = types.index("RUNNING")
    assert types[start : start + 3] == ["RUNNING", "CRASHED", "SCHEDULED"], types
    assert types[start + 3 :].count("RUNNING") == 1 and types[-1] == "COMPLETED", types

    # resumed from the ledger (machine B never saw machine A's results): the counted apps were
    # not asked again; the others (the hung requests among them) once more, each answered once
    answered = [r.query for r in fake_x_api.requests if r.status == 200]
    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    assert len(rows) == 10 and all(r["mention_status"] == "ok" for r in rows)
    assert sorted(answered) == sorted(r["mention_query"] for r in rows)
    asked_after = [r.query for r in fake_x_api.requests if r.started > killed]
    assert not counted & set(asked_after)
    assert len(asked_after) == 10 - len(counted)
    runs = table_rows(postgres_url, appbuzz_runs, appbuzz_runs.c.started_at)
    assert [(r["flow_run_id"], r["status"]) for r in runs] == [(run_id, "completed")]
    assert runs[0]["x_requests"] == len(asked_after)
    held = wait_for(lambda: held_lines(deployed, run_id) or None, timeout=60,
                    what="the resumed attempt's lines for the apps the ledger held")  # fmt: skip
    assert len(held) == len(counted), held

    # exactly one alert, for the crash, naming the run and linking to it
    link = f"{deployed.prefect.ui}/runs/flow-run/{run_id}"
    alerts = wait_for(lambda: hooks.about("ended Crashed"), timeout=30, what="the crash alert")
    assert len(alerts) == 1, alerts
    (alert,) = alerts
    assert after["name"] in alert["subject"] and "app-mentions/nightly" in alert["subject"]
    assert link in alert["body"] and "no heartbeat for 60 s" in alert["body"], alert
    assert f"Night: {after['expected_start_time'][:10]}" in alert["body"]
    # the resumed attempt's per-app lines reach the server (its process sends its last batch
    # after the final state) while its worker still runs: this test's end stops the workers
    wait_for(lambda: len(per_app_lines(deployed, run_id)) >= len(asked_after), timeout=60,
             what="the resumed attempt's per-app log lines on the server")  # fmt: skip
    NIGHTS["resumed"] = run_id


def test_a_failed_run_notifies_once_and_is_not_restarted(
    deployed: Deployed,
    worker,
    hooks: Hooks,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv,
    tmp_path,
) -> None:
    hooks.received.clear()
    worker(**{**worker_env(fake_x_api, postgres_url, tmp_path), "X_BEARER_TOKEN": "revoked"})
    run_id = new_run(deployed, catalogue_csv)
    wait_for(lambda: state_type(deployed, run_id) in TERMINAL, timeout=180, what="the run to end")
    run = deployed.prefect.flow_run(run_id)
    assert run["state"]["type"] == "FAILED"
    alerts = wait_for(lambda: hooks.about(f"{run['name']} ended Failed"), timeout=30,
                      what="the failure alert")  # fmt: skip
    assert f"{deployed.prefect.ui}/runs/flow-run/{run_id}" in alerts[0]["body"]
    assert "the X API refused X_BEARER_TOKEN" in alerts[0]["body"]
    # alerts and restarts come from the same event: a restart would be there by now
    time.sleep(5)
    assert len(hooks.about(f"{run['name']} ended")) == 1
    run = deployed.prefect.flow_run(run_id)
    assert (run["state"]["type"], run["run_count"]) == ("FAILED", 1)


@pytest.mark.timeout(600)
def test_sigterm_to_a_worker_mid_run_ends_the_run(
    deployed: Deployed, worker, fake_x_api: FakeXApi, postgres_url: str, catalogue_csv, tmp_path
) -> None:
    """`docker compose stop`: SIGTERM to the worker, 10 s of grace, then SIGKILL to what is left."""
    fake_x_api.script("slow", seconds=HANG, after=3, times=5)
    first = worker(**worker_env(fake_x_api, postgres_url, tmp_path))
    run_id = new_run(deployed, catalogue_csv)
    wait_for(lambda: fake_x_api.in_flight >= 1 and state_type(deployed, run_id) == "RUNNING",
             timeout=180, what="the run waiting on the X API")  # fmt: skip
    stopped = time.time()
    first.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        first.wait(timeout=10)
    kill_tree(first)
    # the first end it reached (the restart automation may have scheduled it again since)
    ended = wait_for(lambda: first_end(deployed, run_id), timeout=CRASH_AFTER + 120,
                     what="the run to reach a terminal state", interval=1)  # fmt: skip
    deployed.prefect.call(
        "DELETE", f"/flow_runs/{run_id}"
    )  # no later test's worker takes it up again
    took = datetime.fromisoformat(ended["timestamp"]).timestamp() - stopped
    print(f"\nMEASURED: SIGTERM -> {ended['name']} in {took:.1f} s ({ended['message']})")
    assert ended["type"] in {"CRASHED", "CANCELLED"}


@pytest.mark.timeout(600)
def test_a_missed_night_is_alerted_and_a_completed_one_is_not(
    deployed: Deployed,
    worker,
    hooks: Hooks,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv,
    tmp_path,
) -> None:
    deadline = 120  # production: 4 h; here longer than a loaded machine takes to start a run
    deployed.shell.with_env(APPBUZZ_NIGHT_DEADLINE_SECONDS=str(deadline)).run(SETUP).ok()
    try:
        # no worker: nobody takes the night's run, it goes Late and nothing Completes
        hooks.received.clear()
        missed = new_run(deployed, catalogue_csv)
        alerts = wait_for(lambda: hooks.about("missed night"), timeout=deadline + 120,
                          what="the missed-night alert", interval=1)  # fmt: skip
        deployed.prefect.call("DELETE", f"/flow_runs/{missed}")
        assert len(alerts) == 1, alerts
        assert f"{deployed.prefect.ui}/runs/flow-run/{missed}" in alerts[0]["body"]
        assert "app-mentions/nightly" in alerts[0]["subject"]

        # a night that completes before its deadline: no alert once the deadline has passed
        hooks.received.clear()
        worker(**worker_env(fake_x_api, postgres_url, tmp_path))
        done = new_run(deployed, catalogue_csv)
        wait_for(lambda: state_type(deployed, done) in TERMINAL, timeout=180, what="the run to end")
        assert state_type(deployed, done) == "COMPLETED"
        pending = first_state(deployed, done, "PENDING").timestamp()
        wait_for(lambda: time.time() > pending + deadline + 20, timeout=deadline + 60,
                 what="the deadline (and an evaluation) to pass", interval=1)  # fmt: skip
        assert hooks.about("missed night") == []
    finally:
        deployed.shell.run(SETUP).ok()  # the module's deadline again


PER_APP = re.compile(r"^app (\d+): \d+ mentions \(ok\) in \d+ request")


def per_app_lines(deployed: Deployed, run_id: str) -> list[str]:
    """The ids of the apps whose "app N: ... mentions (ok)" line the server holds for the run."""
    return [
        m.group(1) for message in deployed.prefect.logs(run_id) if (m := PER_APP.match(message))
    ]


def test_the_ui_shows_the_schedule_a_run_and_a_resumed_night(deployed: Deployed) -> None:
    """The README's UI section in headless Chromium, on the crash test's night (completed on its
    second attempt); screenshots in test-artifacts/self-healing/."""
    from playwright.sync_api import expect

    run_id = NIGHTS.get("resumed")
    if run_id is None:
        pytest.fail("needs the night of the crash test: run the whole module")
    nightly = {"deployments": {"name": {"any_": ["nightly"]}}}
    (deployment,) = deployed.prefect.call("POST", "/deployments/filter", json=nightly)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)  # a loaded machine renders slowly
        try:
            # the deployment and its schedule
            page.goto(f"{deployed.prefect.ui}/deployments/deployment/{deployment['id']}")
            expect(page.get_by_text("At 03:00 AM every day")).to_be_visible()
            expect(
                page.get_by_text(deployed.prefect.flow_run(run_id)["name"]).first
            ).to_be_visible()  # its runs
            page.screenshot(path=ARTIFACTS / "1-deployment-schedule.png", full_page=True)

            # the night: completed, restarted by the automation, both attempts in its logs
            page.goto(f"{deployed.prefect.ui}/runs/flow-run/{run_id}")
            expect(page.get_by_text("appbuzz: restart a crashed night")).to_be_visible()
            expect(page.get_by_text("Completed").first).to_be_visible()
            starts = page.get_by_text(re.compile(r"^Beginning flow run '"))
            expect(starts).to_have_count(2)

            # each app's line, as the server stored it: the second attempt's 7 at least; of the
            # first attempt's 3, those its killed process had sent before the kill. Logs arrive
            # in batches, some after the page was drawn: wait until they stop, then draw again.
            def settled() -> list[list[str]]:
                first = per_app_lines(deployed, run_id)
                time.sleep(2)
                again = per_app_lines(deployed, run_id)
                return [again] if len(again) >= 7 and again == first else []

            try:
                stored = wait_for(
                    settled,
                    timeout=60,
                    what="the resumed attempt's per-app log lines on the server",
                )[0]
            except BaseException:
                held = deployed.prefect.logs(run_id)
                print(f"\nthe server holds {len(held)} log lines for the run:", *held, sep="\n")
                raise
            assert len(stored) == len(set(stored)) <= 10, stored  # never an app twice
            page.reload()
            expect(page.get_by_text("Completed").first).to_be_visible()
            per_app = page.get_by_text(PER_APP)
            expect(per_app.first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "2-resumed-night.png")
            # the UI draws only the log rows near the view: read them as the page scrolls down
            shown: set[str] = set()
            for _ in range(6):
                shown |= {m.group(1) for t in per_app.all_inner_texts() if (m := PER_APP.match(t))}
                per_app.last.scroll_into_view_if_needed()
                page.mouse.wheel(0, 600)
                page.wait_for_timeout(500)
            page.screenshot(path=ARTIFACTS / "3-resumed-night-logs.png")
            # at least the resumed attempt's 7, and only lines the server holds
            assert len(shown) >= 7 and shown <= set(stored), (shown, stored)

            # one task run per app and attempt: count-mentions-<id>
            page.get_by_text("Task Runs", exact=True).click()
            expect(page.get_by_text(re.compile(r"^count-mentions-\d+$")).first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "4-task-runs.png", full_page=True)

            # both artifacts
            page.get_by_text("Artifacts", exact=True).click()
            expect(page.get_by_text("app-mentions-summary")).to_be_visible()
            expect(page.get_by_text("app-mentions-top")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "5-artifacts.png", full_page=True)
        finally:
            print(f"\nscreenshots: {ARTIFACTS}")


@pytest.mark.timeout(600)
def test_each_spike_event_sends_one_message(
    deployed: Deployed, hooks: Hooks, fake_x_api: FakeXApi, catalogue_csv, tmp_path
) -> None:
    """`appbuzz setup`'s spike automation: a backfilled month, then a night on which two apps'
    last whole day spikes: two spike events, two webhook messages, each naming its app, the
    day, the count and the baseline, and linking to the app's page."""
    hooks.received.clear()
    apps = top_apps(catalogue_csv)
    spiking = [apps.row(i, named=True) for i in (1, 4)]
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    for app in spiking:
        fake_x_api.spike_day(build_query(app["track_name"]), yesterday, 6.0)
    cli = Cli(deployed.shell.env)  # in-process runs whose events reach this module's server
    env = {
        "APPBUZZ_DATABASE_URL": f"sqlite:///{tmp_path / 'spikes.db'}",
        "X_BEARER_TOKEN": fake_x_api.token,
        "X_API_BASE_URL": fake_x_api.base_url,
        "APPBUZZ_RESULTS_DIR": str(tmp_path / "results"),
        "APPBUZZ_DASHBOARD_URL": "http://appbuzz.example:8080",
    }
    for args in (["backfill", "--days", "30"], ["run", "--out", "out"]):
        done = cli.run(Job(tmp_path, [*args, "--csv", str(catalogue_csv)], env), timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    messages = wait_for(lambda: len(hooks.about("spike")) >= 2 and hooks.about("spike"),
                        timeout=90, what="the two spike messages")  # fmt: skip
    time.sleep(10)  # a duplicate would have come by now
    messages = hooks.about("spike")
    assert len(messages) == 2, messages
    for app in spiking:
        (message,) = [m for m in messages if app["track_name"] in m["subject"]]
        assert f"mentions on {yesterday.isoformat()}" in message["subject"]
        body = message["body"]
        assert f"(app {app['id']})" in body and "against a usual" in body
        assert "weekday baseline of 4 days" in body  # a month of history: the same weekday
        assert f"http://appbuzz.example:8080/apps/{app['id']}?selection=" in body
