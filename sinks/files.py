"""Output files, each written to a temporary file beside it and renamed: never half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import IO

import polars as pl

# The original system's columns first, then ours: the contract of apps.csv and apps.json.
OUTPUT_COLUMNS = (
    "id",
    "track_name",
    "n_citacoes",
    "size_bytes",
    "price",
    "prime_genre",
    "rank",
    "rating_count_tot",
    "mention_status",
    "snapshot_date",
)


class OutputUnavailable(ValueError):
    """The output folder cannot be written: said before the run, not after the load."""


def check_out_dir(out_dir: Path) -> None:
    """Check, without creating anything, that `out_dir` is or can become a writable folder."""
    existing = Path(out_dir).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputUnavailable(
            f"output folder {out_dir}: {existing} is a file, not a folder "
            "(expected --out or APPBUZZ_OUT_DIR to name a folder)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputUnavailable(f"output folder {out_dir}: {existing} is not writable")


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def output_rows(enriched: pl.DataFrame) -> pl.DataFrame:
    """The enriched rows shaped as the files' contract: App Store `id` first, rank order."""
    return enriched.sort("rank").select(OUTPUT_COLUMNS)


def write_csv(path: Path, frame: pl.DataFrame) -> Path:
    _atomic_write(path, lambda handle: frame.write_csv(handle))
    return path


def write_json(path: Path, frame: pl.DataFrame) -> Path:
    body = json.dumps(frame.to_dicts(), ensure_ascii=False, indent=2, default=_json_default)
    _atomic_write(path, lambda handle: handle.write(body.encode("utf-8") + b"\n"))
    return path


def write_outputs(out_dir: Path, rows: pl.DataFrame, rejects: pl.DataFrame) -> dict[str, Path]:
    """Write apps.csv, apps.json and (when rows were rejected) rejects.csv into `out_dir`.

    A stale rejects.csv from an earlier run is removed, so the folder always describes one run.
    """
    written = {
        "apps.csv": write_csv(out_dir / "apps.csv", rows),
        "apps.json": write_json(out_dir / "apps.json", rows),
    }
    rejects_path = out_dir / "rejects.csv"
    if rejects.height:
        written["rejects.csv"] = write_csv(rejects_path, rejects)
    else:
        rejects_path.unlink(missing_ok=True)
    return written


def write_sample(path: Path, catalogue: pl.DataFrame) -> Path:
    """Write a catalogue the way the public file is written: text quoted, numbers bare."""
    _atomic_write(path, lambda handle: catalogue.write_csv(handle, quote_style="non_numeric"))
    return path
