"""The routes over HTTP, against two nights really loaded by the pipeline, on both backends."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from sinks.files import OUTPUT_COLUMNS
from sinks.trends import TREND_COLUMNS

COLUMNS = (*OUTPUT_COLUMNS, *TREND_COLUMNS)  # the original names first, then the change columns


def test_apps_json_is_the_latest_file_row_for_row(served: str, snapshots) -> None:
    response = httpx.get(f"{served}/apps.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rows = response.json()
    assert rows == snapshots.file_rows(snapshots.latest)
    assert len(rows) == 10 and [r["rank"] for r in rows] == list(range(1, 11))
    assert all(tuple(row) == COLUMNS for row in rows)  # original names first, in order
    assert {r["snapshot_date"] for r in rows} == {snapshots.latest}
    assert rows[0]["id"] == snapshots.climber


def test_apps_csv_is_the_latest_file_as_a_download(served: str, snapshots) -> None:
    response = httpx.get(f"{served}/apps.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == "attachment; filename=apps.csv"
    assert response.content == (snapshots.out[snapshots.latest] / "apps.csv").read_bytes()
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(table[0]) == COLUMNS
    assert [int(r["id"]) for r in table] == [r["id"] for r in snapshots.file_rows(snapshots.latest)]


def test_an_earlier_snapshot_can_be_asked_for(served: str, snapshots) -> None:
    earlier = httpx.get(f"{served}/apps.json", params={"snapshot_date": snapshots.earlier}).json()
    assert earlier == snapshots.file_rows(snapshots.earlier)
    assert earlier != snapshots.file_rows(snapshots.latest)
    assert earlier[9]["id"] == snapshots.climber
    download = httpx.get(f"{served}/apps.csv", params={"snapshot_date": snapshots.earlier})
    assert download.content == (snapshots.out[snapshots.earlier] / "apps.csv").read_bytes()
    assert httpx.get(f"{served}/apps.json", params={"snapshot_date": "2020-01-01"}).json() == []


def test_selection_and_genre_filters(served: str, snapshots) -> None:
    latest = snapshots.file_rows(snapshots.latest)
    named = httpx.get(f"{served}/apps.json", params={"selection": "Book+Music/top10"}).json()
    assert named == latest  # httpx encodes + as %2B, as a client must
    music = httpx.get(f"{served}/apps.json", params={"genre": "Music"}).json()
    assert music == [r for r in latest if r["prime_genre"] == "Music"] and music
    both = httpx.get(f"{served}/apps.json", params=[("genre", "Music"), ("genre", "Book")])
    assert both.json() == latest
    other = httpx.get(f"{served}/apps.json", params={"selection": "Games/top5"})
    assert other.status_code == 200 and other.json() == []
    book_csv = httpx.get(f"{served}/apps.csv", params={"genre": "Book"}).text.splitlines()
    assert len(book_csv) == 1 + sum(r["prime_genre"] == "Book" for r in latest)


def test_runs_newest_first_and_paged(served: str, snapshots) -> None:
    response = httpx.get(f"{served}/runs")
    assert response.status_code == 200 and response.headers["x-total-count"] == "2"
    runs = response.json()
    assert [r["snapshot_date"] for r in runs] == [snapshots.latest, snapshots.earlier]
    assert all(r["status"] == "completed" and r["selection"] == "Book+Music/top10" for r in runs)
    assert all(r["rows_read"] == 300 and r["mentions_skipped"] == 10 for r in runs)
    assert runs[0]["started_at"] > runs[1]["started_at"]
    assert runs[0]["source_path"].endswith("next.csv")
    first_page = httpx.get(f"{served}/runs", params={"limit": 1}).json()
    second_page = httpx.get(f"{served}/runs", params={"limit": 1, "offset": 1}).json()
    assert first_page == runs[:1] and second_page == runs[1:]
    assert httpx.get(f"{served}/runs", params={"offset": 2}).json() == []


def test_history_gives_one_point_per_snapshot(served: str, snapshots) -> None:
    response = httpx.get(f"{served}/apps/{snapshots.climber}/history")
    assert response.status_code == 200
    points = response.json()
    assert [(p["snapshot_date"], p["rank"]) for p in points] == [
        (snapshots.earlier, 10),
        (snapshots.latest, 1),
    ]
    assert all(p["n_citacoes"] is None and p["mention_status"] == "skipped" for p in points)
    assert points[1]["rating_count_tot"] > points[0]["rating_count_tot"]
    missing = httpx.get(f"{served}/apps/1/history")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "app 1 is in no snapshot of Book+Music/top10"}
    other = httpx.get(f"{served}/apps/{snapshots.climber}/history", params={"selection": "X/top1"})
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/apps.json", {"snapshot_date": "2026-13-01"}, ["query", "snapshot_date"]),
        ("/apps.json", {"snapshot_date": "1700000000"}, ["query", "snapshot_date"]),
        ("/apps.csv", {"snapshot_date": "yesterday"}, ["query", "snapshot_date"]),
        ("/apps.json", {"genre": ""}, ["query", "genre", 0]),
        ("/apps.json", {"selection": "Book\x00Music/top10"}, ["query", "selection"]),
        ("/runs", {"limit": "0"}, ["query", "limit"]),
        ("/runs", {"limit": "ten"}, ["query", "limit"]),
        ("/runs", {"offset": "-1"}, ["query", "offset"]),
        ("/apps/abc/history", {}, ["path", "app_id"]),
        ("/apps/99999999999999999999/history", {}, ["path", "app_id"]),
    ],
)
def test_malformed_parameters_are_422_naming_them(
    served: str, path: str, params: dict, named: list
) -> None:
    response = httpx.get(f"{served}{path}", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert [error["loc"] for error in response.json()["detail"]] == [named]


def test_health_and_docs(served: str, snapshots) -> None:
    health = httpx.get(f"{served}/healthz").json()
    assert health["status"] == "ok"
    assert health["database"] == snapshots.database_url.split(":")[0].split("+")[0]
    spec = httpx.get(f"{served}/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/apps.json",
        "/apps.csv",
        "/runs",
        "/apps/{app_id}/history",
        "/apps/{app_id}/days",
    }
    row_schema = spec["components"]["schemas"]["AppRow"]["properties"]
    assert tuple(row_schema) == COLUMNS
    docs = httpx.get(f"{served}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
