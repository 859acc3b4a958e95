"""The README's compose section, run for real on a Docker engine, as a person would.

In a copy of the repo: `.env` from `.env.example`, the catalogue in `catalogue/`, `up -d --build`,
`--scale worker=3`, a deployment run watched to `Completed`, the exact counts in the stack's
PostgreSQL and in `/apps.json`, the run's page in the Prefect UI (headless Chromium, screenshot
under test-artifacts/compose/), `down` and `up` again with the data kept, then `down -v`. The X
API is the loopback fake as a service of an override file (tests/deploy/docker-compose.fake-x.yml),
reached over the compose network. Each run is a compose project of its own on free host ports,
removed with its volumes whatever happens.

Needs a Docker engine and docker-compose: `.ci/run` sets them up with
../shared/tools/docker-offline/setup. Without them the test is skipped, except in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.services import free_port
from sinks.tables import app_mentions, appbuzz_runs
from tests.deploy.production import README, ROOT, Done, Shell, flow_run_id, not_code
from tests.fake_x_api import FakeXApi
from tests.support.browser import chromium
from tests.support.catalogues import top_apps
from tests.support.environment import clean_env
from tests.support.polling import wait_for
from tests.support.postgres import missing, table_rows
from transforms.queries import build_query

pytestmark = pytest.mark.compose

ARTIFACTS = ROOT / "test-artifacts" / "compose"
COMPOSE_HEADING = "### The same on docker compose"
FAKE_X_OVERRIDE = "tests/deploy/docker-compose.fake-x.yml"
SERVICES = ("postgres", "prefect-db", "prefect-server", "worker", "api")

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


def read_rows(url: str) -> tuple[list[dict], list[dict]]:
    return table_rows(url, app_mentions, app_mentions.c.rank), table_rows(url, appbuzz_runs)


def test_readme_compose_lines_are_the_ones_this_test_runs() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split(COMPOSE_HEADING, 1)[1].split("\n## ", 1)[0]
    for line in README_LINES:
        assert line in section, line


@pytest.mark.timeout(1800)  # a hang guard: the first image build on a busy machine is slow
def test_compose_stack_runs_the_night_end_to_end(stack: Stack, catalogue_csv: Path) -> None:
    began = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - began - sum(timings.values()), 1)
        print(f"-- {name}: {timings[name]} s")

    pg_port, api_port, ui_port = free_port(), free_port(), free_port()
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
    )
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "flow-run.png"
    text = screenshot_run(ui, run_id, flow_run["name"], shot)
    print(f"UI screenshot: {shot}")
    assert flow_run["name"] in text and "Completed" in text
    lap("UI page")

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
