"""The `app-mentions` flow: catalogue -> validated top apps -> mention counts -> loads.

Wiring only: every decision about data lives in `transforms`, every read in `sources`, every
write in `sinks`. Tasks raise the typed errors of `transforms.errors`; the flow is the one
boundary that turns them into its `Failed` state with the one-line message (named `Rejected`
for a user's mistake), and `_one_line_task_failures` keeps Prefect from logging a traceback
for them. Anything else is a bug and raises with its traceback.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from prefect import State, Task, flow, get_run_logger, task
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run
from prefect.states import Failed
from sqlalchemy import Connection

from flows.enrich import enrich_mentions
from flows.plan import plan_run
from flows.preflight import preflight, read_settings
from flows.settings import Settings
from flows.trends import emit_spike_events
from sinks.artifacts import publish_artifacts
from sinks.catalogue import catalogue_loaded, load_catalogue
from sinks.database import database, record_run, replace_snapshot
from sinks.files import PreparedOutputs, output_rows, prepare_outputs
from sinks.trends import trend_frame, trends
from sources.catalogue import SAMPLE_CATALOGUE, open_catalogue
from sources.content_hash import file_sha256, prefetch_sha256
from sources.x_api import STRATEGIES
from transforms.catalogue_pass import ValidRows, read_catalogue
from transforms.defaults import DEFAULT_GENRES, DEFAULT_TOP_N
from transforms.errors import (
    AppbuzzError,
    DatabaseUnavailable,
    ParametersRejected,
    XApiError,
)
from transforms.mentions import mention_totals
from transforms.plan import Plan
from transforms.ranking import normalise_genres, selection_name
from transforms.rejects import check_reject_share
from transforms.run_record import RunRecord, RunStatus
from transforms.trends import trend_note


class _OneLineTaskFailures(logging.Filter):
    """Prefect logs a task's exception as an error with its traceback; for an `AppbuzzError`
    the flow's `Failed` state carries the one line that matters (the CLI prints it, the UI shows
    it), so the task's line stays in the run's log as INFO, without the traceback, and a
    terminal showing warnings sees only that one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], AppbuzzError):
            record.exc_info, record.exc_text = None, None
            self._as_info(record)
        elif record.levelno >= logging.ERROR and _names_an_appbuzz_error(record.getMessage()):
            self._as_info(record)  # the task's "Finished in state Failed(...)" line
        return True

    @staticmethod
    def _as_info(record: logging.LogRecord) -> None:
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)


def _names_an_appbuzz_error(message: str) -> bool:
    """Prefect's state message for a task that raised: "... encountered an exception NAME: ..."."""
    kinds, names = [AppbuzzError], set()
    while kinds:
        kind = kinds.pop()
        names.add(kind.__name__)
        kinds.extend(kind.__subclasses__())
    return any(f"exception {name}:" in message for name in names)


_one_line_task_failures = _OneLineTaskFailures()
logging.getLogger("prefect.task_runs").addFilter(_one_line_task_failures)


def _transient(_task: Task[Any, Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry a database that did not answer; a user's mistake stays a mistake."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, AppbuzzError) or isinstance(error, DatabaseUnavailable)


@dataclass(frozen=True)
class RankedCatalogue:
    """What one pass over the catalogue yields: the top apps, the rejects and the counts."""

    source_path: str
    source_sha256: str
    rows_read: int
    rows_rejected: int
    top: pl.DataFrame
    rejects: pl.DataFrame
    valid_rows: ValidRows | None = None


@dataclass(frozen=True)
class RunSummary:
    """What a completed run returns: its record and where its files are."""

    run: RunRecord
    outputs: dict[str, str]
    trend_note: str | None = None  # the biggest mover and any spike, for the closing line


check_run = task(name="preflight", retries=2, retry_delay_seconds=2, retry_condition_fn=_transient)(
    preflight
)


@task(name="catalogue-version")
def catalogue_version(csv_path: Path, settings: Settings) -> tuple[str, bool]:
    """The file's sha256 and whether that catalogue version is already loaded."""
    sha256 = file_sha256(open_catalogue(csv_path).path)
    with database(settings.database_url.get_secret_value()) as engine:
        return sha256, catalogue_loaded(engine, sha256)


@task(name="validate-and-rank")
def validate_and_rank(
    csv_path: Path,
    genres: tuple[str, ...],
    top_n: int,
    max_reject_share: float,
    workdir: Path,
    sha256: str | None = None,
    keep_valid_rows: bool = False,
) -> RankedCatalogue:
    """Read, validate and rank in one streaming pass over the file; optionally keep the valid
    rows (in `workdir`) for the catalogue load."""
    catalogue = open_catalogue(csv_path)
    result = read_catalogue(
        catalogue, genres, top_n, workdir, sha256=sha256, keep_valid_rows=keep_valid_rows
    )
    rows_rejected = check_reject_share(
        catalogue.path, result.rows_read, result.rejects, max_reject_share
    )
    get_run_logger().info(
        "read %d rows from %s; %d rejected", result.rows_read, csv_path, rows_rejected
    )
    return RankedCatalogue(
        source_path=str(csv_path),
        source_sha256=result.sha256,
        rows_read=result.rows_read,
        rows_rejected=rows_rejected,
        top=result.top,
        rejects=result.rejects,
        valid_rows=result.valid_rows,
    )


@task(name="record-failed-run", retries=2, retry_delay_seconds=[2, 10])
def record_failed_run(settings: Settings, run: RunRecord) -> None:
    """A run that loaded nothing still leaves its line (and why) in `appbuzz_runs`."""
    with database(settings.database_url.get_secret_value()) as engine:
        record_run(engine, run)


@task(name="load-catalogue", retries=2, retry_delay_seconds=[2, 10])
def load_catalogue_rows(
    settings: Settings, source_path: str, rows: ValidRows, loaded_at: datetime
) -> None:
    """Bulk-load the valid rows as one catalogue version; a retry redoes the whole transaction."""
    with database(settings.database_url.get_secret_value()) as engine:
        loaded = load_catalogue(
            engine,
            sha256=rows.sha256,
            csv_path=rows.path,
            columns=rows.columns,
            rows=rows.rows,
            source_path=source_path,
            loaded_at=loaded_at,
            exclude=rows.exclude,
        )
    logger = get_run_logger()
    if loaded:
        logger.info("loaded catalogue %s: %d rows", rows.sha256[:12], rows.rows)
    else:
        logger.info("catalogue %s was already loaded", rows.sha256[:12])


@dataclass(frozen=True)
class LoadedNight:
    """The night as loaded: its rows with their change since the nights before (`night`), the
    same shaped as the files' contract (`rows`), and where the files went."""

    night: pl.DataFrame
    rows: pl.DataFrame
    outputs: dict[str, Path]


@task(name="load-snapshot", retries=2, retry_delay_seconds=[2, 10])
def load_snapshot(
    settings: Settings,
    run: RunRecord,
    enriched: pl.DataFrame,
    out_dir: Path,
    rejects: pl.DataFrame,
) -> LoadedNight:
    """Replace the snapshot in one transaction which, before COMMIT, reads the night's change
    back from the stored nights and puts the files in place (both or neither, see
    `sinks.files.PreparedOutputs`); a retry redoes the whole (idempotent) load."""
    stored = enriched.rename({"id": "app_id"}).with_columns(
        snapshot_date=pl.lit(run.snapshot_date),
        selection=pl.lit(run.selection),
        run_id=pl.lit(run.run_id),
        loaded_at=pl.lit(run.finished_at),
    )
    staged: list[tuple[pl.DataFrame, pl.DataFrame, PreparedOutputs]] = []

    def stage(connection: Connection) -> PreparedOutputs:
        change = trend_frame(trends(connection, run.selection, settings, run.snapshot_date))
        night = enriched.with_columns(snapshot_date=pl.lit(run.snapshot_date)).join(
            change, on="id", how="left"
        )
        rows = output_rows(night)
        staged.append((night, rows, prepare_outputs(out_dir, rows, rejects)))
        return staged[-1][2]

    with database(settings.database_url.get_secret_value()) as engine:
        replace_snapshot(engine, run, stored.to_dicts(), stage)
    night, rows, files = staged[-1]
    get_run_logger().info(
        "loaded %d rows for %s on %s; wrote %s",
        rows.height, run.selection, run.snapshot_date,
        ", ".join(str(p) for p in files.paths.values()),
    )  # fmt: skip
    return LoadedNight(night, rows, files.paths)


@task(name="publish-artifacts")
def publish(run: RunRecord, rows: pl.DataFrame, outputs: dict[str, Path]) -> None:
    publish_artifacts(run, rows, outputs)


def _run_name() -> str:
    params = flow_run.parameters
    genres = params.get("genres") or DEFAULT_GENRES
    snapshot = params.get("snapshot_date") or flow_run.scheduled_start_time.date().isoformat()
    return f"{snapshot} {selection_name(genres, params.get('top_n', DEFAULT_TOP_N))}"


def default_snapshot_date() -> date:
    """The flow run's scheduled date (UTC): a late nightly run still files under its own night."""
    scheduled: datetime = flow_run.scheduled_start_time
    return scheduled.astimezone(UTC).date()


@flow(name="app-mentions", flow_run_name=_run_name, log_prints=False)
def app_mentions(
    csv_path: Path | None = None,
    genres: list[str] | None = None,
    top_n: int = DEFAULT_TOP_N,
    strategy: str = "counts",
    max_pages: int = 10,
    snapshot_date: date | None = None,
    out_dir: Path | None = None,
    load_catalogue: bool = True,
    max_spend_usd: Decimal | None = None,
    dry_run: bool = False,
) -> RunSummary | Plan | State[Any]:
    """Rank the most-reviewed apps of `genres`, count their mentions on X, load the snapshot
    and (unless `load_catalogue` is false) the validated catalogue, once per file version.

    `max_spend_usd` caps what the run may spend on X (default APPBUZZ_X_MAX_SPEND_USD);
    `dry_run` stops before the first X request and returns the plan, writing nothing.

    The one boundary of `transforms.errors`: a typed error of any step ends the run `Failed`
    (`Rejected` for a user's mistake) with its one-line message.
    """
    try:
        if strategy not in STRATEGIES or max_pages < 1 or top_n < 1:
            raise ParametersRejected(
                f"expected strategy one of {', '.join(STRATEGIES)}, max_pages and top_n of at "
                f"least 1, got strategy={strategy!r}, max_pages={max_pages}, top_n={top_n}"
            )
        settings = read_settings()
        source = Path(csv_path) if csv_path else None
        chosen = normalise_genres(genres or DEFAULT_GENRES)
        max_spend = settings.x_max_spend_usd if max_spend_usd is None else Decimal(max_spend_usd)
        if dry_run:
            return plan_run(settings, source, chosen, top_n, strategy, max_pages, max_spend)
        return _run(
            settings,
            source,
            chosen,
            top_n,
            strategy,
            max_pages,
            snapshot_date or default_snapshot_date(),
            Path(out_dir or settings.out_dir),
            load_catalogue,
            max_spend,
        )
    except AppbuzzError as error:
        return Failed(name=error.state_name, message=str(error))


def _run(
    settings: Settings,
    csv_path: Path | None,
    genres: tuple[str, ...],
    top_n: int,
    strategy: str,
    max_pages: int,
    snapshot: date,
    out_dir: Path,
    load_catalogue: bool,
    max_spend: Decimal,
) -> RunSummary:
    started_at = datetime.now(UTC)
    source = csv_path or SAMPLE_CATALOGUE
    prefetch_sha256(source)  # the catalogue's version, hashed while the checks run
    check_run(settings, csv_path, out_dir)  # before any X request or database write
    sha256: str | None = None
    keep_valid_rows = False
    if load_catalogue:
        sha256, loaded = catalogue_version(source, settings)
        keep_valid_rows = not loaded
    with tempfile.TemporaryDirectory(prefix="appbuzz-") as workdir:
        catalogue = validate_and_rank(
            source, genres, top_n, settings.max_reject_share, Path(workdir), sha256,
            keep_valid_rows,
        )  # fmt: skip
        if catalogue.valid_rows is not None:
            load_catalogue_rows(settings, catalogue.source_path, catalogue.valid_rows, started_at)

    run = RunRecord(
        run_id=str(uuid.uuid4()),
        flow_run_id=flow_run.id,
        snapshot_date=snapshot,
        selection=selection_name(genres, top_n),
        started_at=started_at,
        finished_at=None,
        status=RunStatus.COMPLETED,
        source_path=catalogue.source_path,
        source_sha256=catalogue.source_sha256,
        rows_read=catalogue.rows_read,
        rows_rejected=catalogue.rows_rejected,
        strategy=strategy,
        max_spend_usd=max_spend,
    )
    try:
        enriched, spent = enrich_mentions(
            catalogue.top, settings, strategy, max_pages, snapshot, max_spend
        )
    except XApiError as stopped:  # nothing of this run is loaded, but its line is kept
        record_failed_run(settings, run.failed(str(stopped), datetime.now(UTC)))
        raise
    run = run.completed(mention_totals(enriched), datetime.now(UTC))
    if spent is not None:  # the account is spent: what was counted is kept, the run fails
        run = run.failed(str(spent), run.finished_at or datetime.now(UTC))
    stored = load_snapshot(settings, run, enriched, out_dir, catalogue.rejects)
    publish(run, stored.rows, stored.outputs)
    emit_spike_events(run, stored.night)
    if spent is not None:
        raise spent
    return RunSummary(
        run, {name: str(path) for name, path in stored.outputs.items()}, trend_note(stored.rows)
    )
