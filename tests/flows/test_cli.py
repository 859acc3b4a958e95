"""`appbuzz run` as a person runs it: a subprocess, real files, real databases."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, func, select

from sinks.tables import app_mentions, appbuzz_runs
from tests.support.catalogues import ROWS, top_apps
from tests.support.environment import clean_env

EXPECTED_TOP10 = [
    "Pandora - Music & Radio",
    "Spotify Music",
    "Shazam - Discover music, artists, videos & lyrics",
    "iHeartRadio – Free Music & Radio Stations",
    "Kindle – Read eBooks, Magazines & Textbooks",
    "SoundCloud - Music & Audio",
    "Magic Piano by Smule",
    "Smule Sing!",
    "TuneIn Radio - MLB NBA Audiobooks Podcasts Music",
    "Amazon Music",
]


@pytest.mark.real_data
def test_run_on_real_file_writes_expected_top10(run_cli, real_csv: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_cli("run", "--csv", str(real_csv), "--database-url", db, "--out", "out")
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "out" / "apps.json").read_text(encoding="utf-8"))
    assert [r["track_name"] for r in rows] == EXPECTED_TOP10
    assert rows[0]["id"] == 284035177 and rows[0]["rating_count_tot"] == 1126879
    assert all(isinstance(r["price"], float) and isinstance(r["size_bytes"], int) for r in rows)
    assert all(r["n_citacoes"] is None and r["mention_status"] == "skipped" for r in rows)
    header = (tmp_path / "out" / "apps.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("id,track_name,n_citacoes,size_bytes,price,prime_genre")
    csv_rows = pl.read_csv(tmp_path / "out" / "apps.csv")
    assert csv_rows["id"].to_list() == [r["id"] for r in rows]
    assert not (tmp_path / "out" / "rejects.csv").exists()


HEADER = '"","id","track_name","size_bytes","currency","price","rating_count_tot","rating_count_ver","user_rating","user_rating_ver","ver","cont_rating","prime_genre","sup_devices.num","ipadSc_urls.num","lang.num","vpp_lic"'


def snapshot_of(tmp_path: Path, db: str) -> tuple[dict[str, bytes], list[tuple]]:
    files = {p.name: p.read_bytes() for p in sorted((tmp_path / "out").glob("*"))}
    engine = create_engine(db)
    with engine.connect() as connection:
        rows = connection.execute(select(app_mentions).order_by(app_mentions.c.rank)).all()
        rows += connection.execute(select(appbuzz_runs.c.run_id)).all()
    engine.dispose()
    return files, rows


def test_missing_column_exits_2_with_one_line_and_touches_nothing(
    run_cli, catalogue_csv: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert (
        run_cli("run", "--csv", str(catalogue_csv), "--database-url", db, "--out", "out").returncode
        == 0
    )
    before = snapshot_of(tmp_path, db)
    broken = tmp_path / "renamed.csv"
    lines = catalogue_csv.read_text(encoding="utf-8").splitlines()
    broken.write_text(
        "\n".join([lines[0].replace('"prime_genre"', '"genre"'), *lines[1:50]]) + "\n"
    )
    result = run_cli("run", "--csv", str(broken), "--database-url", db, "--out", "out")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "renamed.csv" in result.stderr and "'prime_genre'" in result.stderr
    assert snapshot_of(tmp_path, db) == before


def test_bad_rows_are_quarantined_with_reasons(
    run_cli, catalogue_csv: Path, tmp_path: Path
) -> None:
    lines = catalogue_csv.read_text(encoding="utf-8").splitlines()
    first, second = top_apps(catalogue_csv).head(2).iter_rows(named=True)
    winner = next(i for i, line in enumerate(lines) if line.split(",", 2)[1] == f'"{first["id"]}"')
    count = f",{first['rating_count_tot']},"
    bad = [
        lines[winner].replace(count, f",-{count[1:]}", 1),  # negative count: the winner drops out
        '"9001","900000001","Word Count",100,"USD",0,"many",0,4,4,"1","4+","Music",1,1,1,1',
        '"9002","900000002","",100,"USD",0,5,0,4,4,"1","4+","Book",1,1,1,1',
        '"9003","900000003","Too Good",100,"USD",0,5,0,7.5,4,"1","4+","Book",1,1,1,1',
    ]
    kept = [line for i, line in enumerate(lines[1:], start=1) if i != winner]
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text("\n".join([lines[0], *kept, *bad]) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_cli("run", "--csv", str(catalogue), "--database-url", db, "--out", "out")
    assert result.returncode == 0, result.stderr
    rejects = pl.read_csv(tmp_path / "out" / "rejects.csv")
    assert rejects.select("column", "check").rows() == [
        ("rating_count_tot", "greater_than_or_equal_to(0)"),
        ("rating_count_tot", "dtype('Int64')"),
        ("track_name", "str_length(1, 1000)"),
        ("user_rating", "in_range(0, 5)"),
    ]
    assert rejects["row_number"].to_list() == [ROWS, ROWS + 1, ROWS + 2, ROWS + 3]
    names = [r["track_name"] for r in json.loads((tmp_path / "out" / "apps.json").read_text())]
    assert first["track_name"] not in names and names[0] == second["track_name"]
    engine = create_engine(db)
    with engine.connect() as connection:
        assert connection.scalar(select(appbuzz_runs.c.rows_rejected)) == 4
        assert connection.scalar(select(func.count()).select_from(app_mentions)) == 10
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--top-n", "0"], "--top-n"),
        (["run", "--snapshot-date", "28/11/2026"], "YYYY-MM-DD"),
        (["run", "--strategy", "guess"], "--strategy"),
        (["run", "--genres", ","], "--genres"),
        (["run", "--csv", "does-not-exist.csv"], "does-not-exist.csv: no such file"),
        (["run", "--csv", "."], "is a directory"),
        (["fly"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(run_cli, args: list[str], needle: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr


def test_default_run_uses_the_shipped_sample(run_cli, tmp_path: Path) -> None:
    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    assert "300 rows read" in result.stdout
    rows = json.loads((tmp_path / "out" / "apps.json").read_text(encoding="utf-8"))
    assert len(rows) == 10 and (tmp_path / "data" / "appbuzz.db").exists()
    assert "X_BEARER_TOKEN" in result.stderr  # the skipped enrichment is said out loud


def test_a_first_run_at_a_terminal_prints_the_warning_and_the_summary_only(tmp_path: Path) -> None:
    """The quick start as a person sees it: a terminal (a pseudo-terminal through `script`), a
    Prefect home never used, Prefect's temporary server. No telemetry notice, no chatter."""
    if shutil.which("script") is None:
        pytest.skip("needs util-linux's script for a pseudo-terminal")
    env = clean_env({"PREFECT_HOME": str(tmp_path / "prefect-home")}, drop=("PREFECT_",))
    command = shlex.join([sys.executable, "-m", "cli", "run"])
    done = subprocess.run(
        ["script", "-q", "-e", "-c", command, "/dev/null"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert "X_BEARER_TOKEN is not set" in lines[0]
    assert lines[1].startswith("appbuzz: Book+Music/top10 on ") and "300 rows read" in lines[1]
