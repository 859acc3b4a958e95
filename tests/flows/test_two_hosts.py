"""Two hosts that share nothing but the database: a night stopped by a spent X account on one,
rerun on another (its own Prefect home and temporary server, its own results folder, the same
fake X API reached at another address) asks X only for the apps the ledger does not hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.tables import app_mentions, mention_ledger
from tests.fake_x_api import FakeXApi
from tests.support.cli import Cli, Job
from tests.support.postgres import table_rows

pytestmark = pytest.mark.postgres

NIGHT = "2026-11-28"


def host(folder: Path, fake: FakeXApi, address: str) -> dict[str, str]:
    """What differs between the two machines: everything but the database."""
    return {
        "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_LOCAL_STORAGE_PATH": str(folder / "results"),
        "X_BEARER_TOKEN": fake.token,
        "X_API_BASE_URL": fake.base_url.replace("127.0.0.1", address),
        "APPBUZZ_X_RETRY_BASE_SECONDS": "0.02",
        # one request at a time, so the four counted before the cap are exactly four
        "APPBUZZ_X_MAX_CONCURRENCY": "1",
    }


def test_a_rerun_on_another_host_asks_x_only_for_the_apps_the_ledger_lacks(
    catalogue_csv: Path, postgres_url: str, fake_x_api: FakeXApi, tmp_path: Path
) -> None:
    cli = Cli(drop=("PREFECT_",))  # no shared Prefect server: each host starts its own
    night = ["run", "--csv", str(catalogue_csv), "--database-url", postgres_url,
             "--snapshot-date", NIGHT, "--out", "out"]  # fmt: skip
    fake_x_api.cap_after = 4
    first = cli.run(
        Job(tmp_path / "host-a", night, host(tmp_path / "host-a", fake_x_api, "127.0.0.1"))
    )
    assert first.returncode == 1 and "usage cap is spent" in first.stderr, first.stderr[-2000:]
    counted = {r.query for r in fake_x_api.requests if r.status == 200}
    assert len(counted) == 4

    fake_x_api.lift_cap()
    fake_x_api.reset_records()
    second = cli.run(
        Job(tmp_path / "host-b", night, host(tmp_path / "host-b", fake_x_api, "localhost"))
    )
    assert second.returncode == 0, second.stderr[-2000:]
    asked = [r.query for r in fake_x_api.requests]
    print(f"\nMEASURED: host B asked X {len(asked)} time(s), for the apps host A had not counted")
    assert len(asked) == 6 and not counted & set(asked)  # exactly the six uncounted, once each
    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    assert len(rows) == 10 and {r["mention_status"] for r in rows} == {"ok"}
    assert all(r["n_citacoes"] == fake_x_api.total_for(r["mention_query"]) for r in rows)
    ledger = table_rows(postgres_url, mention_ledger)
    assert len(ledger) == 10 and len({r["run_id"] for r in ledger}) == 2  # A's four, B's six
