"""The automations `appbuzz setup` applies, checked as data (the deploy tests run them)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import yaml

from flows.automations import (
    CRASH_SILENT,
    NOTIFY_FAILED,
    NOTIFY_MISSED,
    NOTIFY_SPIKE,
    RESTART_CRASHED,
    automations,
)
from flows.settings import Settings
from tests.support.cli import Cli, Job

ROOT = Path(__file__).resolve().parents[2]


def heartbeat_frequency() -> int:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    return int(nightly["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])


def test_the_crash_window_is_set_with_the_deployments_heartbeat() -> None:
    frequency = heartbeat_frequency()
    assert frequency == 30  # Prefect's minimum; its default (180 s) would make the window 9 min
    window = Settings().crash_after_seconds
    assert 2 * frequency < window <= 4 * frequency, "one late heartbeat is not a crash"
    (silent,) = [a for a in automations(Settings(), None) if a.name == CRASH_SILENT]
    assert silent.trigger.within.total_seconds() == window


def test_only_crashes_restart_and_at_most_max_restarts_times() -> None:
    settings = Settings(max_restarts=3)
    (restart,) = [a for a in automations(settings, None) if a.name == RESTART_CRASHED]
    assert restart.trigger.expect == {"prefect.flow-run.Crashed"}
    assert restart.trigger.match.model_dump()["prefect.run-count"] == ["1", "2", "3"]
    (action,) = restart.actions
    assert action.state.value == "SCHEDULED"  # the same flow run again: same night, same params


def test_alerts_only_with_a_notification_block() -> None:
    assert [a.name for a in automations(Settings(), None)] == [CRASH_SILENT, RESTART_CRASHED]
    with_block = [a.name for a in automations(Settings(), uuid4())]
    assert with_block == [CRASH_SILENT, RESTART_CRASHED, NOTIFY_FAILED, NOTIFY_MISSED, NOTIFY_SPIKE]


def test_setup_without_a_server_is_one_line(tmp_path: Path) -> None:
    done = Cli(drop=("PREFECT_",)).run(Job(tmp_path, ["setup"]))
    assert done.returncode == 2
    assert done.stderr == "appbuzz: setup needs a Prefect server: set PREFECT_API_URL\n"
