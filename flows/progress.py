"""Progress of the mention counts while a run waits on X: apps done (counted, or failed on
their own), requests and cost so far, and what the run waits for, told to whoever watches.

The flow always tells the Prefect UI (a progress artifact updated as apps finish, and one log
line per wait longer than a few seconds). The CLI adds its console: a rich progress display on a
terminal, plain lines otherwise (logs, CI). In-process, so the CLI registers its console here
before it calls the flow.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol, cast
from uuid import UUID

from sources.rate_limit import WaitNotice
from transforms.cost import ZERO, usd

WAIT_WORTH_TELLING = 3.0  # seconds: shorter waits are not worth a line


@dataclass(frozen=True)
class Progress:
    total: int
    done: int = 0
    requests: int = 0
    cost: Decimal = ZERO
    waiting: WaitNotice | None = None

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def __str__(self) -> str:
        return f"{self.done}/{self.total} apps done, {self.requests} requests, {usd(self.cost)}"


class Watcher(Protocol):
    def update(self, progress: Progress) -> None: ...

    def waiting(self, notice: WaitNotice) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunProgress:
    """The run's progress, shared by the mapped tasks' threads; each change goes to watchers."""

    total: int
    watchers: list[Watcher] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.state = Progress(self.total)

    def _tell(self, change: Callable[[Progress], Progress]) -> Progress:
        with self._lock:
            self.state = change(self.state)
            return self.state

    def app_done(self, requests: int, cost: Decimal) -> None:
        now = self._tell(
            lambda p: replace(
                p, done=p.done + 1, requests=p.requests + requests, cost=p.cost + cost,
                waiting=None,
            )
        )  # fmt: skip
        for watcher in self.watchers:
            watcher.update(now)

    def wait(self, notice: WaitNotice) -> None:
        """The rate gate holds requests: tell watchers when the wait is worth telling."""
        if notice.seconds < WAIT_WORTH_TELLING:
            return
        now = self._tell(lambda p: replace(p, waiting=notice))
        for watcher in self.watchers:
            watcher.waiting(notice)
            watcher.update(now)

    def close(self) -> None:
        for watcher in self.watchers:
            watcher.close()


class PlainLines:
    """For logs and CI: one line per app counted and per wait."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout

    def update(self, progress: Progress) -> None:
        if progress.waiting is None:
            print(f"appbuzz: {progress}", file=self.stream, flush=True)

    def waiting(self, notice: WaitNotice) -> None:
        print(f"appbuzz: {notice}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichDisplay:
    """On a terminal: a live bar of apps counted, with requests, cost and the current wait."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn("counting mentions"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), transient=False,
        )  # fmt: skip
        self.task: Any = None

    def update(self, progress: Progress) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("", total=progress.total)
        what = f"{progress.requests} requests, {usd(progress.cost)}"
        if progress.waiting is not None:
            what += f"; {progress.waiting}"
        self.bar.update(self.task, completed=progress.done, description=what)

    def waiting(self, notice: WaitNotice) -> None:
        pass

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


_console: list[Watcher] = []


@contextmanager
def console_progress() -> Iterator[None]:
    """While the block runs, in-process runs also show their progress on this console."""
    watcher: Watcher = RichDisplay() if sys.stdout.isatty() else PlainLines()
    _console.append(watcher)
    try:
        yield
    finally:
        _console.remove(watcher)
        watcher.close()


def console_watchers() -> list[Watcher]:
    return list(_console)


class PrefectProgress:
    """The Prefect UI's view: a progress artifact updated as apps finish, a log line per wait."""

    def __init__(self, logger: Any, total: int, description: str) -> None:
        from prefect.artifacts import create_progress_artifact

        self.logger = logger
        self.description = description
        created = create_progress_artifact(
            0.0 if total else 100.0, key="app-mentions-progress", description=description
        )
        self.artifact = cast(UUID, created)  # sync-compatible: called from sync code, a UUID

    def update(self, progress: Progress) -> None:
        from prefect.artifacts import update_progress_artifact

        if progress.waiting is None:  # as apps finish, not on every wait
            update_progress_artifact(
                self.artifact, progress.percent, description=f"{self.description}: {progress}"
            )
            night_progress(progress)

    def waiting(self, notice: WaitNotice) -> None:
        self.logger.info("%s", notice)
        night_progress(None, waiting=str(notice))

    def close(self) -> None:
        pass


PROGRESS_EVENT = "appbuzz.night.progress"


def night_progress(progress: Progress | None, waiting: str | None = None) -> None:
    """An `appbuzz.night.progress` event about the flow run in progress: an app finished, or the
    run waits (a bounded rate-limit wait) knowingly. `appbuzz setup`'s stalled-night automation
    marks a run that sends none for APPBUZZ_STALL_AFTER_SECONDS `Crashed`, even while its
    process still sends heartbeats. Outside a run (or with no server): nothing."""
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    payload: dict[str, Any] = {"waiting": waiting}
    if progress is not None:
        payload |= {"done": progress.done, "total": progress.total, "requests": progress.requests}
    emit_event(
        PROGRESS_EVENT,
        resource={"prefect.resource.id": f"prefect.flow-run.{flow_run.id}"},
        payload=payload,
    )
