"""What one run costs its inputs: the catalogue opened once (its head checked) and hashed once,
the database behind one engine. Measured, not assumed: Python's audit hook sees every file this
process opens (Polars' own streaming reads, in Rust, are not among them), and counting wrappers
around the hash and the engine factory delegate to the real ones."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flows.app_mentions import app_mentions
from sinks import database as database_module
from sources import content_hash

_WATCHED: set[str] = set()
_OPENED: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    watched = _WATCHED and event == "open" and isinstance(args[0], str | os.PathLike)
    if watched and os.fspath(args[0]) in _WATCHED:
        _OPENED.append(os.fspath(args[0]))


sys.addaudithook(_audit)  # for the life of the process: only watched paths are counted


@pytest.mark.usefixtures("prefect_harness", "clean_environment")
def test_a_run_opens_and_hashes_its_catalogue_once_and_makes_one_engine(
    catalogue_csv: Path, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = Path(shutil.copy(catalogue_csv, tmp_path / "catalogue.csv"))  # never hashed before
    hashed: list[Path] = []
    engines: list[str] = []
    hash_file, make_engine = content_hash._sha256_of, database_module.make_engine

    def counted_hash(path: Path) -> str:
        hashed.append(path)
        return hash_file(path)

    def counted_engine(url: str) -> Any:
        engines.append(url)
        return make_engine(url)

    monkeypatch.setattr(content_hash, "_sha256_of", counted_hash)
    monkeypatch.setattr(database_module, "make_engine", counted_engine)
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", sqlite_url)
    _WATCHED.add(str(csv))
    try:
        summary = app_mentions(csv_path=csv, snapshot_date=date(2026, 11, 20), out_dir=tmp_path)
    finally:
        _WATCHED.clear()
    assert summary.run.rows_read > 0
    print(f"\nMEASURED: catalogue opened {len(_OPENED)}x by Python (head check + hash), hashed "
          f"{len(hashed)}x, {len(engines)} database engine(s) in one run")  # fmt: skip
    assert len(hashed) == 1 and len(_OPENED) == 2  # one head read, one full read to hash it
    assert engines == [sqlite_url]
