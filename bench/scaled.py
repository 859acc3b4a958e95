"""Scaled catalogues built at run time from the real file: x1, x100, x1000 with fresh ids.

Copy `k` of the file (k = 0, 1, ...) keeps every row but gives it the id `k * 10**10 + id`
and the row number `k * rows + n`, so ids stay unique across copies and the ten copies of the
x1 winner with the smallest ids are copies 0..9. With `bad_rows`, a few Games rows (outside any
Book/Music ranking) are broken the same way in every copy (a negative price, a word for a size,
a rating above 5, a blank name, a missing count, an id used twice) and one gets a padded price,
which is valid: so the x1000 rejects must be the x1 rejects repeated. The files live in a
temporary folder and are never committed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

REAL_CSV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "AppleStore.csv"
ID_STRIDE = 10**10  # larger than any App Store id in the file

# (column, value) written into the first Games rows, in this order; "<previous id>" copies the
# id of the row before, so two rows share an id.
BREAKAGES: tuple[tuple[str, str], ...] = (
    ("price", "-1.99"),
    ("size_bytes", "about 100 MB"),
    ("user_rating", "7.5"),
    ("track_name", "   "),
    ("rating_count_tot", ""),
    ("id", "<previous id>"),
    ("price", " 0.99 "),  # padded, but a valid number: not a reject
)


@dataclass(frozen=True)
class ScaledCatalogue:
    path: Path
    scale: int
    rows_per_copy: int

    @property
    def rows(self) -> int:
        return self.scale * self.rows_per_copy


def scaled_id(original: int, copy: int) -> int:
    """The id that row `original` gets in copy `copy` (copy 0 keeps the file's ids)."""
    return copy * ID_STRIDE + original


def build_scaled(
    folder: Path, scale: int, *, source: Path = REAL_CSV, bad_rows: bool = True
) -> ScaledCatalogue:
    """Write `scale` copies of `source` with fresh ids into `folder`."""
    text = source.read_text(encoding="utf-8")
    header, *lines = text.splitlines(keepends=True)
    if bad_rows:
        lines = _break_rows(next(csv.reader([header])), lines)
    # every line starts with "row number","id", both quoted digits in the real file
    split = []
    for line in lines:
        _number, ident, rest = line.encode("utf-8").split(b",", 2)
        split.append((ident.strip(b'"'), rest))
    path = folder / f"catalogue_x{scale}{'_bad' if bad_rows else ''}.csv"
    with path.open("wb") as out:
        out.write(header.encode("utf-8"))
        for k in range(scale):
            offset = k * len(split)
            prefix = str(k).encode() if k else b""
            out.write(
                b"".join(
                    b'"%d","%s%s",%s' % (offset + i, prefix, ident.zfill(10) if k else ident, rest)
                    for i, (ident, rest) in enumerate(split, start=1)
                )
            )
    return ScaledCatalogue(path=path, scale=scale, rows_per_copy=len(split))


def _break_rows(columns: list[str], lines: list[str]) -> list[str]:
    genre = columns.index("prime_genre")
    rows = [next(csv.reader([line])) for line in lines]
    games = [i for i, row in enumerate(rows) if row[genre] == "Games"][: len(BREAKAGES)]
    for n, ((column, value), i) in enumerate(zip(BREAKAGES, games, strict=True)):
        if value == "<previous id>":
            value = rows[games[n - 1]][columns.index("id")]
        rows[i][columns.index(column)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(rows[i])
        number, ident, rest = out.getvalue().split(",", 2)
        lines[i] = f'"{number}","{ident}",{rest}'
    return lines
