"""A corpus of odd and broken catalogues, made at run time from a generated catalogue as large
as the real file (tests/support/catalogues.py), through the CLI.

Each case states its outcome: accepted with the clean file's exact answer; rejected whole (exit 2,
one line naming the file and the line or column, nothing touched); or completed with the bad rows
quarantined (in rejects.csv with their reason, left out of the ranking). Runs go side by side to
keep the corpus fast; each has its own folder and database.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sources.catalogue import CatalogueFile
from tests import validation_oracle as oracle
from tests.hostile.tools import files_state
from tests.support.catalogues import top_apps
from tests.support.cli import Cli, Job
from transforms.screening import plan_validation

SNAPSHOT = "2026-11-01"
Table = tuple[list[str], list[list[str]]]


@dataclass(frozen=True)
class Catalogue:
    """A generated catalogue (tests/support/catalogues.py), as bytes and as parsed rows, to
    derive every variant from; apps are picked by their rank, never by a name."""

    raw: bytes
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> int:
        return self.header.index(name)

    def line_of_rank(self, rank: int) -> int:
        """The 0-based index in `rows` of the app ranked `rank` (1-based) in the Book+Music top."""
        app_id = str(oracle_top(self, excluded=set(), n=rank)[rank - 1][0])
        return next(i for i, row in enumerate(self.rows) if row[self.column("id")] == app_id)

    def plain_name_rank(self) -> int:
        """The lowest rank in the top 10 whose name is plain ASCII without a comma or a quote, so
        it is written the same way in CSV and JSON."""
        plain = [r for r, (_, name) in enumerate(oracle_top(self, set()), 1)
                 if name.isascii() and not {",", '"'} & set(name)]  # fmt: skip
        return plain[-1]

    def other_genre_line(self) -> int:
        """The first app outside Book and Music."""
        genre = self.column("prime_genre")
        return next(i for i, row in enumerate(self.rows) if row[genre] not in {"Book", "Music"})

    def first_line_with(self, text: str) -> int:
        """The first physical line (1-based, after the header) holding `text`."""
        return next(i for i, line in enumerate(self.raw.split(b"\n"), 1)
                    if i > 1 and text.encode() in line)  # fmt: skip

    def landmarks(self) -> dict[str, int]:
        return {"dash_line": self.first_line_with("–")}


def to_csv(
    header: list[str],
    rows: list[list[str]],
    separator: str = ",",
    newline: str = "\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator=newline, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def drop_column(c: Catalogue, index: int) -> bytes:
    keep = [i for i in range(len(c.header)) if i != index]
    return to_csv([c.header[i] for i in keep], [[r[i] for i in keep] for r in c.rows])


def rename_column(c: Catalogue, index: int, name: str) -> bytes:
    return to_csv([*c.header[:index], name, *c.header[index + 1 :]], c.rows)


def variant(
    c: Catalogue,
    *,
    row_number: str | None = "",
    reorder: bool = False,
    extra: bool = False,
    separator: str = ",",
    crlf: bool = False,
    bom: bool = False,
) -> bytes:
    """The catalogue as another copy in circulation writes it: the leading row-number column
    dropped (`row_number=None`) or named, columns shuffled, unknown columns added, another
    separator, CRLF line endings, a byte-order mark."""
    header, rows = list(c.header), [list(r) for r in c.rows]
    if row_number is None:
        header, rows = header[1:], [r[1:] for r in rows]
    else:
        header[0] = row_number
    if reorder:
        order = list(range(len(header)))
        random.Random(7).shuffle(order)
        header, rows = [header[i] for i in order], [[r[i] for i in order] for r in rows]
    if extra:
        name = header.index("track_name")
        header = ["notes", *header, "source"]
        rows = [[f'"{r[name]}", seen; twice', *r, "kaggle\t2017"] for r in rows]
    data = to_csv(header, rows, separator=separator, newline="\r\n" if crlf else "\n")
    return codecs.BOM_UTF8 + data if bom else data


def with_newline(name: str) -> str:
    return name.replace(" ", "\n", 1)


def newline_in_names(c: Catalogue) -> bytes:
    rows = [list(r) for r in c.rows]
    name = c.column("track_name")
    in_top = rows[c.line_of_rank(c.plain_name_rank())]
    in_top[name] = with_newline(in_top[name])
    other = rows[c.other_genre_line()]
    other[name] = other[name].replace(" ", "\r\n", 1)
    return to_csv(c.header, rows, quoting=csv.QUOTE_NONNUMERIC)


# Each oddity alone, read in process: exactly the clean file's valid rows.
ODDITIES: dict[str, Callable[[Catalogue], bytes]] = {
    "utf8_bom": lambda c: codecs.BOM_UTF8 + c.raw,
    "crlf": lambda c: c.raw.replace(b"\n", b"\r\n"),
    "no_row_number_column": lambda c: variant(c, row_number=None),
    "row_number_named_key": lambda c: variant(c, row_number="key"),
    "row_number_named_unnamed_0": lambda c: variant(c, row_number="Unnamed: 0"),
    "columns_reordered": lambda c: variant(c, reorder=True),
    "extra_columns": lambda c: variant(c, extra=True),
    "semicolon_separated": lambda c: variant(c, separator=";"),
    "tab_separated": lambda c: variant(c, separator="\t"),
}

# Through the CLI, oddities combined (a run costs seconds; together they cover each one above):
# the same top 10 as the clean file, byte for byte in apps.csv and apps.json.
ACCEPTED: dict[str, Callable[[Catalogue], bytes]] = {
    "bom_crlf": lambda c: codecs.BOM_UTF8 + c.raw.replace(b"\n", b"\r\n"),
    "no_row_number_semicolon_bom": lambda c: variant(c, row_number=None, separator=";", bom=True),
    "key_tab_extra_columns": lambda c: variant(c, row_number="key", separator="\t", extra=True),
    "unnamed_0_reordered_crlf": lambda c: variant(
        c, row_number="Unnamed: 0", reorder=True, crlf=True
    ),
    "newline_in_quoted_name": newline_in_names,
}


def invalid_utf8_at(c: Catalogue, line: int, old: bytes, new: bytes) -> bytes:
    """The catalogue with one byte sequence replaced on (1-based, physical) `line`."""
    lines = c.raw.split(b"\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return b"\n".join(lines)


def deep_invalid_utf8(c: Catalogue) -> bytes:
    assert len(b"\n".join(c.raw.split(b"\n")[:6000])) > 10 * 64 * 1024  # far past 64 KiB
    return invalid_utf8_at(c, 6001, b',"', b',"\xe9')  # a Latin-1 "é" opens the id


def quote_closed_early(c: Catalogue) -> bytes:
    """Line 101 loses the closing quote of its `id`: the quote now closes mid-field."""
    lines = c.raw.split(b"\n")
    app_id = lines[100].split(b",")[1]
    lines[100] = lines[100].replace(app_id + b",", app_id[:-1] + b",", 1)
    return b"\n".join(lines)


def cut_off_in_a_name(c: Catalogue) -> bytes:
    """A download that stopped inside a quoted name, on line 1231."""
    lines = c.raw.split(b"\n")
    start = sum(len(line) + 1 for line in lines[:1230])
    quote = lines[1230].index(b',"', lines[1230].index(b'",') + 2) + 1  # third field's quote
    first_chars = lines[1230][quote + 1 :].decode("utf-8")[:4].encode("utf-8")  # whole characters
    data = c.raw[: start + quote + 1 + len(first_chars)]
    assert data.count(b"\n") + 1 == 1231
    return data


def words_in_counts(c: Catalogue, share: float) -> bytes:
    rows = [list(r) for r in c.rows]
    for row in random.Random(1).sample(rows, int(len(rows) * share)):
        row[c.column("rating_count_tot")] = "lots"
    return to_csv(c.header, rows)


def decimal_comma_semicolon(c: Catalogue) -> bytes:
    rows = [list(r) for r in c.rows]
    for column in ("price", "user_rating", "user_rating_ver"):
        for row in rows:
            row[c.column(column)] = row[c.column(column)].replace(".", ",")
    return to_csv(c.header, rows, separator=";")


@dataclass(frozen=True)
class Rejected:
    make: Callable[[Catalogue], bytes] | None  # None: the path given is not a file
    needles: tuple[str, ...]


# Rejected whole: exit 2, one line on stderr that says where and what, nothing written.
REJECTED: dict[str, Rejected] = {
    "empty_file": Rejected(lambda c: b"", ("is empty",)),
    "only_blank_lines": Rejected(lambda c: b"\r\n\n   \n", ("is empty",)),
    "header_but_no_rows": Rejected(lambda c: c.raw.split(b"\n")[0] + b"\n", ("no data rows",)),
    "header_and_blank_lines": Rejected(
        lambda c: c.raw.split(b"\n")[0] + b"\r\n\r\n\n", ("no data rows",)
    ),
    "random_binary": Rejected(lambda c: random.Random(3).randbytes(50_000), ("not a text file",)),
    "gzipped_catalogue": Rejected(lambda c: gzip.compress(c.raw, mtime=0), ("not a text file",)),
    "utf16_catalogue": Rejected(
        lambda c: c.raw.decode("utf-8").encode("utf-16"), ("not a text file",)
    ),
    "invalid_utf8_in_header": Rejected(
        lambda c: invalid_utf8_at(c, 1, b"track_name", b"track_n\xe4me"),
        ("line 1 is not valid UTF-8",),
    ),
    "cp1252_dash_early": Rejected(
        lambda c: invalid_utf8_at(c, c.first_line_with("–"), "–".encode(), b"\x96"),
        ("line {dash_line} is not valid UTF-8",),
    ),
    "invalid_utf8_deep_in_file": Rejected(deep_invalid_utf8, ("line 6001 is not valid UTF-8",)),
    "quote_closed_then_more_text": Rejected(
        quote_closed_early, ("line 101 is not well-formed CSV", "',' expected after '\"'")
    ),
    "cut_off_inside_a_quoted_name": Rejected(
        cut_off_in_a_name, ("line 1231 is not well-formed CSV", "a quote is never closed")
    ),
    "required_column_missing": Rejected(
        lambda c: drop_column(c, c.column("user_rating")),
        ("line 1", "missing required column 'user_rating'"),
    ),
    "required_column_renamed": Rejected(
        lambda c: rename_column(c, c.column("rating_count_tot"), "reviews"),
        ("line 1", "missing required column 'rating_count_tot'"),
    ),
    "too_many_broken_rows": Rejected(
        lambda c: words_in_counts(c, 0.02),
        ("143 of 7,197 rows fail validation", "more than the 1.0% allowed", "rating_count_tot"),
    ),
    "semicolon_with_decimal_commas": Rejected(
        decimal_comma_semicolon, ("rows fail validation", "column price: dtype('Float64')")
    ),
    "nonexistent_path": Rejected(None, ("no such file",)),
    "a_directory": Rejected(None, ("is a directory",)),
}


def megabyte_name() -> str:
    return ("Soundcloud, but longer " * 50_000)[: 1 << 20]


def quarantine_corpus(c: Catalogue) -> tuple[bytes, dict[str, tuple[str, str]]]:
    """The catalogue with one bad row per rule, each on an app that would be in the top 10.

    Returns the file and, per app id, the (column, check) that must quarantine it.
    """
    rows = [list(r) for r in c.rows]
    expected: dict[str, tuple[str, str]] = {}

    def spoil(rank: int, column: str, value: str, check: str) -> list[str]:
        row = rows[c.line_of_rank(rank)]
        row[c.column(column)] = value
        expected[row[c.column("id")]] = (column, check)
        return row

    spoil(1, "rating_count_tot", "-1126879", "greater_than_or_equal_to(0)")
    spoil(2, "rating_count_tot", "lots", "dtype('Int64')")
    spoil(3, "price", "free", "dtype('Float64')")
    spoil(4, "track_name", "", "not_nullable")
    spoil(5, "track_name", "   ", "str_length(1, 1000)")
    spoil(6, "user_rating", "7.5", "in_range(0, 5)")
    spoil(7, "track_name", megabyte_name(), "str_length(1, 1000)")
    kindle = rows[c.line_of_rank(8)]
    copy = [*kindle]
    copy[c.column("track_name")] = "Kindle (a second copy)"
    rows.insert(5000, copy)
    expected[kindle[c.column("id")]] = ("id", "field_uniqueness")
    return to_csv(c.header, rows), expected


def oracle_top(c: Catalogue, excluded: set[str], n: int = 10) -> list[tuple[int, str]]:
    """The Book+Music top `n` by ratings (ties: smaller id), computed independently of appbuzz."""
    col = c.column
    music_and_books = [
        (int(r[col("rating_count_tot")]), int(r[col("id")]), r[col("track_name")])
        for r in c.rows
        if r[col("prime_genre")] in {"Book", "Music"} and r[col("id")] not in excluded
    ]
    music_and_books.sort(key=lambda t: (-t[0], t[1]))
    return [(app_id, name) for _, app_id, name in music_and_books[:n]]


@dataclass(frozen=True)
class Outcome:
    folder: Path
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, bytes]
    after: dict[str, bytes]


def run_args(source: Path, folder: Path) -> list[str]:
    database = f"sqlite:///{folder / 'appbuzz.db'}"
    return ["run", "--csv", str(source), "--database-url", database, "--out", "out",
            "--snapshot-date", SNAPSHOT]  # fmt: skip


def run_cases(
    cli: Cli, root: Path, sources: dict[str, Path], template: Path | None = None
) -> dict[str, Outcome]:
    """Run each case in a folder of its own (a copy of `template`, when given), side by side."""
    folders = {}
    for name in sources:
        folder = root / name
        if template is not None:
            shutil.copytree(template, folder)
        folder.mkdir(parents=True, exist_ok=True)
        folders[name] = folder
    before = {name: files_state(folder) for name, folder in folders.items()}
    done = cli.run_many([Job(folders[n], run_args(sources[n], folders[n])) for n in sources])
    return {
        name: Outcome(
            folders[name],
            r.returncode,
            r.stdout,
            r.stderr,
            before[name],
            files_state(folders[name]),
        )
        for name, r in zip(sources, done, strict=True)
    }


@pytest.fixture(scope="module")
def catalogue(catalogue_csv: Path) -> Catalogue:
    raw = catalogue_csv.read_bytes()
    header, *rows = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    return Catalogue(raw, header, rows)


@pytest.fixture(scope="module")
def corpus(
    cli: Cli, catalogue: Catalogue, catalogue_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every case, run once: first the clean file and the accepted variants, then the rejected
    and quarantined ones in copies of the clean run's folder (a previous good run to protect)."""
    root = tmp_path_factory.mktemp("corpus")
    inputs = root / "inputs"
    inputs.mkdir()

    def write(name: str, data: bytes) -> Path:
        path = inputs / f"{name}.csv"
        path.write_bytes(data)
        return path

    first = {"clean": catalogue_csv} | {
        n: write(n, make(catalogue)) for n, make in ACCEPTED.items()
    }
    outcomes = run_cases(cli, root / "accepted", first)
    template = outcomes["clean"].folder
    assert outcomes["clean"].returncode == 0, outcomes["clean"].stderr

    second = {
        name: write(name, case.make(catalogue)) for name, case in REJECTED.items() if case.make
    }
    second["nonexistent_path"] = inputs / "no-such-catalogue.csv"
    second["a_directory"] = inputs
    second["quarantined"] = write("quarantined", quarantine_corpus(catalogue)[0])
    return outcomes | run_cases(cli, root / "second", second, template=template)


def read_valid(path: Path) -> tuple[pl.DataFrame, int, int]:
    """What appbuzz's reader and validation make of a file: valid rows, rejects, rows read."""
    catalogue = CatalogueFile.open(path)
    plan = plan_validation(catalogue.scan())
    valid, rejects, counts = catalogue.collect(
        oracle.valid(plan), oracle.rejects(plan), oracle.counts(plan)
    )
    return valid, rejects.height, counts.item()


@pytest.mark.parametrize("oddity", ODDITIES)
def test_each_oddity_alone_reads_as_the_clean_file(
    oddity: str, catalogue: Catalogue, catalogue_csv: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"{oddity}.csv"
    path.write_bytes(ODDITIES[oddity](catalogue))
    valid, rejected, rows_read = read_valid(path)
    clean, _, _ = read_valid(catalogue_csv)
    assert (rejected, rows_read) == (0, 7197)
    assert_frame_equal(valid, clean)


def top10(folder: Path) -> list[tuple[int, str]]:
    rows = json.loads((folder / "out" / "apps.json").read_text(encoding="utf-8"))
    return [(r["id"], r["track_name"]) for r in rows]


def test_the_clean_file_gives_the_known_answer(
    corpus, catalogue: Catalogue, catalogue_csv: Path
) -> None:
    clean = corpus["clean"]
    assert "7,197 rows read, 0 rejected" in clean.stdout
    assert top10(clean.folder) == oracle_top(catalogue, excluded=set())
    assert [i for i, _ in top10(clean.folder)] == top_apps(catalogue_csv)["id"].to_list()


@pytest.mark.parametrize("case", ACCEPTED)
def test_accepted_variant_gives_the_clean_answer(corpus, catalogue: Catalogue, case: str) -> None:
    outcome, clean = corpus[case], corpus["clean"]
    assert outcome.returncode == 0, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "7,197 rows read, 0 rejected" in outcome.stdout
    expected = {k: v for k, v in clean.after.items() if k.startswith("out/")}
    written = {k: v for k, v in outcome.after.items() if k.startswith("out/")}
    if case == "newline_in_quoted_name":  # the answer is the same apps, the name kept as written
        rank = catalogue.plain_name_rank()
        app_id, name = oracle_top(catalogue, set())[rank - 1]
        # how the name appears in each output: JSON escapes the newline, CSV quotes the field
        written_as = {".csv": f'"{with_newline(name)}"'.encode(),
                      "json": json.dumps(with_newline(name))[1:-1].encode()}  # fmt: skip
        expected = {k: v.replace(name.encode(), written_as[k[-4:]]) for k, v in expected.items()}
        assert top10(outcome.folder)[rank - 1] == (app_id, with_newline(name))
    assert written == expected
    with sqlite3.connect(outcome.folder / "appbuzz.db") as db:
        loaded = db.execute("SELECT app_id FROM app_mentions ORDER BY rank").fetchall()
    assert [app_id for (app_id,) in loaded] == [app_id for app_id, _ in top10(clean.folder)]


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_file_exits_2_with_one_line_and_touches_nothing(
    corpus, catalogue: Catalogue, case: str
) -> None:
    outcome = corpus[case]
    assert outcome.returncode == 2, (outcome.stdout, outcome.stderr)
    assert outcome.stderr.count("\n") == 1 and outcome.stderr.startswith("appbuzz: ")
    assert "Traceback" not in outcome.stderr
    named = "no-such-catalogue.csv" if case == "nonexistent_path" else f"{case}.csv"
    assert (named if case != "a_directory" else "inputs:") in outcome.stderr
    for needle in REJECTED[case].needles:
        assert needle.format(**catalogue.landmarks()) in outcome.stderr
    assert outcome.after == outcome.before  # database and every output file, byte for byte
    assert outcome.stdout == ""


def test_quarantined_rows_are_listed_with_reasons_and_left_out(
    corpus, catalogue: Catalogue
) -> None:
    outcome = corpus["quarantined"]
    _, expected = quarantine_corpus(catalogue)
    assert outcome.returncode == 0, outcome.stderr
    assert "7,198 rows read, 9 rejected" in outcome.stdout
    rejects = pl.read_csv(outcome.folder / "out" / "rejects.csv", infer_schema=False)
    source = pl.read_csv(
        outcome.folder.parent.parent / "inputs" / "quarantined.csv", infer_schema=False
    )
    ids = source["id"].to_list()
    found: dict[str, set[tuple[str, str]]] = {}
    for row in rejects.iter_rows(named=True):
        found.setdefault(ids[int(row["row_number"]) - 1], set()).add((row["column"], row["check"]))
    assert set(found) == set(expected)
    assert all(expected[app_id] in checks for app_id, checks in found.items())
    kindle_copies = rejects.filter(pl.col("check") == "field_uniqueness")["row_number"].to_list()
    assert len(kindle_copies) == 2  # every copy of the duplicated id, not just the second
    too_long = (pl.col("check") == "str_length(1, 1000)") & (pl.col("value") != "")
    long_name = rejects.filter(too_long)["value"].item()
    assert long_name == megabyte_name()[:200]  # the megabyte is quoted, not copied
    assert top10(outcome.folder) == oracle_top(catalogue, excluded=set(expected))
    assert all(app_id not in {int(i) for i in expected} for app_id, _ in top10(outcome.folder))


def test_control_characters_in_a_name_are_quarantined_not_loaded(
    cli: Cli, catalogue: Catalogue, postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL text cannot hold a NUL byte: a name with one (here past the first 64 KiB, where
    the binary sniff does not look) must be quarantined, not crash the load."""
    rows = [list(r) for r in catalogue.rows]
    name = catalogue.column("track_name")
    # two apps of the top 10 that stand past the first 64 KiB (about 600 lines), in file order
    piano, sing = sorted(i for i in map(catalogue.line_of_rank, range(1, 11)) if i > 1000)[:2]
    piano_name = rows[piano][name]
    rows[piano][name] = piano_name.replace(" ", "\x00 ", 1)
    rows[sing][name] = rows[sing][name].replace(" ", " \x1b[2J", 1)
    source = tmp_path / "control.csv"
    source.write_bytes(to_csv(catalogue.header, rows))
    assert source.read_bytes().index(b"\x00") > 64 * 1024
    done = cli.run(Job(tmp_path, ["run", "--csv", str(source), "--database-url", postgres_url,
                                  "--out", "out", "--snapshot-date", SNAPSHOT]))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rejects = pl.read_csv(tmp_path / "out" / "rejects.csv", infer_schema=False)
    assert rejects.select("row_number", "column").rows() == [
        (str(piano + 1), "track_name"),
        (str(sing + 1), "track_name"),
    ]
    names = [n for _, n in top10(tmp_path)]
    assert piano_name not in names and not any("\x00" in n for n in names)
