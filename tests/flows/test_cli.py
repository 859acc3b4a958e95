"""`appbuzz run` as a person runs it: a subprocess, real files, real databases."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, func, select

from sinks.tables import app_mentions, appbuzz_runs

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
