"""A night (or a backfill) as a flow's parameters ask for it, checked and completed in one
place: the defaults, the selection's name, the night itself (the run's scheduled date unless
given), and the settings with the fields the parameters override."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from prefect.runtime import flow_run

from flows.settings import Settings, read_settings
from sources.x_api import STRATEGIES
from transforms.catalogue_pass import RankedCatalogue
from transforms.defaults import DEFAULT_GENRES, DEFAULT_TOP_N
from transforms.errors import ParametersRejected
from transforms.ranking import normalise_genres, selection_name
from transforms.run_record import RunRecord


def scheduled_night() -> date:
    """The flow run's scheduled date (UTC): a late nightly run still files under its own night."""
    scheduled: datetime = flow_run.scheduled_start_time
    return scheduled.astimezone(UTC).date()


def run_name() -> str:
    """`2026-11-28 Book+Music/top10`: the night and the selection, before the run starts."""
    params = flow_run.parameters
    genres = params.get("genres") or DEFAULT_GENRES
    snapshot = params.get("snapshot_date") or flow_run.scheduled_start_time.date().isoformat()
    return f"{snapshot} {selection_name(genres, params.get('top_n', DEFAULT_TOP_N))}"


def backfill_name() -> str:
    """`backfill 30 days to 2026-12-02 Book+Music/top10`."""
    params = flow_run.parameters
    genres = params.get("genres") or DEFAULT_GENRES
    until = params.get("until") or flow_run.scheduled_start_time.date().isoformat()
    selection = selection_name(genres, params.get("top_n", DEFAULT_TOP_N))
    return f"backfill {params.get('days', BACKFILL_DAYS)} days to {until} {selection}"


BACKFILL_DAYS = 30
MAX_BACKFILL_DAYS = 366 * 3


@dataclass(frozen=True)
class NightRequest:
    """What one run of the flow is asked to do, every default filled in."""

    settings: Settings
    csv_path: Path | None  # None: the shipped sample
    genres: tuple[str, ...]
    top_n: int
    strategy: str
    max_pages: int
    snapshot_date: date
    load_catalogue: bool
    recount: bool
    dry_run: bool

    @classmethod
    def of(
        cls,
        *,
        csv_path: Path | None,
        genres: list[str] | None,
        top_n: int,
        strategy: str,
        max_pages: int,
        snapshot_date: date | None,
        out_dir: Path | None,
        load_catalogue: bool,
        max_spend_usd: Decimal | None,
        dry_run: bool,
        recount: bool,
    ) -> NightRequest:
        """The parameters checked (`ParametersRejected`: a deployment run is not checked by the
        CLI's parser) and the settings read (`SettingInvalid`), the parameters' overrides in."""
        if strategy not in STRATEGIES or max_pages < 1 or top_n < 1:
            raise ParametersRejected(
                f"expected strategy one of {', '.join(STRATEGIES)}, max_pages and top_n of at "
                f"least 1, got strategy={strategy!r}, max_pages={max_pages}, top_n={top_n}"
            )
        settings = read_settings().overridden(
            out_dir=out_dir,
            x_max_spend_usd=None if max_spend_usd is None else Decimal(max_spend_usd),
        )
        return cls(
            settings=settings,
            csv_path=Path(csv_path) if csv_path else None,
            genres=normalise_genres(genres or DEFAULT_GENRES),
            top_n=top_n,
            strategy=strategy,
            max_pages=max_pages,
            snapshot_date=snapshot_date or scheduled_night(),
            load_catalogue=load_catalogue,
            recount=recount,
            dry_run=dry_run,
        )

    @classmethod
    def backfill(
        cls,
        *,
        csv_path: Path | None,
        genres: list[str] | None,
        top_n: int,
        days: int,
        until: date | None,
        max_spend_usd: Decimal | None,
        dry_run: bool,
        recount: bool,
    ) -> NightRequest:
        """A backfill: the `days` whole days before `until` (default: the run's scheduled
        date), counted from the full archive (strategy `all`, one page per 31 days)."""
        if not 1 <= days <= MAX_BACKFILL_DAYS or top_n < 1:
            raise ParametersRejected(
                f"expected days from 1 to {MAX_BACKFILL_DAYS} and top_n of at least 1, got "
                f"days={days}, top_n={top_n}"
            )
        night = cls.of(
            csv_path=csv_path, genres=genres, top_n=top_n, strategy="counts", max_pages=1,
            snapshot_date=until, out_dir=None, load_catalogue=False,
            max_spend_usd=max_spend_usd, dry_run=dry_run, recount=recount,
        )  # fmt: skip
        return replace(night, strategy="all", max_pages=days)

    @property
    def selection(self) -> str:
        return selection_name(self.genres, self.top_n)

    def begin_run(self, ranked: RankedCatalogue, started_at: datetime) -> RunRecord:
        """This run's record, once its catalogue is read and ranked."""
        return RunRecord.begin(
            flow_run_id=flow_run.id, snapshot_date=self.snapshot_date, selection=self.selection,
            strategy=self.strategy, max_spend_usd=self.settings.x_max_spend_usd,
            catalogue=ranked, started_at=started_at,
        )  # fmt: skip

    @property
    def out_dir(self) -> Path:
        return self.settings.out_dir
