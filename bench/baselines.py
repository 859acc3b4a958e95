"""The baselines, each run as its own process: `python -m bench.baselines KIND CSV GENRES TOP_N`.

- `heapq`: what the original system did: `csv.DictReader` over the file, keep the rows of the
  genres, `heapq.nlargest` by reviews (ties: smaller id). No validation.
- `duckdb`: DuckDB's CSV reader with its own type detection, the same filter and top-k in SQL.
  No validation either.

Each prints the ranked ids as JSON on stdout, so the benchmark can check they agree with
appbuzz.
"""

from __future__ import annotations

import csv
import heapq
import json
import sys


def top_heapq(path: str, genres: list[str], top_n: int) -> list[int]:
    wanted = set(genres)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = (row for row in csv.DictReader(handle) if row["prime_genre"] in wanted)
        best = heapq.nlargest(
            top_n, rows, key=lambda row: (int(row["rating_count_tot"]), -int(row["id"]))
        )
    return [int(row["id"]) for row in best]


def top_duckdb(path: str, genres: list[str], top_n: int) -> list[int]:
    import duckdb

    connection = duckdb.connect()
    rows = connection.execute(
        "SELECT id, track_name, size_bytes, price, prime_genre, rating_count_tot "
        "FROM read_csv(?) WHERE prime_genre IN (SELECT unnest(?)) "
        "ORDER BY rating_count_tot DESC, id ASC LIMIT ?",
        [path, genres, top_n],
    ).fetchall()
    return [int(row[0]) for row in rows]


def main(argv: list[str]) -> int:
    kind, path, genres, top_n = argv
    run = {"heapq": top_heapq, "duckdb": top_duckdb}[kind]
    print(json.dumps(run(path, genres.split(","), int(top_n))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
