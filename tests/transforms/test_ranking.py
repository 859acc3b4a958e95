"""Ranking on a generated catalogue as large as the real one, checked against an independent
plain-Python oracle."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from sources.catalogue import CatalogueFile
from tests.validation_oracle import valid as valid_rows
from transforms.ranking import rank_top_apps, selection_name
from transforms.screening import plan_validation


def oracle(path: Path, genres: set[str], top_n: int) -> list[int]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["prime_genre"] in genres]
    rows.sort(key=lambda r: (-int(r["rating_count_tot"]), int(r["id"])))
    return [int(r["id"]) for r in rows[:top_n]]


@pytest.mark.parametrize(
    ("genres", "top_n"),
    [
        (["Book", "Music"], 10),
        (["Music", "Book"], 3),
        (["Games"], 25),
        (["Catalogs"], 50),  # fewer apps than asked: all ten of them
        (["Book", "Music", "Games", "Finance"], 100),
        (["Weather"], 1),
        (["No Such Genre"], 10),
    ],
)
def test_ranking_matches_oracle(catalogue_csv: Path, genres: list[str], top_n: int) -> None:
    valid = valid_rows(plan_validation(CatalogueFile.open(catalogue_csv).scan()))
    top = rank_top_apps(valid, genres, top_n).collect()
    assert top["id"].to_list() == oracle(catalogue_csv, set(genres), top_n)
    assert top["rank"].to_list() == list(range(1, top.height + 1))


def test_ties_go_to_the_smaller_id() -> None:
    apps = pl.LazyFrame(
        {
            "id": [30, 10, 20, 40],
            "track_name": ["c", "a", "b", "d"],
            "size_bytes": [1, 1, 1, 1],
            "price": [0.0] * 4,
            "rating_count_tot": [5, 5, 5, 9],
            "user_rating": [4.0] * 4,
            "prime_genre": ["Music"] * 4,
        }
    )
    assert rank_top_apps(apps, ["Music"], 3).collect()["id"].to_list() == [40, 10, 20]


def test_selection_name_is_canonical() -> None:
    assert selection_name(["Music", "Book", "Book"], 10) == "Book+Music/top10"
