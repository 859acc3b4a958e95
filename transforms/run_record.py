"""One run of the flow as recorded in `appbuzz_runs`, field for column (a test checks), built
here from what the run read, counted and spent."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl

from transforms.catalogue_pass import RankedCatalogue
from transforms.enrichment import Enrichment
from transforms.mentions import status_totals


class RunStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class RunRecord:
    """What a run read, counted and spent; the mention totals stay None until it has counted."""

    run_id: str
    flow_run_id: str | None
    snapshot_date: date
    selection: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    source_path: str
    strategy: str
    source_sha256: str | None = None
    rows_read: int | None = None
    rows_rejected: int | None = None
    message: str | None = None
    mentions_ok: int | None = None
    mentions_capped: int | None = None
    mentions_failed: int | None = None
    mentions_skipped: int | None = None
    x_requests: int | None = None
    posts_consumed: int | None = None
    x_cost_usd: Decimal | None = None
    max_spend_usd: Decimal | None = None

    @classmethod
    def begin(
        cls,
        *,
        flow_run_id: str | None,
        snapshot_date: date,
        selection: str,
        strategy: str,
        max_spend_usd: Decimal,
        catalogue: RankedCatalogue,
        started_at: datetime,
    ) -> RunRecord:
        """A run that has read and ranked its catalogue and is about to count."""
        return cls(
            run_id=str(uuid.uuid4()),
            flow_run_id=flow_run_id,
            snapshot_date=snapshot_date,
            selection=selection,
            started_at=started_at,
            finished_at=None,
            status=RunStatus.COMPLETED,
            source_path=catalogue.source_path,
            source_sha256=catalogue.sha256,
            rows_read=catalogue.rows_read,
            rows_rejected=catalogue.rows_rejected,
            strategy=strategy,
            max_spend_usd=max_spend_usd,
        )

    def ended(self, night: pl.DataFrame, counted: Enrichment, finished_at: datetime) -> RunRecord:
        """This run once its night is known: the statuses of the night's rows, what this run
        spent on X, and failed with the stop's message if counting stopped."""
        run = self.completed({**status_totals(night), **counted.run_spend()}, finished_at)
        return run if counted.stop is None else run.failed(str(counted.stop), finished_at)

    def failed(self, message: str, finished_at: datetime) -> RunRecord:
        """This run, ended in failure with `message` (what it counted, if anything, is kept)."""
        return dataclasses.replace(
            self, status=RunStatus.FAILED, message=message, finished_at=finished_at
        )

    def completed(self, totals: Mapping[str, int | Decimal], finished_at: datetime) -> RunRecord:
        """This run, counted: its mention totals (`transforms.mentions.mention_totals`)."""
        return dataclasses.replace(
            self,
            status=RunStatus.COMPLETED,
            finished_at=finished_at,
            mentions_ok=int(totals["mentions_ok"]),
            mentions_capped=int(totals["mentions_capped"]),
            mentions_failed=int(totals["mentions_failed"]),
            mentions_skipped=int(totals["mentions_skipped"]),
            x_requests=int(totals["x_requests"]),
            posts_consumed=int(totals["posts_consumed"]),
            x_cost_usd=Decimal(totals["x_cost_usd"]),
        )

    def row(self) -> dict[str, Any]:
        """The `appbuzz_runs` row."""
        return {**dataclasses.asdict(self), "status": str(self.status)}
