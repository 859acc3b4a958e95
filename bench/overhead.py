"""Where a small `appbuzz run` spends its time: `python -m bench --only overhead`.

A driver process (`python -m bench.overhead drive MODE CSV DB OUT`) stamps the clock as it goes:
importing Prefect, importing appbuzz (Polars, pandera, SQLAlchemy, psycopg), then `appbuzz run`
itself; afterwards it asks the Prefect API for the flow run and its task runs, so the run splits
into: before the flow starts (CLI checks, database, and in the temporary-server mode the server's
start), each task, the flow engine between tasks, and after the flow. The parent measures the
whole process, so interpreter start and exit are what is left. This prints a table; it checks no
target (target 3 lives in bench.pipeline).

The full run adds a second table: `appbuzz run --no-catalogue` on the x1 and x1000 inputs, phase
by phase, and their difference. The whole-process difference is what target 1 uses, but it moves
in steps of about a second: at the end of a flow, Prefect 3.9 joins its flow-run heartbeat
thread, which sleeps in whole seconds, so "after the flow" waits until the next whole second
since the flow started. The growth of the validate-and-rank task is the unquantized figure.
The driver hashes the catalogue ahead while importing, as `appbuzz run` does.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import run_measured
from bench.scaled import REAL_CSV, build_scaled
from bench.services import QUIET_PREFECT, prefect_server

REPO = Path(__file__).resolve().parent.parent


def drive(what: str, csv: str, database_url: str, out: str, *extra: str) -> None:
    """Run appbuzz (or the minimal flow) in this process; print the stamps as one JSON line.
    `extra` are more `appbuzz run` arguments."""
    stamps = {"driver start": time.time()}
    if what != "minimal":  # as `appbuzz run` does: hash the catalogue while Prefect is imported
        from sources.content_hash import prefetch_sha256

        prefetch_sha256(csv)
    import prefect  # noqa: F401

    stamps["prefect imported"] = time.time()
    if what == "minimal":
        from bench.minimal_flow import minimal

        stamps["appbuzz imported"] = time.time()
        status = 0 if minimal() == 1 else 1
        flow_name = "bench-minimal"
    else:
        import flows.app_mentions  # noqa: F401  (Polars, pandera, SQLAlchemy, the flow)
        from cli.main import main

        stamps["appbuzz imported"] = time.time()
        status = main(["run", "--csv", csv, "--database-url", database_url, "--out", out, *extra])
        flow_name = "app-mentions"
    stamps["appbuzz run returned"] = time.time()
    flow_run, task_runs = _latest_run(flow_name)
    stamps["driver end"] = time.time()
    print(json.dumps({"status": status, "stamps": stamps, "flow": flow_run, "tasks": task_runs}))


def _latest_run(flow_name: str) -> tuple[dict, list[dict]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [run.id]}))
    flow = {"start": run.start_time.timestamp(), "end": run.end_time.timestamp()}
    return flow, [
        {"name": t.name.rsplit("-", 1)[0],
         "seconds": t.total_run_time.total_seconds(),
         "start": t.start_time.timestamp(), "end": t.end_time.timestamp()}
        for t in tasks
        if t.start_time and t.end_time
    ]  # fmt: skip


def _phases(spawned: float, wall: float, report: dict) -> dict[str, float]:
    s, flow = report["stamps"], report["flow"]
    tasks = sorted(report["tasks"], key=lambda t: t["start"])
    phases = {
        "interpreter start": s["driver start"] - spawned,
        "import prefect": s["prefect imported"] - s["driver start"],
        "import appbuzz (polars, pandera, sqlalchemy, ...)": (
            s["appbuzz imported"] - s["prefect imported"]
        ),
        "CLI checks, database, server, flow run created": flow["start"] - s["appbuzz imported"],
    }
    for task in tasks:
        name = f"task {task['name']}"
        phases[name] = phases.get(name, 0.0) + task["end"] - task["start"]
    busy = sum(t["end"] - t["start"] for t in tasks)
    phases["flow engine around tasks"] = (flow["end"] - flow["start"]) - busy
    phases["after the flow (state, summary)"] = s["appbuzz run returned"] - flow["end"]
    phases["exit (log flush, shutdown)"] = spawned + wall - s["driver end"]
    return phases


@dataclass(frozen=True)
class Mode:
    what: str  # "appbuzz" or "minimal"
    env: dict[str, str]
    csv: Path = REAL_CSV
    extra: tuple[str, ...] = ()


def run(quick: bool = False) -> bool:
    repeat = 1 if quick else 3
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("APPBUZZ_", "X_", "TWITTER_", "PREFECT_"))}  # fmt: skip
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    base = {**keep, **QUIET_PREFECT, "PYTHONPATH": pythonpath}
    with tempfile.TemporaryDirectory(prefix="appbuzz-overhead-") as tmp, prefect_server() as server:
        work = Path(tmp)
        (work / "home").mkdir()
        server_env = {**base, "PREFECT_API_URL": server.api_url,
                      "PREFECT_HOME": str(server.home)}  # fmt: skip
        modes = {
            "appbuzz, server": Mode("appbuzz", server_env),
            "minimal flow, server": Mode("minimal", server_env),
        }
        if not quick:  # a temporary server takes 10-20 s to start on this kind of machine
            modes["appbuzz, temporary server"] = Mode("appbuzz", {**base,
                                                                  "PREFECT_HOME": str(work / "home")})  # fmt: skip
        table = _measure(modes, repeat, work)
        if table is None:
            return False
        _print(f"where a small appbuzz run's time goes (real file, no token, SQLite; median of "
               f"{repeat}), seconds", table, list(modes))  # fmt: skip
        if quick:
            return True
        scales = {s: build_scaled(work, s).path for s in (1, 1000)}
        data = {f"--no-catalogue, x{s}": Mode("appbuzz", server_env, path, ("--no-catalogue",))
                for s, path in scales.items()}  # fmt: skip
        table = _measure(data, repeat, work)
        if table is None:
            return False
        for by_mode in table.values():
            x1, x1000 = (statistics.median(by_mode.get(m, [0.0])) for m in data)
            by_mode["x1000 - x1"] = [x1000 - x1]
        print()
        _print(f"where the data stage's time goes (appbuzz run --no-catalogue, server, SQLite; "
               f"median of {repeat}), seconds", table, [*data, "x1000 - x1"])  # fmt: skip
    return True


def _measure(
    modes: dict[str, Mode], repeat: int, work: Path
) -> dict[str, dict[str, list[float]]] | None:
    """Seconds per phase per mode, `repeat` runs each after one uncounted warm-up round."""
    table: dict[str, dict[str, list[float]]] = {}
    for i in range(repeat + 1):
        for name, mode in modes.items():
            database = f"sqlite:///{work / f'{i}-{len(table)}-{os.urandom(4).hex()}.db'}"
            command = [sys.executable, "-m", "bench.overhead", "drive", mode.what, str(mode.csv),
                       database, str(work / "out"), *mode.extra]  # fmt: skip
            spawned = time.time()
            done = run_measured(command, env=mode.env, cwd=work)
            if done.returncode:
                print(f"  {name}: the run failed\n{done.stderr[-2000:]}")
                return None
            if i == 0:
                continue
            report = json.loads(done.stdout.strip().splitlines()[-1])
            phases = _phases(spawned, done.wall_s, report)
            phases["total (whole process)"] = done.wall_s
            for phase, seconds in phases.items():
                table.setdefault(phase, {}).setdefault(name, []).append(seconds)
    return table


def _print(title: str, table: dict[str, dict[str, list[float]]], columns: list[str]) -> None:
    print(title)
    print(f"{'phase':<52}" + "".join(f"{column:>28}" for column in columns))
    first = ["interpreter start", "import prefect"]
    last = ["flow engine around tasks", "after the flow (state, summary)",
            "exit (log flush, shutdown)", "total (whole process)"]  # fmt: skip
    order = {p: i for i, p in enumerate(first)} | {p: 100 + i for i, p in enumerate(last)}
    for phase, by_mode in sorted(table.items(), key=lambda item: order.get(item[0], 50)):
        cells = [f"{statistics.median(by_mode[c]):.2f}" if c in by_mode else "-" for c in columns]
        print(f"{phase:<52}" + "".join(f"{cell:>28}" for cell in cells))


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        drive(*sys.argv[2:])
    else:
        sys.exit(0 if run(quick="--quick" in sys.argv) else 1)
