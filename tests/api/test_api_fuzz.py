"""Schema-driven fuzzing: schemathesis's own runner (`schemathesis run`, as a person runs it)
reads `/openapi.json` from a real `appbuzz serve` and sends valid and invalid requests to every
operation, with every check it has and all its phases (examples, coverage, fuzzing, stateful).
It must find nothing: no 500, and every answer as the document says (status, media type, body
and header schemas, 4xx for malformed input, 405 with `Allow` for an undeclared method).

Twice: over a populated database, and over one that refuses connections after the server
started. With the database away the answers are the document's 503s, so there (only there) a
503 is not counted as a server error; everything else is checked as over a live database.

schemathesis's pytest plugin does not run under pytest 9 (it sets `Function._nodeid`); its CLI
does, and its JSON report gives the figures printed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.serve import serving_away

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MAX_EXAMPLES = 25  # per operation and phase: seconds per run, and every route well covered
OPERATIONS = (
    6  # GET /apps.json, /apps.csv, /runs, /apps/{app_id}/history, /apps/{app_id}/days, /healthz
)
MODES = ["positive", "negative"]
AWAY = '[checks.not_a_server_error]\nexpected-statuses = ["2xx", "3xx", "4xx", "503"]\n'


def fuzz(base_url: str, mode: str, folder: Path, label: str, config: str = "") -> None:
    """`schemathesis run` against `base_url` in `mode`; fails on anything it reports."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schemathesis.toml").write_text(config)
    report = folder / f"{mode}.json"
    command = [
        str(SCHEMATHESIS), "--config-file", str(folder / "schemathesis.toml"), "--no-color",
        "run", f"{base_url}/openapi.json", "--checks", "all", "--mode", mode,
        "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "10",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    done = subprocess.run(  # in `folder`: schemathesis keeps its crash cache where it runs
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=240
    )
    found = json.loads(report.read_text())
    cases, failures = found["test_cases"], found["failures"]
    print(
        f"SCHEMATHESIS {label} {mode}: {found['operations']['tested']} operations, "
        f"{cases['generated']} cases, {len(failures)} failures, {len(found['errors'])} errors "
        f"(seed {found['seed']}; {found['running_time']:.1f} s)"
    )
    warnings = {name: items for name, items in found["warnings"].items() if items}
    if warnings:
        print(f"  schemathesis's warnings: {json.dumps(warnings)}")
    assert (done.returncode, failures, found["errors"]) == (0, [], []), done.stdout[-6000:]
    assert found["operations"]["tested"] == OPERATIONS and cases["with_failures"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_fuzzing_finds_nothing(served: str, snapshots, mode: str, tmp_path: Path) -> None:
    backend = snapshots.database_url.split(":")[0].split("+")[0]
    fuzz(served, mode, tmp_path, f"populated {backend}")


@pytest.fixture(scope="module")
def away(postgres_server: str, tmp_path_factory) -> Iterator[str]:
    """`appbuzz serve` started over a live PostgreSQL database that then refuses connections."""
    with serving_away(postgres_server, tmp_path_factory.mktemp("away") / "serve.log") as server:
        yield server.base_url


@pytest.mark.parametrize("mode", MODES)
def test_fuzzing_finds_nothing_while_the_database_is_away(
    away: str, mode: str, tmp_path: Path
) -> None:
    fuzz(away, mode, tmp_path, "database away", AWAY)
    assert httpx.get(f"{away}/runs").status_code == 503  # it was away all along
