"""One run of the flow as recorded in `appbuzz_runs`, field for column (a test checks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


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
