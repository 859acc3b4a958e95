"""Open an App Store catalogue CSV: check it can be one, then scan it lazily, by column name.

Copies of this data set in circulation differ: with or without the leading row-number column
(unnamed, `key`, `Unnamed: 0`), comma, semicolon or tab separated, with a byte-order mark, CRLF
line endings, extra or reordered columns. Columns are found by name, so all of those read alike.
Everything is read as text: turning text into numbers is validation's job, so a word where a
number belongs quarantines one row instead of failing the file.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from transforms.errors import InputRejected
from transforms.schema import REQUIRED_COLUMNS

SAMPLE_CATALOGUE = Path(__file__).with_name("data") / "sample_catalogue.csv"
SEPARATORS = (",", ";", "\t")
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class CatalogueFile:
    """A file that passed the cheap checks: it exists, is text, and has the required columns."""

    path: Path
    separator: str
    columns: tuple[str, ...]


def open_catalogue(path: str | Path) -> CatalogueFile:
    """Check what can be checked from the file's head; raise `InputRejected` with one line."""
    path = Path(path)
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
    return CatalogueFile(path=path, separator=separator, columns=columns)


def _first_line(path: Path, head: bytes) -> str:
    line = head.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputRejected(f"{path}: line 1 is not valid UTF-8 text") from None


def scan_catalogue(catalogue: CatalogueFile) -> pl.LazyFrame:
    """The required columns as text, lazily; nothing is read until the plan is collected."""
    return pl.scan_csv(
        catalogue.path,
        separator=catalogue.separator,
        infer_schema=False,
        with_column_names=lambda names: [n.strip() for n in names],
        quote_char='"',
        raise_if_empty=False,
    ).select(REQUIRED_COLUMNS)


def collect_catalogue(catalogue: CatalogueFile, *plans: pl.LazyFrame) -> list[pl.DataFrame]:
    """Collect plans over one scan together (the file is read once), streaming.

    A file that turns out not to be readable text or well-formed CSV past its head is rejected
    with the line where it went wrong, when that can be found.
    """
    try:
        return pl.collect_all(plans, engine="streaming")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
        line = first_invalid_utf8_line(catalogue.path)
        if line is not None:
            raise InputRejected(f"{catalogue.path}: line {line} is not valid UTF-8 text") from None
        malformed = first_malformed_line(catalogue.path, catalogue.separator)
        if malformed is not None:
            line, reason = malformed
            raise InputRejected(
                f"{catalogue.path}: line {line} is not well-formed CSV ({reason}; a field with "
                f"the separator, a quote or a line break in it must be quoted, quotes doubled)"
            ) from None
        first = (str(error).strip().splitlines() or ["unreadable"])[0]
        raise InputRejected(
            f"{catalogue.path}: is not a readable CSV catalogue ({first})"
        ) from None


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
    "CatalogueFile",
    "first_invalid_utf8_line",
    "first_malformed_line",
    "open_catalogue",
    "scan_catalogue",
]
