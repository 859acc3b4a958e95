"""Canary secrets: a database password and X tokens (one accepted by the fake X API, one refused)
planted in real runs, then looked for everywhere those runs left a trace (terminal output, files
and Prefect's persisted results, tables, Prefect's logs, artifacts and state through its API, the
Prefect home on disk, exception messages, repr of the settings). Found nowhere.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from flows.settings import Settings
from sinks.database import DatabaseUnavailable, check_database, make_engine
from sinks.tables import app_mentions
from tests.fake_x_api import FakeXApi
from tests.hostile.tools import table_state
from tests.secret_scan import files_holding
from tests.support.catalogues import ROWS
from tests.support.cli import Cli, Job
from tests.support.prefect import PrefectApi
from transforms.redaction import safe_url

DB_CANARY = f"dbcanary{uuid.uuid4().hex}"
X_CANARY = f"xcanary{uuid.uuid4().hex}"  # the token the fake X API accepts
X_REFUSED_CANARY = f"xrefused{uuid.uuid4().hex}"  # a token it refuses (401)
CANARIES = {
    "database password": DB_CANARY,
    "X token": X_CANARY,
    "refused X token": X_REFUSED_CANARY,
}
COLUMNS = [c.name for c in app_mentions.columns]
SNAPSHOT = "2031-01-05"  # a date no other test uses, to find this test's flow runs


@pytest.fixture
def canary_url(postgres_url: str) -> Iterator[str]:
    """The test database, reached as a role of its own whose password is the canary."""
    role = f"appbuzz_canary_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{DB_CANARY}'"))
        connection.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}"))
    try:
        yield (
            make_url(postgres_url)
            .set(username=role, password=DB_CANARY)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def database_text(url: str) -> str:
    """Every row of every table and view in the database, as text."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names() + inspect(connection).get_view_names()
            rows = [
                connection.scalars(text(f'SELECT row_to_json(t)::text FROM "{name}" t')).all()
                for name in names
            ]
    finally:
        engine.dispose()
    assert {"app_mentions", "appbuzz_runs", "app_mentions_latest"} <= set(names)
    return "\n".join(line for table in rows for line in table)


def test_canary_secrets_never_leave_the_process(
    cli: Cli,
    cli_x_env,
    prefect_server,
    fake_x_api: FakeXApi,
    canary_url: str,
    postgres_url: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    lines = catalogue_csv.read_bytes().split(b"\n")
    broken = tmp_path / "broken.csv"  # rejected inside the flow: a Prefect state with a message
    broken.write_bytes(
        b"\n".join([lines[0], *(re.sub(rb'"USD",[0-9.]+,', b'"USD",free,', x) for x in lines[1:])])
    )
    fake_x_api.token = X_CANARY
    fake_x_api.script("status", status=503)  # a retried fault and a refused query: error paths
    fake_x_api.script("status", status=400, after=4)
    secrets = cli_x_env()  # the canary token; persisted counts in tmp_path/results: scanned
    unreachable = make_url(canary_url).set(port=closed_port()).render_as_string(False)
    in_query = make_url(unreachable).set(password=None).update_query_dict({"password": DB_CANARY})
    common = ["--out", "out", "--snapshot-date", SNAPSHOT]
    jobs = {
        "good_run_verbose": Job(tmp_path / "good", ["run", "--csv", str(catalogue_csv), "-v", *common],
                                {**secrets, "APPBUZZ_DATABASE_URL": canary_url}),
        "rejected_in_flow": Job(tmp_path / "rejected", ["run", "--csv", str(broken),
                                "--database-url", canary_url, *common], secrets),
        "database_down": Job(tmp_path / "down", ["run", "--csv", str(catalogue_csv), *common],
                             {**secrets, "APPBUZZ_DATABASE_URL": unreachable}),
        "password_in_query": Job(tmp_path / "query", ["run", "--csv", str(catalogue_csv),
                                 "--database-url", in_query.render_as_string(False), *common],
                                 secrets),
        "token_refused": Job(tmp_path / "refused", ["run", "--csv", str(catalogue_csv),
                             "--database-url", canary_url, "--top-n", "3", *common],
                             {**secrets, "X_BEARER_TOKEN": X_REFUSED_CANARY,  # no cache to hit
                              "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results-refused")}),
    }  # fmt: skip
    done = dict(zip(jobs, cli.run_many(list(jobs.values()), workers=4), strict=True))
    assert [d.returncode for d in done.values()] == [0, 2, 1, 1, 1], {
        k: d.stderr for k, d in done.items()
    }

    # the canary really was used: the good run's tables belong to the canary's role
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        owner = connection.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'app_mentions'")
        )
    engine.dispose()
    assert owner == make_url(canary_url).username
    assert f"read {ROWS} rows" in done["good_run_verbose"].stdout + done["good_run_verbose"].stderr
    # the failures name the database, and the password's place shows ***
    assert f"{owner}:***@127.0.0.1" in done["database_down"].stderr
    assert "password=***" in done["password_in_query"].stderr
    # the tokens really travelled: on the wire to the fake, and nowhere else
    sent = {r.authorization for r in fake_x_api.requests}
    assert sent == {f"Bearer {X_CANARY}", f"Bearer {X_REFUSED_CANARY}"}
    assert "refused X_BEARER_TOKEN" in done["token_refused"].stderr
    statuses = [
        r[COLUMNS.index("mention_status")] for r in table_state(postgres_url)["app_mentions"]
    ]
    assert sorted(statuses) == ["failed"] + ["ok"] * 9  # the good run counted (one query refused)

    places = {f"{name} {stream}": getattr(d, stream) for name, d in done.items()
              for stream in ("stdout", "stderr")}  # fmt: skip
    places["tables"] = database_text(canary_url)
    records = json.dumps(PrefectApi(prefect_server.api_url).records(), ensure_ascii=False)
    assert SNAPSHOT in records and f"read {ROWS} rows" in records  # the runs' logs are in there
    places["prefect api"] = records
    assert len(list((tmp_path / "results").iterdir())) >= 9  # persisted counts, scanned below
    places |= in_process_texts(canary_url, unreachable, in_query.render_as_string(False))
    for secret, canary in CANARIES.items():
        for place, content in places.items():
            assert canary not in content, f"{secret} found in {place}"
        # every file the runs and Prefect wrote (persisted results decoded), the inputs aside
        hits, read = files_holding(canary, [tmp_path, prefect_server.home])
        assert hits == [] and read > 10, secret


def in_process_texts(url: str, unreachable: str, in_query: str) -> dict[str, str]:
    """What appbuzz's own objects show of the secrets: settings and the errors that name a URL."""
    with pytest.MonkeyPatch.context() as env:  # the process environment, as a deployment sets it
        env.setenv("APPBUZZ_DATABASE_URL", url)
        env.setenv("X_BEARER_TOKEN", X_CANARY)
        settings = Settings()
    assert settings.database_url.get_secret_value() == url
    assert settings.x_bearer_token is not None
    assert settings.x_bearer_token.get_secret_value() == X_CANARY
    texts = {
        "repr(settings)": repr(settings),
        "str(settings)": str(settings),
        "settings json": settings.model_dump_json(),
        "settings dict": str(settings.model_dump()),
        "safe_url": safe_url(url) + safe_url(in_query),
    }
    for name, target in (("down", unreachable), ("query", in_query)):
        with pytest.raises(DatabaseUnavailable) as error:
            check_database(make_engine(target))
        texts[f"error {name}"] = f"{error.value!s} {error.value!r} {error.value.__cause__!r}"
    return texts
