"""Many hosts on docker compose: docker-compose.yml with docker-compose.many-hosts.yml, run for
real as the README says, with two workers and two API replicas behind nginx.

The workers share nothing but PostgreSQL and a bucket: each keeps its output and results folders
on volumes of its own and its own Prefect home, and task results go to S3-compatible object
storage (moto's server as a service, tests/deploy/docker-compose.s3.yml). The X API is the fake
of tests/deploy/docker-compose.fake-x.yml.

1. A night whose worker container is removed mid-night (three apps counted, X holding the
   rest): Crashed, restarted by `appbuzz setup`'s automation, completed on the other worker,
   loaded whole; X asked only for the seven apps not yet counted; the three are `Cached` from
   the bucket.
2. While a new night is committed, concurrent reads of `/apps.json` through nginx (bounded in
   count and time, loopback only): every answer is one whole night, both replicas answered
   (nginx's access log names the replica), and no answer of the older night comes later than
   the first of the newer one plus one second. The dashboard works through the balancer.

Prints MEASURED: lines (each phase's time, the load's figures). Several minutes: run it alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.services import free_port
from tests.deploy.production import README, ROOT, Shell, flow_run_id
from tests.deploy.test_compose_stack import (
    COPY_ENV,
    CRASH_AFTER,
    RUN_NIGHT_BEFORE,
    RUN_NOW,
    TERMINAL,
    FakeControl,
    Stack,
    _logs,
    compose_v2,
    edit_env,
    read_rows,
    resolved_services,
    stack,  # noqa: F401  (the fixture: a compose project in a copy of the repo, removed after)
)
from tests.fake_x_api import FakeXApi
from tests.support.environment import clean_env
from tests.support.polling import wait_for
from tests.support.prefect import PrefectApi
from tests.support.requirements import missing
from tests.support.s3 import REGION, ObjectStore

pytestmark = pytest.mark.compose

TEST_FILES = "tests/deploy/docker-compose.fake-x.yml:tests/deploy/docker-compose.s3.yml"
MANY_HOSTS_FILES = "docker-compose.yml:docker-compose.many-hosts.yml"
# The README's many-hosts lines (checked below; the test runs UP as written, with COMPOSE_FILE
# naming the two files and the test's overrides)
UP_MANY = "docker-compose up -d --build --scale worker=2 --scale api=2"
UP_MANY_FILES = (
    "docker-compose -f docker-compose.yml -f docker-compose.many-hosts.yml up -d --build"
    " --scale worker=2 --scale api=2"
)
PREFIX = "nightly"
# the load of reads: bounded in both count and time, on loopback
READERS = 8
MAX_REQUESTS = 40_000
MAX_SECONDS = 150.0
AFTER_SWITCH = 4.0  # seconds of reads kept after the first answer of the new night


@dataclass(frozen=True)
class Answer:
    sent: float
    received: float
    status: int
    nights: tuple[str, ...]
    rows: tuple[tuple[int, Any], ...]


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_readme_names_both_files_and_the_commands() -> None:
    text = README.read_text(encoding="utf-8")
    compose = section(text, "### The same on docker compose")
    for line in (UP_MANY, UP_MANY_FILES, f"COMPOSE_FILE={MANY_HOSTS_FILES}"):
        assert line in compose, line
    assert "docker-compose.yml" in compose and "docker-compose.many-hosts.yml" in compose


def test_compose_1_29_and_v2_make_the_same_many_hosts_stack(tmp_path: Path) -> None:
    """Both compose versions read the two files and the test's overrides alike."""
    v2 = compose_v2()
    if shutil.which("docker-compose") is None or v2 is None:
        missing("needs Debian's docker-compose 1.29 and Compose v2 (.ci/run installs both)")
    folder = tmp_path / "appbuzz"
    (folder / "tests" / "deploy").mkdir(parents=True)
    for name in [*MANY_HOSTS_FILES.split(":"), *TEST_FILES.split(":")]:
        shutil.copy(ROOT / name, folder / name)
    env = (ROOT / ".env.example").read_text()
    (folder / ".env").write_text(
        env.replace("APPBUZZ_RESULTS_URL=\n", "APPBUZZ_RESULTS_URL=s3://b-1/p\n")
    )
    files = f"{MANY_HOSTS_FILES}:{TEST_FILES}"
    old, new = (resolved_services(c, folder, files) for c in (["docker-compose"], [v2]))
    assert set(old) == set(new) >= {"worker", "api", "nginx", "s3", "deploy"}
    for name in new:
        assert old[name] == new[name], name
    assert sorted(new["worker"]["volumes"])[:2] == [
        ("", "/var/lib/appbuzz/out", False),
        ("", "/var/lib/appbuzz/results", False),
    ]


@pytest.fixture
def hosts(stack: Stack) -> Stack:  # noqa: F811
    stack.shell = Shell(
        stack.clone,
        clean_env(
            {"COMPOSE_FILE": f"{MANY_HOSTS_FILES}:{TEST_FILES}", "COLUMNS": "200"},
            drop=("COMPOSE_", "DOCKER_"),
        ),
    )
    return stack


def running(project: Stack) -> list[dict[str, str]]:
    return [c for c in project.containers() if c["status"] == "running"]


def healthy(project: Stack, workers: int, apis: int) -> bool:
    found = project.containers()
    if any(c["health"] == "unhealthy" for c in found if c["status"] == "running"):
        pytest.fail(f"unhealthy container: {found}")
    ok = Counter(
        c["service"] for c in found if c["status"] == "running" and c["health"] == "healthy"
    )
    want = {"postgres": 1, "prefect-db": 1, "prefect-server": 1, "worker": workers, "api": apis,
            "nginx": 1, "fake-x-api": 1, "s3": 1}  # fmt: skip
    deploy = [c for c in found if c["service"] == "deploy"]
    return all(ok[s] == n for s, n in want.items()) and all(
        c["status"] == "exited" and c["exit"] == "0" for c in deploy
    )


def inspect(container: str, template: str) -> str:
    done = subprocess.run(["docker", "inspect", "--format", template, container],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def volumes_of(container: str) -> set[str]:
    names = inspect(container, '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}')
    return set(names.split())


def address_of(container: str) -> str:
    return inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


def read_load(url: str, stop: threading.Event, answers: list[Answer]) -> None:
    """One reader: GET /apps.json until told to stop or the bounds are reached."""
    deadline = time.monotonic() + MAX_SECONDS
    with httpx.Client(timeout=10) as client:
        while not stop.is_set() and time.monotonic() < deadline and len(answers) < MAX_REQUESTS:
            sent = time.time()
            response = client.get(url)
            received = time.time()
            body = response.json() if response.status_code == 200 else []
            answers.append(
                Answer(
                    sent, received, response.status_code,
                    tuple(sorted({str(a["snapshot_date"]) for a in body})),
                    tuple((a["id"], a["n_citacoes"]) for a in body),
                )
            )  # fmt: skip


@pytest.mark.timeout(1800)  # a hang guard: the first image build on a busy machine is slow
def test_two_hosts_share_only_postgres_and_a_bucket_and_two_api_replicas_serve_one_night(
    hosts: Stack, catalogue_csv: Path
) -> None:
    compose = hosts
    began = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - began - sum(timings.values()), 1)
        print(f"MEASURED: {name}: {timings[name]} s")

    pg_port, api_port, ui_port = free_port(), free_port(), free_port()
    control_port, s3_port = free_port(), free_port()
    password, canary = uuid.uuid4().hex, f"canary-{uuid.uuid4().hex}"
    bucket = f"appbuzz-{uuid.uuid4().hex[:8]}"
    compose.run(COPY_ENV)
    edit_env(
        compose.clone / ".env",
        COMPOSE_PROJECT_NAME=compose.project,
        APPBUZZ_POSTGRES_PASSWORD=password,
        PREFECT_POSTGRES_PASSWORD=uuid.uuid4().hex,
        APPBUZZ_POSTGRES_PORT=str(pg_port),
        APPBUZZ_API_PORT=str(api_port),
        APPBUZZ_PREFECT_PORT=str(ui_port),
        X_BEARER_TOKEN=FakeXApi.token,
        X_API_BASE_URL="https://fake-x-api:8443",
        APPBUZZ_CRASH_AFTER_SECONDS=str(CRASH_AFTER),
        APPBUZZ_RESULTS_URL=f"s3://{bucket}/{PREFIX}",
        AWS_ENDPOINT_URL_S3="http://s3:5000",
        AWS_ACCESS_KEY_ID="AKIAMANYHOSTSTEST",
        AWS_SECRET_ACCESS_KEY=canary,
        AWS_DEFAULT_REGION=REGION,
    )
    with (compose.clone / ".env").open("a") as env:  # the test overrides' own keys
        env.write(f"FAKE_X_CONTROL_PORT={control_port}\nS3_CONTROL_PORT={s3_port}\n")
    compose.run("docker-compose config -q")

    compose.run(UP_MANY, timeout=1200)
    store = ObjectStore(f"http://127.0.0.1:{s3_port}", bucket, "AKIAMANYHOSTSTEST", canary)
    wait_for(lambda: [c for c in running(compose) if c["service"] == "s3" and c["health"] == "healthy"],
             timeout=240, interval=1, what="the object storage")  # fmt: skip
    store.client().create_bucket(Bucket=bucket)  # an operator's bucket, made before any night
    wait_for(lambda: healthy(compose, workers=2, apis=2), timeout=300, interval=2,
             what="every service healthy, 2 workers, 2 api replicas")  # fmt: skip
    lap("up --build, 2 workers and 2 api replicas healthy")

    # the two workers: a volume of their own for each folder, none shared
    workers = compose.container_ids("worker")
    assert len(workers) == 2
    # (the fake X API's certificate, read-only, is the test's own: not a worker's folder)
    own = [{v for v in volumes_of(w) if not v.endswith("_fake-x-tls")} for w in workers]
    assert all(len(v) == 2 for v in own) and not own[0] & own[1], own
    assert not [v for v in own[0] | own[1] if v.endswith(("appbuzz-results", "appbuzz-out"))]
    deploy_logs = compose.run("docker-compose logs --no-color deploy").output
    assert f"results storage s3-bucket/appbuzz-results: created (s3://{bucket}/{PREFIX}" in (
        deploy_logs
    ), deploy_logs
    print(f"MEASURED: worker volumes {own}")

    # 1. A night whose worker is removed mid-night
    ui = f"http://127.0.0.1:{ui_port}"
    fake_x = FakeControl(f"http://127.0.0.1:{control_port}")
    night_before = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    fake_x.script(kind="slow", seconds=3600, after=3, times=1000)
    started = time.monotonic()
    night_id = flow_run_id(compose.run(RUN_NIGHT_BEFORE.format(night=night_before)).output)
    wait_for(
        lambda: len(fake_x.requests()) == 3 and fake_x.in_flight() >= 1
        and len(store.keys(PREFIX)) == 3,
        timeout=240, interval=1,
        what="three apps counted, their results in the bucket, the night waiting on X",
    )  # fmt: skip
    written_first = store.keys(PREFIX)
    counted = {r["query"] for r in fake_x.requests()}
    victim = wait_for(lambda: compose.worker_running(night_id), timeout=30, what="its container")
    lap("night started, three apps counted")
    killed = time.time()
    # SIGKILL and gone, its own volumes with it (as its host's disk would be)
    subprocess.run(["docker", "rm", "-f", "-v", victim], capture_output=True, check=True)
    fake_x.clear()

    def night_state() -> str:
        return str(httpx.get(f"{ui}/api/flow_runs/{night_id}", timeout=10).json()["state_type"])

    wait_for(lambda: night_state() != "RUNNING", timeout=CRASH_AFTER + 120, interval=1,
             what="the silent night to be marked Crashed")  # fmt: skip
    lap("worker removed -> night Crashed")
    wait_for(lambda: night_state() in TERMINAL - {"CRASHED"}, timeout=300, interval=1,
             what="the restarted night to end")  # fmt: skip
    lap("restarted -> Completed on the other worker")
    resumed = httpx.get(f"{ui}/api/flow_runs/{night_id}", timeout=10).json()
    assert resumed["state_type"] == "COMPLETED" and resumed["run_count"] == 2, resumed
    print(f"MEASURED: the night from its start to Completed: {time.monotonic() - started:.1f} s "
          f"({time.time() - killed:.1f} s after the worker was removed)")  # fmt: skip
    (other,) = [w for w in compose.container_ids("worker") if w != victim]
    assert f"submitting flow run '{night_id}'" in _logs(other)
    # X asked only for the apps not yet counted, each once (the requests in flight at the
    # removal were never answered); the night loaded whole, with exactly what X served
    asked_after = [r for r in fake_x.requests() if r["started"] > killed]
    assert sorted(r["status"] for r in asked_after) == [200] * 7, asked_after
    assert not counted & {r["query"] for r in asked_after}
    fake = FakeXApi()
    db_url = f"postgresql+psycopg://appbuzz:{password}@127.0.0.1:{pg_port}/appbuzz"
    rows, runs = read_rows(db_url)
    assert len(rows) == 10 and {str(r["snapshot_date"]) for r in rows} == {night_before}
    for row in rows:
        assert (row["mention_status"], row["n_citacoes"]) == (
            "ok",
            fake.total_for(row["mention_query"]),
        )
    assert [(r["flow_run_id"], r["status"], r["x_requests"]) for r in runs] == [
        (night_id, "completed", 7)
    ]
    # the three apps counted on the removed worker came from the bucket
    tasks = httpx.post(f"{ui}/api/task_runs/filter",
                       json={"flow_runs": {"id": {"any_": [night_id]}}}, timeout=10).json()  # fmt: skip
    states = Counter(t["state_name"] for t in tasks if t["name"].startswith("count-mentions-"))
    assert states["Cached"] == 3, states
    every = store.keys(PREFIX)
    assert len(every) == 10 and set(written_first) <= set(every)
    print(f"MEASURED: task states {dict(states)}; X asked {len(asked_after)} time(s) after the "
          f"removal; bucket {bucket} holds {len(every)} result objects")  # fmt: skip

    # 2. Reads through nginx while a new night is committed
    url = f"http://127.0.0.1:{api_port}/apps.json"
    old_rows = tuple((r["app_id"], r["n_citacoes"]) for r in rows)
    first = httpx.get(url, timeout=10)
    assert first.status_code == 200 and first.json()[0]["snapshot_date"] == night_before
    answers: list[Answer] = []
    stop = threading.Event()
    readers = [
        threading.Thread(target=read_load, args=(url, stop, answers)) for _ in range(READERS)
    ]
    load_began = time.time()
    for reader in readers:
        reader.start()
    try:
        done = compose.run(RUN_NOW, timeout=300)
        assert "Flow run finished successfully in 'Completed'" in done.output, done.output
        tonight_id = flow_run_id(done.output)

        def switched() -> bool:
            new = [a for a in list(answers) if a.nights and a.nights != (night_before,)]
            return bool(new) and time.time() > min(a.received for a in new) + AFTER_SWITCH

        wait_for(switched, timeout=60, interval=0.2, what="the new night served for a while")
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    load_ended = time.time()
    lap("a new night committed under load")

    rows, runs = read_rows(db_url)
    (tonight,) = [r for r in runs if r["flow_run_id"] == tonight_id]
    new_night = str(tonight["snapshot_date"])
    new_rows = tuple(
        (r["app_id"], r["n_citacoes"]) for r in rows if str(r["snapshot_date"]) == new_night
    )
    assert new_night != night_before and len(new_rows) == 10
    statuses = Counter(a.status for a in answers)
    assert set(statuses) == {200}, statuses
    # every answer one whole night: ten rows of one night, exactly as stored
    for answer in answers:
        assert (answer.nights, answer.rows) in {
            ((night_before,), old_rows),
            ((new_night,), new_rows),
        }, answer
    first_new = min(a.received for a in answers if a.nights == (new_night,))
    last_old = max(a.received for a in answers if a.nights == (night_before,))
    committed = tonight["finished_at"].timestamp()
    seconds = load_ended - load_began
    print(f"MEASURED: {len(answers)} requests in {seconds:.1f} s ({len(answers) / seconds:.0f} "
          f"req/s, {READERS} readers) through nginx; first answer of the new night "
          f"{first_new - committed:+.2f} s after its run's finished_at; last answer of the older "
          f"night {last_old - first_new:+.2f} s after the first of the newer")  # fmt: skip
    assert last_old <= first_new + 1.0, last_old - first_new

    # both replicas answered: nginx's access log names the replica of each request
    replicas = {address_of(c): c[:12] for c in compose.container_ids("api")}
    assert len(replicas) == 2
    (nginx,) = compose.container_ids("nginx")
    lines = [line for line in _logs(nginx).splitlines() if '"GET /apps.json ' in line]
    upstreams = Counter(
        line.split("upstream=", 1)[1].split()[0].rsplit(":", 1)[0] for line in lines
    )
    share = {replicas.get(a, a): n for a, n in upstreams.items()}
    total = sum(upstreams.values())
    print("MEASURED: per-replica share " + ", ".join(
        f"{name} {n} ({100 * n / total:.1f}%)" for name, n in sorted(share.items())))  # fmt: skip
    assert set(upstreams) == set(replicas), (upstreams, replicas)
    assert total >= len(answers)
    assert min(upstreams.values()) >= total * 0.25, share

    # the dashboard through the balancer
    page = httpx.get(f"http://127.0.0.1:{api_port}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    app_page = httpx.get(f"http://127.0.0.1:{api_port}/apps/{new_rows[0][0]}", timeout=10)
    assert app_page.status_code == 200 and "<svg" in app_page.text
    # the bucket's secret key is in the block only: in no service's log, no record of the
    # nights on the Prefect server (logs, artifacts, states), no table
    logs = compose.run("docker-compose logs --no-color", timeout=120).output
    prefect = PrefectApi(f"{ui}/api")
    records = [prefect.records(night_id), prefect.records(tonight_id)]
    assert len(logs) > 10_000 and all(len(r["logs"]) > 10 for r in records)
    assert canary not in logs and canary not in json.dumps(records)
    assert canary not in repr(read_rows(db_url))
    lap("checks")
    print(f"MEASURED: phases (s) {timings}; total {round(time.monotonic() - began, 1)} s")
