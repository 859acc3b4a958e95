"""The catalogue's tasks: the checks before anything is spent, the one validate-and-rank pass
(read through the catalogue source, spilled through the scratch sink, decided by the pure
`transforms.catalogue_pass`), and the load of the validated catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.faults import database_retries
from flows.preflight import preflight
from flows.resources import Resources
from flows.run_log import run_logger
from sinks.scratch import Scratch
from sources.catalogue import Catalogue
from transforms.catalogue_pass import (
    RECHECK_LIMIT,
    RankedCatalogue,
    ValidRows,
    failed_rows,
    first_step,
    needs_exact_step,
    second_step,
    with_version,
)
from transforms.rejects import check_reject_share


@task(
    name="preflight", **database_retries(),
    cache_policy=NO_CACHE,
)  # fmt: skip
def check_run(resources: Resources, out_dir: Path | None, dry_run: bool) -> None:
    """Before any X request or database write (`flows.preflight`; no output folder to check
    for a run that writes no files)."""
    preflight(resources.database, out_dir, dry_run=dry_run)


@task(
    name="catalogue-version", **database_retries(), cache_policy=NO_CACHE,
)  # fmt: skip
def catalogue_is_new(resources: Resources, load_catalogue: bool) -> bool:
    """Whether this run loads the catalogue: asked to, and no earlier run loaded this version."""
    return load_catalogue and not resources.database.catalogue_loaded(resources.catalogue.sha256)


def rank_catalogue(
    catalogue: Catalogue,
    scratch: Scratch,
    genres: Sequence[str],
    top_n: int,
    *,
    max_reject_share: float,
    keep_valid_rows: bool = False,
    recheck_limit: int = RECHECK_LIMIT,
) -> RankedCatalogue:
    """Read, validate and rank in one streaming pass over the file (a second, exact one only
    when the first fails too many rows); keep the valid rows in `scratch` for the catalogue
    load if asked. `InputRejected` when the file cannot be read or too much of it is broken."""
    version = catalogue.sha256 if keep_valid_rows else None
    for exact in (False, True):
        step = first_step(catalogue.scan(), genres, exact=exact, version=version)
        catalogue.collect(*scratch.first_step_sinks(step))
        failed = failed_rows(scratch.notable()).collect().item()
        if exact or not needs_exact_step(failed, recheck_limit):
            break
    second = second_step(scratch.notable(), scratch.keys(), genres, top_n)
    scratch.drop_first_step()
    rejected = check_reject_share(
        Path(catalogue.source_path), second.rows_read, second.rejects, max_reject_share
    )
    valid_rows = None
    if version is not None:  # rows that passed on the exact second look belong to the file too
        scratch.append_valid_rows(with_version(second.rescued.lazy(), version))
        valid_rows = ValidRows(
            scratch.valid_path, version, second.rows_read - rejected, second.excluded
        )
    return RankedCatalogue(
        catalogue.source_path, catalogue.sha256, second.rows_read, rejected, second.top,
        second.rejects, valid_rows,
    )  # fmt: skip


@task(name="validate-and-rank", cache_policy=NO_CACHE)
def validate_and_rank(
    resources: Resources, genres: tuple[str, ...], top_n: int, keep_valid_rows: bool
) -> RankedCatalogue:
    """The run's one pass over its catalogue (`rank_catalogue`)."""
    ranked = rank_catalogue(
        resources.catalogue, resources.scratch, genres, top_n,
        max_reject_share=resources.settings.max_reject_share, keep_valid_rows=keep_valid_rows,
    )  # fmt: skip
    run_logger().info(
        "read %d rows from %s; %d rejected",
        ranked.rows_read, ranked.source_path, ranked.rows_rejected,
    )  # fmt: skip
    return ranked


@task(
    name="load-catalogue", **database_retries(), cache_policy=NO_CACHE,
)  # fmt: skip
def load_catalogue_rows(resources: Resources, ranked: RankedCatalogue, loaded_at: datetime) -> None:
    """Bulk-load the valid rows as one catalogue version, when this run kept them; a retry
    redoes the whole transaction."""
    rows = ranked.valid_rows
    if rows is None:
        run_logger().info("catalogue %s: not loaded by this run", ranked.sha256[:12])
        return
    loaded = resources.database.load_catalogue(rows, ranked.source_path, loaded_at)
    said = f"{rows.rows} rows" if loaded else "was already loaded"
    run_logger().info("catalogue %s: %s", rows.sha256[:12], said)
