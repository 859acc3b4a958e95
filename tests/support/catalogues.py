"""The catalogues the tests run on: generated, of any size, with the real file's 17 columns, its
genres and value ranges (the project's own sample generator, imported here and only here), and
the real file itself for the few tests whose point is its known answers.

The real file is the public "Mobile App Store" data set (Ramanathan Perumal, Kaggle, 7,197 apps,
2017), kept beside the repository at ../shared/data/AppleStore.csv; it is never committed. Tests
that read it carry `@pytest.mark.real_data`: without the file they skip, except in CI where they
fail.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sinks.files import write_sample
from sources.sample import COLUMNS, GENRES, sample_catalogue

__all__ = [
    "COLUMNS",
    "GENRES",
    "REAL_CSV",
    "ROWS",
    "generated",
    "sample_catalogue",
    "top_apps",
    "variant_without",
    "write_catalogue",
]

REAL_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "AppleStore.csv"
ROWS = 7197  # as many apps as the real file
SEED = 20261201  # not the shipped sample's: another catalogue of the same kind


def generated(rows: int = ROWS, seed: int = SEED) -> pl.DataFrame:
    """A realistic catalogue of `rows` apps, the same for the same arguments."""
    return sample_catalogue(rows, seed=seed, distinct_brands=True)


def write_catalogue(path: Path, catalogue: pl.DataFrame | None = None) -> Path:
    """Write `catalogue` (default: `generated()`) as the public file is written."""
    return write_sample(path, generated() if catalogue is None else catalogue)


def top_apps(
    catalogue: pl.DataFrame | Path, genres: tuple[str, ...] = ("Book", "Music"), n: int = 10
) -> pl.DataFrame:
    """The expected ranking of a catalogue (or its file), plainly: most ratings first, ties by
    id. A test's oracle, independent of appbuzz's ranking."""
    if isinstance(catalogue, Path):
        catalogue = pl.read_csv(catalogue, infer_schema=False).with_columns(
            pl.col("rating_count_tot").cast(pl.Int64)
        )
    return (
        catalogue.filter(pl.col("prime_genre").is_in(genres))
        .with_columns(pl.col("id").cast(pl.Int64))
        .sort(["rating_count_tot", "id"], descending=[True, False])
        .head(n)
    )


def variant_without(csv: Path, folder: Path, app_id: int) -> Path:
    """The catalogue without one app: another version of the file, another top 10."""
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    path = folder / "previous.csv"
    kept = [line for line in lines if line.split(",", 2)[1] != f'"{app_id}"']
    assert len(kept) == len(lines) - 1, f"app {app_id} is not once in {csv}"
    path.write_text("".join(kept), encoding="utf-8")
    return path
