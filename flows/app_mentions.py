"""The `app-mentions` flow: catalogue -> validated top apps -> mention counts -> loads.

Wiring only: every decision about data lives in `transforms`, every read in `sources`, every
write in `sinks`. A user's mistake ends a task in a `Failed` state named `Rejected` carrying a
one-line message (no traceback); anything else is a bug and raises.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows.enrich import enrich_mentions
from flows.plan import plan_run
from flows.settings import Settings, get_settings
from sinks.artifacts import publish_artifacts
from sinks.catalogue import catalogue_loaded, load_catalogue
from sinks.database import check_database, make_engine, record_run, replace_snapshot
from sinks.files import output_rows, write_outputs
from sources.catalogue import SAMPLE_CATALOGUE, open_catalogue
from sources.catalogue_pass import ValidRows, read_catalogue
from sources.content_hash import file_sha256, prefetch_sha256
from sources.x_api import STRATEGIES
from transforms.errors import InputRejected
from transforms.mentions import mention_totals
from transforms.ranking import normalise_genres, selection_name
from transforms.validation import check_reject_share

DEFAULT_GENRES = ("Book", "Music")
REJECTED = "Rejected"


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
class Rejection:
    """An input the user must fix; the flow turns it into a `Rejected` state, not a traceback."""

    message: str


@task(name="catalogue-version")
def catalogue_version(csv_path: Path, settings: Settings) -> tuple[str | None, bool]:
    """The file's sha256 and whether that catalogue version is already loaded (no sha256 for a
    file that is no catalogue: validate-and-rank says why)."""
    try:
        sha256 = file_sha256(open_catalogue(csv_path).path)
    except InputRejected:
        return None, False
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        return sha256, catalogue_loaded(engine, sha256)
    finally:
        engine.dispose()


@task(name="validate-and-rank")
def validate_and_rank(
    csv_path: Path,
    genres: tuple[str, ...],
    top_n: int,
    max_reject_share: float,
    workdir: Path,
    sha256: str | None = None,
    keep_valid_rows: bool = False,
) -> RankedCatalogue | Rejection:
    """Read, validate and rank in one streaming pass over the file; optionally keep the valid
    rows (in `workdir`) for the catalogue load."""
    try:
        catalogue = open_catalogue(csv_path)
        result = read_catalogue(
            catalogue, genres, top_n, workdir, sha256=sha256, keep_valid_rows=keep_valid_rows
        )
        rows_rejected = check_reject_share(
            catalogue.path, result.rows_read, result.rejects, max_reject_share
        )
    except InputRejected as error:
        return Rejection(str(error))
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


@task(name="check-database", retries=2, retry_delay_seconds=2)
def ensure_database(settings: Settings) -> None:
    """Reach the database and create missing tables before anything is spent on the X API."""
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        check_database(engine)
    finally:
        engine.dispose()


@task(name="record-failed-run", retries=2, retry_delay_seconds=[2, 10])
def record_failed_run(settings: Settings, run: dict[str, Any]) -> None:
    """A run that loaded nothing still leaves its line (and why) in `appbuzz_runs`."""
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        record_run(engine, run)
    finally:
        engine.dispose()


@task(name="load-catalogue", retries=2, retry_delay_seconds=[2, 10])
def load_catalogue_rows(
    settings: Settings, source_path: str, rows: ValidRows, loaded_at: datetime
) -> None:
    """Bulk-load the valid rows as one catalogue version; a retry redoes the whole transaction."""
    engine = make_engine(settings.database_url.get_secret_value())
    try:
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
    finally:
        engine.dispose()
    logger = get_run_logger()
    if loaded:
        logger.info("loaded catalogue %s: %d rows", rows.sha256[:12], rows.rows)
    else:
        logger.info("catalogue %s was already loaded", rows.sha256[:12])


@task(name="load-snapshot", retries=2, retry_delay_seconds=[2, 10])
def load_snapshot(settings: Settings, run: dict[str, Any], enriched: pl.DataFrame) -> None:
    """Replace the snapshot in one transaction; a retry redoes the whole (idempotent) load."""
    rows = enriched.rename({"id": "app_id"}).with_columns(
        snapshot_date=pl.lit(run["snapshot_date"]),
        selection=pl.lit(run["selection"]),
        run_id=pl.lit(run["run_id"]),
        loaded_at=pl.lit(run["finished_at"]),
    )
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        replace_snapshot(engine, run, rows.to_dicts())
    finally:
        engine.dispose()
    get_run_logger().info(
        "loaded %d rows for %s on %s", rows.height, run["selection"], run["snapshot_date"]
    )


@task(name="write-files")
def write_files(out_dir: Path, rows: pl.DataFrame, rejects: pl.DataFrame) -> dict[str, Path]:
    written = write_outputs(out_dir, rows, rejects)
    get_run_logger().info("wrote %s", ", ".join(str(p) for p in written.values()))
    return written


@task(name="publish-artifacts")
def publish(run: dict[str, Any], rows: pl.DataFrame, outputs: dict[str, Path]) -> None:
    publish_artifacts(run, rows, outputs)


def _run_name() -> str:
    params = flow_run.parameters
    genres = params.get("genres") or DEFAULT_GENRES
    snapshot = params.get("snapshot_date") or flow_run.scheduled_start_time.date().isoformat()
    return f"{snapshot} {selection_name(genres, params.get('top_n', 10))}"


def default_snapshot_date() -> date:
    """The flow run's scheduled date (UTC): a late nightly run still files under its own night."""
    return flow_run.scheduled_start_time.astimezone(UTC).date()


@flow(name="app-mentions", flow_run_name=_run_name, log_prints=False)
def app_mentions(
    csv_path: Path | None = None,
    genres: list[str] | None = None,
    top_n: int = 10,
    strategy: str = "counts",
    max_pages: int = 10,
    snapshot_date: date | None = None,
    out_dir: Path | None = None,
    load_catalogue: bool = True,
    max_spend_usd: Decimal | None = None,
    dry_run: bool = False,
) -> dict[str, Any] | State:
    """Rank the most-reviewed apps of `genres`, count their mentions on X, load the snapshot
    and (unless `load_catalogue` is false) the validated catalogue, once per file version.

    `max_spend_usd` caps what the run may spend on X (default APPBUZZ_X_MAX_SPEND_USD);
    `dry_run` stops before the first X request and returns the plan, writing nothing."""
    settings = get_settings()
    if strategy not in STRATEGIES or max_pages < 1:
        return Failed(
            name=REJECTED,
            message=f"expected strategy one of {', '.join(STRATEGIES)} and max_pages of at "
            f"least 1, got strategy={strategy!r}, max_pages={max_pages}",
        )
    if dry_run:
        return plan_run(settings, csv_path, genres, top_n, strategy, max_pages, max_spend_usd)
    started_at = datetime.now(UTC)
    chosen = normalise_genres(genres or DEFAULT_GENRES)
    source = Path(csv_path) if csv_path else SAMPLE_CATALOGUE
    prefetch_sha256(source)  # the catalogue's version, hashed while the database is checked
    ensure_database(settings)
    sha256, keep_valid_rows = None, False
    if load_catalogue:
        sha256, loaded = catalogue_version(source, settings)
        keep_valid_rows = sha256 is not None and not loaded
    with tempfile.TemporaryDirectory(prefix="appbuzz-") as workdir:
        catalogue = validate_and_rank(
            source, chosen, top_n, settings.max_reject_share, Path(workdir), sha256,
            keep_valid_rows,
        )  # fmt: skip
        if isinstance(catalogue, Rejection):
            return Failed(name=REJECTED, message=catalogue.message)
        if catalogue.valid_rows is not None:
            load_catalogue_rows(settings, catalogue.source_path, catalogue.valid_rows, started_at)

    snapshot = snapshot_date or default_snapshot_date()
    max_spend = settings.x_max_spend_usd if max_spend_usd is None else Decimal(max_spend_usd)
    enriched, stopped = enrich_mentions(
        catalogue.top, settings, strategy, max_pages, snapshot, max_spend
    )
    run = {
        "run_id": str(uuid.uuid4()),
        "flow_run_id": flow_run.id,
        "snapshot_date": snapshot,
        "selection": selection_name(chosen, top_n),
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "status": "completed",
        "source_path": catalogue.source_path,
        "source_sha256": catalogue.source_sha256,
        "rows_read": catalogue.rows_read,
        "rows_rejected": catalogue.rows_rejected,
        "strategy": strategy,
        "max_spend_usd": max_spend,
    }
    if enriched is None:  # the token was refused: nothing of this run is loaded
        record_failed_run(settings, {**run, "status": "failed", "message": stopped})
        return Failed(message=stopped)
    run.update(mention_totals(enriched))
    if stopped is not None:  # the account is spent: what was counted is kept, the run fails
        run.update(status="failed", message=stopped)
    load_snapshot(settings, run, enriched)
    rows = output_rows(enriched.with_columns(snapshot_date=pl.lit(run["snapshot_date"])))
    outputs = write_files(Path(out_dir or settings.out_dir), rows, catalogue.rejects)
    publish(run, rows, outputs)
    if stopped is not None:
        return Failed(message=stopped)
    return {**run, "outputs": {k: str(v) for k, v in outputs.items()}}
