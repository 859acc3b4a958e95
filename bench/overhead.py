"""Where a small `appbuzz run` spends its time: `python -m bench --only overhead`.

A driver process (`python -m bench.overhead drive MODE CSV DB OUT`) stamps the clock as it goes:
importing Prefect, importing appbuzz (Polars, pandera, SQLAlchemy, psycopg), then `appbuzz run`
itself; afterwards it asks the Prefect API for the flow run and its task runs, so the run splits
into: before the flow starts (CLI checks, database, and in the temporary-server mode the server's
start), each task, the flow engine between tasks, and after the flow. The parent measures the
whole process, so interpreter start and exit are what is left. This prints a table; it checks no
target (target 3 lives in bench.pipeline).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import run_measured
from bench.scaled import REAL_CSV
from bench.services import QUIET_PREFECT, prefect_server

REPO = Path(__file__).resolve().parent.parent


def drive(what: str, csv: str, database_url: str, out: str) -> None:
    """Run appbuzz (or the minimal flow) in this process; print the stamps as one JSON line."""
    stamps = {"driver start": time.time()}
    import prefect  # noqa: F401

    stamps["prefect imported"] = time.time()
    if what == "minimal":
        from bench.minimal_flow import minimal

        stamps["appbuzz imported"] = time.time()
        status = 0 if minimal() == 1 else 1
        flow_name = "bench-minimal"
    else:
        import flows.app_mentions  # noqa: F401  (Polars, pandera, SQLAlchemy, the flow)
        from flows import cli

        stamps["appbuzz imported"] = time.time()
        status = cli.main(["run", "--csv", csv, "--database-url", database_url, "--out", out])
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


def run(quick: bool = False) -> bool:
    repeat = 1 if quick else 3
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("APPBUZZ_", "X_", "TWITTER_", "PREFECT_"))}  # fmt: skip
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    base = {**keep, **QUIET_PREFECT, "PYTHONPATH": pythonpath}
    table: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="appbuzz-overhead-") as tmp, prefect_server() as server:
        work = Path(tmp)
        (work / "home").mkdir()
        server_env = {**base, "PREFECT_API_URL": server.api_url,
                      "PREFECT_HOME": str(server.home)}  # fmt: skip
        modes = {
            "appbuzz, server": ("appbuzz", server_env),
            "minimal flow, server": ("minimal", server_env),
        }
        if not quick:  # a temporary server takes 10-20 s to start on this kind of machine
            modes["appbuzz, temporary server"] = ("appbuzz", {**base,
                                                               "PREFECT_HOME": str(work / "home")})  # fmt: skip
        for i in range(repeat + 1):  # the first round warms caches and is not counted
            for mode, (what, env) in modes.items():
                database = f"sqlite:///{work / f'{i}-{len(table)}.db'}"
                command = [sys.executable, "-m", "bench.overhead", "drive", what, str(REAL_CSV),
                           database, str(work / "out")]  # fmt: skip
                spawned = time.time()
                done = run_measured(command, env=env, cwd=work)
                if done.returncode:
                    print(f"  {mode}: the run failed\n{done.stderr[-2000:]}")
                    return False
                if i == 0:
                    continue
                report = json.loads(done.stdout.strip().splitlines()[-1])
                phases = _phases(spawned, done.wall_s, report)
                phases["total (whole process)"] = done.wall_s
                for phase, seconds in phases.items():
                    table.setdefault(phase, {}).setdefault(mode, []).append(seconds)
    print(f"where a small appbuzz run's time goes (real file, no token, SQLite; median of "
          f"{repeat}), seconds")  # fmt: skip
    print(f"{'phase':<52}" + "".join(f"{mode:>28}" for mode in modes))
    first = ["interpreter start", "import prefect"]
    last = ["flow engine around tasks", "after the flow (state, summary)",
            "exit (log flush, shutdown)", "total (whole process)"]  # fmt: skip
    order = {p: i for i, p in enumerate(first)} | {p: 100 + i for i, p in enumerate(last)}
    for phase, by_mode in sorted(table.items(), key=lambda item: order.get(item[0], 50)):
        cells = [f"{statistics.median(by_mode[m]):.2f}" if m in by_mode else "-" for m in modes]
        print(f"{phase:<52}" + "".join(f"{cell:>28}" for cell in cells))
    return True


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        drive(*sys.argv[2:6])
    else:
        sys.exit(0 if run(quick="--quick" in sys.argv) else 1)
