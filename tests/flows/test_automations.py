"""The automations `appbuzz setup` applies, checked as data (the deploy tests run them)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import yaml

from flows.automations import (
    CRASH_SILENT,
    CRASH_STALLED,
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
    healing = [CRASH_SILENT, CRASH_STALLED, RESTART_CRASHED]
    assert [a.name for a in automations(Settings(), None)] == healing
    with_block = [a.name for a in automations(Settings(), uuid4())]
    assert with_block == [*healing, NOTIFY_FAILED, NOTIFY_MISSED, NOTIFY_SPIKE]


def test_a_night_without_progress_is_crashed_after_the_stall_window() -> None:
    """Longer than any wait the run allows itself unannounced (a slot of the X API limit)."""
    from flows.concurrency import SLOT_WAIT_SECONDS
    from flows.progress import PROGRESS_EVENT

    settings = Settings(stall_after_seconds=120)
    (stalled,) = [a for a in automations(settings, None) if a.name == CRASH_STALLED]
    assert stalled.trigger.within.total_seconds() == 120
    assert PROGRESS_EVENT in stalled.trigger.after and PROGRESS_EVENT in stalled.trigger.expect
    assert "prefect.flow-run.Completed" in stalled.trigger.expect
    (action,) = stalled.actions
    assert action.state.value == "CRASHED"
    assert Settings().stall_after_seconds > SLOT_WAIT_SECONDS


def test_setup_without_a_server_is_one_line(tmp_path: Path) -> None:
    done = Cli(drop=("PREFECT_",)).run(Job(tmp_path, ["setup"]))
    assert done.returncode == 2
    assert done.stderr == "appbuzz: setup needs a Prefect server: set PREFECT_API_URL\n"
