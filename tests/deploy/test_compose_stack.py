"""The README's compose section, run for real on a Docker engine, as a person would.

In a copy of the repo: `.env` from `.env.example`, the catalogue in `catalogue/`, `up -d --build`,
`--scale worker=3`, a deployment run watched to `Completed`, the exact counts in the stack's
PostgreSQL and in `/apps.json`, the run's page in the Prefect UI (headless Chromium, screenshot
under test-artifacts/compose/); then the night before, whose worker container is removed mid-run
(the machine gone): `appbuzz setup`'s automations mark it Crashed and start it again, another
worker takes it up and asks X only for the apps not yet counted; then a setting of `appbuzz
setup` changed in .env and applied with `up -d deploy`; then `down` and `up` again with the data
kept, and `down -v`. The X API is the loopback fake as a service of an override file
(tests/deploy/docker-compose.fake-x.yml), reached over the compose network; the test scripts it
through its control port. Each run is a compose project of its own on free host ports, removed
with its volumes whatever happens.

Needs a Docker engine and docker-compose: `.ci/run` sets them up with
../shared/tools/docker-offline/setup. Without them the test is skipped, except in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench.services import free_port
from flows.automations import CRASH_SILENT
from sinks.tables import app_mentions, appbuzz_runs
from tests.deploy.production import README, ROOT, Done, Shell, flow_run_id, not_code
from tests.fake_x_api import FakeXApi
from tests.support.browser import chromium
from tests.support.catalogues import top_apps
from tests.support.environment import clean_env
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.support.requirements import missing
from transforms.queries import build_query

pytestmark = pytest.mark.compose

ARTIFACTS = ROOT / "test-artifacts" / "compose"
COMPOSE_HEADING = "### The same on docker compose"
FAKE_X_OVERRIDE = "tests/deploy/docker-compose.fake-x.yml"
SERVICES = ("postgres", "prefect-db", "prefect-server", "worker", "api", "nginx")

# The README's compose lines, verbatim (checked below, and run as written).
COPY_ENV = "cp .env.example .env"
UP = "docker-compose up -d --build"
SCALE = "docker-compose up -d --scale worker=3"
RUN_NOW = (
    "docker-compose run --rm deploy prefect deployment run 'app-mentions/nightly'"
    " --param csv_path=/srv/catalogue/AppleStore.csv --watch"
)
PSQL = (
    "docker-compose exec -T postgres psql -U appbuzz appbuzz -c"
    " 'SELECT id, track_name, n_citacoes FROM app_mentions_latest ORDER BY rank'"
)
DOWN, RESTART, REMOVE = "docker-compose down", "docker-compose up -d", "docker-compose down -v"
README_LINES = (COPY_ENV, UP, SCALE, RUN_NOW, PSQL, DOWN, RESTART, REMOVE)
# what the README says to run after changing one of `appbuzz setup`'s settings in .env
REDEPLOY = "docker-compose up -d deploy"
# the night before, started and left to the workers (no --watch: its first attempt will crash)
RUN_NIGHT_BEFORE = (
    "docker-compose run --rm deploy prefect deployment run 'app-mentions/nightly'"
    " --param csv_path=/srv/catalogue/AppleStore.csv --param snapshot_date={night}"
)
# a silent run is Crashed after this long (production 90 s; heartbeats every 30 s in both)
CRASH_AFTER = 60
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def engine_missing() -> str | None:
    """Why no stack can start here, or None."""
    if shutil.which("docker-compose") is None:
        return "docker-compose is not installed (../shared/tools/docker-offline/setup installs it)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return "no Docker engine answers (../shared/tools/docker-offline/setup starts one)"
    return None


def edit_env(path: Path, **values: str) -> None:
    """Set keys of .env the way a person edits it: the line of each key, in place."""
    lines = path.read_text().splitlines()
    for key, value in values.items():
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
        lines[index] = f"{key}={value}"
    path.write_text("\n".join(lines) + "\n")


class FakeControl:
    """The fake X API's control port: what it was asked, and faults to script."""

    def __init__(self, url: str) -> None:
        self.url = url

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/requests", timeout=10).json()["requests"])

    def in_flight(self) -> int:
        return int(httpx.get(f"{self.url}/requests", timeout=10).json()["in_flight"])

    def script(self, **fault: Any) -> None:
        httpx.post(f"{self.url}/faults", json=fault, timeout=10).raise_for_status()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/faults", timeout=10).raise_for_status()


class Stack:
    """One compose project in a copy of the repo, driven through bash like the README."""

    def __init__(self, clone: Path, project: str) -> None:
        self.clone, self.project = clone, project
        # this shell's appbuzz/X settings would override the stack's .env: not passed on
        env = {"COMPOSE_FILE": f"docker-compose.yml:{FAKE_X_OVERRIDE}", "COLUMNS": "200"}
        self.shell = Shell(clone, clean_env(env, drop=("COMPOSE_", "DOCKER_")))

    def run(self, command: str, timeout: float = 300) -> Done:
        done = self.shell.run(command, timeout=timeout)
        print(f"$ {command}  ({done.returncode})")
        return done.ok()

    def containers(self) -> list[dict[str, str]]:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if not ids:
            return []
        fmt = (
            '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}}'
            " {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
        )
        out = subprocess.run(
            ["docker", "inspect", "--format", fmt, *ids], capture_output=True, text=True, check=True
        ).stdout
        keys = ("service", "status", "exit", "health")
        return [dict(zip(keys, [*line.split(), ""][:4], strict=True)) for line in out.splitlines()]

    def healthy(self, workers: int) -> bool:
        found = self.containers()
        running = [c for c in found if c["status"] == "running"]
        if any(c["health"] == "unhealthy" for c in running):
            pytest.fail(f"unhealthy container: {found}")
        ok = [c["service"] for c in running if c["health"] == "healthy"]
        deploy = [c for c in found if c["service"] == "deploy"]
        return (
            all(ok.count(s) == (workers if s == "worker" else 1) for s in SERVICES)
            and ok.count("fake-x-api") == 1
            and all(c["status"] == "exited" and c["exit"] == "0" for c in deploy)
        )

    def container_ids(self, service: str) -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-q", "--no-trunc",
             "--filter", f"label=com.docker.compose.project={self.project}",
             "--filter", f"label=com.docker.compose.service={service}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip

    def worker_running(self, flow_run_id: str) -> str | None:
        """The worker container whose processes include the flow run's (its environment names
        it: PREFECT__FLOW_RUN_ID), or None."""
        look = ["sh", "-c", f"grep -lsa 'PREFECT__FLOW_RUN_ID={flow_run_id}' /proc/[0-9]*/environ"]
        found = [
            cid
            for cid in self.container_ids("worker")
            if subprocess.run(["docker", "exec", cid, *look], capture_output=True).stdout.strip()
        ]
        assert len(found) <= 1, f"one flow run in {len(found)} containers"
        return found[0] if found else None

    def wait_healthy(self, workers: int) -> None:
        wait_for(
            lambda: self.healthy(workers), timeout=240, interval=2,
            what=f"every service healthy, {workers} workers",
        )  # fmt: skip


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory, catalogue_csv: Path) -> Iterator[Stack]:
    reason = engine_missing()
    if reason:
        missing(f"the compose test needs Docker (mandatory in CI): {reason}")

    def ignore(folder: str, names: list[str]) -> set[str]:
        extra = {"catalogue", "test-artifacts"} if Path(folder) == ROOT else set()
        return not_code(folder, names) | (extra & set(names))

    (ARTIFACTS / "stack.log").unlink(missing_ok=True)
    clone = tmp_path_factory.mktemp("compose") / "appbuzz"
    shutil.copytree(ROOT, clone, ignore=ignore)
    (clone / "catalogue").mkdir()
    shutil.copy(catalogue_csv, clone / "catalogue" / "AppleStore.csv")
    stack = Stack(clone, f"appbuzz-test-{uuid.uuid4().hex[:10]}")
    try:
        yield stack
    finally:
        if (clone / ".env").exists():
            if stack.containers():  # left up by a failure: keep what the services said
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                logs = stack.shell.run("docker-compose logs --no-color --timestamps", timeout=120)
                (ARTIFACTS / "stack.log").write_text(logs.output)
            done = stack.shell.run("docker-compose down -v --remove-orphans -t 5", timeout=180)
            print(done.output[-2000:])
        left = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"name={stack.project}_"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        for volume in left:
            subprocess.run(["docker", "volume", "rm", "-f", volume], check=False)


def screenshot_run(ui: str, run_id: str, run_name: str, path: Path) -> str:
    """The run's page in the Prefect UI, in headless Chromium; returns the page's text."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{ui}/runs/flow-run/{run_id}", wait_until="domcontentloaded")
        page.get_by_text(run_name).first.wait_for(timeout=60_000)
        page.get_by_text("Completed").first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle", timeout=30_000)
        page.screenshot(path=str(path), full_page=True)
        return str(page.inner_text("body"))


def _logs(container: str) -> str:
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def _since(moment: float, iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() - moment


def read_rows(url: str) -> tuple[list[dict], list[dict]]:
    return (
        table_rows(url, app_mentions, app_mentions.c.snapshot_date, app_mentions.c.rank),
        table_rows(url, appbuzz_runs, appbuzz_runs.c.started_at),
    )


def compose_v2() -> str | None:
    """The Compose v2 binary (`docker compose`, the CLI plugin .ci/run installs), or None."""
    for path in (Path.home() / ".docker/cli-plugins/docker-compose",
                 Path("/usr/libexec/docker/cli-plugins/docker-compose")):  # fmt: skip
        if path.exists():
            return str(path)
    return None


def resolved_services(
    command: list[str], folder: Path, files: str = f"docker-compose.yml:{FAKE_X_OVERRIDE}"
) -> dict[str, dict[str, Any]]:
    """What a compose binary makes of the stack and the test's override (or other `files`):
    `config`'s output, in terms both versions share (v2 writes ports, volumes and dependencies
    long-form, an anonymous volume without a source)."""
    env = clean_env({"COMPOSE_FILE": files}, drop=("COMPOSE_", "DOCKER_"))
    done = subprocess.run([*command, "config"], cwd=folder, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, f"{command} config: {done.stderr}"
    found = yaml.safe_load(done.stdout)["services"]

    def port(p: str | dict[str, Any]) -> tuple[str, str, str]:
        if isinstance(p, dict):
            return p["host_ip"], str(p["published"]), str(p["target"])
        host, published, target = p.removesuffix("/tcp").split(":")
        return host, published, target

    def volume(v: str | dict[str, Any]) -> tuple[str, str, bool]:
        if isinstance(v, dict):
            return v.get("source", ""), v["target"], bool(v.get("read_only", False))
        if ":" not in v:  # an anonymous volume: its mount point alone
            return "", v, False
        source, target, mode = v.split(":")
        return source, target, mode == "ro"

    return {
        name: {
            "image": s.get("image"),
            "command": s.get("command"),
            "user": s.get("user"),
            "restart": s.get("restart"),
            "environment": s.get("environment", {}),
            "healthcheck": (s.get("healthcheck") or {}).get("test"),
            "depends_on": {d: r["condition"] for d, r in (s.get("depends_on") or {}).items()},
            "ports": sorted(port(p) for p in s.get("ports", [])),
            "volumes": sorted(volume(v) for v in s.get("volumes", [])),
        }
        for name, s in found.items()
    }


def test_compose_1_29_and_v2_make_the_same_stack_of_the_files(tmp_path: Path) -> None:
    """Debian's 1.29 (CI's) and Compose v2 both accept the file and the override, and read them
    alike: the same services, images, commands, environments, ports, volumes and order."""
    v2 = compose_v2()
    if shutil.which("docker-compose") is None or v2 is None:
        missing("needs Debian's docker-compose 1.29 and Compose v2 (.ci/run installs both)")
    versions = [
        subprocess.run([*c, "version", "--short"], capture_output=True, text=True).stdout.strip()
        for c in (["docker-compose"], [v2])
    ]
    assert versions[0].startswith("1.29") and versions[1].removeprefix("v").startswith("2.")
    folder = tmp_path / "appbuzz"
    (folder / "tests" / "deploy").mkdir(parents=True)
    shutil.copy(ROOT / "docker-compose.yml", folder)
    shutil.copy(ROOT / FAKE_X_OVERRIDE, folder / FAKE_X_OVERRIDE)
    shutil.copy(ROOT / ".env.example", folder / ".env")
    old, new = (resolved_services(c, folder) for c in (["docker-compose"], [v2]))
    print(f"docker-compose {versions[0]} and Compose {versions[1]}: {sorted(new)}")
    assert set(old) == set(new) == {*SERVICES, "deploy", "fake-x-api"}
    for name in new:
        assert old[name] == new[name], name


def test_readme_compose_lines_are_the_ones_this_test_runs() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split(COMPOSE_HEADING, 1)[1].split("\n## ", 1)[0]
    for line in README_LINES:
        assert line in section, line
    assert f"`{REDEPLOY}` after changing them" in " ".join(section.split())


@pytest.mark.timeout(1800)  # a hang guard: the first image build on a busy machine is slow
def test_compose_stack_runs_the_night_end_to_end(stack: Stack, catalogue_csv: Path) -> None:
    began = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - began - sum(timings.values()), 1)
        print(f"-- {name}: {timings[name]} s")

    pg_port, api_port, ui_port, control_port = free_port(), free_port(), free_port(), free_port()
    password = uuid.uuid4().hex
    stack.run(COPY_ENV)
    edit_env(
        stack.clone / ".env",
        COMPOSE_PROJECT_NAME=stack.project,
        APPBUZZ_POSTGRES_PASSWORD=password,
        PREFECT_POSTGRES_PASSWORD=uuid.uuid4().hex,
        APPBUZZ_POSTGRES_PORT=str(pg_port),
        APPBUZZ_API_PORT=str(api_port),
        APPBUZZ_PREFECT_PORT=str(ui_port),
        X_BEARER_TOKEN=FakeXApi.token,
        X_API_BASE_URL="https://fake-x-api:8443",
        APPBUZZ_CRASH_AFTER_SECONDS=str(CRASH_AFTER),
    )
    with (stack.clone / ".env").open("a") as env:  # the override's own key
        env.write(f"FAKE_X_CONTROL_PORT={control_port}\n")
    # Debian's docker-compose 1.29 (the one CI has) accepts the file: no v2-only key
    stack.run("docker-compose config -q")

    stack.run(UP, timeout=900)
    stack.wait_healthy(workers=1)
    lap("up --build, healthy")
    stack.run(SCALE)
    stack.wait_healthy(workers=3)
    lap("scale worker=3, healthy")

    done = stack.run(RUN_NOW, timeout=300)
    assert "Flow run finished successfully in 'Completed'" in done.output, done.output
    run_id = flow_run_id(done.output)
    lap("deployment run --watch")

    # exactly what the fake serves for exactly the apps the catalogue ranks first
    top = top_apps(catalogue_csv)  # the toolkit's oracle: Book and Music, most ratings, 10
    expected = list(zip(top["id"].to_list(), top["track_name"].to_list(), strict=True))
    fake = FakeXApi()
    db_url = f"postgresql+psycopg://appbuzz:{password}@127.0.0.1:{pg_port}/appbuzz"
    rows, runs = read_rows(db_url)
    assert [(r["app_id"], r["track_name"]) for r in rows] == expected
    assert [r["rank"] for r in rows] == list(range(1, 11))
    for row in rows:
        assert row["mention_status"] == "ok", row
        assert row["mention_query"] == build_query(row["track_name"])
        assert row["n_citacoes"] == fake.total_for(row["mention_query"])
    [night] = runs
    tonight = night["snapshot_date"]
    assert night["flow_run_id"] == run_id and night["status"] == "completed"
    assert night["source_path"] == "/srv/catalogue/AppleStore.csv"
    assert night["mentions_ok"] == 10

    psql = stack.run(PSQL)
    for app_id, name in expected:
        assert str(app_id) in psql.output and name in psql.output
    served = httpx.get(f"http://127.0.0.1:{api_port}/apps.json", timeout=10).json()
    assert [(a["id"], a["n_citacoes"]) for a in served] == [
        (r["app_id"], r["n_citacoes"]) for r in rows
    ]
    lap("counts checked")

    ui = f"http://127.0.0.1:{ui_port}"
    flow_run = httpx.get(f"{ui}/api/flow_runs/{run_id}", timeout=10).json()
    assert flow_run["state_type"] == "COMPLETED"
    # the deploy service deployed the nightly schedule (this test's server does not run it)
    nightly = httpx.get(f"{ui}/api/deployments/{flow_run['deployment_id']}", timeout=10).json()
    assert [(s["active"], s["schedule"]["cron"], s["schedule"]["timezone"])
            for s in nightly["schedules"]] == [(True, "0 3 * * *", "UTC")]  # fmt: skip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "flow-run.png"
    text = screenshot_run(ui, run_id, flow_run["name"], shot)
    print(f"UI screenshot: {shot}")
    assert flow_run["name"] in text and "Completed" in text
    lap("UI page")

    # The night before, and its worker's machine goes away mid-run: three apps are counted, then
    # X holds every request open; the container running the flow is removed (SIGKILL, gone).
    fake_x = FakeControl(f"http://127.0.0.1:{control_port}")
    before_kill = len(fake_x.requests())
    fake_x.script(kind="slow", seconds=3600, after=3, times=1000)
    night_before = tonight - timedelta(days=1)
    night_id = flow_run_id(stack.run(RUN_NIGHT_BEFORE.format(night=night_before)).output)
    wait_for(
        lambda: len(fake_x.requests()) == before_kill + 3 and fake_x.in_flight() >= 1,
        timeout=180, interval=1, what="three apps counted and the night waiting on the X API",
    )  # fmt: skip
    counted = {r["query"] for r in fake_x.requests()[before_kill:]}
    victim = wait_for(lambda: stack.worker_running(night_id), timeout=30, what="its container")
    attempt = httpx.get(f"{ui}/api/flow_runs/{night_id}", timeout=10).json()
    assert attempt["state_type"] == "RUNNING" and attempt["run_count"] == 1
    killed = time.time()
    subprocess.run(["docker", "rm", "-f", victim], capture_output=True, check=True)
    fake_x.clear()  # X answers again; the held requests stay held (their client is gone)
    lap("night before: a worker removed mid-run")

    def night_state() -> str:
        return str(httpx.get(f"{ui}/api/flow_runs/{night_id}", timeout=10).json()["state_type"])

    wait_for(lambda: night_state() != "RUNNING", timeout=CRASH_AFTER + 120, interval=1,
             what="the silent night to be marked Crashed")  # fmt: skip
    wait_for(lambda: night_state() in TERMINAL - {"CRASHED"}, timeout=300, interval=1,
             what="the restarted night to end")  # fmt: skip
    resumed = httpx.get(f"{ui}/api/flow_runs/{night_id}", timeout=10).json()
    states = httpx.get(
        f"{ui}/api/flow_run_states/", params={"flow_run_id": night_id}, timeout=10
    ).json()
    kinds = [x["type"] for x in sorted(states, key=lambda x: x["timestamp"])]
    crashed = min(x["timestamp"] for x in states if x["type"] == "CRASHED")
    print(f"night before: removed -> Crashed in {_since(killed, crashed):.1f} s, Completed "
          f"{time.time() - killed:.1f} s after the removal; states {kinds}")  # fmt: skip
    assert resumed["state_type"] == "COMPLETED" and resumed["run_count"] == 2, resumed
    assert resumed["parameters"] == attempt["parameters"] and resumed["name"] == attempt["name"]
    start = kinds.index("RUNNING")
    assert kinds[start : start + 3] == ["RUNNING", "CRASHED", "SCHEDULED"], kinds
    # on another worker: the removed container is gone, a remaining one submitted the restart
    assert victim not in stack.container_ids("worker")
    took_up = [
        cid
        for cid in stack.container_ids("worker")
        if f"submitting flow run '{night_id}'" in _logs(cid)
    ]
    assert len(took_up) == 1, took_up
    # resumed: the three counted apps came from their persisted results, only the other seven
    # were asked again (once each), and the night's rows have exactly what X served
    asked_after = [r for r in fake_x.requests()[before_kill:] if r["started"] > killed]
    assert sorted(r["status"] for r in asked_after) == [200] * 7
    assert not counted & {r["query"] for r in asked_after}
    rows, runs = read_rows(db_url)
    earlier = [r for r in rows if r["snapshot_date"] == night_before]
    assert [(r["app_id"], r["track_name"]) for r in earlier] == expected
    for row in earlier:
        assert (row["mention_status"], row["n_citacoes"]) == (
            "ok",
            fake.total_for(row["mention_query"]),
        )
    [resumed_night] = [r for r in runs if r["snapshot_date"] == night_before]
    assert (resumed_night["flow_run_id"], resumed_night["status"]) == (night_id, "completed")
    assert resumed_night["x_requests"] == 7
    shot = ARTIFACTS / "resumed-night.png"
    text = screenshot_run(ui, night_id, resumed["name"], shot)
    print(f"UI screenshot: {shot}")
    assert resumed["name"] in text and "Completed" in text
    lap("night before: Crashed, restarted, resumed on another worker")

    # a setting of `appbuzz setup` changed in .env reaches the server through `up -d deploy`
    def crash_window() -> float:
        automations = httpx.post(f"{ui}/api/automations/filter", json={}, timeout=10).json()
        [silent] = [a for a in automations if a["name"] == CRASH_SILENT]
        return float(silent["trigger"]["within"])

    assert crash_window() == CRASH_AFTER
    edit_env(stack.clone / ".env", APPBUZZ_CRASH_AFTER_SECONDS=str(CRASH_AFTER + 30))
    stack.run(REDEPLOY)
    wait_for(lambda: crash_window() == CRASH_AFTER + 30, timeout=180, interval=1,
             what="the deploy service to apply the new setting")  # fmt: skip
    wait_for(lambda: [(c["status"], c["exit"]) for c in stack.containers()
                      if c["service"] == "deploy"] == [("exited", "0")],
             timeout=60, interval=1, what="the deploy service to end")  # fmt: skip
    assert len(stack.container_ids("worker")) == 2  # the workers were left alone
    lap("a setting changed, up -d deploy")

    # down and up again: the volumes keep appbuzz's rows and the Prefect server's history
    stack.run(DOWN, timeout=180)
    assert not [c for c in stack.containers() if c["status"] == "running"]
    stack.run(RESTART, timeout=300)
    stack.wait_healthy(workers=1)
    assert read_rows(db_url) == (rows, runs)
    again = httpx.get(f"{ui}/api/flow_runs/{run_id}", timeout=10).json()
    assert again["state_type"] == "COMPLETED"
    lap("down, up, data kept")

    stack.run(REMOVE, timeout=180)
    assert stack.containers() == []
    volumes = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"name={stack.project}_"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert volumes == []
    lap("down -v")
    print(f"compose test phases (s): {timings}; total {round(time.monotonic() - began, 1)} s")
