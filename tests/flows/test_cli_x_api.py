"""`appbuzz run` with a bearer token, as a subprocess against the fake X API and a real Prefect
server: the counts land, a refused token fails in one line, and the token leaves no trace."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sinks.tables import app_mentions, appbuzz_runs
from tests.fake_x_api import SEARCH, FakeXApi
from tests.secret_scan import files_holding
from tests.support.postgres import table_rows
from tests.support.prefect import PrefectApi

REFUSED_LINE = (
    "appbuzz: the X API refused X_BEARER_TOKEN (401 Unauthorized: Unauthorized); "
    "set X_BEARER_TOKEN to a valid app-only bearer token"
)


@pytest.mark.postgres
def test_a_canary_token_is_nowhere_but_on_the_wire(
    run_cli, cli_x_env, prefect_server, fake_x_api: FakeXApi, postgres_url: str, tmp_path: Path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    fake_x_api.token = canary
    fake_x_api.set_rate_limit(4, window_seconds=1.0)
    fake_x_api.script("status", status=503)
    fake_x_api.script("status", status=400, after=3)
    env = cli_x_env(canary, PREFECT_LOGGING_LEVEL="DEBUG", PREFECT_LOGGING_ROOT_LEVEL="DEBUG")
    result = run_cli(
        "run", "--database-url", postgres_url, "--out", "out", "--snapshot-date", "2026-01-15",
        "--verbose", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # the token did travel, on every request, and nowhere else
    assert fake_x_api.requests and {r.authorization for r in fake_x_api.requests} == {
        f"Bearer {canary}"
    }
    assert "Bearer ***" in result.stderr  # tweepy's debug log of the headers, redacted
    assert canary not in result.stdout and canary not in result.stderr
    hits, read = files_holding(canary, [tmp_path, prefect_server.home])
    assert hits == [] and read > 5
    mentions, runs = table_rows(postgres_url, app_mentions), table_rows(postgres_url, appbuzz_runs)
    assert len(mentions) == 10 and len(runs) == 1
    assert sorted(r["mention_status"] for r in mentions) == ["failed"] + ["ok"] * 9
    assert canary not in repr(mentions) + repr(runs)
    records = PrefectApi(prefect_server.api_url).records(runs[0]["flow_run_id"])
    assert len(records["logs"]) > 10 and len(records["artifacts"]) >= 2
    assert len(records["task_runs"]) >= 10
    assert canary not in json.dumps(records)
    out = json.loads((tmp_path / "out" / "apps.json").read_text(encoding="utf-8"))
    by_status = {r["mention_status"] for r in out}
    assert by_status == {"ok", "failed"}


def test_a_refused_token_fails_in_one_line_and_loads_nothing(
    run_cli, cli_x_env, fake_x_api: FakeXApi, tmp_path: Path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_cli("run", "--database-url", db, "--out", "out", env=cli_x_env(canary))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [REFUSED_LINE] and result.stdout == ""
    assert canary not in result.stderr
    assert len(fake_x_api.requests) == 1  # the first request probes alone: one refusal, no more
    assert not (tmp_path / "out").exists()
    assert table_rows(db, app_mentions) == []
    (run,) = table_rows(db, appbuzz_runs)
    assert run["status"] == "failed" and run["message"] == REFUSED_LINE.removeprefix("appbuzz: ")


def test_search_with_two_pages_from_the_command_line(
    run_cli, cli_x_env, fake_x_api: FakeXApi, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_cli(
        "run", "--database-url", db, "--out", "out", "--strategy", "search", "--max-pages", "2",
        "--top-n", "15", "--max-spend-usd", "100", env=cli_x_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    stored = table_rows(db, app_mentions)
    assert len(stored) == 15
    for row in stored:
        total = fake_x_api.total_for(row["mention_query"])
        sent = fake_x_api.requests_for(row["mention_query"])
        assert row["n_citacoes"] == min(total, 200)
        assert row["mention_status"] == ("capped" if total > 200 else "ok")
        assert len(sent) <= 2 and all(r.path == SEARCH for r in sent)
    (run,) = table_rows(db, appbuzz_runs)
    assert run["strategy"] == "search" and run["posts_consumed"] == sum(
        r["n_citacoes"] for r in stored
    )
