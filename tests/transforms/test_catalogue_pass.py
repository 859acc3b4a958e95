"""One streaming read of the catalogue (`flows.catalogue_tasks.rank_catalogue`: the catalogue
source, the pure pass, the scratch sink): the same answers as the plain lazy plan, at any scale."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import polars as pl
import pytest

from flows.catalogue_tasks import rank_catalogue
from sinks.scratch import Scratch
from sources.catalogue import CatalogueFile
from tests import validation_oracle as oracle
from transforms.catalogue_pass import RECHECK_LIMIT, VALID_ROW_COLUMNS, RankedCatalogue
from transforms.ranking import rank_top_apps
from transforms.schema import REQUIRED_COLUMNS
from transforms.screening import plan_validation

GENRES = ("Book", "Music")
HEADER = ["", "id", "track_name", "size_bytes", "price", "rating_count_tot", "user_rating",
          "prime_genre"]  # fmt: skip


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows([str(i), *row] for i, row in enumerate(rows, start=1))
    return path


# Padded numbers are valid after stripping; the conservative first pass fails them and the
# exact second look must let them through, with their ids still counting for uniqueness.
TRICKY = [
    ["101", "Alpha Radio", "1000", "0", "500", "4.5", "Music"],
    ["102", "Beta Books", "2000", " 1.99", " 900 ", "4", "Book"],  # padded: valid
    [" 103 ", "Gamma Tunes", "3000", "0", "800", "3.5", "Music"],  # padded id: valid
    ["104", "Delta", "about 1 MB", "0", "700", "4", "Music"],  # dtype
    ["105", "Epsilon", "4000", "-1", "600", "4", "Book"],  # ge(0)
    ["106", "  ", "5000", "0", "100", "4", "Music"],  # blank: str_length
    ["107", "Zeta", "6000", "0", "10000", "9", "Book"],  # in_range
    ["108", "Eta", "7000", "0", "", "4", "Music"],  # rating missing
    [" 109", "Theta", "8000", "0", "x", "4", "Book"],  # padded id on a failing row ...
    ["109", "Iota", "9000", "0", "300", "4", "Music"],  # ... still duplicates this one
    ["110", "Kappa", "9000", "0", "250", "4", "Games"],
    ["111", "Lambda", "9000", "0", "950", "4", "Book"],  # the winner
    ["112", "Mu", "9000", "0", "900", "4", "Music"],  # ties 102 on rating: the id decides
]


def reference(path: Path, top_n: int = 10) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The plain lazy plan, whole-column operations and all: the meaning of 'correct'."""
    plan = plan_validation(CatalogueFile.open(path).scan())
    top = rank_top_apps(oracle.valid(plan), GENRES, top_n)
    return pl.collect_all([top, oracle.rejects(plan), oracle.valid(plan)])


def ranked(
    path: Path,
    scratch: Scratch,
    top_n: int = 10,
    *,
    keep_valid_rows: bool = False,
    recheck_limit: int = RECHECK_LIMIT,
) -> RankedCatalogue:
    """The pass over `path`, every reject allowed (the share rule has its own tests)."""
    return rank_catalogue(
        CatalogueFile.open(path), scratch, GENRES, top_n, max_reject_share=1.0,
        keep_valid_rows=keep_valid_rows, recheck_limit=recheck_limit,
    )  # fmt: skip


@pytest.mark.parametrize("recheck_limit", [100_000, 0], ids=["fast-then-recheck", "exact-rerun"])
def test_streaming_read_matches_the_lazy_plan(tmp_path: Path, recheck_limit: int) -> None:
    path = write_rows(tmp_path / "tricky.csv", TRICKY)
    top, rejects, valid = reference(path)
    scratch = Scratch()
    result = ranked(path, scratch, keep_valid_rows=True, recheck_limit=recheck_limit)
    assert result.rows_read == len(TRICKY)
    assert result.top.equals(top)
    assert result.rejects.equals(rejects)
    assert result.top["id"].to_list() == [111, 102, 112, 103, 101]
    assert set(rejects["row_number"]) == {4, 5, 6, 7, 8, 9, 10}
    assert rejects.filter(pl.col("check") == "field_uniqueness")["row_number"].to_list() == [9, 10]

    loaded = pl.read_csv(
        result.valid_rows.path, has_header=False, new_columns=list(VALID_ROW_COLUMNS)
    ).filter(~pl.col("id").is_in(result.valid_rows.exclude.get("id", [])))
    assert result.valid_rows.rows == loaded.height == valid.height
    assert set(loaded["catalogue_sha256"]) == {hashlib.sha256(path.read_bytes()).hexdigest()}
    assert loaded.select(REQUIRED_COLUMNS).sort("id").equals(valid.sort("id"), null_equal=True)
    assert result.valid_rows.exclude == {"id": [109]}
    assert [p.name for p in scratch.folder.iterdir()] == ["valid-rows.csv"]  # the pass's are gone
    scratch.remove()
    assert not scratch.folder.exists()


@pytest.mark.real_data
def test_real_file_in_one_pass(real_csv: Path) -> None:
    with Scratch() as scratch:
        result = ranked(real_csv, scratch)
        assert list(scratch.folder.iterdir()) == []  # the work files are gone
    assert result.sha256 == hashlib.sha256(real_csv.read_bytes()).hexdigest()
    assert result.rows_read == 7197
    assert result.rejects.height == 0
    assert result.top["id"].to_list()[:2] == [284035177, 324684580]
    assert result.top["rating_count_tot"].to_list()[-1] == 106235
    assert result.valid_rows is None


def test_results_agree_across_scales(tmp_path: Path) -> None:
    """Three copies with fresh ids: the winner's copies lead, the rejects repeat per copy."""
    copies = []
    for copy in range(3):
        for row in TRICKY:
            ident = row[0].strip()
            copies.append([f"{copy}{ident}" if copy else row[0], *row[1:]])
    path = write_rows(tmp_path / "x3.csv", copies)
    with Scratch() as scratch:
        once = ranked(write_rows(tmp_path / "x1.csv", TRICKY), scratch)
        thrice = ranked(path, scratch, top_n=3)
    assert thrice.top["id"].to_list() == [111, 1111, 2111]
    n = len(TRICKY)
    per_copy = thrice.rejects.with_columns(
        copy=(pl.col("row_number") - 1) // n, row_number=(pl.col("row_number") - 1) % n + 1
    )
    for copy in range(3):
        same = per_copy.filter(pl.col("copy") == copy).select("row_number", "column", "check")
        assert same.equals(once.rejects.select("row_number", "column", "check"))
