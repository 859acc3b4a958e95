"""The pipeline benchmark: appbuzz against DuckDB, the original csv + heapq, psql and Prefect.

Every case is a whole process (`appbuzz run ...`, a DuckDB script, `psql`), run several times
in interleaved rounds so a busy neighbour slows every case alike; the table shows the median
wall time and the largest peak RSS. The targets are ratios against baselines measured in the
same run, never absolute times:

1. data stage at the largest scale: (appbuzz run --no-catalogue on xN) - (the same on x1),
   within 1.5x of DuckDB's (xN - x1) for the same filter and top-k; peak RSS within 1 GiB;
2. catalogue load at the largest scale: (appbuzz run) - (appbuzz run --no-catalogue), into a
   fresh PostgreSQL database, within 1.3x of `psql \\copy` of the same rows into the same table;
3. `appbuzz run` on the real file with no token, within 1.5x of a one-task Prefect flow run the
   same way (against a running Prefect server; and, in the full run, with the temporary server
   each starts when none is configured);
4. results agree across scales: on xN the top 10 are the ten copies of the x1 winner with the
   smallest ids, and the rejects are the x1 rejects repeated (the inputs carry a few bad rows).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from bench.measure import Case, Run, run_measured
from bench.scaled import REAL_CSV, ScaledCatalogue, build_scaled, scaled_id
from bench.services import (
    QUIET_PREFECT,
    PrefectServer,
    ScratchDatabases,
    libpq_url,
    prefect_server,
    scratch_databases,
)

REPO = Path(__file__).resolve().parent.parent
GENRES, TOP_N = "Book,Music", 10
GIB_MB = 1024.0
CATALOGUE_COLUMNS = ("catalogue_sha256", "id", "track_name", "size_bytes", "price",
                     "rating_count_tot", "user_rating", "prime_genre")  # fmt: skip


@dataclass(frozen=True)
class Plan:
    scales: tuple[int, ...]
    repeat: int
    ephemeral: bool
    # target 1 is a difference of two whole-process times, each ~3 s of it Prefect's fixed cost
    # with its own jitter; the data-stage cases are cheap, so they run more often
    data_repeat: int = 0

    @property
    def rounds(self) -> int:
        return max(self.repeat, self.data_repeat)

    @property
    def top(self) -> int:
        return self.scales[-1]


FULL = Plan(scales=(1, 100, 1000), repeat=3, ephemeral=True, data_repeat=5)
QUICK = Plan(scales=(1, 100), repeat=1, ephemeral=False)


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool | None  # None: could not be measured here
    detail: str

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "NOT RUN"}[self.passed]
        return f"[{verdict}] {self.name}: {self.detail}"


class Bench:
    """Holds the measured cases and the environment the children run in."""

    def __init__(self, plan: Plan, work: Path, server: PrefectServer) -> None:
        self.plan = plan
        self.work = work
        self.cases: dict[tuple[str, str], Case] = {}
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("APPBUZZ_", "X_", "TWITTER_", "PREFECT_"))}  # fmt: skip
        pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        base = {**keep, **QUIET_PREFECT, "PYTHONPATH": pythonpath}
        self.server_env = {**base, "PREFECT_API_URL": server.api_url,
                           "PREFECT_HOME": str(server.home)}  # fmt: skip
        (work / "prefect-home").mkdir()
        self.ephemeral_env = {**base, "PREFECT_HOME": str(work / "prefect-home")}
        script = Path(sys.executable).with_name("appbuzz")
        self.appbuzz = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]

    def measure(
        self,
        name: str,
        scale: str,
        command: list[str],
        env: dict[str, str] | None = None,
        *,
        record: bool = True,
    ) -> Run:
        run = run_measured(command, env=env or self.server_env, cwd=self.work)
        if record:
            self.cases.setdefault((name, scale), Case(name, scale)).runs.append(run)
        else:
            name = f"warm-up: {name}"
        status = "" if run.returncode == 0 else f"  exit {run.returncode}"
        print(f"  {name} [{scale}]: {run.wall_s:.2f} s, {run.peak_rss_mb:.0f} MB{status}",
              flush=True)  # fmt: skip
        if run.returncode != 0:
            print("    " + "\n    ".join(run.stderr.strip().splitlines()[-5:]), flush=True)
        return run

    def case(self, name: str, scale: str) -> Case | None:
        return self.cases.get((name, scale))

    def appbuzz_run(self, csv: Path, database_url: str, out: Path, *extra: str) -> list[str]:
        return [*self.appbuzz, "run", "--csv", str(csv), "--genres", GENRES,
                "--top-n", str(TOP_N), "--database-url", database_url, "--out", str(out),
                *extra]  # fmt: skip


HEAPQ = "csv + heapq (original)"
DUCKDB = "DuckDB"
DATA = "appbuzz run --no-catalogue"
LOAD = "appbuzz run (loads catalogue, PostgreSQL)"
AGAIN = "appbuzz run again (catalogue unchanged)"
PSQL = "psql \\copy of the same rows"
MINIMAL = "minimal one-task Prefect flow"
SMALL = "appbuzz run, real file, no token"


def run(quick: bool = False) -> bool:
    """Build the inputs, measure every case, print the table and the targets."""
    plan = QUICK if quick else FULL
    print(f"appbuzz benchmark ({'quick' if quick else 'full'}): scales "
          f"{', '.join(f'x{s}' for s in plan.scales)}, {plan.repeat} run(s) per case"
          f"{f' ({plan.data_repeat} for appbuzz --no-catalogue and DuckDB)' if plan.data_repeat > plan.repeat else ''}",
          flush=True)  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="appbuzz-bench-") as tmp,
        scratch_databases() as databases,
        prefect_server() as server,
    ):
        work = Path(tmp)
        inputs = {scale: build_scaled(work, scale) for scale in plan.scales}
        print("  inputs: " + ", ".join(
            f"x{s} {c.rows:,} rows {c.path.stat().st_size / 1e6:,.0f} MB" for s, c in inputs.items()
        ), flush=True)  # fmt: skip
        bench = Bench(plan, work, server)
        data_db = databases.create() if databases else f"sqlite:///{work / 'data.db'}"
        rows_file: Path | None = None
        # the first run of anything pays for cold caches (bytecode, the server's first flow)
        print("warm-up (not counted)", flush=True)
        warm = inputs[plan.scales[0]]
        bench.measure(DATA, "x1", bench.appbuzz_run(warm.path, data_db, work / "out-warm",
                                                    "--no-catalogue"), record=False)  # fmt: skip
        bench.measure(DUCKDB, "x1", [sys.executable, "-m", "bench.baselines", "duckdb",
                                     str(warm.path), GENRES, str(TOP_N)], record=False)  # fmt: skip
        for round_ in range(plan.rounds):
            print(f"round {round_ + 1} of {plan.rounds}", flush=True)
            for catalogue in inputs.values():
                _data_stage(bench, catalogue, data_db, heapq=round_ < plan.repeat)
            if round_ >= plan.repeat:
                continue
            if databases:
                rows_file = _catalogue_load(bench, inputs[plan.top], databases, rows_file)
            _prefect_pair(bench, bench.server_env, "server")
            if plan.ephemeral:
                _prefect_pair(bench, bench.ephemeral_env, "temporary server")
        print()
        _print_table(bench, inputs)
        targets = _targets(bench, inputs, databases is not None, rows_file)
    print()
    if quick:
        print("quick mode: x100 and one run per case, so the ratios are indicative only; "
              "run `python -m bench` for the figures that count")  # fmt: skip
    for target in targets:
        print(target.line())
    return all(t.passed is not False for t in targets)


def _data_stage(
    bench: Bench, catalogue: ScaledCatalogue, database_url: str, *, heapq: bool = True
) -> None:
    scale = f"x{catalogue.scale}"
    path = str(catalogue.path)
    baseline = [sys.executable, "-m", "bench.baselines"]
    if heapq:  # no target depends on it, and at x1000 it takes 20 s
        bench.measure(HEAPQ, scale, [*baseline, "heapq", path, GENRES, str(TOP_N)])
    bench.measure(DUCKDB, scale, [*baseline, "duckdb", path, GENRES, str(TOP_N)])
    out = bench.work / f"out-{scale}"
    bench.measure(DATA, scale, bench.appbuzz_run(catalogue.path, database_url, out,
                                                 "--no-catalogue"))  # fmt: skip


def _catalogue_load(
    bench: Bench, catalogue: ScaledCatalogue, databases: ScratchDatabases, rows_file: Path | None
) -> Path | None:
    scale = f"x{catalogue.scale}"
    url = databases.create()
    out = bench.work / f"out-load-{scale}"
    first = bench.measure(LOAD, scale, bench.appbuzz_run(catalogue.path, url, out))
    bench.measure(AGAIN, scale, bench.appbuzz_run(catalogue.path, url, out))
    if rows_file is None and first.returncode == 0 and shutil.which("psql"):
        rows_file = bench.work / "catalogue-rows.csv"
        _psql(url, f"\\copy (SELECT {', '.join(CATALOGUE_COLUMNS)} FROM app_catalogue) "
                   f"TO '{rows_file}' WITH (FORMAT csv)")  # fmt: skip
    databases.drop(url)
    if rows_file is not None:
        target = databases.create()
        _create_schema(target)
        bench.measure(PSQL, scale, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                                    libpq_url(target), "-c",
                                    f"\\copy app_catalogue ({', '.join(CATALOGUE_COLUMNS)}) "
                                    f"FROM '{rows_file}' WITH (FORMAT csv)"])  # fmt: skip
        databases.drop(target)
    return rows_file


def _psql(url: str, command: str) -> None:
    done = run_measured(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", libpq_url(url),
                         "-c", command])  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")


def _create_schema(url: str) -> None:
    """The same tables appbuzz creates, so psql loads into the same table shape."""
    from sinks.database import Database

    with Database.open(url) as database:
        database.check()


def _prefect_pair(bench: Bench, env: dict[str, str], how: str) -> None:
    bench.measure(MINIMAL, how, [sys.executable, "-m", "bench.minimal_flow"], env)
    database = bench.work / f"small-{len(bench.cases)}-{os.urandom(4).hex()}.db"
    out = bench.work / "out-small"
    bench.measure(SMALL, how, bench.appbuzz_run(REAL_CSV, f"sqlite:///{database}", out), env)


def _print_table(bench: Bench, inputs: dict[int, ScaledCatalogue]) -> None:
    header = (f"{'case':<44}{'input':<18}{'rows':>11}  {'n':>2}  {'wall s':>8}  {'min-max':>13}  "
              f"{'peak RSS MB':>11}  {'vs DuckDB':>9}  {'vs heapq':>8}")  # fmt: skip
    print("median wall time of the runs (column n), whole process; peak RSS: largest")
    print(header)
    print("-" * len(header))
    for case in bench.cases.values():
        rows = ""
        if case.scale.startswith("x"):
            rows = f"{inputs[int(case.scale[1:])].rows:,}"
        elif case.name == SMALL:
            rows = "7,197"
        versus = ["", ""]
        if case.name == DATA:
            for i, name in enumerate((DUCKDB, HEAPQ)):
                base = bench.case(name, case.scale)
                if base and base.ok:
                    versus[i] = f"{case.wall_s / base.wall_s:.2f}x"
        walls = [r.wall_s for r in case.runs]
        spread = f"{min(walls):.2f}-{max(walls):.2f}"
        flag = "" if case.ok else "  (failed)"
        print(f"{case.name:<44}{case.scale:<18}{rows:>11}  {len(walls):>2}  {case.wall_s:>8.2f}  {spread:>13}  "
              f"{case.peak_rss_mb:>11.0f}  {versus[0]:>9}  {versus[1]:>8}{flag}")  # fmt: skip


def _difference(bench: Bench, name: str, big: str, small: str) -> float | None:
    high, low = bench.case(name, big), bench.case(name, small)
    if not (high and low and high.ok and low.ok):
        return None
    return high.wall_s - low.wall_s


def _targets(
    bench: Bench, inputs: dict[int, ScaledCatalogue], have_postgres: bool, rows_file: Path | None
) -> list[Target]:
    top = f"x{bench.plan.top}"
    targets = [_target_data_stage(bench, top), _target_memory(bench, top)]
    targets.append(_target_catalogue(bench, top, have_postgres, rows_file))
    for how in ("server", "temporary server") if bench.plan.ephemeral else ("server",):
        targets.append(_target_prefect(bench, how))
    targets.append(_target_agreement(bench, inputs))
    return targets


def _target_data_stage(bench: Bench, top: str) -> Target:
    name = f"1. data stage ({top} - x1) within 1.5x of DuckDB's"
    ours, theirs = _difference(bench, DATA, top, "x1"), _difference(bench, DUCKDB, top, "x1")
    if ours is None or theirs is None:
        return Target(name, False, "a run failed")
    if ours <= 0 or theirs <= 0:  # one noisy run can be slower on the small file
        return Target(name, None, f"not measurable: appbuzz +{ours:.2f} s, DuckDB "
                      f"+{theirs:.2f} s (noise; use more runs or a larger scale)")  # fmt: skip
    ratio = ours / theirs
    return Target(name, ratio <= 1.5,
                  f"appbuzz +{ours:.2f} s, DuckDB +{theirs:.2f} s: {ratio:.2f}x")  # fmt: skip


def _target_memory(bench: Bench, top: str) -> Target:
    name = f"1. peak RSS of appbuzz run --no-catalogue on {top} within 1 GiB"
    case = bench.case(DATA, top)
    if not (case and case.ok):
        return Target(name, False, "the run failed")
    peak = case.peak_rss_mb
    return Target(name, peak <= GIB_MB, f"{peak:.0f} MB ({peak / GIB_MB:.2f} GiB)")


def _target_catalogue(bench: Bench, top: str, have_postgres: bool, rows: Path | None) -> Target:
    name = f"2. catalogue load ({top}, PostgreSQL) within 1.3x of psql \\copy"
    if not have_postgres:
        return Target(name, None, "no PostgreSQL reachable (APPBUZZ_BENCH_POSTGRES_URL)")
    if rows is None:
        return Target(name, None if not shutil.which("psql") else False,
                      "psql not found" if not shutil.which("psql") else "the load failed")  # fmt: skip
    load, plain, psql = bench.case(LOAD, top), bench.case(DATA, top), bench.case(PSQL, top)
    if not (load and plain and psql and load.ok and plain.ok and psql.ok):
        return Target(name, False, "a run failed")
    extra = load.wall_s - plain.wall_s
    ratio = extra / psql.wall_s
    again = bench.case(AGAIN, top)
    skipped = f"; unchanged file again: +{again.wall_s - plain.wall_s:.2f} s" if again else ""
    rows_loaded = sum(1 for _ in rows.open("rb"))
    return Target(name, ratio <= 1.3,
                  f"appbuzz +{extra:.2f} s, psql {psql.wall_s:.2f} s for {rows_loaded:,} rows: "
                  f"{ratio:.2f}x{skipped}")  # fmt: skip


def _target_prefect(bench: Bench, how: str) -> Target:
    name = f"3. appbuzz run (real file, no token) within 1.5x of a minimal flow ({how})"
    ours, minimal = bench.case(SMALL, how), bench.case(MINIMAL, how)
    if not (ours and minimal and ours.ok and minimal.ok):
        return Target(name, False, "a run failed")
    ratio = ours.wall_s / minimal.wall_s
    return Target(name, ratio <= 1.5,
                  f"appbuzz {ours.wall_s:.2f} s, minimal {minimal.wall_s:.2f} s: {ratio:.2f}x")  # fmt: skip


def _target_agreement(bench: Bench, inputs: dict[int, ScaledCatalogue]) -> Target:
    top = bench.plan.top
    name = f"4. results agree across scales (x1 vs x{top}) and with the baselines"
    small, big = bench.work / "out-x1", bench.work / f"out-x{top}"
    try:
        problems = _compare_outputs(small, big, inputs[1].rows_per_copy, top)
    except FileNotFoundError as error:
        return Target(name, False, f"missing output: {error.filename}")
    problems += _compare_baselines(bench, big)
    rejects = pl.read_csv(small / "rejects.csv", infer_schema=False)
    detail = (f"top 10 = the x1 winner's ten copies with the smallest ids; rejects = x1's "
              f"{rejects.height} ({rejects['row_number'].n_unique()} rows) x {top}")  # fmt: skip
    return Target(name, not problems, "; ".join(problems) or detail)


def _compare_outputs(small: Path, big: Path, rows_per_copy: int, copies: int) -> list[str]:
    problems = []
    apps_small = json.loads((small / "apps.json").read_text(encoding="utf-8"))
    apps_big = json.loads((big / "apps.json").read_text(encoding="utf-8"))
    winner = apps_small[0]
    expected = [scaled_id(winner["id"], k) for k in range(min(TOP_N, copies))]
    if [a["id"] for a in apps_big] != expected:
        problems.append(f"x{copies} top ids {[a['id'] for a in apps_big]} != {expected}")
    if {a["track_name"] for a in apps_big} != {winner["track_name"]}:
        problems.append("x{copies} top names are not all the x1 winner's")
    x1 = pl.read_csv(small / "rejects.csv", infer_schema=False)
    repeated = pl.concat(
        x1.with_columns(
            row_number=(pl.col("row_number").cast(pl.Int64) + k * rows_per_copy).cast(pl.String),
            value=pl.when(pl.col("column") == "id")
            .then((pl.col("value").cast(pl.Int64) + scaled_id(0, k)).cast(pl.String))
            .otherwise(pl.col("value")),
        )
        for k in range(copies)
    )
    xn = pl.read_csv(big / "rejects.csv", infer_schema=False)
    if not xn.equals(repeated, null_equal=True):
        problems.append(f"x{copies} rejects ({xn.height}) are not the x1 rejects "
                        f"({x1.height}) repeated")  # fmt: skip
    return problems


def _compare_baselines(bench: Bench, big: Path) -> list[str]:
    ours = [a["id"] for a in json.loads((big / "apps.json").read_text(encoding="utf-8"))]
    problems = []
    for name in (DUCKDB, HEAPQ):
        case = bench.case(name, f"x{bench.plan.top}")
        if case and case.ok and json.loads(case.runs[-1].stdout) != ours:
            problems.append(f"{name} ranks differently from appbuzz")
    return problems
