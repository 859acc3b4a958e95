"""Open an App Store catalogue CSV: check it can be one, then scan it lazily, by column name.

Copies of this data set in circulation differ: with or without the leading row-number column
(unnamed, `key`, `Unnamed: 0`), comma, semicolon or tab separated, with a byte-order mark, CRLF
line endings, extra or reordered columns. Columns are found by name, so all of those read alike.
Everything is read as text: turning text into numbers is validation's job, so a word where a
number belongs quarantines one row instead of failing the file.

A run opens its catalogue once (`CatalogueFile.open`: the head read and checked) and hashes it
once (started in the background at open, taken when the version is first asked for).
`InMemoryCatalogue` offers the same to tests of the tasks, from a frame.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from sources.content_hash import file_sha256, prefetch_sha256
from transforms.errors import InputRejected
from transforms.schema import REQUIRED_COLUMNS

SAMPLE_CATALOGUE = Path(__file__).with_name("data") / "sample_catalogue.csv"
SEPARATORS = (",", ";", "\t")
_HEAD_BYTES = 64 * 1024
# The streaming CSV reader's chunk, in bytes. Polars' default keeps several 30+ MB chunks in
# flight (~340 MB peak at 7.2 million rows); 4 MiB chunks need ~170 MB and parse as fast; 1 MiB
# needs ~90 MB but parses 15% slower. Polars reads it from the environment on every query; an
# explicit setting wins.
CSV_CHUNK_BYTES = str(4 << 20)


class Catalogue(Protocol):
    """A run's catalogue: where it came from, its version, its rows as text, lazily."""

    @property
    def source_path(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    def scan(self) -> pl.LazyFrame: ...

    def collect(self, *plans: pl.LazyFrame) -> list[pl.DataFrame]: ...


@dataclass
class CatalogueFile:
    """A file that passed the cheap checks: it exists, is text, and has the required columns."""

    path: Path
    separator: str
    columns: tuple[str, ...]
    _sha256: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> CatalogueFile:
        """Check the file's head (one read) and start hashing it in the background; raise
        `InputRejected` with one line when it cannot be a catalogue."""
        catalogue = cls(*_checked_head(Path(path)))
        prefetch_sha256(catalogue.path)
        return catalogue

    @property
    def source_path(self) -> str:
        return str(self.path)

    @property
    def sha256(self) -> str:
        """The file's version: hashed once per run, whoever asks first waits for it."""
        with self._lock:
            if self._sha256 is None:
                self._sha256 = file_sha256(self.path)
            return self._sha256

    def scan(self) -> pl.LazyFrame:
        """The required columns as text, lazily; nothing is read until the plan is collected."""
        os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", CSV_CHUNK_BYTES)
        return pl.scan_csv(
            self.path,
            separator=self.separator,
            infer_schema=False,
            with_column_names=lambda names: [n.strip() for n in names],
            quote_char='"',
            raise_if_empty=False,
        ).select(REQUIRED_COLUMNS)

    def collect(self, *plans: pl.LazyFrame) -> list[pl.DataFrame]:
        """Collect plans over one scan together (the file is read once), streaming.

        A file that turns out not to be readable text or well-formed CSV past its head is
        rejected with the line where it went wrong, when that can be found.
        """
        try:
            return pl.collect_all(plans, engine="streaming")
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
            raise _unreadable(self.path, self.separator, error) from None


@dataclass
class InMemoryCatalogue:
    """A catalogue held in memory, its cells as text as a file would read: for task tests."""

    rows: pl.DataFrame
    source_path: str = "memory:catalogue.csv"

    @property
    def sha256(self) -> str:
        buffer = io.BytesIO()
        self.rows.write_csv(buffer)
        return hashlib.sha256(buffer.getvalue()).hexdigest()

    def scan(self) -> pl.LazyFrame:
        return self.rows.lazy().select(pl.col(REQUIRED_COLUMNS).cast(pl.String))

    def collect(self, *plans: pl.LazyFrame) -> list[pl.DataFrame]:
        return pl.collect_all(plans, engine="streaming")


def _checked_head(path: Path) -> tuple[Path, str, tuple[str, ...]]:
    """Check what can be checked from the file's head; raise `InputRejected` with one line."""
    if not path.exists():
        raise InputRejected(f"{path}: no such file (expected an App Store catalogue CSV)")
    if path.is_dir():
        raise InputRejected(f"{path}: is a directory (expected an App Store catalogue CSV)")
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as error:
        raise InputRejected(f"{path}: cannot be read ({error.strerror})") from None
    if not head.strip():
        raise InputRejected(f"{path}: is empty (expected a header line naming the columns)")
    if b"\x00" in head:
        raise InputRejected(f"{path}: is not a text file (found NUL bytes)")
    header_line = _first_line(path, head)
    rows_in_head = head.partition(b"\n")[2].strip()
    if not rows_in_head and len(head) < _HEAD_BYTES:
        raise InputRejected(f"{path}: has a header but no data rows")
    separator = max(SEPARATORS, key=header_line.count)
    columns = tuple(c.strip() for c in next(csv.reader([header_line], delimiter=separator)))
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputRejected(
            f"{path}: line 1: missing required column {', '.join(map(repr, missing))} "
            f"(the header must name {', '.join(REQUIRED_COLUMNS)})"
        )
    return path, separator, columns


def _first_line(path: Path, head: bytes) -> str:
    line = head.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputRejected(f"{path}: line 1 is not valid UTF-8 text") from None


def _unreadable(path: Path, separator: str, error: Exception) -> InputRejected:
    """The one line for a file that failed past its head: where, when that can be found."""
    line = first_invalid_utf8_line(path)
    if line is not None:
        return InputRejected(f"{path}: line {line} is not valid UTF-8 text")
    malformed = first_malformed_line(path, separator)
    if malformed is not None:
        line, reason = malformed
        return InputRejected(
            f"{path}: line {line} is not well-formed CSV ({reason}; a field with the "
            "separator, a quote or a line break in it must be quoted, quotes doubled)"
        )
    first = (str(error).strip().splitlines() or ["unreadable"])[0]
    return InputRejected(f"{path}: is not a readable CSV catalogue ({first})")


def first_invalid_utf8_line(path: Path) -> int | None:
    """The 1-based line of the first byte sequence that is not UTF-8, or None if all is well.

    Only called after a scan failed, so a good file is never decoded twice.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return line + chunk[: error.start].count(b"\n")
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line
    return None


def first_malformed_line(path: Path, separator: str) -> tuple[int, str] | None:
    """The 1-based line where the quoting first goes wrong, and how; None if it never does.

    Only called after a scan failed. Python's strict CSV reader stops where Polars' parallel
    reader cannot say: a quote closed and followed by more text, or a quote never closed. The
    reader only notices the latter at the end of the file, so the line given is where the
    unfinished row starts, which is where the stray quote is.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=separator, strict=True)
        row_starts = 1
        try:
            for _ in reader:
                row_starts = reader.line_num + 1
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                return row_starts, "a quote is never closed"
            return reader.line_num, str(error)
    return None


__all__ = [
    "SAMPLE_CATALOGUE",
    "Catalogue",
    "CatalogueFile",
    "InMemoryCatalogue",
    "first_invalid_utf8_line",
    "first_malformed_line",
]
