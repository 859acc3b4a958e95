"""The production path end to end: pool, `prefect deploy`, a process worker, deployment runs.

A real `prefect server` on a loopback port (the session's), the repo copied to another path and
deployed from there, a worker started from a third folder and pointed at a PostgreSQL database of
its own through APPBUZZ_DATABASE_URL. Takes about 40 seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from sqlalchemy import create_engine

from sinks.database import check_database
from sinks.tables import app_mentions, appbuzz_runs
from tests.deploy.production import (
    DEPLOYMENT,
    INSPECT,
    PRODUCTION_HEADING,
    PRODUCTION_STEPS,
    README,
    ROOT,
    RUN_BACKFILL,
    RUN_NOW,
    Deployed,
    flow_run_id,
)
from tests.support.catalogues import top_apps
from tests.support.postgres import table_rows

pytestmark = pytest.mark.postgres


def nightly_spec() -> dict:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    return nightly


def test_prefect_yaml_holds_the_nightly_deployment_and_no_machine_path() -> None:
    text = (ROOT / "prefect.yaml").read_text()
    nightly = nightly_spec()
    assert nightly["entrypoint"] == "flows/app_mentions.py:app_mentions"
    assert nightly["schedules"] == [{"cron": "0 3 * * *", "timezone": "UTC", "active": True}]
    assert "pull" not in yaml.safe_load(text), "prefect deploy records the clone's path itself"
    assert str(ROOT) not in text and "/work/" not in text and "/home/" not in text


def test_deploy_records_the_clone_and_inspect_shows_the_cron(deployed: Deployed) -> None:
    shown = deployed.shell.run(INSPECT).ok().output
    assert "'cron': '0 3 * * *'" in shown and "'timezone': 'UTC'" in shown

    spec = json.loads(deployed.shell.run(f"{INSPECT} -o json").ok().output)
    nightly = nightly_spec()
    assert spec["work_pool_name"] == nightly["work_pool"]["name"] == "appbuzz-process"
    assert spec["entrypoint"] == nightly["entrypoint"]
    assert spec["parameters"] == nightly["parameters"]
    [schedule] = spec["schedules"]
    assert schedule["active"] and schedule["schedule"]["cron"] == "0 3 * * *"
    assert schedule["schedule"]["timezone"] == "UTC"
    # the flow runs' working directory is wherever this clone is, not the original checkout
    assert spec["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(deployed.clone)}}
    ]

    # the server turns the cron into runs at 03:00 UTC: asked here for what its scheduler service
    # does each minute (off on the tests' servers), then removed so no test's worker meets them
    deployed.prefect.call("POST", f"/deployments/{spec['id']}/schedule", json={"min_runs": 3})
    body = {
        "deployments": {"id": {"any_": [spec["id"]]}},
        "flow_runs": {
            "state": {"type": {"any_": ["SCHEDULED"]}},
            "tags": {"all_": ["auto-scheduled"]},
        },
    }
    runs = deployed.prefect.call("POST", "/flow_runs/filter", json=body)
    try:
        starts = [datetime.fromisoformat(r["expected_start_time"]).astimezone(UTC) for r in runs]
        assert {(s.hour, s.minute, s.second) for s in starts} == {(3, 0, 0)}
        assert len({s.date() for s in starts}) == len(starts) >= 3  # one a night
    finally:
        for run in runs:
            deployed.prefect.call("DELETE", f"/flow_runs/{run['id']}")


def test_deployment_runs_on_a_process_worker_into_its_database(
    deployed: Deployed, worker, postgres_url: str, catalogue_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    worker(APPBUZZ_DATABASE_URL=postgres_url, APPBUZZ_OUT_DIR=str(out))
    shell = deployed.shell.with_env(CATALOGUE=str(catalogue_csv))

    done = shell.run(RUN_NOW, timeout=180).ok()
    assert "Flow run finished successfully in 'Completed'" in done.output
    run = deployed.prefect.flow_run(flow_run_id(done.output))
    assert run["state_type"] == "COMPLETED"
    assert run["parameters"]["csv_path"] == str(catalogue_csv)
    # no snapshot_date given: the run files under its scheduled date, and its name says so
    night = datetime.fromisoformat(run["expected_start_time"]).astimezone(UTC).date()
    assert run["name"] == f"{night.isoformat()} Book+Music/top10"

    backfill = shell.run(RUN_BACKFILL, timeout=180).ok()
    back = deployed.prefect.flow_run(flow_run_id(backfill.output))
    assert back["name"] == "2026-11-27 Book+Music/top3"

    runs = table_rows(postgres_url, appbuzz_runs, appbuzz_runs.c.started_at)
    rows = table_rows(postgres_url, app_mentions, app_mentions.c.snapshot_date, app_mentions.c.rank)
    assert [(r["flow_run_id"], r["snapshot_date"], r["selection"]) for r in runs] == [
        (run["id"], night, "Book+Music/top10"),
        (back["id"], date(2026, 11, 27), "Book+Music/top3"),
    ]
    assert all(r["source_path"] == str(catalogue_csv) and r["status"] == "completed" for r in runs)
    nightly = [r for r in rows if r["snapshot_date"] == night]
    backfilled = [r for r in rows if r["snapshot_date"] == date(2026, 11, 27)]
    assert [r["rank"] for r in nightly] == list(range(1, 11))
    assert nightly[0]["app_id"] == top_apps(catalogue_csv)["id"][0]  # the most-rated
    assert [r["app_id"] for r in backfilled] == [r["app_id"] for r in nightly[:3]]
    assert {r["prime_genre"] for r in nightly} <= {"Book", "Music"}

    # the worker's APPBUZZ_OUT_DIR got the files; the run's summary artifact links them
    written = pl.read_csv(out / "apps.csv")
    assert written["id"].to_list() == [r["app_id"] for r in backfilled]
    summary = deployed.prefect.artifact(run["id"], "app-mentions-summary")
    assert (out / "apps.csv").resolve().as_uri() in summary
    assert "Book+Music/top10" in summary


def test_readme_production_steps_are_the_ones_these_tests_run() -> None:
    text = README.read_text(encoding="utf-8")
    assert PRODUCTION_HEADING in text
    section = text.split(PRODUCTION_HEADING, 1)[1].split("\n## ", 1)[0]
    lines = {line.strip() for line in section.splitlines()}
    missing = [step for step in PRODUCTION_STEPS if step not in lines]
    assert not missing, f"README's production section lacks: {missing}"
    assert f"'{DEPLOYMENT}'" in section


def test_prefect_yaml_parameters_are_the_flows_defaults() -> None:
    """prefect.yaml spells the defaults out for an operator to edit; they must stay the code's."""
    import inspect

    from flows.app_mentions import app_mentions
    from transforms.defaults import DEFAULT_GENRES

    parameters = nightly_spec()["parameters"]
    signature = inspect.signature(app_mentions.fn).parameters
    assert parameters["genres"] == list(DEFAULT_GENRES)
    for name in ("csv_path", "top_n", "strategy", "max_pages", "snapshot_date", "recount"):
        assert parameters[name] == signature[name].default, name


def test_a_deployment_run_with_an_unwritable_output_folder_fails_before_anything_is_written(
    deployed: Deployed, worker, postgres_url: str, catalogue_csv: Path, tmp_path: Path, fake_x_api
) -> None:
    """The worker's APPBUZZ_OUT_DIR cannot be a folder: the run ends `Failed` (Rejected) with
    one line naming it, before any X request; the database and the old files stay as they were."""
    engine = create_engine(postgres_url)
    try:
        check_database(engine)  # an existing database, with its tables
    finally:
        engine.dispose()
    previous = tmp_path / "out"
    previous.mkdir()
    (previous / "apps.csv").write_text("the previous night\n")
    blocked = previous / "apps.csv" / "nightly"
    worker(
        APPBUZZ_DATABASE_URL=postgres_url,
        APPBUZZ_OUT_DIR=str(blocked),
        X_BEARER_TOKEN=fake_x_api.token,
        X_API_BASE_URL=fake_x_api.base_url,
    )
    done = deployed.shell.with_env(CATALOGUE=str(catalogue_csv)).run(RUN_NOW, timeout=180)
    assert done.returncode != 0
    run = deployed.prefect.flow_run(flow_run_id(done.output))
    assert run["state_type"] == "FAILED" and run["state_name"] == "Rejected"
    message = run["state"]["message"]
    assert message == (
        f"output folder {blocked}: {previous / 'apps.csv'} is a file, not a folder "
        "(expected --out or APPBUZZ_OUT_DIR to name a folder)"
    )
    assert fake_x_api.requests == []
    assert sorted(p.name for p in previous.iterdir()) == ["apps.csv"]
    assert (previous / "apps.csv").read_text() == "the previous night\n"
    assert table_rows(postgres_url, appbuzz_runs) == []
    assert table_rows(postgres_url, app_mentions) == []
