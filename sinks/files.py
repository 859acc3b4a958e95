"""Output files, each written to a temporary file beside it and renamed: never half a file."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO

import polars as pl

from sinks.trends import TREND_COLUMNS
from transforms.errors import OutputUnavailable

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


def _write_temp(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a complete, synced file beside `path` (same folder: the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    tmp = _write_temp(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writer(body: bytes) -> Callable[[IO[bytes]], None]:
    def write(handle: IO[bytes]) -> None:
        handle.write(body)

    return write


_move = os.replace  # the one call that puts a prepared file in place (tests break it here)


@dataclass
class PreparedOutputs:
    """One night's files, rendered and ready, not yet in place.

    Why: the files and the database rows of a snapshot must describe the same night. The rows
    commit in one transaction; a file rename is atomic only file by file. So the files are
    rendered first (`prepare_outputs`: the rows shaped and serialised, what can fail on the
    data), then `publish` writes each beside its place, syncs it and renames it in, as the last
    step inside the database transaction, just before COMMIT
    (`sinks.database.replace_snapshot`):

    - a failed write or rename (disk full, say) raises inside the transaction, which rolls
      back, and `restore` puts back whatever was already renamed: old rows, old files;
    - a failed COMMIT (the connection lost, a deferred constraint) calls `restore` too;
    - once COMMIT returns, `discard` drops the previous files kept aside: new rows, new files.

    `publish` keeps each previous file as a hard link, so `restore` is renames only, and a
    retried load may `publish` again. Nothing touches the folder before the transaction has
    written its rows, so a run killed while it waits for a lock leaves the folder as it was. The
    one window left is the process dying between the renames and COMMIT (milliseconds); a
    killed run is retried, and the retry writes both.
    """

    out_dir: Path
    staged: dict[str, bytes | None]  # file name -> its content (None: remove the file)
    _kept: dict[str, Path | None] = field(default_factory=dict)  # name -> previous (hard link)
    _temps: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> dict[str, Path]:
        """Where the files (not removed ones) are once published."""
        return {name: self.out_dir / name for name, body in self.staged.items() if body is not None}

    def publish(self) -> None:
        """Put every file in place (and remove a stale one), keeping the previous aside."""
        for name, body in self.staged.items():
            path = self.out_dir / name
            tmp = None if body is None else _write_temp(path, _writer(body))
            if tmp is not None:
                self._temps.append(tmp)
            previous: Path | None = None
            if path.exists():
                previous = self.out_dir / f".{name}.previous"
                previous.unlink(missing_ok=True)
                os.link(path, previous)
            self._kept[name] = previous
            if tmp is None:
                path.unlink(missing_ok=True)
            else:
                _move(tmp, path)

    def restore(self) -> None:
        """Undo `publish`: the previous files back in place, the new ones gone."""
        for name in reversed(list(self._kept)):
            path, previous = self.out_dir / name, self._kept.pop(name)
            if previous is None:
                path.unlink(missing_ok=True)
            elif path.exists() and os.path.samefile(previous, path):
                previous.unlink()  # never replaced (a rename onto its own hard link is a no-op)
            else:
                os.replace(previous, path)
        self.discard()

    def discard(self) -> None:
        """Drop what is left aside: temporary files never renamed, previous files kept."""
        for tmp in self._temps:
            tmp.unlink(missing_ok=True)
        self._temps.clear()
        for previous in self._kept.values():
            if previous is not None:
                previous.unlink(missing_ok=True)
        self._kept.clear()


def _json_default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def output_rows(enriched: pl.DataFrame) -> pl.DataFrame:
    """The enriched rows shaped as the files' contract: App Store `id` first, rank order, then
    the change columns (`sinks.trends`) when the rows carry them."""
    trends = [name for name in TREND_COLUMNS if name in enriched.columns]
    return enriched.sort("rank").select(*OUTPUT_COLUMNS, *trends)


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def _json_bytes(frame: pl.DataFrame) -> bytes:
    body = json.dumps(frame.to_dicts(), ensure_ascii=False, indent=2, default=_json_default)
    return body.encode("utf-8") + b"\n"


def prepare_outputs(out_dir: Path, rows: pl.DataFrame, rejects: pl.DataFrame) -> PreparedOutputs:
    """apps.csv, apps.json and (when rows were rejected) rejects.csv for `out_dir`, rendered; a
    stale rejects.csv from an earlier run is to be removed, so the folder always describes one
    run. Nothing is written until `PreparedOutputs.publish`."""
    staged: dict[str, bytes | None] = {"apps.csv": _csv_bytes(rows), "apps.json": _json_bytes(rows)}
    staged["rejects.csv"] = _csv_bytes(rejects) if rejects.height else None
    return PreparedOutputs(out_dir, staged)


def write_sample(path: Path, catalogue: pl.DataFrame) -> Path:
    """Write a catalogue the way the public file is written: text quoted, numbers bare."""
    _atomic_write(path, lambda handle: catalogue.write_csv(handle, quote_style="non_numeric"))
    return path
